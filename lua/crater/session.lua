--- crater.session: signed-cookie sessions as req.session
--- (docs/cookies-and-sessions.md).
--
-- The cookie holds `payload.issued.signature`: the payload is the session
-- as base64url JSON (or, with a store, a random id the store keeps the JSON
-- under), issued the second it was written, and the signature HMAC-SHA256
-- of `name=payload.issued` under the newest secret, base64url. A cookie
-- whose signature no listed secret gives, that is older than max_age, or
-- that does not decode is an empty session: never an error.
--
-- req.session is read lazily (crater.request asks `load` on first use);
-- after the handler an after hook (`save`) writes the cookie again only
-- when the session's JSON changed, or was signed with an older secret.

local json = require "crater.json"
local cookie = require "crater.cookie"

local type, tostring, tonumber, error, pairs, ipairs, next, pcall, require, rawget, rawset =
  type, tostring, tonumber, error, pairs, ipairs, next, pcall, require, rawget, rawset
local format, match = string.format, string.match
local insert = table.insert
local time = os.time
local json_encode, json_decode = json.encode, json.decode

local _M = { version = "0.1.0" }

--- The largest cookie (name, '=' and value) a session may write: browsers
--- keep 4096 bytes of name, value and attributes; RFC 6265 6.1 asks for at
--- least 4096, and 4093 is what every major browser is known to keep.
_M.MAX_COOKIE = 4093

local MIN_SECRET = 32
local DEFAULT_MAX_AGE = 14 * 24 * 3600
local KNOWN = { secret = true, secrets = true, cookie = true, max_age = true, secure = true,
                same_site = true, http_only = true, path = true, domain = true, store = true }

local crypto -- crater._crypto, once an app configures sessions

-- --------------------------------------------------------------------------
-- Configuration (app:sessions)
-- --------------------------------------------------------------------------

