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

local function leap(y) return (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0 end
local DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function full_date(s)
  local y, m, d = match(s, "^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then return false end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m < 1 or m > 12 or d < 1 then return false end
  local max = DAYS[m]
  if m == 2 and leap(y) then max = 29 end
  return d <= max
end

-- RFC 3339 full-time: hh:mm:ss[.frac](Z|+hh:mm); a leap second (60) only
-- at 23:59 UTC, as the JSON Schema suite reads it.
local function full_time(s)
  local h, mi, se, rest = match(s, "^(%d%d):(%d%d):(%d%d)(.*)$")
  if not h then return false end
  local frac = match(rest, "^%.%d+")
  if frac then rest = sub(rest, #frac + 1) end
  h, mi, se = tonumber(h), tonumber(mi), tonumber(se)
  local oh, om = 0, 0
  if rest == "Z" or rest == "z" then
    -- UTC
  else
    local sign, a, b = match(rest, "^([+-])(%d%d):(%d%d)$")
    if not sign then return false end
    oh, om = tonumber(a), tonumber(b)
    if oh > 23 or om > 59 then return false end
    if sign == "+" then oh, om = -oh, -om end
  end
  if h > 23 or mi > 59 or se > 60 then return false end
  if se == 60 then
    local utc = ((h * 60 + mi + oh * 60 + om) % 1440 + 1440) % 1440
    if utc ~= 23 * 60 + 59 then return false end
  end
  return true
end

function _M.date(s) return full_date(s) end

function _M.time(s) return full_time(s) end

_M["date-time"] = function(s)
  local d, t = match(s, "^(%d%d%d%d%-%d%d%-%d%d)[Tt](.+)$")
  return d ~= nil and full_date(d) and full_time(t)
end

-- An address as HTML's <input type=email> takes it: a dot-atom local part
-- and a hostname (not RFC 5321's quoted strings and IP literals).
function _M.email(s)
  local loc, dom = match(s, "^([^@]+)@([^@]+)$")
  if not loc or #loc > 64 then return false end
  if not find(loc, "^[%w!#$%%&'*+/=?^_`{|}~%-]+$") and not find(loc, "^[%w!#$%%&'*+/=?^_`{|}~%-][%w!#$%%&'*+/=?^_`{|}~%-%.]*[%w!#$%%&'*+/=?^_`{|}~%-]$") then
    return false
  end
  if find(loc, "%.%.") then return false end
  return _M.hostname(dom)
end

function _M.hostname(s)
  if #s == 0 or #s > 253 then return false end
  if sub(s, -1) == "." then s = sub(s, 1, -2) end
  for label in (s .. "."):gmatch("([^.]*)%.") do
    if #label == 0 or #label > 63 then return false end
    if not find(label, "^[%w]([%w%-]*[%w])?$") and not find(label, "^%w$") then
      if not find(label, "^[%w][%w%-]*[%w]$") then return false end
    end
  end
  return true
end

function _M.uuid(s)
  return find(s, "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$") ~= nil
end

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
