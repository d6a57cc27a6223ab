--- crater.idna: internationalized host names (IDNA2008, RFC 5890-5893) for
--- the `hostname`, `idn-hostname` and `idn-email` formats.
--
-- Which code points a label may hold (PVALID, CONTEXTJ, CONTEXTO), the
-- contextual rules, NFC, Punycode and the per-label Bidi rule come from
-- GNU libidn2 (Debian's libidn2-0) through the LuaJIT FFI: that is Unicode
-- data kept current by the system, not tables copied into Crater. What
-- libidn2's label check leaves to its caller is here: label separators,
-- empty labels, ASCII (LDH) labels, lengths of the A-label form, and the
-- Bidi rules that look at the whole name or that libidn2 skips (RFC 5893
-- rules 1 and 4). See docs/schemas.md ("Formats").

local ffi = require "ffi"

local byte, sub, find, lower = string.byte, string.sub, string.find, string.lower
local ipairs, pcall = ipairs, pcall

local _M = {}

ffi.cdef [[
int idn2_register_u8(const uint8_t *ulabel, const uint8_t *alabel, uint8_t **insertname, int flags);
int idn2_to_unicode_8z8z(const char *input, char **output, int flags);
void idn2_free(void *ptr);
]]

-- libidn2's flags (idn2.h).
local NFC_INPUT = 1

local lib
do
  local ok, l = pcall(ffi.load, "libidn2.so.0")
  if not ok then ok, l = pcall(ffi.load, "idn2") end
  if ok then lib = l end
end

--- true when libidn2 could be loaded (the IDN formats need it).
_M.available = lib ~= nil

local out = ffi.new("uint8_t *[1]")

-- The A-label of a non-ASCII label `u` (UTF-8) when IDNA2008 allows it for
-- registration, else nil. `nfc`: normalize first instead of refusing.
local function register_u(u, nfc)
  local rc = lib.idn2_register_u8(u, nil, out, nfc and NFC_INPUT or 0)
  if rc ~= 0 then return nil end
  local a = ffi.string(out[0])
  lib.idn2_free(out[0])
  return a
end

-- The U-label of the A-label `a` when it is one IDNA2008 allows (decodes,
-- encodes back to itself, and its U-label passes the label rules), else nil.
local cout = ffi.new("char *[1]")
local function register_a(a)
  local rc = lib.idn2_register_u8(nil, a, out, 0)
  if rc ~= 0 then return nil end
  lib.idn2_free(out[0])
  rc = lib.idn2_to_unicode_8z8z(a, cout, 0)
  if rc ~= 0 then return nil end
  local u = ffi.string(cout[0])
  lib.idn2_free(cout[0])
  return u
end

-- The code point at byte i of the UTF-8 string s, and the next index.
local function cp_at(s, i)
  local c = byte(s, i)
  if c < 0x80 then return c, i + 1 end
  if c < 0xE0 then return (c - 0xC0) * 64 + byte(s, i + 1) - 0x80, i + 2 end
  if c < 0xF0 then
    return ((c - 0xE0) * 64 + byte(s, i + 1) - 0x80) * 64 + byte(s, i + 2) - 0x80, i + 3
  end
  return (((c - 0xF0) * 64 + byte(s, i + 1) - 0x80) * 64 + byte(s, i + 2) - 0x80) * 64
    + byte(s, i + 3) - 0x80, i + 4
end

-- Bidi classes that the domain-wide rules need. Only code points IDNA2008
-- can allow matter: the other European and Arabic digits (superscripts,
-- full-width, mathematical) are DISALLOWED, so the lists are short.
local function is_en(c) return (c >= 0x30 and c <= 0x39) or (c >= 0x6F0 and c <= 0x6F9) end
local function is_an(c) return (c >= 0x660 and c <= 0x669) or (c >= 0x10D30 and c <= 0x10D39) end
-- Right-to-left letters (R, AL) by block: Hebrew through the Arabic
-- extensions, the Hebrew and Arabic presentation forms, and the RTL
-- supplementary blocks. The combining marks inside these blocks (NSM) never
-- start a label and sit next to RTL letters in a valid one.
local function is_rtl(c)
  return (c >= 0x590 and c <= 0x8FF and not is_en(c)) or (c >= 0xFB1D and c <= 0xFDFF)
    or (c >= 0xFE70 and c <= 0xFEFF) or (c >= 0x10800 and c <= 0x10FFF) or (c >= 0x1E800 and c <= 0x1EFFF)
end

-- Label separators of RFC 3490 §3.1, as the JSON Schema suite reads
-- idn-hostname: full stop, ideographic, full-width and half-width ones.
local SEPS = { "\227\128\130", "\239\188\142", "\239\189\161" }

local function split(s, idn)
  if idn then
    for _, sep in ipairs(SEPS) do
      if find(s, sep, 1, true) then s = s:gsub(sep, ".") end
    end
  end
  local labels, start = {}, 1
  while true do
    local dot = find(s, ".", start, true)
    labels[#labels + 1] = sub(s, start, (dot or 0) - 1)
    if not dot then return labels end
    start = dot + 1
  end
end

-- An ASCII label: letters, digits, '-', 1-63 bytes, no '-' at either end.
local function ldh(l)
  local n = #l
  if n == 0 or n > 63 or byte(l, 1) == 45 or byte(l, n) == 45 then return false end
  return not find(l, "[^%w%-]")
end

-- The neutral characters IDNA2008 lets into a label (with their contextual
-- rules): none of them may start a label of a Bidi domain name, nor end a
-- left-to-right one there (RFC 5893 rules 1 and 6).
local NEUTRAL = { [0xB7] = true, [0x375] = true, [0x30FB] = true, [0x200C] = true, [0x200D] = true }

-- The last code point of the UTF-8 string u.
local function last_cp(u)
  local i = #u
  while i > 1 do
    local c = byte(u, i)
    if c < 0x80 or c >= 0xC0 then break end
    i = i - 1
  end
  return (cp_at(u, i))
end

-- RFC 5893 for a whole name: when any label holds a right-to-left
-- character, every label starts with a letter (rule 1; LTR labels that
-- libidn2 let through include ASCII ones and ones starting with a digit),
-- a left-to-right label ends with a letter or digit (rule 6), and no
-- right-to-left label mixes European and Arabic-Indic digits (rule 4).
local function bidi_ok(ulabels)
  local rtl = {}
  local any = false
  for k, u in ipairs(ulabels) do
    local i, n = 1, #u
    while i <= n do
      local c
      c, i = cp_at(u, i)
      if is_rtl(c) or is_an(c) then rtl[k] = true; any = true; break end
    end
  end
  if not any then return true end
  for k, u in ipairs(ulabels) do
    local first = cp_at(u, 1)
    if is_en(first) or is_an(first) or NEUTRAL[first] then return false end
    if not rtl[k] and NEUTRAL[last_cp(u)] then return false end
    if rtl[k] then
      local en, an, i, n = false, false, 1, #u
      while i <= n do
        local c
        c, i = cp_at(u, i)
        if is_en(c) then en = true elseif is_an(c) then an = true end
      end
      if en and an then return false end
    end
  end
  return true
end

--- Checks a host name. `idn`: Unicode labels (U-labels) and the IDNA label
--- separators are allowed (idn-hostname); else only ASCII, where an `xn--`
--- label must be a valid A-label (hostname). `nfc`: normalize U-labels to
--- NFC before checking them (idn-email's domain). Returns a boolean.
---@param s string
---@param idn boolean
---@param nfc? boolean
---@return boolean
function _M.host(s, idn, nfc)
  if s == "" or find(s, "%z") then return false end
  if not idn and find(s, "[\128-\255]") then return false end
  local labels = split(s, idn)
  local total = #labels - 1
  local ulabels = {}
  for k, l in ipairs(labels) do
    local a, u
    if not find(l, "[\128-\255]") then
      if not ldh(l) then return false end
      if lower(sub(l, 1, 4)) == "xn--" then
        if lib == nil then return false end
        u = register_a(lower(l))
        if u == nil then return false end
      elseif sub(l, 3, 4) == "--" then
        -- R-LDH labels ("ab--...") are reserved for IDNA (RFC 5891 §4.2.3.1).
        if idn then return false end
        u = l
      else
        u = l
      end
      a = l
    else
      if lib == nil then return false end
      a = register_u(l, nfc)
      if a == nil or #a > 63 then return false end
      u = l
    end
    total = total + #a
    ulabels[k] = u
  end
  if total > 253 then return false end
  return bidi_ok(ulabels)
end

return _M
