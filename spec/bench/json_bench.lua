-- crater.json against lua-cjson: encode and decode throughput on a small
-- (~100 byte) and a large (~1 MiB) document.
--
--   spec/bench/json_bench.sh              (builds the module, sets the paths)
--   SECONDS_PER_CASE=2 spec/bench/json_bench.sh
--
-- Each case runs for SECONDS_PER_CASE of CPU time (os.clock), ROUNDS times;
-- the best round counts. Both libraries encode the same Lua table and decode
-- the same text (crater's output: cjson would escape '/' and print fewer
-- digits). MB/s is measured on each library's own output for encode, on
-- the shared input for decode.
local crater = require "crater.json"
local cjson = require "cjson"

local clock = os.clock
local seconds = tonumber(os.getenv("SECONDS_PER_CASE")) or 1
local rounds = tonumber(os.getenv("ROUNDS")) or 3

local small = {
  name = "widget", price = 9.99, tags = { "a", "b" }, id = 12345,
  in_stock = true, dims = { w = 2.5, h = 10 },
}

-- ~1 MiB of records like an API's list response: integers, prices, ratios
-- that need 16-17 digits, short and long strings (some with escapes and
-- non-ASCII), booleans, nulls, nested arrays and objects.
local function make_large()
  local items = {}
  local i = 0
  local words = { "alpha", "beta", "gamma", "delta", "épsilon", "zeta/eta", "theta \"q\"", "iota\n" }
  repeat
    i = i + 1
    items[i] = {
      id = i,
      sku = string.format("SKU-%06d", i),
      name = words[i % #words + 1] .. " " .. words[(i * 7) % #words + 1] .. " " .. i,
      price = (i % 10000) / 100,
      ratio = i / 7,
      stock = i * 13 % 1000,
      active = i % 3 ~= 0,
      discontinued = cjson.null,
      tags = { words[i % #words + 1], words[(i + 3) % #words + 1], "tag" .. (i % 17) },
      dims = { w = i % 50 + 0.5, h = i % 20, d = 1.25 },
      description = "A fairly ordinary product description that goes on for a while, number " .. i .. ".",
    }
  until #cjson.encode(items) >= 1024 * 1024
  return { total = i, items = items }
end

-- Runs f until `seconds` of CPU time pass; returns calls per second.
local function rate(f)
  local n, t0 = 0, clock()
  local elapsed
  repeat
    for _ = 1, 16 do f() end
    n = n + 16
    elapsed = clock() - t0
  until elapsed >= seconds
  return n / elapsed
end

local function best(f)
  f() -- warm up (and JIT)
  local r = 0
  for _ = 1, rounds do r = math.max(r, rate(f)) end
  return r
end

local function case(doc_name, op, bytes_crater, bytes_cjson, f_crater, f_cjson)
  local a, b = best(f_crater), best(f_cjson)
  print(string.format("%-6s %-7s %12.0f %9.1f %12.0f %9.1f %8.2fx", doc_name, op,
    a, a * bytes_crater / 1e6, b, b * bytes_cjson / 1e6, a / b))
end

local function bench(doc_name, value)
  local text = crater.encode(value)
  local text_cjson = cjson.encode(value)
  -- Same data both ways (cjson reads crater's text to the same values).
  assert(crater.encode(cjson.decode(text)) and crater.decode(text_cjson))
  case(doc_name, "encode", #text, #text_cjson,
    function() return crater.encode(value) end,
    function() return cjson.encode(value) end)
  case(doc_name, "decode", #text, #text,
    function() return crater.decode(text) end,
    function() return cjson.decode(text) end)
  return #text, #text_cjson
end

print(string.format("%s, lua-cjson %s, %g s x %d rounds per case (best round)",
  jit and jit.version or _VERSION, cjson._VERSION or "?", seconds, rounds))
print(string.format("%-6s %-7s %12s %9s %12s %9s %9s", "doc", "op",
  "crater op/s", "MB/s", "cjson op/s", "MB/s", "crater/cjson"))
local s1, s2 = bench("small", small)
local large = make_large()
local l1, l2 = bench("large", large)
print(string.format("sizes: small %d B (cjson %d B), large %d B (cjson %d B, %d records)",
  s1, s2, l1, l2, large.total))
