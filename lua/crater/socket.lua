--- crater.socket: cosockets, TCP and unix-domain connections on the loop.
--
--   local sock = crater.socket.tcp()
--   local ok, err = sock:connect("127.0.0.1", 6379)
--   sock:send("PING\r\n")
--   local line = sock:receive()           -- "+PONG"
--   sock:setkeepalive()                   -- back into the pool
--
-- A call that must wait suspends only the light thread that made it; the
-- server serves others meanwhile. Failures return nil and a stable error
-- string; every error but a read timeout closes the socket. A socket
-- belongs to the request that made it and is closed when that request
-- ends. The C half is host/src/socket.c (crater._socket); the guide is
-- docs/sockets.md.

local ok, C = pcall(require, "crater._socket")
if not ok then C = nil end -- stock luajit (the Lua specs): no sockets

local type, error, tostring = type, error, tostring
local must_yield = require("crater.async").must_yield
local sub, match = string.sub, string.match

local _M = { version = "0.1.0" }

---@class crater.socket.tcp
local methods = {}

local c_new, c_connect, c_send, c_receive, c_until, c_settimeouts, c_close, c_keepalive,
  c_reused, c_handshake, c_any
if C then
  c_new, c_connect, c_send, c_receive, c_any = C.new, C.connect, C.send, C.receive, C.receiveany
  c_until, c_settimeouts, c_close, c_keepalive = C.receiveuntil, C.settimeouts, C.close,
    C.setkeepalive
  c_reused, c_handshake = C.reused, C.sslhandshake
  C.metatable.__index = methods
  C.metatable.__tostring = function() return "crater.socket.tcp" end
end

local function is_count(v) return type(v) == "number" and v >= 0 and v % 1 == 0 end

local function check_ms(v, what)
  if v ~= nil and (type(v) ~= "number" or v < 0 or v > 4e9) then
    error(what .. ": milliseconds must be a number from 0 to 4e9 (0: no timeout)", 3)
  end
end

--- A new TCP (or unix-domain) socket of the running request, not connected.
--- Raises outside a request.
---@return crater.socket.tcp
function _M.tcp()
  if not c_new then error("crater.socket.tcp: sockets exist only inside the Crater server", 2) end
  return c_new()
end

--- Connects to host:port (a name is resolved on the loop; a literal IPv4
--- or IPv6 address is not), or to a unix socket with "unix:/path" (no
--- port). A connection of the same pool left by setkeepalive is reused
--- when there is one. Returns 1, or nil and an error.
---@param host string
---@param port? integer|table
---@param opts? { pool?: string, pool_size?: integer, backlog?: integer }
---@return integer|nil ok
---@return string|nil err
function methods:connect(host, port, opts)
  must_yield("sock:connect")
  if type(host) ~= "string" or host == "" then
    error("sock:connect: host must be a non-empty string", 2)
  end
  if sub(host, 1, 5) == "unix:" then
    if type(port) == "table" and opts == nil then port, opts = nil, port end
    if port ~= nil then error("sock:connect: a unix socket takes no port", 2) end
    if #host == 5 then error("sock:connect: \"unix:\" needs a path", 2) end
  else
    if type(port) ~= "number" or port % 1 ~= 0 or port < 1 or port > 65535 then
      error("sock:connect: port must be an integer from 1 to 65535", 2)
    end
    host = match(host, "^%[(.*)%]$") or host -- "[::1]"
  end
  local pool, size, backlog
  if opts ~= nil then
    if type(opts) ~= "table" then error("sock:connect: opts must be a table", 2) end
    pool, size, backlog = opts.pool, opts.pool_size, opts.backlog
    if pool ~= nil and (type(pool) ~= "string" or pool == "") then
      error("sock:connect: opts.pool must be a non-empty string", 2)
    end
    if size ~= nil and not is_count(size) then
      error("sock:connect: opts.pool_size must be an integer >= 0", 2)
    end
    if backlog ~= nil and not is_count(backlog) then
      error("sock:connect: opts.backlog must be an integer >= 0", 2)
    end
  end
  return c_connect(self, host, port, pool, size, backlog)
end

--- Sends data: a string, or an array of strings (and numbers) sent as one
--- write. Returns the number of bytes sent, or nil and an error.
---@param data string|table
---@return integer|nil bytes
---@return string|nil err
function methods:send(data)
  must_yield("sock:send")
  local t = type(data)
  if t == "number" then
    data = tostring(data)
  elseif t ~= "string" and t ~= "table" then
    error("sock:send: data must be a string or an array of strings", 2)
  end
  return c_send(self, data)
end

--- Receives n bytes, a line ("*l", the default: without its "\n" and a
--- "\r" before it) or everything until the peer closes ("*a"). Returns the
--- data, or nil, an error and the partial data received.
---@param pattern? integer|"*l"|"*a"
---@return string|nil data
---@return string|nil err
---@return string|nil partial
function methods:receive(pattern)
  must_yield("sock:receive")
  if pattern ~= nil and pattern ~= "*l" and pattern ~= "*a" and not is_count(pattern) then
    error("sock:receive: pattern must be a number of bytes, \"*l\" or \"*a\"", 2)
  end
  return c_receive(self, pattern)
