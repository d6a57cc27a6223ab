--- crater.cookie: cookies as RFC 6265 has them -- reading a request's Cookie
--- header (`parse`, behind req.cookies) and writing one Set-Cookie value
--- (`serialize`, behind res:set_cookie and res:delete_cookie).
--
-- Values are not percent-decoded on the way in nor encoded on the way out:
-- RFC 6265 gives a cookie value no encoding, and a server that decodes
-- would read a different value than the one it wrote. An app that needs
-- spaces or ';' in a value encodes it itself (base64url, percent-encoding).

local type, tostring, error, pairs, floor = type, tostring, error, pairs, math.floor
local find, sub, byte, format, gsub, lower = string.find, string.sub, string.byte, string.format,
  string.gsub, string.lower
local concat = table.concat

local _M = { version = "0.1.0" }

-- --------------------------------------------------------------------------
-- Reading: the Cookie header
-- --------------------------------------------------------------------------

local BLANK = { [32] = true, [9] = true } -- SP, HTAB

--- The cookies of a Cookie header value ("a=1; b=2") as { name = value }.
--- Lenient as RFC 6265 5.2 asks of user agents, so no header fails a
--- request: pairs are split on ';', blanks around names and values
--- dropped, a pair without '=' or with an empty name skipped, a value in
--- double quotes unquoted, and the first pair of a name wins (browsers send
--- the most specific path first). Values are not percent-decoded.
---@param header? string
---@return table<string, string>
function _M.parse(header)
  local t = {}
  if type(header) ~= "string" or header == "" then return t end
  -- find and byte only (string.gmatch is not compiled by LuaJIT): this
  -- runs on every request that reads a cookie
  local pos, n, eq = 1, #header, 0
  while pos <= n do
    local semi = find(header, ";", pos, true) or n + 1
    -- the next '=' is searched for again only once passed: a header of
    -- many pairs without one is not scanned to its end once per pair
    if eq ~= nil and eq < pos then eq = find(header, "=", pos, true) end
    if eq ~= nil and eq < semi then
      local s, e = pos, eq - 1
      while s <= e and BLANK[byte(header, s)] do s = s + 1 end
      while e >= s and BLANK[byte(header, e)] do e = e - 1 end
      if e >= s then
        local name = sub(header, s, e)
        if t[name] == nil then
          s, e = eq + 1, semi - 1
          while s <= e and BLANK[byte(header, s)] do s = s + 1 end
          while e >= s and BLANK[byte(header, e)] do e = e - 1 end
          if e > s and byte(header, s) == 34 and byte(header, e) == 34 then s, e = s + 1, e - 1 end
          t[name] = sub(header, s, e)
        end
      end
    end
    pos = semi + 1
  end
  return t
end

-- --------------------------------------------------------------------------
-- Writing: one Set-Cookie value
-- --------------------------------------------------------------------------

-- RFC 6265 4.1.1: a cookie name is a token; a value cookie-octets, bare or
-- in double quotes. (']' is escaped: a bare one would end the set.)
local NOT_TCHAR = "[^%w!#$%%&'*+%-.^_`|~]"
local NOT_COOKIE_OCTET = "[^\33\35-\43\45-\58\60-\91%]\94-\126\128-\255]"
local CONTROL = { [0] = "NUL", [10] = "LF", [11] = "VT", [12] = "FF", [13] = "CR", [127] = "DEL" }
local SAME_SITE = { strict = "Strict", lax = "Lax", none = "None" }
local PRIORITY = { low = "Low", medium = "Medium", high = "High" }
local OPTIONS = "path, domain, max_age, expires, secure, http_only, same_site, partitioned, priority"
local KNOWN = { path = true, domain = true, max_age = true, expires = true, secure = true,
                http_only = true, same_site = true, partitioned = true, priority = true }

-- A name or value as a message shows it: quoted, at most 40 bytes, control
-- bytes, '"' and '\' as \xHH (nothing raw reaches a log line or a body).
local function shown(s)
  if type(s) ~= "string" then return tostring(s) end
  local long = #s > 40
  if long then s = sub(s, 1, 40) end
  s = gsub(s, "[%c\"\\]", function(c) return format("\\x%02X", byte(c)) end)
  return '"' .. s .. (long and '"...' or '"')
end

local DAYS = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" }
local MONTHS = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }

--- Epoch seconds as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"),
--- whatever the process's locale (os.date's %a and %b follow it).
---@param t number
---@return string
function _M.http_date(t)
  local d = os.date("!*t", floor(t))
  return format("%s, %02d %s %04d %02d:%02d:%02d GMT", DAYS[d.wday], d.day, MONTHS[d.month], d.year,
    d.hour, d.min, d.sec)
end

-- An attribute's text: a string without ';' or a control character, which
-- would end the attribute and start another (or split the header).
local function attr(cookie, opt, v, level)
  if type(v) ~= "string" then
    error(format("cookie %s: %s is a %s (a string)", cookie, opt, type(v)), level)
  end
  local at = find(v, "[%c;]")
  if at then
    local b = byte(v, at)
    error(format("cookie %s: %s %s holds %s at byte %d (an attribute cannot hold ';' or a control "
      .. "character)", cookie, opt, shown(v), b == 59 and "';'" or (CONTROL[b] or format("control byte 0x%02X", b)),
      at), level)
  end
  return v
end

