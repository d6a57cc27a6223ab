-- Handlers that wait, for spec/e2e/test_async.py: crater.sleep, spawned
-- threads, deadlines, timers. What the server did is visible over HTTP
-- (GET /state) or as a line on stderr ("async: ...").
--
-- ASYNC_DEADLINE=seconds sets the app-wide deadline (the deadline tests
-- start a second server with it).
local crater = require "crater"
local json = require "crater.json"

local app = crater.app { deadline = tonumber(os.getenv("ASYNC_DEADLINE")) }

local function say(...)
  io.stderr:write("async: ", table.concat({ ... }, " "), "\n")
  io.stderr:flush()
end

-- Marks set by handlers, threads and timers; GET /state shows them.
local state = { marks = {}, ticks = 0, every_runs = 0, every_active = 0, every_max_active = 0 }
local function mark(name) state.marks[name] = true end

-- Made while the app is loading: refused (the app does not serve yet).
local early_timer, early_err = crater.timer.at(0, function() mark("early timer ran") end)

app:on_start(function()
  -- Background work: a tick counter, and a flush that only runs
  -- prematurely (its delay is an hour), which waits before it writes.
  assert(crater.timer.every(0.05, function(premature)
    state.ticks = state.ticks + 1
    if premature then say("every premature") end
  end))
  assert(crater.timer.at(3600, function(premature, what)
    say("at premature=" .. tostring(premature), what)
    crater.sleep(0.05)
    say("flushed")
  end, "flush"))
end)

app:on_stop(function(info) say("on_stop", info.reason) end)

app:get("/state", function() return json.encode(state) end)
app:get("/fast", function() return "fast" end)

-- ------------------------------------------------------------------ sleep

app:get("/sleep/{ms}", function(req)
  local ms = tonumber(req.params.ms)
  local before = crater.now()
  crater.sleep(ms / 1000)
  assert(crater.now() >= before)
  return "slept " .. req.params.ms
end)

-- Gates, so the tests need not guess durations: GET /gate/NAME marks
-- NAME.started, then its handler and a thread it spawned wait until
-- GET /open/NAME, then they mark NAME.thread and NAME.done. A client that
-- goes away meanwhile leaves those two unset: no Lua of it runs again.
local function gate(name)
  for _ = 1, 3000 do -- 30 s at most
    if state.open[name] then return end
    crater.sleep(0.01)
  end
  error("gate " .. name .. " never opened")
end
state.open = {}

app:get("/gate/{name}", function(req)
  local name = req.params.name
  mark(name .. ".started")
  local t = crater.spawn(function()
    gate(name)
    mark(name .. ".thread")
  end)
  gate(name)
  mark(name .. ".done")
  crater.wait(t)
  return "done " .. name
end)

app:get("/open/{name}", function(req)
  state.open[req.params.name] = true
  return "opened"
end)

-- Waits until the server shuts down (a timer is refused then), a little
-- more, and answers: a request in flight during the grace period.
app:get("/until-shutdown/{name}", function(req)
  mark(req.params.name .. ".started")
  for _ = 1, 3000 do
    local t, err = crater.timer.at(3600, function() end)
    if not t then
      crater.sleep(0.1)
      return "done " .. req.params.name .. ": " .. err
    end
    t:cancel()
    crater.sleep(0.01)
  end
  return "never shut down"
end)

app:get("/pcall", function()
  local ok, err = pcall(function()
    crater.sleep(0.01)
    error("failed after a sleep", 0)
  end)
  crater.sleep(0.01)
  return tostring(ok) .. " " .. err
end)

app:get("/in-coroutine", function()
  local ok, err = pcall(coroutine.wrap(function() crater.sleep(0.01) end))
  return tostring(ok) .. " " .. err
end)

-- A wait where Lua cannot yield (inside a string.gsub callback): an error
-- the handler can catch, and nothing of the wait left behind.
app:get("/yield-across-c", function()
  local ok, err = pcall(string.gsub, "a", "a", function() crater.sleep(0.05) end)
  return tostring(ok) .. " " .. tostring(err)
end)

-- -------------------------------------------------------- hooks, errors

