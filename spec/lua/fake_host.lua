-- A stand-in for the C core's `crater.host` module, so the app layer can be
-- specified in stock luajit: a "connection" is a Lua table holding the
-- request's headers (flat name/value list), body and peer.
local M = { dev = false, logged = {} }

local function check(conn, seq)
  if type(conn) ~= "table" or conn.seq ~= seq then error("request is no longer active", 2) end
  return conn
end

function M.header(conn, seq, name, sep)
  local c, found = check(conn, seq), nil
  for i = 1, #c.headers, 2 do
    if c.headers[i]:lower() == name:lower() then
      found = found and (found .. (sep or ", ") .. c.headers[i + 1]) or c.headers[i + 1]
    end
  end
  return found
end

function M.headers(conn, seq) return { unpack(check(conn, seq).headers) } end
function M.body(conn, seq) return check(conn, seq).body or "" end
function M.remote(conn, seq) check(conn, seq) return "127.0.0.1:40000" end
-- The core's compression policy (compress.c) as a table: nothing codes here.
function M.compress_policy(level, br, min_size, types)
  return { level = level, br = br, min_size = min_size, types = types }
end
-- The core's waitable (notify.c) without a loop: signals are counted, and
-- a wait outside any task is refused, as the core refuses it.
function M.waitable()
  local w = { signals = 0 }
  function w.signal(self) self.signals = self.signals + 1 return 0 end
  function w.wait() error("waitable:wait: not inside a request or timer", 2) end
  return w
end
function M.log(level, msg) M.logged[#M.logged + 1] = level .. ": " .. msg end

--- Like the core's inject (host/src/inject.c), for crater.test in stock
--- luajit: runs the dispatcher in a coroutine, joins a streamed body, and
--- returns status, body, flat headers (Content-Type first), truncated.
function M.inject(dispatch, method, url, flat, body)
  if dispatch == nil then
    return 503, '{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"no application loaded"}',
      { "Content-Type", "application/problem+json" }, false
  end
  local path, query = url, ""
  local q = url:find("?", 1, true)
  if q then path, query = url:sub(1, q - 1), url:sub(q + 1) end
  query = query:gsub("#.*$", "")
  local conn = { seq = 1, headers = flat or {}, body = body }
  local co = coroutine.create(dispatch)
  local ok, status, rbody, ctype, h = coroutine.resume(co, method, path, query, conn, 1)
  assert(ok, status)
  local truncated = false
  if coroutine.status(co) == "suspended" and rbody == false then
    local parts = {}
    while true do
      local ok2, chunk = coroutine.resume(co)
      assert(ok2, chunk)
      if coroutine.status(co) == "dead" then truncated = chunk == -1 break end
      parts[#parts + 1] = chunk
    end
    rbody = table.concat(parts)
  end
  conn.seq = 2
  local out = {}
  if ctype then out[1], out[2] = "Content-Type", ctype end
  for i = 1, #(h or {}), 2 do out[#out + 1], out[#out + 2] = h[i], h[i + 1] end
  if method == "HEAD" or status == 204 or status == 304 then rbody = "" end
  return status, rbody or "", out, truncated
end

--- Installs the fake as `crater.host` (before crater.* is first required).
function M.install()
  package.loaded["crater.host"] = M
  return M
end

--- Calls an app's dispatcher like the core does; returns status, body,
--- content type and headers as a name -> value table (repeats joined by "\n").
function M.call(dispatch, method, path, opts)
  opts = opts or {}
  local query = ""
  local q = path:find("?", 1, true)
  if q then path, query = path:sub(1, q - 1), path:sub(q + 1) end
  local conn = { seq = 1, headers = opts.headers or {}, body = opts.body }
  local co = coroutine.create(dispatch)
  local ok, status, body, ctype, flat = coroutine.resume(co, method, path, query, conn, 1)
  assert(ok, status)
  local h = {}
  for i = 1, #(flat or {}), 2 do
    local k = flat[i]:lower()
    h[k] = h[k] and (h[k] .. "\n" .. flat[i + 1]) or flat[i + 1]
  end
  conn.seq = 2 -- the request is over
  return status, body, ctype, h, co
end

return M
