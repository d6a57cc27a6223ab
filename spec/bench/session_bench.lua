-- spec/bench/session_bench.lua: what req.cookies and signed-cookie sessions
-- cost per request, through the injection path (crater.test's client ->
-- crater.host.inject -> the C core -> the dispatcher), no sockets involved,
-- as ratios to the same app's route that reads nothing, in the same run.
--
--   build/crater test spec/bench/session_bench.lua        (N=200000 to change the count)
--
-- One process, one core: no server/client pinning to do. It prints one line
-- per case. It is a benchmark, not a test: nothing is asserted about the numbers.
local crater = require "crater"
local t = require "crater.test"
local n = tonumber(os.getenv("N")) or 100000

local app = crater.app()
app:sessions { secret = ("k"):rep(32) }
app:get("/plain", function() return "ok" end)
app:get("/cookies", function(req) return req.cookies.theme or "none" end)
app:get("/read", function(req) return req.session.user or "nobody" end)
app:get("/write", function(req)
  req.session.n = (req.session.n or 0) + 1
  return "ok"
end)
local client = t.client(app)

local cookie = client:get("/write").headers["Set-Cookie"]:match("^session=[^;]*")
  .. "; theme=dark; lang=en"
local with = { headers = { Cookie = cookie } }

local cases = {
  { "no cookie read", function() return client:get("/plain", with) end },
  { "req.cookies", function() return client:get("/cookies", with) end },
  { "session read", function() return client:get("/read", with) end },
  { "session written", function() return client:get("/write", with) end },
}

local base
for _, case in ipairs(cases) do
  local name, fn = case[1], case[2]
  for _ = 1, math.floor(n / 10) do fn() end -- warm up (and let the JIT compile)
  local t0 = os.clock()
  for _ = 1, n do fn() end
  local dt = os.clock() - t0
  base = base or dt
  print(string.format("%-16s %9.0f req/s  %6.2f us/req  %5.2fx the time of the first  (%d requests, CPU time)",
    name, n / dt, dt / n * 1e6, dt / base, n))
end