app:before(function(req)
  if req.path == "/hooked" then
    crater.sleep(0.02)
    req.napped = "before"
  end
end)

app:after(function(req, res)
  if req.path == "/hooked" then
    crater.sleep(0.02)
    res:header("X-After", "napped")
  end
end)

app:get("/hooked", function(req) return "hooked " .. req.napped end)

app:error(409, function(req, err)
  crater.sleep(0.02)
  return 409, { conflict = err.detail, napped = true }
end)

app:get("/conflict", function() crater.abort(409, "taken") end)

-- ------------------------------------------------------------- threads

app:get("/spawn", function()
  local a = crater.spawn(function(x) crater.sleep(0.05); return x * 2 end, 21)
  local b = crater.spawn(function() crater.sleep(0.01); return "b" end)
  local c = crater.spawn(function() return "c" end) -- returns at once
  local ra, rb, rc = crater.wait(a, b, c)
  return { a = ra, b = rb, c = rc }
end)

app:get("/spawn/one", function()
  local t = crater.spawn(function(x, y) crater.sleep(0.01); return x, y, "three" end, "one", "two")
  return table.concat({ crater.wait(t) }, ",")
end)

app:get("/spawn/error", function()
  local t = crater.spawn(function() crater.sleep(0.01); error("thread failed") end)
  local v, err = crater.wait(t)
  local t2 = crater.spawn(function() return 1 end)
  local t3 = crater.spawn(function() crater.sleep(0.01); error("second failed") end)
  local v2, err2 = crater.wait(t2, t3)
  return { v = v, err = err:match("[^\n]*"), traceback = err:find("stack traceback", 1, true) ~= nil,
           v2 = v2, err2 = err2:match("[^\n]*") }
end)

app:get("/spawn/kill", function()
  local t = crater.spawn(function() crater.sleep(5); mark("killed thread woke") end)
  local ok1, err1 = crater.kill(t)
  local ok2, err2 = crater.kill(t)
  local v, err = crater.wait(t)
  local done = crater.spawn(function() return 1 end)
  local ok3, err3 = crater.kill(done)
  return { ok1 = ok1, err1 = err1, ok2 = ok2, err2 = err2, v = v, err = err, ok3 = ok3, err3 = err3 }
end)

app:get("/spawn/misuse", function()
  local function msg(f, ...)
    local ok, err = pcall(f, ...)
    return ok and "no error" or tostring(err):gsub("^.-:%d+: ", "")
  end
  local t = crater.spawn(function() return 1 end)
  crater.wait(t)
  local out = {
    wait_none = msg(crater.wait),
    wait_twice = msg(crater.wait, t),
    yield = select(2, crater.wait(crater.spawn(function() coroutine.yield() end))),
  }
  return out
end)

-- Messages as raised, whole: where they point and what they say.
app:get("/spawn/misuse-raw", function()
  local t = crater.spawn(function() return 1 end)
  crater.wait(t)
  return {
    -- called from a Lua line, not a tail call, so the error can name it
    -- (through pcall directly, the caller would be pcall, which has no line)
    wait_twice = select(2, pcall(function() local v = crater.wait(t) return v end)),
    wait_number = select(2, pcall(function() local v = crater.wait(42) return v end)),
    spawn_in_coroutine = select(2, pcall(coroutine.wrap(function() return crater.spawn(print) end))),
  }
end)

-- A thread kills the one the handler waits for (a watchdog), then goes on
-- waiting: the handler wakes, kills the watchdog and answers.
app:get("/spawn/watchdog", function()
  local work = crater.spawn(function() crater.sleep(5); return "report" end)
  local watchdog = crater.spawn(function()
    crater.sleep(0.05)
    crater.kill(work)
    crater.sleep(0.05)
    mark("watchdog went on")
  end)
  local report, err = crater.wait(work)
  local ok, kill_err = crater.kill(watchdog)
  return { report = report, err = err, killed_watchdog = ok, kill_err = kill_err }
end)

-- Threads the handler did not wait for: killed when it returns (a log line),
-- and a failure nobody collected is logged.
app:get("/spawn/orphans", function()
  crater.spawn(function() crater.sleep(0.2); mark("orphan woke") end)
  crater.spawn(function() crater.sleep(0.2); mark("orphan woke") end)
  crater.spawn(function() return "finished before the handler" end)
  return "left two behind"
end)