local function check_secrets(opts)
  local list = opts.secrets
  if opts.secret ~= nil and list ~= nil then
    error("app:sessions: give secret or secrets, not both", 4)
  end
  if list == nil then list = { opts.secret } end
  if type(list) ~= "table" or list[1] == nil then
    error("app:sessions: a secret is needed: secret = \"...\" or secrets = { newest, older, ... }", 4)
  end
  for i, s in ipairs(list) do
    if type(s) ~= "string" then error(format("app:sessions: secret %d is a %s (a string)", i, type(s)), 4) end
    if #s < MIN_SECRET then
      error(format("app:sessions: secret %d is %d bytes; a secret is at least %d (e.g. 32 random bytes as "
        .. "hex: openssl rand -hex 32)", i, #s, MIN_SECRET), 4)
    end
  end
  return list
end

local function check_store(store)
  if store == nil then return nil end
  if type(store) ~= "table" then error(format("app:sessions: store is a %s (a table of get, set, delete)",
    type(store)), 4) end
  for _, f in ipairs({ "get", "set", "delete" }) do
    if type(store[f]) ~= "function" then
      error(format("app:sessions: store.%s is a %s (a function)", f, type(store[f])), 4)
    end
  end
  return store
end

--- Checks app:sessions's options and keeps them on the app. Raises at the
--- app's line (level 3 from here: App:sessions calls this).
---@param app table
---@param opts table
function _M.configure(app, opts)
  if type(opts) ~= "table" then error("app:sessions: options must be a table (secret = ..., ...)", 3) end
  for k in pairs(opts) do
    if not KNOWN[k] then
      error(format("app:sessions: unknown option %s (secret, secrets, cookie, max_age, secure, same_site, "
        .. "http_only, path, domain, store)", tostring(k)), 3)
    end
  end
  local secrets = check_secrets(opts)
  local max_age = opts.max_age
  if max_age == nil then max_age = DEFAULT_MAX_AGE end
  if max_age ~= false and (type(max_age) ~= "number" or max_age % 1 ~= 0 or max_age < 1) then
    error(format("app:sessions: max_age %s is not a whole number of seconds > 0 (or false: until the "
      .. "browser closes)", tostring(max_age)), 3)
  end
  local name = opts.cookie or "session"
  local attrs = { path = opts.path or "/", domain = opts.domain, secure = opts.secure,
                  same_site = opts.same_site or "Lax", max_age = max_age or nil }
  if opts.http_only ~= false then attrs.http_only = true end
  cookie.serialize(name, "x", attrs, 3) -- its errors, at the app's line
  local del = {}
  for k, v in pairs(attrs) do if k ~= "max_age" then del[k] = v end end
  crypto = crypto or require "crater._crypto"
  app._sessions = { name = name, secrets = secrets, max_age = max_age or nil, attrs = attrs, del = del,
                    store = check_store(opts.store) }
end

-- --------------------------------------------------------------------------
-- Reading
-- --------------------------------------------------------------------------

local function sign(cfg, key, signed)
  return crypto.b64url(crypto.hmac_sha256(key, cfg.name .. "=" .. signed))
end

-- The session a cookie value holds, the store's id when there is a store,
-- and whether an older secret signed it; nil when it is not a valid,
-- current session cookie.
local function decode(cfg, raw)
  local payload, issued, sig = match(raw, "^([%w_%-]+)%.(%d+)%.([%w_%-]+)$")
  if payload == nil then return nil end
  local signed, by = payload .. "." .. issued, nil
  for i, key in ipairs(cfg.secrets) do
    -- every secret is tried: the time taken does not tell which one signed
    if crypto.equal(sign(cfg, key, signed), sig) and by == nil then by = i end
  end
  if by == nil then return nil end
  local age = time() - (tonumber(issued) or 0)
  if cfg.max_age and age > cfg.max_age then return nil end
  local text, id
  if cfg.store then
    id = payload
    text = cfg.store.get(id)
    if type(text) ~= "string" then return nil, id end
  else
    text = crypto.unb64url(payload)
    if text == nil then return nil end
  end
  local ok, data = pcall(json_decode, text)
  if not ok or type(data) ~= "table" then return nil, id end
  return data, id, by > 1
end

--- req.session's first read (crater.request's lazy field): the session the
--- request's cookie holds, or an empty table. `st` is the request's
--- session state, which the app's before hook set.
---@param req table
---@param st table
---@return table
function _M.load(req, st)
  local cfg = st.cfg
  st.loaded = true
  local raw = req.cookies[cfg.name]
  st.had = raw ~= nil
  local data
  if raw then data, st.id, st.resign = decode(cfg, raw) end
  if data == nil then data = {} end
  st.before = json_encode(data)
  return data
end

-- --------------------------------------------------------------------------
-- Writing
-- --------------------------------------------------------------------------

local function cookie_value(cfg, payload)
  local signed = payload .. "." .. tostring(time())
  return signed .. "." .. sign(cfg, cfg.secrets[1], signed)
end

-- The after hook: the cookie again when the session changed (or an older
-- secret signed it), a deleting one when it was emptied or set to nil.
local function save(req, res)
  local st = rawget(req, "_sess")
  if st == nil then return nil end
  local set = rawget(req, "_session_set")
  if not st.loaded and not set then return nil end -- never read nor assigned
  local data = rawget(req, "session")
  if not st.loaded then _M.load(req, st) end -- for st.had and the store's id
  local cfg = st.cfg
  if data ~= nil and type(data) ~= "table" then
    error(format("req.session is a %s (a table, or nil to end the session)", type(data)), 0)
  end
  if data == nil or next(data) == nil then
    if st.had then
      if cfg.store and st.id then cfg.store.delete(st.id) end
      res:delete_cookie(cfg.name, cfg.del)
    end
    return nil
  end
  local text = json_encode(data)
  if text == st.before and not st.resign and not set then return nil end
  local payload
  if cfg.store then
    payload = st.id
    if set or payload == nil then
      -- a session assigned whole (`req.session = { user = ... }` at login)
      -- gets a new id: an id planted in the browser before (fixation) is
      -- worth nothing after
      if payload ~= nil then cfg.store.delete(payload) end
      payload = crypto.b64url(crypto.random(24))
    end
    cfg.store.set(payload, text, cfg.max_age)
  else
    payload = crypto.b64url(text)
  end
  local value = cookie_value(cfg, payload)
  local size = #cfg.name + 1 + #value
  if size > _M.MAX_COOKIE then
    error(format("session cookie %s would be %d bytes, more than the %d a browser keeps: keep less in "
      .. "req.session, or keep sessions in a store (app:sessions{ store = ... })", cfg.name, size,
      _M.MAX_COOKIE), 0)
  end
  res:set_cookie(cfg.name, value, cfg.attrs)
  return nil
end

--- Adds the app's session hooks (crater.app's entry, once per app): first
--- of the before hooks, one that gives each request its session state;
--- last of the after hooks, `save`.
---@param app table
function _M.install(app)
  local cfg = app._sessions
  if cfg == nil or app._sessions_installed then return end
  app._sessions_installed = true
  insert(app._before, 1, function(req)
    rawset(req, "_sess", { cfg = cfg })
  end)
  app._after[#app._after + 1] = save
end

return _M
