--- crater.channel: one publisher, many waiting subscribers, inside a worker
--- (docs/sse.md#channels).
--
-- Each subscription has its own bounded queue, so a slow subscriber loses
-- its oldest messages rather than holding memory or the publisher back.
-- A receive waits on its subscription's waitable (host/src/notify.c), which
-- publish signals: the subscriber, whatever request it runs in, is woken
-- from the loop's next turn, with no polling. The channel holds its
-- subscriptions weakly: one whose request ended (its wait is cancelled with
-- the request) is collected with that request, with no close() needed.

local async = require "crater.async"
local host = require "crater.host"

local type, error, setmetatable, pairs = type, error, setmetatable, pairs
local now, must_yield, waitable = async.now, async.must_yield, host.waitable

local _M = { version = "0.1.0" }

---@class crater.Channel
---@field private subs table<crater.Subscription, true>
---@field private buffer integer
local Channel = {}
Channel.__index = Channel

---@class crater.Subscription
---@field private ch crater.Channel
---@field private q any[]
---@field private head integer
---@field private tail integer
---@field private w userdata the waitable a receive waits on
---@field dropped integer messages lost because the queue was full
local Subscription = {}
Subscription.__index = Subscription

--- A new channel. opts.buffer: messages kept per subscriber (default 256).
---@param opts? { buffer?: integer }
---@return crater.Channel
function _M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then error("crater.channel: opts must be a table", 2) end
  local buffer = opts and opts.buffer or 256
  if type(buffer) ~= "number" or buffer < 1 or buffer % 1 ~= 0 then
    error("crater.channel: buffer must be an integer >= 1", 2)
  end
  return setmetatable({ subs = setmetatable({}, { __mode = "k" }), buffer = buffer }, Channel)
end

--- Queues msg (any value but nil) for every subscriber; returns how many.
---@param msg any
---@return integer
function Channel:publish(msg)
  if msg == nil then error("crater.channel: publish(nil): a message cannot be nil", 2) end
  local n, cap = 0, self.buffer
  for sub in pairs(self.subs) do
    local tail = sub.tail + 1
    sub.q[tail], sub.tail = msg, tail
    if tail - sub.head > cap then -- full: the oldest goes
      sub.q[sub.head + 1] = nil
      sub.head = sub.head + 1
      sub.dropped = sub.dropped + 1
    end
    sub.w:signal()
    n = n + 1
  end
  return n
end

--- Subscribers not yet closed nor collected.
---@return integer
function Channel:count()
  local n = 0
  for _ in pairs(self.subs) do n = n + 1 end
  return n
end

--- A subscription: receives the messages published from now on.
---@return crater.Subscription
function Channel:subscribe()
  local sub = setmetatable({ ch = self, q = {}, head = 0, tail = 0, dropped = 0, w = waitable() }, Subscription)
  self.subs[sub] = true
  return sub
end

--- The next message, waiting for it up to `timeout` seconds (nil: no
--- limit). Returns msg, or nil and "timeout", or nil and "closed" (after
--- sub:close(), or when the client of the request waiting went away).
---@param timeout? number
---@return any msg
---@return string|nil err
function Subscription:receive(timeout)
  if timeout ~= nil and (type(timeout) ~= "number" or timeout < 0) then
    error("crater.channel: receive(timeout): timeout must be a number of seconds >= 0", 2)
  end
  local deadline
  while true do
    if self.head < self.tail then
      local i = self.head + 1
      local msg = self.q[i]
      self.q[i], self.head = nil, i
      return msg
    end
    if self.ch == nil then return nil, "closed" end
    if timeout == 0 then return nil, "timeout" end
    deadline = deadline or (timeout and now() + timeout)
    local left = deadline and deadline - now()
    if left and left <= 0 then return nil, "timeout" end
    must_yield("crater.channel: receive")
    local woke, err = self.w:wait(left)
    -- the request's client went away while it waited (docs/sse.md)
    if woke == nil and err == "closed" then return nil, "closed" end
  end
end

--- Stops the subscription: a receive returns what is queued, then nil, "closed".
function Subscription:close()
  local ch = self.ch
  if ch then
    ch.subs[self] = nil
    self.ch = nil
    self.w:signal() -- a receive waiting in another thread returns "closed"
  end
end

_M.Channel, _M.Subscription = Channel, Subscription

return _M
