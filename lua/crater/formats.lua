--- crater.formats: the checkers behind JSON Schema's `format` keyword.
--
-- Each is `check(s) -> boolean` for any string (any bytes: never raises).
-- crater.schema asserts them only with compile's `assert_formats` (2020-12
-- makes `format` an annotation; routes and `crater validate` turn it on),
-- and compile's `formats` option adds or replaces entries. What each
-- accepts, and from which RFC, is in docs/schemas.md ("Formats").

local find, byte, sub = string.find, string.byte, string.sub
local pairs, pcall, require = pairs, pcall, require

local _M = {}

-- The common formats are checked byte by byte (string.byte is compiled by
-- LuaJIT into the validator's trace; string.match is not, and its captures
-- allocate).

local function leap(y) return (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0 end
local DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

-- The number written by the two digits at s[i], s[i+1], or -1.
local function d2(s, i)
  local a, b = byte(s, i, i + 1)
  if a == nil or b == nil or a < 48 or a > 57 or b < 48 or b > 57 then return -1 end
  return (a - 48) * 10 + (b - 48)
end

-- YYYY-MM-DD at byte i: true when it is a real date.
local function date_at(s, i)
  local y1, y2 = d2(s, i), d2(s, i + 2)
  if y1 < 0 or y2 < 0 or byte(s, i + 4) ~= 45 or byte(s, i + 7) ~= 45 then return false end
  local m, d = d2(s, i + 5), d2(s, i + 8)
  if m < 1 or m > 12 or d < 1 then return false end
  local max = DAYS[m]
  if m == 2 and leap(y1 * 100 + y2) then max = 29 end
  return d <= max
end

-- RFC 3339 full-time from byte i to the end: hh:mm:ss[.frac](Z|+hh:mm).
-- A leap second (60) only at 23:59 UTC, as the JSON Schema suite reads it.
local function time_at(s, i)
  local n = #s
  local h, mi, se = d2(s, i), d2(s, i + 3), d2(s, i + 6)
  if h < 0 or mi < 0 or se < 0 or byte(s, i + 2) ~= 58 or byte(s, i + 5) ~= 58 then return false end
  if h > 23 or mi > 59 or se > 60 then return false end
  local j = i + 8
  if byte(s, j) == 46 then
    j = j + 1
    local k = j
    while true do
      local c = byte(s, j)
      if c == nil or c < 48 or c > 57 then break end
      j = j + 1
    end
    if j == k then return false end
  end
  local c = byte(s, j)
  local off = 0
  if c == 90 or c == 122 then
    if j ~= n then return false end
  elseif c == 43 or c == 45 then
    local oh, om = d2(s, j + 1), d2(s, j + 4)
    if oh < 0 or om < 0 or byte(s, j + 3) ~= 58 or j + 5 ~= n or oh > 23 or om > 59 then return false end
    off = oh * 60 + om
    if c == 43 then off = -off end
  else
    return false
  end
  if se == 60 then
    local utc = ((h * 60 + mi + off) % 1440 + 1440) % 1440
    if utc ~= 23 * 60 + 59 then return false end
  end
  return true
end

function _M.date(s) return #s == 10 and date_at(s, 1) end

function _M.time(s) return time_at(s, 1) end

_M["date-time"] = function(s)
  local t = byte(s, 11)
  return (t == 84 or t == 116) and date_at(s, 1) and time_at(s, 12)
end

local HEX = {}
for c = 48, 57 do HEX[c] = true end
for c = 65, 70 do HEX[c] = true end
for c = 97, 102 do HEX[c] = true end

function _M.uuid(s)
  if #s ~= 36 then return false end
  for i = 1, 36 do
    local c = byte(s, i)
    if i == 9 or i == 14 or i == 19 or i == 24 then
      if c ~= 45 then return false end
    elseif not HEX[c] then
      return false
    end
  end
  return true
end

-- Four decimal octets 0-255 without leading zeros, from byte i to j.
local function ipv4_at(s, i, j)
  local parts = 0
  while true do
    local start, v = i, 0
    while i <= j do
      local c = byte(s, i)
      if c < 48 or c > 57 then break end
      v = v * 10 + c - 48
      i = i + 1
    end
    local len = i - start
    if len == 0 or len > 3 or v > 255 or (len > 1 and byte(s, start) == 48) then return false end
    parts = parts + 1
    if parts == 4 then return i == j + 1 end
    if i > j or byte(s, i) ~= 46 then return false end
    i = i + 1
  end
end

function _M.ipv4(s) return ipv4_at(s, 1, #s) end

-- RFC 4291 text from byte i to j: groups of 1-4 hex digits, at most one
-- "::" standing for one group or more, an IPv4 tail counting as two.
local function ipv6_at(s, i, j)
  if j < i then return false end
  local groups, dbl = 0, false
  if byte(s, i) == 58 then
    if byte(s, i + 1) ~= 58 then return false end
    dbl = true
    i = i + 2
    if i > j then return true end
  end
  while true do
    local start = i
    while i <= j and HEX[byte(s, i)] do i = i + 1 end
    if i <= j and byte(s, i) == 46 then
      if not ipv4_at(s, start, j) then return false end
      groups = groups + 2
      break
    end
    local len = i - start
    if len == 0 or len > 4 then return false end
    groups = groups + 1
    if i > j then break end
    if byte(s, i) ~= 58 then return false end
    i = i + 1
    if i > j then return false end
    if byte(s, i) == 58 then
      if dbl then return false end
      dbl = true
      i = i + 1
      if i > j then break end
    end
  end
  if dbl then return groups < 8 end
  return groups == 8
end

function _M.ipv6(s) return ipv6_at(s, 1, #s) end

-- ---------------------------------------------------------------------------
-- URIs and IRIs (RFC 3986, RFC 3987), byte by byte.
-- ---------------------------------------------------------------------------

local function set(chars, base)
  local t = {}
  if base then for k in pairs(base) do t[k] = true end end
  for c in chars:gmatch(".") do t[byte(c)] = true end
  return t
end
local ALNUM = {}
for c = 48, 57 do ALNUM[c] = true end
for c = 65, 90 do ALNUM[c] = true end
for c = 97, 122 do ALNUM[c] = true end
local UNRESERVED = set("-._~", ALNUM)
local REGNAME = set("!$&'()*+,;=", UNRESERVED)    -- unreserved / sub-delims
local USERINFO = set(":", REGNAME)
local PCHAR = set(":@", REGNAME)
local PATH = set("/", PCHAR)
local QUERY = set("/?", PCHAR)                     -- and fragment
local SCHEME = set("+-.", ALNUM)

-- The code point of the UTF-8 sequence at byte i and the index after it,
-- or nil for a broken sequence.
local function utf8_at(s, i)
  local c = byte(s, i)
  local n, cp
  if c >= 0xF0 and c <= 0xF4 then n, cp = 3, c - 0xF0
  elseif c >= 0xE0 then n, cp = 2, c - 0xE0
  elseif c >= 0xC2 and c < 0xE0 then n, cp = 1, c - 0xC0
  else return nil end
  for k = i + 1, i + n do
    local d = byte(s, k)
    if d == nil or d < 0x80 or d > 0xBF then return nil end
    cp = cp * 64 + d - 0x80
  end
  return cp, i + n + 1
end

-- RFC 3987 ucschar, and iprivate (allowed in a query only).
local function ucschar(cp)
  if cp < 0xA0 or (cp >= 0xD800 and cp <= 0xF8FF) or (cp >= 0xFDD0 and cp <= 0xFDEF) then return false end
  if cp >= 0xFFF0 and cp <= 0xFFFF then return false end
  if cp >= 0xE0000 then return cp >= 0xE1000 and cp <= 0xEFFFD end
  return cp % 0x10000 < 0xFFFE
end
local function iprivate(cp)
  return (cp >= 0xE000 and cp <= 0xF8FF) or (cp >= 0xF0000 and cp % 0x10000 < 0xFFFE)
end

-- The index of the first byte from i on that is not in `allowed`, a %XX
-- escape or (for an IRI) a ucschar (or iprivate with `priv`); nil when an
-- escape or a non-ASCII character there is invalid.
local function scan(s, i, allowed, iri, priv)
  while true do
    local c = byte(s, i)
    if c == nil then return i end
    if allowed[c] then
      i = i + 1
    elseif c == 37 then
      if not (HEX[byte(s, i + 1)] and HEX[byte(s, i + 2)]) then return nil end
      i = i + 3
    elseif c >= 128 then
      if not iri then return nil end
      local cp, nxt = utf8_at(s, i)
      if cp == nil or not (ucschar(cp) or (priv and iprivate(cp))) then return nil end
      i = nxt
    else
      return i
    end
  end
end

-- "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ), from byte i to j.
local function ipvfuture_at(s, i, j)
  local c = byte(s, i)
  if c ~= 118 and c ~= 86 then return false end
  local k = i + 1
  while k <= j and HEX[byte(s, k)] do k = k + 1 end
  if k == i + 1 or k >= j or byte(s, k) ~= 46 then return false end
  for m = k + 1, j do if not USERINFO[byte(s, m)] then return false end end
  return true
end

-- The index of the first '/', '?' or '#' from byte i on, or #s + 1.
local function path_start(s, i)
  while true do
    local c = byte(s, i)
    if c == nil or c == 47 or c == 63 or c == 35 then return i end
    i = i + 1
  end
end

-- authority = [ userinfo "@" ] host [ ":" port ], from byte a to b.
local function authority(s, a, b, iri)
  local at = find(s, "@", a, true)
  if at and at <= b then
    if scan(s, a, USERINFO, iri) ~= at then return false end
    a = at + 1
  end
  local e
  if byte(s, a) == 91 then
    local close = find(s, "]", a, true)
    if not close or close > b then return false end
    if not (ipv6_at(s, a + 1, close - 1) or ipvfuture_at(s, a + 1, close - 1)) then return false end
    e = close + 1
  else
    e = scan(s, a, REGNAME, iri)
    if e == nil then return false end
  end
  if e == b + 1 then return true end
  if byte(s, e) ~= 58 then return false end
  for k = e + 1, b do
    local c = byte(s, k)
    if c < 48 or c > 57 then return false end
  end
  return true
end

-- The index of the ':' that ends a scheme at the start of s, or nil.
local function scheme_end(s)
  local c = byte(s, 1)
  if c == nil or not ((c >= 65 and c <= 90) or (c >= 97 and c <= 122)) then return nil end
  local i = 2
  while SCHEME[byte(s, i)] do i = i + 1 end
  if byte(s, i) == 58 then return i end
  return nil
end

-- RFC 3986 URI-reference (RFC 3987 IRI-reference with `iri`); `absolute`
-- asks for a scheme (URI / IRI).
local function reference(s, iri, absolute)
  local n = #s
  local colon = scheme_end(s)
  local i = 1
  if colon then i = colon + 1 elseif absolute then return false end
  if byte(s, i) == 47 and byte(s, i + 1) == 47 then
    local e = path_start(s, i + 2)
    if not authority(s, i + 2, e - 1, iri) then return false end
    i = e
  elseif not colon then
    -- path-noscheme: a relative path's first segment has no ':'.
    local e = path_start(s, i)
    local k = find(s, ":", i, true)
    if k and k < e then return false end
  end
  i = scan(s, i, PATH, iri, false)
  if i == nil then return false end
  if byte(s, i) == 63 then
    i = scan(s, i + 1, QUERY, iri, true)
    if i == nil then return false end
  end
  if byte(s, i) == 35 then
    i = scan(s, i + 1, QUERY, iri, false)
    if i == nil then return false end
  end
  return i == n + 1
end

function _M.uri(s) return reference(s, false, true) end
_M["uri-reference"] = function(s) return reference(s, false, false) end
function _M.iri(s) return reference(s, true, true) end
_M["iri-reference"] = function(s) return reference(s, true, false) end

-- RFC 6570 (level 4) URI Template syntax. Literals also allow "'", as the
-- RFC's errata and the JSON Schema suite do.
local LITERAL = {}
for c = 0x21, 0x7E do LITERAL[c] = true end
for c in ('"%<>\\^`{|}'):gmatch(".") do LITERAL[byte(c)] = nil end
local OPERATOR = set("+#./;?&")
local VARCHAR = set("_", ALNUM)

-- A variable list from byte i: the index after it, or nil.
local function varlist(s, i)
  while true do
    -- varname = varchar *( ["."] varchar ), varchar = ALPHA / DIGIT / "_" / pct-encoded
    local first = true
    while true do
      local c = byte(s, i)
      if c == 46 and not first then
        i = i + 1
        c = byte(s, i)
        if c ~= 37 and not VARCHAR[c] then return nil end
      end
      if c == 37 then
        if not (HEX[byte(s, i + 1)] and HEX[byte(s, i + 2)]) then return nil end
        i = i + 3
      elseif VARCHAR[c] then
        i = i + 1
      elseif first then
        return nil
      else
        break
      end
      first = false
    end
    local c = byte(s, i)
    if c == 58 then
      -- prefix = ":" max-length, 1-9999 without a leading zero
      local j = i + 1
      local d = byte(s, j)
      if d == nil or d < 49 or d > 57 then return nil end
      repeat j = j + 1; d = byte(s, j) until d == nil or d < 48 or d > 57
      if j - i - 1 > 4 then return nil end
      i = j
    elseif c == 42 then
      i = i + 1
    end
    if byte(s, i) ~= 44 then return i end
    i = i + 1
  end
end

_M["uri-template"] = function(s)
  local i = 1
  while true do
    local c = byte(s, i)
    if c == nil then return true end
    if c == 123 then
      i = i + 1
      if OPERATOR[byte(s, i)] then i = i + 1 end
      i = varlist(s, i)
      if i == nil or byte(s, i) ~= 125 then return false end
      i = i + 1
    elseif LITERAL[c] then
      i = i + 1
    elseif c == 37 then
      if not (HEX[byte(s, i + 1)] and HEX[byte(s, i + 2)]) then return false end
      i = i + 3
    elseif c >= 128 then
      local cp, nxt = utf8_at(s, i)
      if cp == nil or not (ucschar(cp) or iprivate(cp)) then return false end
      i = nxt
    else
      return false
    end
  end
end

-- ---------------------------------------------------------------------------
-- JSON Pointers (RFC 6901, draft-handrews-relative-json-pointer-01)
-- ---------------------------------------------------------------------------

-- A JSON Pointer from byte i to the end: "" or "/"-led, '~' only as ~0 ~1.
local function pointer_at(s, i)
  local c = byte(s, i)
  if c == nil then return true end
  if c ~= 47 then return false end
  while true do
    local t = find(s, "~", i, true)
    if t == nil then return true end
    local d = byte(s, t + 1)
    if d ~= 48 and d ~= 49 then return false end
    i = t + 2
  end
end

_M["json-pointer"] = function(s) return pointer_at(s, 1) end

_M["relative-json-pointer"] = function(s)
  local c = byte(s, 1)
  if c == nil or c < 48 or c > 57 then return false end
  local i = 2
  if c ~= 48 then
    while true do
      c = byte(s, i)
      if c == nil or c < 48 or c > 57 then break end
      i = i + 1
    end
  end
  if byte(s, i) == 35 then return i == #s end
  return pointer_at(s, i)
end

-- ---------------------------------------------------------------------------
-- Durations: RFC 3339 appendix A
-- ---------------------------------------------------------------------------

-- Each unit's place in a date part (Y M D) and in a time part (H M S).
local DATE_UNIT = { [89] = 1, [77] = 2, [68] = 3 }
local TIME_UNIT = { [72] = 1, [77] = 2, [83] = 3 }

-- "1Y2M..." from byte i to j, each unit right after the one before it (so
-- none is skipped inside the part): true, false when the part is empty, or
-- nil when it is not one.
local function dur_part(s, i, j, place)
  local last
  while i <= j do
    local k = i
    while k <= j do
      local c = byte(s, k)
      if c < 48 or c > 57 then break end
      k = k + 1
    end
    if k == i or k > j then return nil end
    local p = place[byte(s, k)]
    if p == nil or (last and p ~= last + 1) then return nil end
    last = p
    i = k + 1
  end
  return last ~= nil
end

function _M.duration(s)
  local n = #s
  if byte(s, 1) ~= 80 or n < 3 then return false end
  if byte(s, n) == 87 then
    for k = 2, n - 1 do
      local c = byte(s, k)
      if c < 48 or c > 57 then return false end
    end
    return true
  end
  local t = find(s, "T", 2, true)
  local d = dur_part(s, 2, (t or n + 1) - 1, DATE_UNIT)
  if d == nil then return false end
  if t == nil then return d end
  return dur_part(s, t + 1, n, TIME_UNIT) == true
end

-- ---------------------------------------------------------------------------
-- Host names and e-mail addresses (RFC 1123, 5321, 5890-5893, 6531)
-- ---------------------------------------------------------------------------

-- An all-ASCII host name with no "xn--" label, byte by byte (the common
-- case, kept in the validator's trace): true or false, or nil when it needs
-- crater.idna (a byte past ASCII, an A-label).
local function plain_host(s, i)
  local n = #s
  if n < i then return false end
  if n - i >= 253 then return nil end -- UTF-8 bytes: the A-labels may be shorter
  local start = i
  for k = i, n + 1 do
    local c = byte(s, k)
    if c == 46 or c == nil then
      local len = k - start
      if len < 1 or len > 63 or byte(s, start) == 45 or byte(s, k - 1) == 45 then return false end
      if byte(s, start + 2) == 45 and byte(s, start + 3) == 45 then return nil end
      start = k + 1
    elseif c >= 128 then
      return nil
    elseif not ALNUM[c] and c ~= 45 then
      return false
    end
  end
  return true
end

-- Loaded on first use: the IDNA checks need libidn2 (crater.idna).
local idna
-- The host name in s from byte i to the end.
local function host(s, i, idn, nfc)
  local plain = plain_host(s, i)
  if plain ~= nil then return plain end
  idna = idna or require "crater.idna"
  return idna.host(i == 1 and s or sub(s, i), idn, nfc)
end

function _M.hostname(s) return host(s, 1, false) end
_M["idn-hostname"] = function(s) return host(s, 1, true) end

-- Bytes allowed in a dot-atom (RFC 5322 atext).
local ATEXT = set("!#$%&'*+/=?^_`{|}~-", ALNUM)

-- RFC 5321 address literal: [IPv4] or [IPv6:...].
local function address_literal(d)
  if byte(d, 1) ~= 91 or byte(d, #d) ~= 93 then return false end
  d = sub(d, 2, -2)
  if sub(d, 1, 5) == "IPv6:" then return _M.ipv6(sub(d, 6)) end
  return _M.ipv4(d)
end

-- RFC 5321 Mailbox (RFC 6531 with `idn`): a dot-string or quoted local part
-- of at most 64 bytes, '@', a host name or an address literal.
local function mailbox(s, idn)
  local n, at = #s, nil
  local i = 1
  if byte(s, 1) == 34 then
    i = 2
    while true do
      local c = byte(s, i)
      if c == nil then return false end
      if c == 34 then break end
      if c == 92 then
        local d = byte(s, i + 1)
        if d == nil or d < 32 or d > 126 then return false end
        i = i + 2
      elseif (c >= 32 and c <= 126) or (idn and c >= 128) then
        i = i + 1
      else
        return false
      end
    end
    at = i + 1
    if byte(s, at) ~= 64 then return false end
  else
    while true do
      local c = byte(s, i)
      if c == nil then return false end
      if c == 64 then break end
      if c == 46 then
        if i == 1 or byte(s, i - 1) == 46 then return false end
      elseif not (ATEXT[c] or (idn and c >= 128)) then
        return false
      end
      i = i + 1
    end
    if i == 1 or byte(s, i - 1) == 46 then return false end
    at = i
  end
  if at > 65 or at == n then return false end
  if byte(s, at + 1) == 91 then return address_literal(sub(s, at + 1)) end
  return host(s, at + 1, idn, idn)
end

function _M.email(s) return mailbox(s, false) end
_M["idn-email"] = function(s) return mailbox(s, true) end

function _M.regex(s)
  local ok = pcall(require("crater.regex").compile, s)
  return ok
end

return _M
