--- crater.redis: a Redis client that waits without blocking the server (it
--- runs on crater.socket). The handle is made once, anywhere; each command
--- takes a pooled connection of the running request (or timer), sends,
--- reads the reply and puts the connection back:
--
--   local r = assert(crater.redis.connect("redis://127.0.0.1:6379/0"))
--   app:get("/hits", function()
--     local n, err = r:incr("hits")
--     if not n then return 503, { error = err } end
--     return { hits = n }
--   end)
--
-- RESP2 is read in Lua: a reply is a line and at most one sized read per
-- value, both done by crater.socket's C side, so there is little to gain
-- from a C parser. The guide is docs/redis.md.

local json = require "crater.json"
local async = require "crater.async"
require "crater.socket" -- the socket object's methods (sslhandshake)

local type, tostring, tonumber, error, select, pairs, pcall = type, tostring, tonumber, error, select, pairs, pcall
local setmetatable, getmetatable = setmetatable, getmetatable
local byte, sub, find, match, upper, lower, format, gsub, char = string.byte, string.sub, string.find,
  string.match, string.upper, string.lower, string.format, string.gsub, string.char
local concat, remove, gmatch = table.concat, table.remove, string.gmatch
local null, array_mt = json.null, json.array_mt
local must_yield = async.must_yield

local C_ok, C = pcall(require, "crater._socket")
local c_new, c_connect, c_send, c_receive, c_settimeouts, c_close, c_keepalive, c_reused
if C_ok then
  c_new, c_connect, c_send, c_receive = C.new, C.connect, C.send, C.receive
  c_settimeouts, c_close, c_keepalive, c_reused = C.settimeouts, C.close, C.setkeepalive, C.reused
end

local _M = { version = "0.1.0" }

--- Defaults for handles made after a change (the app may change them).
_M.defaults = {
  timeout = 5,         -- seconds: connect (with a wait for a pooled connection), send, each read
  pool_size = 32,      -- idle connections kept per server, database and credentials
  keepalive_idle = 60, -- seconds a pooled connection may stay idle
}
local defaults = _M.defaults

-- An error reply inside an array (a pipeline's or a transaction's
-- results): a table, so the array has no holes and encodes as JSON.
local Error = {}
Error.__index = Error
Error.__tostring = function(e) return e.error end

local function new_error(msg) return setmetatable({ error = msg }, Error) end

--- True when v is an error reply taken from a pipeline's or transaction's
--- results (a table { error = "WRONGTYPE ..." }).
---@param v any
---@return boolean
function _M.is_error(v) return getmetatable(v) == Error end

-- --- RESP2 ------------------------------------------------------------------------------

local function argument(cmd, i, a)
  local t = type(a)
  if t == "string" then return a end
  if t == "number" then
    -- integers as integers: "%.17g" would write 1e+20 for 10^20, which Redis
    -- does not read as an integer
    if a % 1 == 0 and a >= -9007199254740992 and a <= 9007199254740992 then return format("%d", a) end
    return format("%.17g", a)
  end
  -- argument < encode < command < r:call or r:set < the app's line
  error("crater.redis: argument " .. i .. " of " .. cmd .. " must be a string or a number, not " .. t, 5)
end

-- Appends the command to out (pieces for one send) from position n;
-- returns the new position. Values go as they are: RESP sizes them, so
-- any byte is fine.
local function encode(out, n, cmd, args, nargs)
  out[n + 1] = "*" .. (nargs + 1) .. "\r\n$" .. #cmd .. "\r\n" .. cmd .. "\r\n"
  n = n + 1
  for i = 1, nargs do
    local a = argument(cmd, i, args[i])
    out[n + 1], out[n + 2], out[n + 3] = "$" .. #a .. "\r\n", a, "\r\n"
    n = n + 3
  end
  return n
end

