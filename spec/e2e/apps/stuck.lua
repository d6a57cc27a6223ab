-- Handlers that never return to the event loop, or end the process, for
-- spec/e2e/test_watchdog.py and test_crash.py.
local crater = require "crater"
local app = crater.app()

local ffi = require "ffi"
ffi.cdef "int getpid(void);"

app:get("/pid", function() return tostring(ffi.C.getpid()) end)

app:get("/ok", function() return "ok" end)

-- A tight loop: LuaJIT compiles it into a trace, which never runs hooks.
app:get("/spin", function()
  while true do end
end)

-- The same loop left to the interpreter, where a hook fires.
app:get("/spin_interpreted", function()
  jit.off(true, true)
  local n = 0
  while true do n = n + 1 end
end)

-- Catches the watchdog's error and goes on spinning: interrupted again.
app:get("/spin_catch", function()
  jit.off(true, true)
  for _ = 1, 2 do
    pcall(function() while true do end end)
  end
  return "gave up"
end)

-- A background timer that spins: timed like a request.
app:get("/timer_spin", function()
  assert(crater.timer.at(0, function()
    jit.off(true, true)
    while true do end
  end))
  return "scheduled"
end)

-- Ends the process: refused (os.exit) or a crash (a NULL read through the FFI).
app:get("/exit", function() os.exit(3) end)
app:get("/segv", function() return tostring(ffi.cast("int *", 0)[0]) end)

-- A coroutine.yield of the app's own, outside any coroutine it made.
app:get("/yield", function() coroutine.yield("x") return "after" end)

return app
