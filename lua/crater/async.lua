--- crater.async: handlers that wait, without blocking the server.
--
-- A request runs in a coroutine. A call that must wait -- crater.sleep, a
-- socket, a database -- suspends it; the loop serves other requests and
-- resumes it when the result is there. Handlers keep their plain
-- sequential style (docs/async.md). The functions are also crater.sleep,
-- crater.now, crater.spawn, crater.wait and crater.kill.

local host = require "crater.host"

local select, error, unpack, type, pcall, tostring = select, error, unpack, type, pcall, tostring
local isyieldable = coroutine.isyieldable
local gsub = string.gsub
local h_join, h_sleep, in_task = host.join, host.sleep, host.in_task

-- Inside a request or timer, Lua still cannot yield inside a string.gsub
-- callback, a table.sort comparator or require: say so before anything is
-- started. (Outside any, the C side says that.)
local function must_yield(who, level)
  if not isyieldable() and in_task() then
    error(who .. ": cannot wait here: Lua cannot yield inside a string.gsub callback, a table.sort "
      .. "comparator or require", level or 3)
  end
end


local _M = { version = "0.1.0" }

--- For crater.socket and other waits written in Lua: raises when the caller
--- `level` levels up cannot wait because Lua cannot yield there.
_M.must_yield = must_yield

--- Waits `seconds` (>= 0; fractions are fine, ms precision) on the loop.
--- 0 yields to the loop once. Only inside a request or a timer.
---@param seconds number
function _M.sleep(seconds)
  must_yield("crater.sleep")
  return h_sleep(seconds)
end

--- The loop's time in seconds, with ms precision, as of the current turn
--- of the loop (cheap: no clock is read).
---@type fun(): number
_M.now = host.now

--- Runs fn(...) in a new light thread of the current request (or timer),
--- at once, until it returns or waits; returns the thread. Threads of a
--- request that nobody waited for are killed when the request ends.
---@type fun(fn: function, ...: any): userdata
_M.spawn = host.spawn

--- Kills a thread that is still waiting (what it waits for is cancelled).
--- Returns true, or nil and "already done".
---@type fun(thread: userdata): boolean|nil, string|nil
_M.kill = host.kill

--- Background timers, per server process (per worker). fn(premature, ...)
--- runs in a task of its own, which may wait like a handler. When the app
--- is reloaded or the server stops, a pending timer runs once at once with
--- premature = true (then an `every` timer stops), so it can flush state.
--- Timers are made once the app serves: in app:on_start, a handler, or a
--- timer; each returns a timer with :cancel(), or nil and an error.
_M.timer = {
  ---@type fun(delay: number, fn: fun(premature: boolean, ...: any), ...: any): userdata|nil, string|nil
  at = host.timer_at,
  ---@type fun(interval: number, fn: fun(premature: boolean, ...: any), ...: any): userdata|nil, string|nil
  every = host.timer_every,
}

local function pack(...) return { n = select("#", ...), ... } end

-- Joins one thread: host.join returns nothing when it had to wait, then
-- (true, results...) or (nil, err) once the thread has settled. Misuse is
-- reported at the line that called crater.wait.
local function settle(t)
  local r
  repeat
    r = pack(pcall(h_join, t))
    if not r[1] then error((gsub(tostring(r[2]), "^[^:]*:%d+: ", "")), 3) end
  until r.n > 1
  return pack(unpack(r, 2, r.n))
end

--- Waits until every thread given has finished. With one thread, returns
--- what its function returned, or nil and the error (a traceback) if it
--- raised ("killed" if it was killed). With several, returns the first
--- value each returned, in order; or nil and the first error.
---@param ... userdata threads from crater.spawn
---@return any ...
function _M.wait(...)
  local n = select("#", ...)
  if n == 0 then error("crater.wait: give it one or more threads", 2) end
  for i = 1, n do
    local t = select(i, ...)
    if type(t) ~= "userdata" then
      error("crater.wait: argument #" .. i .. ": crater.thread expected, got " .. type(t), 2)
    end
  end
  must_yield("crater.wait")
  if n == 1 then
    local r = settle((...))
    if r[1] == nil then return nil, r[2] end
    return unpack(r, 2, r.n)
  end
  local out, err = {}, nil
  for i = 1, n do
    local r = settle((select(i, ...)))
    if r[1] == nil then err = err or r[2] else out[i] = r[2] end
  end
  if err ~= nil then return nil, err end
  return unpack(out, 1, n)
end

return _M