-- The value as it goes out, or raises: cookie-octets, or cookie-octets in
-- double quotes (RFC 6265 4.1.1 allows both; the quotes are part of it).
local function check_value(name, value, level)
  local inner = value
  if #value >= 2 and byte(value, 1) == 34 and byte(value, -1) == 34 then inner = sub(value, 2, -2) end
  local at = find(inner, NOT_COOKIE_OCTET)
  if at then
    if inner ~= value then at = at + 1 end
    error(format("cookie %s: its value %s holds %s at byte %d (a cookie value cannot hold spaces, "
      .. "'\"', ',', ';', '\\' or control characters: encode it, e.g. as base64url)", name, shown(value),
      shown(sub(value, at, at)), at), level)
  end
  return value
end

--- One Set-Cookie header value, or raises (at `level`, 2 when nil) naming
--- the cookie: the name a token, the value cookie-octets (bare or in
--- double quotes), every option known and well-formed.
---@param name string
---@param value string|number
---@param opts? { path?: string, domain?: string, max_age?: integer, expires?: number|string, secure?: boolean, http_only?: boolean, same_site?: string, partitioned?: boolean, priority?: string }
---@param level? integer
---@return string
function _M.serialize(name, value, opts, level)
  level = (level or 2) + 1
  if type(name) ~= "string" or name == "" or find(name, NOT_TCHAR) then
    error(format("invalid cookie name %s (a token: letters, digits and !#$%%&'*+-.^_`|~)",
      type(name) == "string" and shown(name) or type(name)), level)
  end
  if type(value) ~= "string" and type(value) ~= "number" then
    error(format("cookie %s: its value is a %s (a string or a number)", name, type(value)), level)
  end
  local parts = { name .. "=" .. check_value(name, tostring(value), level + 1) }
  if opts == nil then return parts[1] end
  if type(opts) ~= "table" then error(format("cookie %s: the options are a %s (a table)", name, type(opts)), level) end
  for k in pairs(opts) do
    if not KNOWN[k] then
      error(format("cookie %s: unknown option %s (%s)", name, type(k) == "string" and shown(k) or tostring(k),
        OPTIONS), level)
    end
  end
  if opts.path ~= nil then parts[#parts + 1] = "Path=" .. attr(name, "path", opts.path, level + 1) end
  if opts.domain ~= nil then
    local d = attr(name, "domain", opts.domain, level + 1)
    if d == "" or find(d, "[^%w%.%-]") then
      error(format("cookie %s: domain %s is not a host name (letters, digits, '-' and '.')", name, shown(d)),
        level)
    end
    parts[#parts + 1] = "Domain=" .. d
  end
  local max_age = opts.max_age
  if max_age ~= nil then
    if type(max_age) ~= "number" or max_age % 1 ~= 0 or max_age ~= max_age then
      error(format("cookie %s: max_age %s is not an integer (seconds)", name, tostring(max_age)), level)
    end
    parts[#parts + 1] = format("Max-Age=%d", max_age)
  end
  local expires = opts.expires
  if expires ~= nil then
    if type(expires) == "number" then
      if expires ~= expires or expires < 0 or expires >= 253402300800 then
        error(format("cookie %s: expires %s is not a time (epoch seconds from 0 to year 9999)", name,
          tostring(expires)), level)
      end
      expires = _M.http_date(expires)
    end
    parts[#parts + 1] = "Expires=" .. attr(name, "expires", expires, level + 1)
  end
  if opts.secure then parts[#parts + 1] = "Secure" end
  if opts.http_only then parts[#parts + 1] = "HttpOnly" end
  local same_site = opts.same_site
  if same_site ~= nil then
    local canon = type(same_site) == "string" and SAME_SITE[lower(same_site)]
    if not canon then
      error(format("cookie %s: same_site %s is not Strict, Lax or None", name, shown(same_site)), level)
    end
    if canon == "None" and not opts.secure then
      error(format("cookie %s: same_site None needs secure = true (browsers drop a SameSite=None cookie "
        .. "without Secure)", name), level)
    end
    parts[#parts + 1] = "SameSite=" .. canon
  end
  if opts.partitioned then
    if not opts.secure then
      error(format("cookie %s: partitioned needs secure = true (CHIPS cookies are Secure)", name), level)
    end
    parts[#parts + 1] = "Partitioned"
  end
  local priority = opts.priority
  if priority ~= nil then
    local canon = type(priority) == "string" and PRIORITY[lower(priority)]
    if not canon then
      error(format("cookie %s: priority %s is not Low, Medium or High", name, shown(priority)), level)
    end
    parts[#parts + 1] = "Priority=" .. canon
  end
  return concat(parts, "; ")
end

local EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"

--- The Set-Cookie value that deletes a cookie: empty, Max-Age=0 and an
--- Expires in the past. A browser deletes only the cookie of the same
--- name, path and domain, so opts must name the path and domain it was set
--- with; max_age and expires are refused (they are this function's).
---@param name string
---@param opts? table the options of serialize, without max_age and expires
---@param level? integer
---@return string
function _M.deletion(name, opts, level)
  level = (level or 2) + 1
  local o = { max_age = 0, expires = EPOCH }
  if opts ~= nil then
    if type(opts) ~= "table" then
      error(format("cookie %s: the options are a %s (a table)", tostring(name), type(opts)), level)
    end
    for k, v in pairs(opts) do
      if k == "max_age" or k == "expires" then
        error(format("cookie %s: delete_cookie sets %s itself", tostring(name), k), level)
      end
      o[k] = v
    end
  end
  local v = _M.serialize(name, "", o, level) -- not a tail call: keeps the level
  return v
end

return _M
