-- The validator alone: validations per second of crater.schema on the Item
-- and Order schemas of examples/schemas/, valid and invalid inputs.
-- Run by schema_bench.sh (which runs ajv on the same files beside it);
-- alone: LUA_PATH='lua/?.lua;;' LUA_CPATH='build/lua/?.so;;' luajit spec/bench/schema_bench.lua
-- Two modes, like ajv's: "all" (every error: the default) and "first"
-- (all_errors = false: stop at the first error).
-- Prints one line per mode and case: "<mode> <case> <validations/s> <errors reported>".
local schema = require "crater.schema"
local json = require "crater.json"

local SECONDS = tonumber(os.getenv("SECONDS_PER_CASE") or "1")
local ROUNDS = tonumber(os.getenv("ROUNDS") or "3")
local dir = (os.getenv("SCHEMA_DIR") or "examples/schemas") .. "/"

local function load_json(name)
  local f = assert(io.open(dir .. name, "rb"))
  local v = assert(json.decode(f:read("*a")))
  f:close()
  return v
end

local cases = {
  { "item valid", "item.schema.json", "item.json" },
  { "item invalid", "item.schema.json", "item-invalid.json" },
  { "order valid", "order.schema.json", "order.json" },
  { "order invalid", "order.schema.json", "order-invalid.json" },
  -- The spec's extensible tree: $dynamicRef, recursion, unevaluatedProperties.
  { "tree valid", "tree.schema.json", "tree.json" },
  { "tree invalid", "tree.schema.json", "tree-invalid.json" },
}

local clock = os.clock
for _, mode in ipairs({ "all", "first" }) do
for _, c in ipairs(cases) do
  local validate = schema.compile(load_json(c[2]), { all_errors = mode == "all", assert_formats = true })
  -- Distinct copies, used in turn, so no compiler can hoist the work out
  -- of the loop (LuaJIT would: validating unchanging data is loop-invariant).
  local copies = {}
  for i = 1, 16 do copies[i] = load_json(c[3]) end
  local _, errs = validate(copies[1])
  local best = 0
  -- The errors are counted, as a caller would use them: a result nobody
  -- reads is a table LuaJIT may never make (allocation sinking).
  local seen = 0
  for _ = 1, ROUNDS do
    local n, batch = 0, 1000
    local t0 = clock()
    local t
    repeat
      for i = 1, batch do
        local _, e = validate(copies[i % 16 + 1])
        if e then seen = seen + #e end
      end
      n = n + batch
      t = clock() - t0
    until t >= SECONDS
    local rate = n / t
    if rate > best then best = rate end
  end
  assert(seen >= 0)
  print(string.format("%s\t%s\t%.0f\t%d", mode, c[1], best, errs and #errs or 0))
end
end