end

--- Receives what has arrived, at most `max` bytes, waiting only while
--- nothing has: for protocols that frame their own messages. Returns the
--- data, or nil, an error ("closed" at the end) and "".
---@param max integer
---@return string|nil data
---@return string|nil err
function methods:receiveany(max)
  must_yield("sock:receiveany")
  if not is_count(max) or max < 1 then error("sock:receiveany: max must be a number of bytes >= 1", 2) end
  return c_any(self, max)
end

--- Returns an iterator that reads until `pattern` (an exact string, not a
--- Lua pattern). reader() returns the data before the next occurrence (the
--- occurrence is read too; returned with opts.inclusive). reader(size)
--- returns it in pieces of size bytes (the last one shorter), then nil
--- once the occurrence is read. Errors: nil, err, partial.
---@param pattern string
---@param opts? { inclusive?: boolean }
---@return fun(size?: integer): string|nil, string|nil, string|nil
function methods:receiveuntil(pattern, opts)
  if type(pattern) ~= "string" or pattern == "" then
    error("sock:receiveuntil: pattern must be a non-empty string", 2)
  end
  local inclusive = false
  if opts ~= nil then
    if type(opts) ~= "table" then error("sock:receiveuntil: opts must be a table", 2) end
    inclusive = opts.inclusive and true or false
  end
  local sock = self
  return function(size)
    must_yield("reader")
    if size ~= nil and (not is_count(size) or size == 0) then
      error("reader: size must be an integer >= 1", 2)
    end
    return c_until(sock, pattern, size, inclusive)
  end
end

--- Sets the connect, send and read timeouts in ms (nil keeps one; 0: no
--- timeout). The default is 60 s each.
---@param connect_ms? number
---@param send_ms? number
---@param read_ms? number
function methods:settimeouts(connect_ms, send_ms, read_ms)
  check_ms(connect_ms, "sock:settimeouts")
  check_ms(send_ms, "sock:settimeouts")
  check_ms(read_ms, "sock:settimeouts")
  return c_settimeouts(self, connect_ms, send_ms, read_ms)
end

--- Sets the connect, send and read timeouts to ms.
---@param ms number
function methods:settimeout(ms)
  if ms == nil then error("sock:settimeout: milliseconds expected", 2) end
  check_ms(ms, "sock:settimeout")
  return c_settimeouts(self, ms, ms, ms)
end

--- Closes the connection. Returns 1, or nil and an error.
---@return integer|nil ok
---@return string|nil err
function methods:close()
  return c_close(self)
end

--- Puts the connection into its pool for reuse by a later connect (of any
--- request) and leaves the socket unconnected. idle_ms: how long it may wait
--- there (default 60 s; 0: no limit); pool_size: sets the pool's size.
--- Returns 1, or nil and an error (the connection is closed then).
---@param idle_ms? number
---@param pool_size? integer
---@return integer|nil ok
---@return string|nil err
function methods:setkeepalive(idle_ms, pool_size)
  check_ms(idle_ms, "sock:setkeepalive")
  if pool_size ~= nil and not is_count(pool_size) then
    error("sock:setkeepalive: pool_size must be an integer >= 0", 2)
  end
  return c_keepalive(self, idle_ms, pool_size)
end

--- Starts TLS on the connection; then send and receive go through it.
--- opts.verify (default true): check the server's certificate against the
--- system's CA store, or opts.cafile's certificates; opts.server_name is
--- sent (SNI) and, with verify, must match the certificate. A connection
--- from a pool is TLS already: returns at once. Returns true, or nil and an
--- error ("certificate verify failed: ...", "handshake failed: ...").
---@param opts? { server_name?: string, verify?: boolean, cafile?: string }
---@return boolean|nil ok
---@return string|nil err
function methods:sslhandshake(opts)
  must_yield("sock:sslhandshake")
  local name, verify, cafile = nil, true, nil
  if opts ~= nil then
    if type(opts) ~= "table" then error("sock:sslhandshake: opts must be a table", 2) end
    name, cafile = opts.server_name, opts.cafile
    if name ~= nil and (type(name) ~= "string" or name == "") then
      error("sock:sslhandshake: opts.server_name must be a non-empty string", 2)
    end
    if cafile ~= nil and (type(cafile) ~= "string" or cafile == "") then
      error("sock:sslhandshake: opts.cafile must be a file name", 2)
    end
    if opts.verify ~= nil then
      if type(opts.verify) ~= "boolean" then error("sock:sslhandshake: opts.verify must be a boolean", 2) end
      verify = opts.verify
    end
  end
  return c_handshake(self, name, verify, cafile)
end

--- How many times the connection was taken out of a pool (0: a new one).
---@return integer|nil times
---@return string|nil err
function methods:getreusedtimes()
  return c_reused(self)
end

return _M
