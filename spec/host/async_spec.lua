-- Handlers that wait, through crater.test's client inside `crater test`
-- (ctest: host_async_spec, asan_host_async_spec): the client runs the loop
-- until the handler answers, so sleeps, spawned threads, hooks, error
-- handlers, streams and deadlines behave as over a socket
-- (spec/e2e/test_async.py). docs/async.md.
local crater = require "crater"
local client = require("crater.test").client

local function eq(want, got, what)
  if want ~= got then
    error(string.format("%s: expected %q, got %q", what, tostring(want), tostring(got)), 2)
  end
end

local app = crater.app()
local woke = {}

app:before(function(req)
  if req.path == "/hooked" then crater.sleep(0.01); req.from_before = "before" end
end)
app:after(function(req, res)
  if req.path == "/hooked" then crater.sleep(0.01); res:header("X-After", "after") end
end)
app:error(404, function(req)
  crater.sleep(0.01)
  return 404, "no " .. req.path .. " (after a nap)"
end)

app:get("/nap/{ms}", function(req)
  local t0 = crater.now()
  crater.sleep(tonumber(req.params.ms) / 1000)
  return { waited_ms = math.floor((crater.now() - t0) * 1000 + 0.5) }
end)

app:get("/hooked", function(req) return req.from_before end)

app:get("/fan-out", function()
  local threads = {}
  for i = 1, 5 do
    threads[i] = crater.spawn(function() crater.sleep((6 - i) / 200); return i * i end)
  end
  return { crater.wait(unpack(threads)) }
end)

app:get("/failing-thread", function()
  local t = crater.spawn(function() crater.sleep(0.01); error("thread failed", 0) end)
  local v, err = crater.wait(t)
  return { v = v, err = err:match("[^\n]*") }
end)

app:get("/kill", function()
  local t = crater.spawn(function() crater.sleep(5); woke.killed = true end)
  local ok = crater.kill(t)
  local _, err = crater.wait(t)
  return { ok = ok, err = err }
end)

app:get("/orphan", function()
  crater.spawn(function() crater.sleep(0.02); woke.orphan = true end)
  return "left it"
end)

app:get("/pcall", function()
  local ok, err = pcall(function() crater.sleep(0.01); error("after a nap", 0) end)
  return tostring(ok) .. " " .. err
end)

app:get("/stream", function()
  return crater.stream(function(write)
    for i = 1, 3 do
      write(i .. ";")
      crater.sleep(0.01)
    end
  end)
end)

app:get("/deadline", { deadline = 0.05 }, function()
  crater.sleep(1)
  woke.deadline = true
  return "too late"
end)

local c = client(app)

-- crater.sleep: the client waits for the answer; crater.now is the loop's
-- clock, which moved by the sleep.
local res = c:get("/nap/30")
eq(200, res.status, "nap status")
assert(res:json().waited_ms >= 30, res.body)

-- hooks and error handlers may wait too
res = c:get("/hooked")
eq("before", res.body, "before hook")
eq("after", res.headers["X-After"], "after hook")
res = c:get("/nowhere")
eq(404, res.status, "404 status")
eq("no /nowhere (after a nap)", res.body, "error handler")

-- threads: results in the order given, whatever order they finish in
local squares = c:get("/fan-out"):json()
eq("1 4 9 16 25", table.concat(squares, " "), "fan-out")
res = c:get("/failing-thread"):json()
eq(nil, res.v, "failed thread value")
eq("thread failed", res.err, "failed thread error")
res = c:get("/kill"):json()
eq(true, res.ok, "kill")
eq("killed", res.err, "wait on a killed thread")

-- a thread nobody waited for is killed when the handler returns: it never wakes
eq("left it", c:get("/orphan").body, "orphan")
c:get("/nap/40")
eq(nil, woke.orphan, "orphan woke")
eq(nil, woke.killed, "killed thread woke")

eq("false after a nap", c:get("/pcall").body, "pcall")

res = c:get("/stream")
eq("1;2;3;", res.body, "stream")
eq(false, res.truncated, "stream truncated")

-- the deadline: 504, and the handler does not run on
res = c:get("/deadline")
eq(504, res.status, "deadline status")
eq("the handler did not answer within its deadline (0.05 s)", res:json().detail, "deadline detail")
c:get("/nap/1")
eq(nil, woke.deadline, "handler woke after its deadline")

-- the spec itself is no request: it cannot wait, and its app does not serve
local ok, err = pcall(crater.sleep, 0)
assert(not ok and err:find("cannot wait here: not inside a request or a timer", 1, true), err)
local t, terr = crater.timer.at(0, function() end)
eq(nil, t, "timer in a spec")
eq("crater.timer.at: the app is not serving yet: make timers in app:on_start or later", terr, "timer error")
