--- crater.sse: Server-Sent Events (docs/sse.md).
--
-- crater.sse(fn, opts) is a crater.stream whose body is an event stream.
-- The handler fn(send, req) runs in a thread of its own (crater.spawn) so
-- that the stream's function can send comment heartbeats while the handler
-- waits in anything (crater.sleep, a channel, a socket): only the stream's
-- own function may write chunks, so send() queues the event's text and
-- wakes it. Both sides wait with `park` and are woken with `wake`: a sleeping
-- thread the other side kills (threads of one request may kill each other).
-- When the client goes away, the core ends every wait in progress with
-- nil, "closed" (docs/sse.md): a park says so, a write says so, and from
-- then on send returns nil, "closed", no heartbeat goes out, and the
-- stream's function only waits for the handler to return.

local response = require "crater.response"
local async = require "crater.async"

local type, tostring, error, xpcall, floor = type, tostring, error, xpcall, math.floor
local setmetatable = setmetatable
local find, gsub, format = string.find, string.gsub, string.format
local concat = table.concat
local traceback = debug.traceback
local spawn, kill, wait, sleep = async.spawn, async.kill, async.wait, async.sleep

local _M = { version = "0.1.0" }

-- Queued text above which send() waits for the stream to take it, so a
-- handler faster than its client cannot grow memory without bound.
local HIGH_WATER = 64 * 1024
-- A park with no timeout still needs a timer: long, and parked again after.
local FOREVER = 3600

-- The handler's error with where it happened; the stream's function raises
-- it again, so the core logs it and breaks the stream off.
local function trace(e)
  if type(e) == "table" then e = e.detail or e.message or e end
  return traceback(tostring(e), 2)
end

local function nap(seconds)
  local _, err = sleep(seconds)
  return err or "timeout" -- "closed": the client went away
end

-- Waits until woken (nil) or `seconds` passed ("timeout"), or the client
-- went away meanwhile ("closed").
local function park(slot, seconds)
  local t = spawn(nap, seconds)
  slot.t = t
  local why = wait(t)
  slot.t = nil
  return why
end

local function wake(slot)
  local t = slot.t
  if t then
    slot.t = nil
    kill(t)
  end
end

-- "a\r\nb\rc\nd" -> "data: a\ndata: b\ndata: c\ndata: d\n": the three line
-- ends of the event-stream format are all line breaks (WHATWG HTML 9.2.6).
local function field_lines(name, text)
  text = gsub(text, "\r\n", "\n")
  text = gsub(text, "\r", "\n")
  return name .. gsub(text, "\n", "\n" .. name) .. "\n"
end

local function one_line(who, what, v)
  if type(v) == "number" then v = tostring(v) end
  if type(v) ~= "string" then error(format("%s: %s must be a string, got %s", who, what, type(v)), 4) end
  if find(v, "[\r\n%z]") then error(format("%s: %s must not contain CR, LF or NUL", who, what), 4) end
  return v
end

