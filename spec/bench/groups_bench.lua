-- spec/bench/groups_bench.lua: what route groups, CORS and a security check
-- cost per request, through the injection path (crater.test's client ->
-- crater.host.inject -> the C core -> the dispatcher), no sockets: the same
-- tiny JSON handler as a plain route, in a nested group with a before and an
-- after hook at each level, with an app CORS policy (a cross-origin request:
-- four headers added; its peer adds the same four with an after hook), and behind an API key check (a header read, a table
-- lookup, req.auth), each in its own app, all in one run.
--
--   build/crater test spec/bench/groups_bench.lua        (N=200000 to change the count)
--
-- It prints one line per case, with its cost as a ratio to the plain route
-- of the same run. A benchmark, not a test: nothing is asserted.
local crater = require "crater"
local t = require "crater.test"
local n = tonumber(os.getenv("N")) or 100000

local function handler(req) return { ok = true } end

local plain = crater.app { openapi = false }
plain:get("/x", handler)

local grouped = crater.app { openapi = false }
local noop_before, noop_after = function(req) end, function(req, res) end
local outer = grouped:group("/a", { before = noop_before, after = noop_after })
local inner = outer:group("/b", { before = noop_before, after = noop_after })
inner:get("/x", handler)

local cors = crater.app { openapi = false }
cors:cors { origins = { "https://a.example" }, credentials = true, expose = { "X-Total" } }
cors:get("/x", handler)

-- The peer of the CORS case: the same four headers added by an after hook.
local by_hand = crater.app { openapi = false }
by_hand:after(function(req, res)
  res:header("Vary", "Origin")
  local origin = req:header("Origin")
  if origin == "https://a.example" then
    res:header("Access-Control-Allow-Origin", origin)
    res:header("Access-Control-Allow-Credentials", "true")
    res:header("Access-Control-Expose-Headers", "X-Total")
  end
end)
by_hand:get("/x", handler)

local secured = crater.app { openapi = false }
local KEYS = { k1 = { user = "ann" } }
secured:security_scheme("key", { type = "apiKey", ["in"] = "header", name = "X-API-Key" },
  function(req, key) return KEYS[key] end)
secured:security { "key" }
secured:get("/x", handler)

local cases = {
  { "plain route", t.client(plain), "/x", nil },
  { "group in a group, 4 hooks", t.client(grouped), "/a/b/x", nil },
  { "CORS headers by an after hook", t.client(by_hand), "/x", { headers = { Origin = "https://a.example" } } },
  { "CORS, allowed origin", t.client(cors), "/x", { headers = { Origin = "https://a.example" } } },
  { "API key checked", t.client(secured), "/x", { headers = { ["X-API-Key"] = "k1" } } },
}

local base
for _, case in ipairs(cases) do
  local name, client, path, opts = case[1], case[2], case[3], case[4]
  local r = client:get(path, opts)
  assert(r.status == 200, name .. ": " .. r.status .. " " .. r.body)
  for _ = 1, math.floor(n / 10) do client:get(path, opts) end -- warm up (and let the JIT compile)
  local t0 = os.clock()
  for _ = 1, n do client:get(path, opts) end
  local dt = os.clock() - t0
  base = base or dt
  print(string.format("%-30s %9.0f req/s  %6.2f us/req  x%.2f the plain route's time  (%d requests, CPU time)",
    name, n / dt, dt / n * 1e6, dt / base, n))
end