-- Reads one reply. Returns the value; or nil and the error reply's message;
-- or nil, the socket's error and true when the connection is unusable.
local function read_reply(sock)
  local line, err, partial = c_receive(sock)
  if not line then return nil, err, true, partial end
  local kind = byte(line, 1)
  if kind == 36 then -- "$": a bulk string
    local size = tonumber(sub(line, 2))
    if size == nil then return nil, "protocol error: a bulk string's size is not a number", true end
    if size < 0 then return null end
    local data
    if size < 65536 then
      data, err = c_receive(sock, size + 2)
      if not data then return nil, err, true end
      return sub(data, 1, size)
    end
    -- a large value is not copied again to drop its "\r\n"
    data, err = c_receive(sock, size)
    if not data then return nil, err, true end
    local crlf
    crlf, err = c_receive(sock, 2)
    if not crlf then return nil, err, true end
    return data
  elseif kind == 43 then -- "+": a simple string
    return sub(line, 2)
  elseif kind == 58 then -- ":": an integer
    local n = tonumber(sub(line, 2))
    if n == nil then return nil, "protocol error: an integer that is not a number", true end
    return n
  elseif kind == 45 then -- "-": an error reply
    return nil, sub(line, 2), false
  elseif kind == 42 then -- "*": an array
    local size = tonumber(sub(line, 2))
    if size == nil then return nil, "protocol error: an array's size is not a number", true end
    if size < 0 then return null end
    local arr = setmetatable({}, array_mt) -- "[]" in JSON even when empty
    for i = 1, size do
      local v, e, fatal = read_reply(sock)
      if v == nil then
        if fatal then return nil, e, true end
        v = new_error(e)
      end
      arr[i] = v
    end
    return arr
  end
  return nil, "protocol error: not RESP2: " .. gsub(sub(line, 1, 64), "[%c\128-\255]", "?"), true
end

-- --- connections ------------------------------------------------------------------------

-- Commands that would leave a pooled connection in a state the next user
-- does not expect, each with what to do instead. On a connection held with
-- r:connection(fn) the transaction commands are allowed (HELD_OK): it
-- cleans up after them before going back to the pool.
local REFUSED = {
  SELECT = "put the database in the URL (redis://host:6379/2) or opts.db",
  AUTH = "put the credentials in the URL (redis://user:password@host) or opts",
  HELLO = "this client speaks RESP2 only",
  MULTI = "use r:transaction(fn), or r:connection(fn)", EXEC = "use r:transaction(fn), or r:connection(fn)",
  DISCARD = "use r:transaction(fn), or r:connection(fn)",
  WATCH = "use r:connection(fn)", UNWATCH = "use r:connection(fn)",
  SUBSCRIBE = "use r:subscribe(...)", PSUBSCRIBE = "use r:psubscribe(...)",
  UNSUBSCRIBE = "use the subscription's :unsubscribe()", PUNSUBSCRIBE = "use the subscription's :punsubscribe()",
  SSUBSCRIBE = "sharded pub/sub is not supported", SUNSUBSCRIBE = "sharded pub/sub is not supported",
  MONITOR = "not supported", QUIT = "not needed: connections are pooled", RESET = "not supported",
}
local HELD_OK = { MULTI = true, EXEC = true, DISCARD = true, WATCH = true, UNWATCH = true }

-- Raised at the app's line: check_command < command < r:call or r:set < the app.
local function check_command(cmd, held)
  if type(cmd) ~= "string" or cmd == "" or find(cmd, "[%s%c]") then
    error("crater.redis: the command must be a name such as \"GET\"", 4)
  end
  cmd = upper(cmd)
  local why = REFUSED[cmd]
  if why and not (held and HELD_OK[cmd]) then
    error("crater.redis: " .. cmd .. " is not allowed here: " .. why, 4)
  end
  return cmd
end

-- Raises where the running code cannot wait (or outside the server), at
-- `level` as error() counts from can_wait's caller.
local function can_wait(level)
  if not c_new then error("crater.redis: only inside the Crater server", level + 1) end
  must_yield("crater.redis", level + 2)
end

local function sock_error(c, err) return nil, "redis " .. c.name .. ": " .. err end

-- The credentials' number, so that a pool name holds no password.
local cred_ids, ncreds = {}, 0