--- The text of one event: ev is a string (its data) or
--- { event=, data=, id=, retry= }. Raises on a bad field (at the caller's
--- caller: the handler's line that called send).
---@param ev string|{ event?: string, data?: any, id?: string|number, retry?: integer }
---@return string
function _M.format(ev)
  if type(ev) ~= "table" then
    if ev == nil then error("crater.sse send: expects a string or { event=, data=, id=, retry= }", 3) end
    return field_lines("data: ", tostring(ev)) .. "\n"
  end
  local out, n = {}, 0
  if ev.event ~= nil then
    n = n + 1; out[n] = "event: " .. one_line("crater.sse send", "event", ev.event) .. "\n"
  end
  if ev.id ~= nil then
    n = n + 1; out[n] = "id: " .. one_line("crater.sse send", "id", ev.id) .. "\n"
  end
  if ev.retry ~= nil then
    local r = ev.retry
    if type(r) ~= "number" or r < 0 or r ~= floor(r) then
      error("crater.sse send: retry must be an integer number of milliseconds >= 0", 3)
    end
    n = n + 1; out[n] = format("retry: %d\n", r)
  end
  if ev.data ~= nil then
    n = n + 1; out[n] = field_lines("data: ", tostring(ev.data))
  end
  if n == 0 then error("crater.sse send: the event has none of event, data, id, retry", 3) end
  return concat(out, "", 1, n) .. "\n"
end
local format_event = _M.format

local function check_opts(opts)
  if opts == nil then return 15 end
  if type(opts) ~= "table" then error("crater.sse: opts must be a table", 3) end
  local hb = opts.heartbeat
  if hb == nil then return 15 end
  if hb == false then return false end
  if type(hb) ~= "number" or not (hb > 0) then
    error("crater.sse: heartbeat must be a number of seconds > 0, or false", 3)
  end
  return hb
end

--- A Server-Sent Events response: `fn(send, req)` sends events with
--- `send(data)` or `send{ event=, data=, id=, retry= }`, comments with
--- `send.comment(text)`; `req.last_event_id` is the `Last-Event-ID` the
--- client reconnected with (or nil). While the handler waits, a comment
--- line goes out every `opts.heartbeat` seconds (default 15; false: none).
--- The stream ends when fn returns. send returns true, or nil, "closed"
--- once the client went away; the wait fn is in then returns nil,
--- "closed" too, and fn has 5 s to return (docs/sse.md).
---@param fn fun(send: table, req: table)
---@param opts? { heartbeat?: number|false, status?: integer, headers?: table<string, string> }
---@return table res
function _M.new(fn, opts)
  if type(fn) ~= "function" then error("crater.sse: expects a function", 2) end
  local hb = check_opts(opts)
  local res = response.stream(function(write, req)
    -- HEAD gets the head only: a handler that never ends would hold it open
    if req.method == "HEAD" then return end
    req.last_event_id = req:header("Last-Event-ID")
    local q, qn, qbytes = {}, 0, 0
    local main, handler = {}, {} -- park slots of the stream and of the handler
    local done, failure = false, nil
    local gone = false -- the client went away: nothing more goes out

    local function push(text)
      if gone then return nil, "closed" end
      qn = qn + 1
      q[qn] = text
      qbytes = qbytes + #text
      wake(main)
      while qbytes > HIGH_WATER and not done and not gone do
        if park(handler, FOREVER) == "closed" then gone = true end
      end
      if gone then return nil, "closed" end
      return true
    end
    local send = setmetatable({
      comment = function(text)
        return push(field_lines(": ", tostring(text == nil and "" or text)) .. "\n")
      end,
    }, { __call = function(_, ev) return push(format_event(ev)) end })

    spawn(function()
      local ok, err = xpcall(fn, trace, send, req)
      if not ok then failure = err end
      done = true
      wake(main)
    end)

    local function lost()
      gone = true
      q, qn, qbytes = {}, 0, 0
      wake(handler) -- a send waiting for room returns nil, "closed"
    end
    while true do
      if qn > 0 then
        local text = concat(q, "", 1, qn)
        q, qn, qbytes = {}, 0, 0
        if write(text) then wake(handler) else lost() end
      elseif done then
        break
      elseif gone then
        park(main, FOREVER) -- until the handler returns (or the core's grace ends)
      else
        local why = park(main, hb or FOREVER)
        if why == "closed" then
          lost()
        elseif why == "timeout" and hb and not write(":\n\n") then
          lost()
        end
      end
    end
    if failure ~= nil then error(failure, 0) end
  end, opts and opts.status or 200, opts and opts.headers)
  -- set one by one: the head's order stays the same from run to run, and
  -- opts.headers may replace any of them
  if res.content_type == nil then res.content_type = "text/event-stream; charset=utf-8" end
  if res:get_header("Cache-Control") == nil then
    -- no-transform: the core does not compress it (nor may a proxy), so
    -- each event reaches the client when it is sent
    res:header("Cache-Control", "no-cache, no-transform")
  end
  -- nginx buffers proxied answers unless told not to
  if res:get_header("X-Accel-Buffering") == nil then res:header("X-Accel-Buffering", "no") end
  return res
end

return _M