app:get("/spawn/orphan-failed", function()
  crater.spawn(function() error("nobody listens") end)
  return "left a failure behind"
end)

-- ------------------------------------------------------------- streams

-- Chunks with naps between them; the test reads the first one while the
-- handler is still going.
app:get("/stream/{n}/{ms}", function(req)
  local n, ms = tonumber(req.params.n), tonumber(req.params.ms)
  return crater.stream(function(write)
    for i = 1, n do
      write("chunk " .. i .. "\n")
      crater.sleep(ms / 1000)
    end
  end)
end)

-- ----------------------------------------------------------- deadlines

app:get("/deadline/short", { deadline = 0.1 }, function()
  local t = crater.spawn(function() crater.sleep(0.3); mark("deadline thread woke") end)
  crater.sleep(0.3)
  mark("deadline handler woke")
  crater.wait(t)
  return "too late"
end)

app:get("/deadline/long", { deadline = 5 }, function()
  crater.sleep(0.5)
  return "within a long deadline"
end)

app:get("/deadline/off", { deadline = false }, function()
  crater.sleep(0.5)
  return "no deadline"
end)

-- A kill wakes the thread waiting for the killed one; waited for in turn,
-- that thread wakes the main coroutine while its own resume is still on the
-- C stack (task.c runs the wakes there): in a request and in a timer's run.
local function kill_then_wait()
  local a = crater.spawn(function() crater.sleep(1) end)
  local b = crater.spawn(function() return crater.wait(a) end)
  crater.kill(a)
  local ok, err = crater.wait(b)
  return tostring(ok) .. "," .. tostring(err)
end

app:get("/spawn/kill-then-wait", function() return kill_then_wait() end)

app:get("/timers/kill-then-wait", function()
  assert(crater.timer.at(0, function() mark("timer " .. kill_then_wait()) end))
  return "made"
end)

-- ---------------------------------------------------------------- timers

app:get("/timers/early", function() return tostring(early_timer) .. " " .. early_err end)

app:get("/timers/at/{name}/{ms}", function(req)
  local t, err = crater.timer.at(tonumber(req.params.ms) / 1000, function(premature, name, extra)
    crater.sleep(0.01) -- a timer's run may wait
    local th = crater.spawn(function() return extra end)
    mark(name .. (premature and ".premature" or ".fired") .. "." .. crater.wait(th))
  end, req.params.name, "x")
  return { made = t ~= nil, err = err }
end)

app:get("/timers/cancel/{name}", function(req)
  local t = assert(crater.timer.at(0.05, function() mark(req.params.name .. ".fired") end))
  local ok1, err1 = t:cancel()
  local ok2, err2 = t:cancel()
  return { ok1 = ok1, err1 = err1, ok2 = ok2, err2 = err2 }
end)

-- An `every` timer whose run outlasts its interval: ticks are skipped, so
-- there is never more than one run at a time. Cancelled after `runs` runs.
app:get("/timers/slow-every/{runs}", function(req)
  local runs, timer = tonumber(req.params.runs), nil
  timer = assert(crater.timer.every(0.01, function(premature)
    if premature then return end
    state.every_runs = state.every_runs + 1
    state.every_active = state.every_active + 1
    if state.every_active > state.every_max_active then state.every_max_active = state.every_active end
    crater.sleep(0.05)
    state.every_active = state.every_active - 1
    if state.every_runs >= runs then timer:cancel() end
  end))
  return "started"
end)

app:get("/timers/fail", function()
  assert(crater.timer.at(0, function() error("timer broke") end))
  return "armed"
end)

-- Timers until they are refused; then all of those cancelled again.
app:get("/timers/many", function()
  local made, err = {}, nil
  for _ = 1, 5000 do
    local t, e = crater.timer.at(3600, function() end)
    if not t then err = e; break end
    made[#made + 1] = t
  end
  for _, t in ipairs(made) do t:cancel() end
  return { made = #made, err = err }
end)

return app