local function percent_decode(s)
  return (gsub(s, "%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

-- A connection of the running task: from the pool, or new (then AUTH and
-- SELECT run on it once). Returns the socket, or nil and an error.
local function acquire(c)
  local sock = c_new()
  c_settimeouts(sock, c.connect_ms, c.send_ms, c.read_ms)
  local ok, err = c_connect(sock, c.host, c.port, c.pool, c.pool_size, c.backlog)
  if not ok then return sock_error(c, err) end
  local fresh = c_reused(sock) == 0
  if c.tls and fresh then
    ok, err = sock:sslhandshake(c.tls)
    if not ok then c_close(sock) return sock_error(c, err) end
  end
  if c.init ~= nil and fresh then
    -- a round trip of its own: a failed SELECT must not let the commands
    -- that follow write to database 0
    ok, err = c_send(sock, c.init)
    if not ok then c_close(sock) return sock_error(c, err) end
    for _ = 1, c.ninit do
      local v, e, fatal = read_reply(sock)
      if v == nil then
        c_close(sock)
        if fatal then return sock_error(c, e) end
        return nil, e
      end
    end
  end
  return sock
end

local function release(c, sock)
  c_keepalive(sock, c.idle_ms, c.pool_size)
end

-- Sends pieces on sock, reads n replies. Returns the one reply (n == 1,
-- errors as nil, err) or an array of n (errors as error objects); or nil,
-- a connection error and true (the socket is closed then).
local function roundtrip(c, sock, pieces, n, many)
  local ok, err = c_send(sock, pieces)
  -- another thread of the request is using this held connection: it is
  -- its to keep, and nothing was sent
  if err == "busy" then return nil, "redis " .. c.name .. ": busy" end
  if not ok then
    c_close(sock)
    local _, e = sock_error(c, err)
    return nil, e, true
  end
  local results, first = many and setmetatable({}, array_mt) or nil, nil
  for i = 1, n do
    local v, e, fatal = read_reply(sock)
    if v == nil then
      if fatal then
        c_close(sock)
        local _, se = sock_error(c, e)
        return nil, se, true
      end
      if many then v = new_error(e) else first = e end
    end
    if many then results[i] = v else results = v end
  end
  if results == nil then return nil, first end
  return results
end

-- A round trip on a pooled connection, put back afterwards. Nothing is
-- sent again after a connection error: the server may have run the command
-- (a pooled connection that the server closed while idle is dropped by the
-- pool as soon as the close arrives).
local function exchange(c, pieces, n, many)
  local sock, err = acquire(c)
  if not sock then return nil, err end
  local v, fatal
  v, err, fatal = roundtrip(c, sock, pieces, n, many)
  if not fatal then release(c, sock) end
  return v, err
end

-- The entry points (r:call and the methods made by name) call this and
-- return its values without a tail call, so that errors raised in it name
-- the app's line at the same depth from both.
local function command(self, cmd, ...)
  cmd = check_command(cmd, self._held)
  can_wait(3) -- command < r:get < the app's line
  local out = {}
  encode(out, 0, cmd, { ... }, select("#", ...))
  return self:_run(out, 1, false, cmd)
end

-- --- the handle ---------------------------------------------------------------------

---@class crater.redis.client
---@field [string] fun(self: crater.redis.client, ...: string|number): any, string?
local Client = {}

-- Any other name is a command: r:hgetall(k) sends HGETALL k. The method
-- is made once and kept in `methods`.
local function command_methods(methods)
  return function(_, name)
    local m = methods[name]
    if m ~= nil or type(name) ~= "string" or not find(name, "^%a[%w_]*$") then return m end
    local cmd = upper(name)
    m = function(self, ...)
      local v, err = command(self, cmd, ...) -- not a tail call: can_wait counts levels
      return v, err
    end
    methods[name] = m
    return m
  end
end

local client_mt = {
  __index = command_methods(Client),
  __tostring = function(self) return "crater.redis " .. self._c.name end,
}

-- Both raise at the line that called crater.redis.connect: connect calls
-- them directly.
local function positive(v, what)
  if v ~= nil and (type(v) ~= "number" or v < 0) then
    error("crater.redis.connect: " .. what .. " must be a number of seconds >= 0 (0: none)", 3)
  end
  return v
end

local function count(v, what)
  if v ~= nil and (type(v) ~= "number" or v < 0 or v % 1 ~= 0) then
    error("crater.redis.connect: " .. what .. " must be an integer >= 0", 3)
  end
  return v
end

local function bad_url(why, url) return nil, "crater.redis: bad url: " .. why .. ": " .. tostring(url) end

-- "redis://[user:password@]host[:port][/db][?db=n]" or
-- "redis+unix://[user:password@]/path/to.sock[?db=n]" -> a table of options.
local function parse_url(url)
  if find(url, "[%c ]") then return bad_url("a space or control character", url) end
  local scheme, rest = match(url, "^(%a[%w+.-]*)://(.*)$")
  if not scheme then return bad_url("not redis://host or redis+unix:///path", url) end
  scheme = lower(scheme)
  local o = {}
  local query
  rest, query = match(rest, "^([^?#]*)%??([^#]*)")
  local userinfo, after = match(rest, "^(.*)@(.*)$")
  if userinfo then
    rest = after
    local user, pass = match(userinfo, "^([^:]*):(.*)$")
    if user then
      if user ~= "" then o.user = percent_decode(user) end
      o.password = percent_decode(pass)
    elseif userinfo ~= "" then
      o.password = percent_decode(userinfo) -- redis://secret@host: the password alone, as redis-cli reads it
    end
  end
  if scheme == "redis" or scheme == "rediss" then
    if scheme == "rediss" then o.tls = true end
    local authority, path = match(rest, "^([^/]*)(.*)$")
    local h, port
    if sub(authority, 1, 1) == "[" then
      h, port = match(authority, "^%[([%x:.]+)%]:?(%d*)$")
    else
      h, port = match(authority, "^([^:]*):?(%d*)$")
    end
    if not h then return bad_url("bad host or port", url) end
    o.host = h ~= "" and h or "127.0.0.1"
    o.port = tonumber(port) or 6379
    if o.port < 1 or o.port > 65535 then return bad_url("bad port", url) end
    if path ~= "" and path ~= "/" then
      local db = match(path, "^/(%d+)$")
      if not db then return bad_url("the path must be a database number", url) end
      o.db = tonumber(db)
    end
  elseif scheme == "redis+unix" or scheme == "unix" then
    if sub(rest, 1, 1) ~= "/" then return bad_url("a unix socket needs an absolute path", url) end
    o.path = percent_decode(rest)
  else
    return bad_url("unsupported scheme " .. scheme, url)
  end
  for k, v in gmatch(query, "([^&=]+)=?([^&]*)") do
    if k == "db" then
      o.db = tonumber(v)
      if not o.db then return bad_url("db must be a number", url) end
    elseif k == "password" then
      o.password = percent_decode(v)
    elseif k == "user" or k == "username" then
      o.user = percent_decode(v)
    else
      return bad_url("unknown parameter " .. k, url)
    end
  end
  return o
end

local OPTIONS = {}
for k in gmatch("host port path user username password db tls verify cafile server_name timeout connect_timeout "
  .. "send_timeout read_timeout pool_size keepalive_idle backlog pool", "%S+") do OPTIONS[k] = true end

--- Makes a handle on a Redis server; no connection is made yet (each
--- command takes one from the worker's pool, so the handle may be made when
--- the app loads). `url`: "redis://[user:password@]host[:port][/db]" or
--- "redis+unix://[user:password@]/path/to.sock[?db=n]" ("rediss://": TLS);
--- `opts` (or a table in place of the URL): host, port, path (a unix
--- socket), user, password, db, tls, verify, cafile, server_name, timeout
--- (seconds: connect, send and each read; default 5; 0: none), connect_timeout, send_timeout, read_timeout, pool_size (idle connections
--- kept; default 32), keepalive_idle (seconds; default 60), backlog (limits
--- the connections to pool_size, and how many requests may wait for one).
--- Returns the handle, or nil and an error for a bad URL.
---@param url string|table
---@param opts? { host?: string, port?: integer, path?: string, tls?: boolean, verify?: boolean, cafile?: string, server_name?: string, user?: string, password?: string, db?: integer, timeout?: number, connect_timeout?: number, send_timeout?: number, read_timeout?: number, pool_size?: integer, keepalive_idle?: number, backlog?: integer }
---@return crater.redis.client|nil client
---@return string|nil err
function _M.connect(url, opts)
  local o
  if type(url) == "string" then
    local err
    o, err = parse_url(url)
    if not o then return nil, err end
  elseif type(url) == "table" and opts == nil then
    url, opts, o = nil, url, {}
  else
    error("crater.redis.connect: expected a redis:// URL or a table of options", 2)
  end
  if opts ~= nil then
    if type(opts) ~= "table" then error("crater.redis.connect: opts must be a table", 2) end
    for k, v in pairs(opts) do
      if not OPTIONS[k] then error("crater.redis.connect: unknown option " .. tostring(k), 2) end
      o[k] = v
    end
  end
  local host, port, path = o.host, o.port, o.path
  if path ~= nil then
    if type(path) ~= "string" or path == "" then error("crater.redis.connect: path must be a file name", 2) end
    host, port = "unix:" .. path, nil
  else
    host = host or "127.0.0.1"
    port = port or 6379
    if type(host) ~= "string" or host == "" then error("crater.redis.connect: host must be a string", 2) end
    if type(port) ~= "number" or port % 1 ~= 0 or port < 1 or port > 65535 then
      error("crater.redis.connect: port must be an integer from 1 to 65535", 2)
    end
    host = match(host, "^%[(.*)%]$") or host
  end
  local db = o.db or 0
  if type(db) ~= "number" or db < 0 or db % 1 ~= 0 then
    error("crater.redis.connect: db must be an integer >= 0", 2)
  end
  local user, password = o.user or o.username, o.password
  if user ~= nil and type(user) ~= "string" then error("crater.redis.connect: user must be a string", 2) end
  if password ~= nil and type(password) ~= "string" then
    error("crater.redis.connect: password must be a string", 2)
  end
  if user ~= nil and password == nil then error("crater.redis.connect: a user needs a password", 2) end
  local t = positive(o.timeout, "timeout") or defaults.timeout
  local ct, st, rt = positive(o.connect_timeout, "connect_timeout"), positive(o.send_timeout, "send_timeout"),
    positive(o.read_timeout, "read_timeout")
  local idle = positive(o.keepalive_idle, "keepalive_idle")
  local name = port and ((find(host, ":", 1, true) and "[" .. host .. "]" or host) .. ":" .. port) or host
  local c = {
    name = name, host = host, port = port, db = db,
    connect_ms = (ct or t) * 1000, send_ms = (st or t) * 1000, read_ms = (rt or t) * 1000,
    pool_size = count(o.pool_size, "pool_size") or defaults.pool_size,
    idle_ms = (idle or defaults.keepalive_idle) * 1000,
    backlog = count(o.backlog, "backlog"),
  }
  -- What a new connection runs once, and the pool it belongs to: one per
  -- server, database and credentials, so a pooled connection is always
  -- ready for the handle that takes it.
  local init, len, ninit = {}, 0, 0
  local creds = ""
  if password ~= nil then
    local args = user and { user, password } or { password }
    len, ninit = encode(init, len, "AUTH", args, #args), 1
    local key = (user or "") .. "\0" .. password
    local id = cred_ids[key]
    if id == nil then ncreds = ncreds + 1; id = ncreds; cred_ids[key] = id end
    creds = "#" .. id
  end
  if db ~= 0 then
    len = encode(init, len, "SELECT", { db }, 1)
    ninit = ninit + 1
  end
  if ninit > 0 then c.init, c.ninit = concat(init), ninit end
  local tls = o.tls
  if tls ~= nil and tls ~= false then
    if tls ~= true then error("crater.redis.connect: tls must be a boolean", 2) end
    if path then error("crater.redis.connect: TLS over a unix socket is not supported", 2) end
    local verify, cafile, server_name = o.verify, o.cafile, o.server_name
    if verify ~= nil and type(verify) ~= "boolean" then error("crater.redis.connect: verify must be a boolean", 2) end
    if cafile ~= nil and (type(cafile) ~= "string" or cafile == "") then
      error("crater.redis.connect: cafile must be a file name", 2)
    end
    if server_name ~= nil and (type(server_name) ~= "string" or server_name == "") then
      error("crater.redis.connect: server_name must be a non-empty string", 2)
    end
    if server_name == nil and not find(host, "^[%d.]+$") and not find(host, ":", 1, true) then
      server_name = host -- a name: sent as SNI and checked against the certificate
    end
    c.tls = { verify = verify ~= false, cafile = cafile, server_name = server_name }
    -- connections checked otherwise (or not at all) are not shared
    creds = creds .. "|tls" .. (verify == false and "|noverify" or "") .. (cafile and "|" .. cafile or "")
  end
  c.pool = o.pool or ("redis:" .. name .. "/" .. db .. creds)
  if type(c.pool) ~= "string" or c.pool == "" then error("crater.redis.connect: pool must be a string", 2) end
  return setmetatable({ _c = c }, client_mt)
end

-- Runs encoded commands: on a pooled connection, for a handle.
function Client:_run(pieces, n, many)
  return exchange(self._c, pieces, n, many)
end

--- Runs any command: r:call("GET", "k"), r:call("CLIENT", "ID"). Returns
--- the reply (bulk and simple strings as strings, integers as numbers,
--- arrays as arrays, a nil reply as crater.json.null), or nil and an error:
--- the error reply's message ("WRONGTYPE ...") or a connection error
--- ("redis 127.0.0.1:6379: connection refused").
---@param cmd string
---@param ... string|number
---@return any reply
---@return string|nil err
function Client:call(cmd, ...)
  local v, err = command(self, cmd, ...)
  return v, err
end

-- --- pipelines and transactions ------------------------------------------------------------

-- As command(), for a pipeline: the command is only queued.
local function queue(self, cmd, ...)
  cmd = check_command(cmd, false)
  self._len = encode(self._out, self._len, cmd, { ... }, select("#", ...))
  self._n = self._n + 1
  return self._n
end

---@class crater.redis.pipeline
---@field [string] fun(self: crater.redis.pipeline, ...: string|number): integer
local Pipeline = {}

local pipeline_mt = {
  __index = function(_, name)
    local m = Pipeline[name]
    if m ~= nil or type(name) ~= "string" or not find(name, "^%a[%w_]*$") then return m end
    local cmd = upper(name)
    m = function(self, ...)
      local i = queue(self, cmd, ...)
      return i
    end
    Pipeline[name] = m
    return m
  end,
}

--- Queues a command; returns its place in the results.
---@param cmd string
---@param ... string|number
---@return integer index
function Pipeline:call(cmd, ...)
  local i = queue(self, cmd, ...)
  return i
end

--- Sends the queued commands at once and reads their replies: an array,
--- one element per command in order, each the reply or, for an error
--- reply, an error object { error = "..." } (crater.redis.is_error).
--- Returns nil and an error when the connection failed. The pipeline is
--- empty afterwards and may be used again.
---@return any[]|nil results
---@return string|nil err
function Pipeline:commit()
  can_wait(2)
  local n, out = self._n, self._out
  self._n, self._len, self._out = 0, 0, {}
  if n == 0 then return setmetatable({}, array_mt) end
  return self._client:_run(out, n, true)
end

-- An empty pipeline on client (a handle, or a held connection).
local function new_pipeline(client)
  return setmetatable({ _client = client, _n = 0, _len = 0, _out = {} }, pipeline_mt)
end

--- A pipeline: commands queued with p:set(...), p:get(...) (or
--- p:call("CMD", ...)) go in one write and their replies come back together.
--- With fn: fn(p) queues them, and the results are returned (as
--- p:commit()). Without: returns p, for p:commit() later.
---@param fn? fun(p: crater.redis.pipeline)
---@return any[]|crater.redis.pipeline|nil results
---@return string|nil err
function Client:pipeline(fn)
  local p = new_pipeline(self)
  if fn == nil then return p end
  if type(fn) ~= "function" then error("crater.redis: pipeline expects a function or nothing", 2) end
  fn(p)
  return p:commit()
end

local function transaction(self, fn)
  if type(fn) ~= "function" then error("crater.redis: transaction expects a function", 3) end
  local p = new_pipeline(self)
  p._len = encode(p._out, 0, "MULTI", {}, 0)
  fn(p)
  can_wait(3)
  local n = p._n
  p._len = encode(p._out, p._len, "EXEC", {}, 0)
  local res, err = self:_run(p._out, n + 2, true, "EXEC")
  if not res then return nil, err end
  local exec = res[n + 2]
  if getmetatable(exec) == Error then
    for i = 2, n + 1 do
      if getmetatable(res[i]) == Error then return nil, exec.error .. ": " .. res[i].error end
    end
    return nil, exec.error
  end
  if getmetatable(res[1]) == Error then return nil, res[1].error end
  return exec
end

--- A transaction: the commands fn(t) queues run as MULTI ... EXEC, in one
--- round trip, without other clients' commands in between. Returns EXEC's
--- results (an array as a pipeline's), or nil and an error: a connection
--- error, or when a command was refused while queued (a wrong number of
--- arguments, an unknown command) "EXECABORT ...: " and that command's error,
--- and nothing ran. (On a connection of r:connection, after WATCH:
--- crater.json.null when a watched key changed, and nothing ran.)
---@param fn fun(t: crater.redis.pipeline)
---@return any[]|nil results
---@return string|nil err
function Client:transaction(fn)
  local res, err = transaction(self, fn)
  return res, err
end

-- --- a connection held for a function -------------------------------------------------

---@class crater.redis.connection
---@field [string] fun(self: crater.redis.connection, ...: string|number): any, string?
local Conn = {}

local conn_mt = {
  __index = command_methods(Conn),
}

-- Runs encoded commands on the held connection, keeping track of what
-- must be undone before it goes back to the pool.
function Conn:_run(pieces, n, many, cmd)
  if self._sock == nil then
    if self._broken then return nil, self._broken end
    -- _run < command < c:get < the app's line
    error("crater.redis: this connection was held for r:connection(fn), which has returned", 4)
  end
  local v, err, fatal = roundtrip(self._c, self._sock, pieces, n, many)
  if fatal then
    self._sock, self._broken = nil, err
    return nil, err
  end
  if cmd == "MULTI" then self._multi = true
  elseif cmd == "WATCH" then self._watching = true
  elseif cmd == "EXEC" or cmd == "DISCARD" then self._multi, self._watching = false, false
  elseif cmd == "UNWATCH" then self._watching = false end
  return v, err
end

--- Runs any command on the held connection (WATCH, MULTI, EXEC, DISCARD
--- and UNWATCH included).
---@param cmd string
---@param ... string|number
---@return any reply
---@return string|nil err
function Conn:call(cmd, ...)
  local v, err = command(self, cmd, ...)
  return v, err
end

--- As r:pipeline, on the held connection.
---@param fn? fun(p: crater.redis.pipeline)
Conn.pipeline = Client.pipeline

--- As r:transaction, on the held connection: after WATCH, it returns
--- crater.json.null when a watched key changed (nothing ran).
---@param fn fun(t: crater.redis.pipeline)
---@return any[]|userdata|nil results
---@return string|nil err
function Conn:transaction(fn)
  local res, err = transaction(self, fn)
  return res, err
end

local function finish_held(conn, ok, ...)
  local sock = conn._sock
  conn._sock = nil
  if sock ~= nil then
    if not ok then
      c_close(sock) -- an error mid-way: the connection's state is unknown
    else
      local undo = conn._multi and "DISCARD" or conn._watching and "UNWATCH"
      local clean = true
      if undo then
        local out = {}
        encode(out, 0, undo, {}, 0)
        local v, _, fatal = roundtrip(conn._c, sock, out, 1, false)
        clean = v ~= nil
        if not clean and not fatal then c_close(sock) end
      end
      if clean then release(conn._c, sock) end
    end
  end
  if not ok then error((...), 0) end
  return ...
end

--- Runs fn(c) with one connection of the pool held for it: every command
--- of c runs on that connection, so WATCH, MULTI, EXEC, DISCARD and UNWATCH
--- work (c:transaction(fn) after c:watch(k)). When fn returns, a
--- transaction left open is discarded, keys left watched are unwatched,
--- and the connection goes back to the pool; when fn raises, the
--- connection is closed and the error raised again. Returns what fn
--- returned, or nil and a connection error when no connection could be had.
---@param fn fun(c: crater.redis.connection): ...
---@return any ...
function Client:connection(fn)
  if type(fn) ~= "function" then error("crater.redis: connection expects a function", 2) end
  can_wait(2)
  local sock, err = acquire(self._c)
  if not sock then return nil, err end
  local conn = setmetatable({ _c = self._c, _sock = sock, _held = true }, conn_mt)
  return finish_held(conn, pcall(fn, conn))
end

-- --- pub/sub ------------------------------------------------------------------------

---@class crater.redis.subscription
local Sub = {}
local sub_mt = { __index = Sub }

-- Sends a (un)subscribe command and reads its confirmations, keeping the
-- messages that arrive meanwhile for receive(). Errors are raised at
-- level + 1 as error() counts from here: the app's line. (Its callers do
-- not tail-call it, so that the count holds.)
local function sub_command(s, cmd, names, level)
  if s.closed then return nil, "closed" end
  local nargs = #names
  for i = 1, nargs do
    if type(names[i]) ~= "string" then
      error("crater.redis: " .. lower(cmd) .. " expects channel names (strings)", level + 1)
    end
  end
  can_wait(level + 1)
  local c = s.c
  local out = {}
  encode(out, 0, cmd, names, nargs)
  local ok, err = c_send(s.sock, out)
  if err == "busy" then return nil, "busy" end -- another thread is receiving: nothing was sent
  if not ok then s:close() return sock_error(c, err) end
  local kind = lower(cmd)
  local want = nargs
  if want == 0 then
    -- all of them; an empty set is confirmed once too
    local k = (cmd == "UNSUBSCRIBE") and s.channels or s.patterns
    want = 0
    for _ in pairs(k) do want = want + 1 end
    if want == 0 then want = 1 end
  end
  while want > 0 do
    local v, e, fatal = read_reply(s.sock)
    if v == nil then
      s:close()
      if fatal then return sock_error(c, e) end
      return nil, e
    end
    local what = type(v) == "table" and v[1]
    if what == kind then
      want = want - 1
      local set = (kind == "subscribe" or kind == "unsubscribe") and s.channels or s.patterns
      if v[2] ~= null then set[v[2]] = (kind == "subscribe" or kind == "psubscribe") or nil end
      s.count = v[3]
    else
      s.queue[#s.queue + 1] = v
    end
  end
  return true
end

local function message(v)
  local kind = v[1]
  if kind == "message" then return { kind = kind, channel = v[2], data = v[3] } end
  if kind == "pmessage" then return { kind = kind, pattern = v[2], channel = v[3], data = v[4] } end
  if kind == "pong" then return { kind = kind, data = v[2] } end
  return { kind = kind, channel = v[2], count = v[3] }
end

--- Subscribes to more channels. Returns true, or nil and an error.
---@param ... string
function Sub:subscribe(...)
  local ok, err = sub_command(self, "SUBSCRIBE", { ... }, 2)
  return ok, err
end
--- Subscribes to channel patterns ("news.*"). Returns true, or nil and an error.
---@param ... string
function Sub:psubscribe(...)
  local ok, err = sub_command(self, "PSUBSCRIBE", { ... }, 2)
  return ok, err
end

--- Unsubscribes from these channels, or from all without arguments. When
--- no channel nor pattern is left, the connection goes back to the pool
--- (messages received before stay readable with receive). Returns true, or
--- nil and an error.
---@param ... string
function Sub:unsubscribe(...)
  local ok, err = sub_command(self, "UNSUBSCRIBE", { ... }, 2)
  if ok and self.count == 0 then
    self.closed = true
    release(self.c, self.sock)
  end
  return ok, err
end

--- Unsubscribes from these patterns, or from all without arguments.
---@param ... string
function Sub:punsubscribe(...)
  local ok, err = sub_command(self, "PUNSUBSCRIBE", { ... }, 2)
  if ok and self.count == 0 then
    self.closed = true
    release(self.c, self.sock)
  end
  return ok, err
end

--- Waits for the next message, at most `timeout` seconds (default: the
--- handle's read timeout). Returns { kind = "message", channel, data }
--- ({ kind = "pmessage", pattern, channel, data } for a pattern's), or nil
--- and an error: "timeout" (the subscription stays usable), "closed", or a
--- connection error (the subscription is closed).
---@param timeout? number
---@return { kind: string, channel?: string, pattern?: string, data?: string, count?: integer }|nil msg
---@return string|nil err
function Sub:receive(timeout)
  local q = self.queue
  if q[1] ~= nil then return message(remove(q, 1)) end
  if self.closed then return nil, "closed" end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout <= 0) then
    error("subscription:receive: timeout must be a number of seconds > 0", 2)
  end
  must_yield("subscription:receive")
  local ms = timeout and timeout * 1000 or self.c.read_ms
  if ms ~= self.read_ms then
    c_settimeouts(self.sock, nil, nil, ms)
    self.read_ms = ms
  end
  local v, err, fatal, partial = read_reply(self.sock)
  if v == nil then
    -- nothing of a message read yet: the subscription is intact
    if err == "timeout" and partial == "" or err == "busy" then return nil, err end
    self:close()
    if fatal then return sock_error(self.c, err) end
    return nil, err
  end
  if type(v) ~= "table" then
    self:close()
    return nil, "protocol error: a reply that is not a message"
  end
  return message(v)
end

--- Closes the subscription's connection (it is not pooled).
function Sub:close()
  if self.closed then return end
  self.closed = true
  c_close(self.sock)
end

local function subscribe(self, cmd, names, level)
  local c = self._c
  for i = 1, #names do
    if type(names[i]) ~= "string" then
      error("crater.redis: " .. lower(cmd) .. " expects channel names (strings)", level + 1)
    end
  end
  if #names == 0 then error("crater.redis: " .. lower(cmd) .. " expects at least one channel", level + 1) end
  can_wait(level + 1)
  local sock, err = acquire(c)
  if not sock then return nil, err end
  local s = setmetatable({ c = c, sock = sock, queue = {}, channels = {}, patterns = {}, count = 0,
    read_ms = c.read_ms }, sub_mt)
  local ok
  ok, err = sub_command(s, cmd, names, level + 1)
  if not ok then return nil, err end
  return s
end

--- Subscribes to channels on a connection of its own (for the running
--- request: it is closed when the request ends). Returns the subscription
--- (:receive([timeout]), :subscribe, :psubscribe, :unsubscribe,
--- :punsubscribe, :close), or nil and an error.
---@param ... string
---@return crater.redis.subscription|nil sub
---@return string|nil err
function Client:subscribe(...)
  local sub, err = subscribe(self, "SUBSCRIBE", { ... }, 2)
  return sub, err
end

--- As r:subscribe, with channel patterns ("news.*").
---@param ... string
---@return crater.redis.subscription|nil sub
---@return string|nil err
function Client:psubscribe(...)
  local sub, err = subscribe(self, "PSUBSCRIBE", { ... }, 2)
  return sub, err
end

--- "redis://..." -> its options (host, port or path, user, password, db),
--- or nil and an error: what connect reads from a URL.
---@param url string
---@return table|nil opts
---@return string|nil err
function _M.parse_url(url)
  if type(url) ~= "string" then return bad_url("not a string", url) end
  return parse_url(url)
end

return _M
