--- crater.formats: the checkers behind JSON Schema's `format` keyword.
--
-- Each is `check(s) -> boolean` for a string. crater.schema asserts them
-- (a value that does not match is an error, as ajv-formats does), and
-- compile's `formats` option adds or replaces entries. What each accepts is
-- in docs/schemas.md ("Formats").

local find, match, byte, sub = string.find, string.match, string.byte, string.sub
local ipairs, pcall, require = ipairs, pcall, require
local tonumber = tonumber

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

-- Bytes allowed in an email's local part (RFC 5322 atext) and in a
-- hostname label.
local ATEXT, LABEL = {}, {}
for c = 48, 57 do ATEXT[c] = true; LABEL[c] = true end
for c = 65, 90 do ATEXT[c] = true; LABEL[c] = true end
for c = 97, 122 do ATEXT[c] = true; LABEL[c] = true end
for c in ("!#$%&'*+/=?^_`{|}~-"):gmatch(".") do ATEXT[byte(c)] = true end
LABEL[45] = true

-- Hostname labels from byte i to j: 1-63 of [A-Za-z0-9-], not starting or
-- ending with '-'.
local function host_at(s, i, j)
  if j < i or j - i + 1 > 253 then return false end
  if byte(s, j) == 46 then j = j - 1 end
  local start = i
  for k = i, j + 1 do
    local c = byte(s, k)
    if k == j + 1 or c == 46 then
      local len = k - start
      if len < 1 or len > 63 or byte(s, start) == 45 or byte(s, k - 1) == 45 then return false end
      start = k + 1
    elseif not LABEL[c] then
      return false
    end
  end
  return true
end

-- An address as HTML's <input type=email> takes it: a dot-atom local part
-- and a hostname (not RFC 5321's quoted strings and IP literals).
function _M.email(s)
  local n, at = #s, nil
  for k = 1, n do
    local c = byte(s, k)
    if c == 64 then
      if at then return false end
      at = k
    elseif at == nil then
      if c == 46 then
        if k == 1 or byte(s, k - 1) == 46 then return false end
      elseif not ATEXT[c] then
        return false
      end
    end
  end
  if at == nil or at == 1 or at > 65 or byte(s, at - 1) == 46 or byte(s, n) == 46 then return false end
  return host_at(s, at + 1, n)
end

function _M.hostname(s) return host_at(s, 1, #s) end

function _M.ipv4(s)
  local a, b, c, d = match(s, "^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return false end
  for _, p in ipairs({ a, b, c, d }) do
    if #p > 3 or (#p > 1 and byte(p) == 48) or tonumber(p) > 255 then return false end
  end
  return true
end

function _M.ipv6(s)
  if find(s, "[^%x:%.]") or #s < 2 then return false end
  local v4 = match(s, ":(%d+%.%d+%.%d+%.%d+)$")
  local groups_needed = 8
  if v4 then
    if not _M.ipv4(v4) then return false end
    s = sub(s, 1, #s - #v4) .. "0:0"
  elseif find(s, "%.") then
    return false
  end
  local dbl = find(s, "::", 1, true)
  if dbl and find(s, "::", dbl + 1, true) then return false end
  if find(s, ":::", 1, true) then return false end
  local count = 0
  local body = s
  if dbl then
    local left, right = sub(s, 1, dbl - 1), sub(s, dbl + 2)
    for _, part in ipairs({ left, right }) do
      if part ~= "" then
        for g in (part .. ":"):gmatch("([^:]*):") do
          if not find(g, "^%x%x?%x?%x?$") then return false end
          count = count + 1
        end
      end
    end
    return count < groups_needed
  end
  for g in (body .. ":"):gmatch("([^:]*):") do
    if not find(g, "^%x%x?%x?%x?$") then return false end
    count = count + 1
  end
  return count == groups_needed
end

-- RFC 3986 absolute URI: scheme ":" then characters a URI may hold
-- (unreserved, reserved, percent-escapes); no spaces, no raw non-ASCII.
function _M.uri(s)
  local scheme, rest = match(s, "^(%a[%w+.%-]*):(.*)$")
  if not scheme then return false end
  if find(rest, "[^%w%-%._~:/%?#%[%]@!%$&'%(%)%*%+,;=%%]") then return false end
  if find(rest, "%%[^%x]") or find(rest, "%%%x[^%x]") or find(rest, "%%%x?$") then return false end
  local auth = match(rest, "^//([^/%?#]*)")
  if auth then
    local hostport = match(auth, "@(.*)$") or auth
    if find(hostport, "^%[") then
      if not find(hostport, "^%[[%x:%.]+%]:?%d*$") then return false end
    elseif find(hostport, ":") and not find(hostport, "^[^:]*:%d*$") then
      return false
    end
  end
  return true
end

_M["uri-reference"] = function(s)
  if _M.uri(s) then return true end
  return not find(s, "[^%w%-%._~:/%?#%[%]@!%$&'%(%)%*%+,;=%%]")
end

-- ISO 8601 duration as RFC 3339 Appendix A writes it: P1Y2M3DT4H5M6S, P2W.
function _M.duration(s)
  if find(s, "^P%d+W$") then return true end
  local date, time = match(s, "^P([%dYMD]*)(.*)$")
  if not date then return false end
  if time ~= "" then
    time = match(time, "^T([%dHMS]+)$")
    if not time then return false end
  end
  if date == "" and time == "" then return false end
  local function ordered(part, units)
    local pos = 0
    for num, u in part:gmatch("(%d*)(%a)") do
      if num == "" then return false end
      local p = find(units, u, 1, true)
      if not p or p <= pos then return false end
      pos = p
    end
    return part:gsub("%d+%a", "") == ""
  end
  return ordered(date, "YMD") and (time == false or time == "" or ordered(time, "HMS"))
end

function _M.regex(s)
  local ok = pcall(require("crater.regex").compile, s)
  return ok
end

return _M
