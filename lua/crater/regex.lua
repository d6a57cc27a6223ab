--- crater.regex: the ECMA-262 regular expressions JSON Schema's `pattern`
--- uses, for Lua.
--
-- compile(source) parses the pattern once. A pattern Lua's own patterns can
-- express with the same meaning (literals, classes of ASCII, \d \w, the
-- quantifiers * + ? {n,m} on one item, ^ and $ at the ends) is translated
-- and runs in string.find, in C. Anything else runs on a small backtracking
-- matcher built here from closures. Both work on code points of UTF-8
-- text, as ECMA-262 does with the `u` flag. The dialect and how it differs
-- from ECMA-262 are in docs/schemas.md ("Regular expressions").

local byte, sub, find, char, format = string.byte, string.sub, string.find, string.char, string.format
local concat = table.concat
local type, error, tonumber, setmetatable, ipairs, pairs, load, assert =
  type, error, tonumber, setmetatable, ipairs, pairs, load, assert

local _M = { version = "0.1.0" }

-- --------------------------------------------------------------------------
-- UTF-8
-- --------------------------------------------------------------------------

-- The code point at byte i of s, and the index after it. Invalid bytes
-- count as one code point each (a JSON string is valid UTF-8 anyway).
local function decode(s, i)
  local c = byte(s, i)
  if c == nil then return nil, i end
  if c < 0x80 then return c, i + 1 end
  if c >= 0xF0 then
    local b, d, e = byte(s, i + 1, i + 3)
    if b and d and e then return (c - 0xF0) * 0x40000 + (b - 0x80) * 0x1000 + (d - 0x80) * 0x40 + (e - 0x80), i + 4 end
  elseif c >= 0xE0 then
    local b, d = byte(s, i + 1, i + 2)
    if b and d then return (c - 0xE0) * 0x1000 + (b - 0x80) * 0x40 + (d - 0x80), i + 3 end
  elseif c >= 0xC0 then
    local b = byte(s, i + 1)
    if b then return (c - 0xC0) * 0x40 + (b - 0x80), i + 2 end
  end
  return c, i + 1
end

local function encode(cp)
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then return char(0xC0 + math.floor(cp / 0x40), 0x80 + cp % 0x40) end
  if cp < 0x10000 then
    return char(0xE0 + math.floor(cp / 0x1000), 0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
  end
  return char(0xF0 + math.floor(cp / 0x40000), 0x80 + math.floor(cp / 0x1000) % 0x40,
    0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

-- The start of the code point before byte i.
local function back(s, i)
  i = i - 1
  while i > 1 do
    local c = byte(s, i)
    if c < 0x80 or c >= 0xC0 then break end
    i = i - 1
  end
  return i
end

-- --------------------------------------------------------------------------
-- Character sets: lists of inclusive code point ranges
-- --------------------------------------------------------------------------

local DIGIT = { 48, 57 }
local WORD = { 48, 57, 65, 90, 95, 95, 97, 122 }
-- ECMA-262 WhiteSpace and LineTerminator.
local SPACE = { 9, 13, 32, 32, 0xA0, 0xA0, 0x1680, 0x1680, 0x2000, 0x200A, 0x2028, 0x2029,
                0x202F, 0x202F, 0x205F, 0x205F, 0x3000, 0x3000, 0xFEFF, 0xFEFF }
local LINE_END = { 10, 10, 13, 13, 0x2028, 0x2029 }

local function in_ranges(r, cp)
  -- Binary search over pairs; lists are sorted.
  local lo, hi = 1, #r / 2
  while lo <= hi do
    local mid = math.floor((lo + hi) / 2)
    local a, b = r[2 * mid - 1], r[2 * mid]
    if cp < a then hi = mid - 1 elseif cp > b then lo = mid + 1 else return true end
  end
  return false
end

local unicode_data
local PROPERTY_ALIASES = {
  L = "L", Letter = "L", Lu = "Lu", Uppercase_Letter = "Lu", Ll = "Ll", Lowercase_Letter = "Ll",
  Lt = "Lt", Titlecase_Letter = "Lt", Lm = "Lm", Modifier_Letter = "Lm", Lo = "Lo", Other_Letter = "Lo",
  N = "N", Number = "N", Nd = "Nd", Decimal_Number = "Nd", digit = "Nd", Nl = "Nl", Letter_Number = "Nl",
  No = "No", Other_Number = "No", P = "P", Punctuation = "P", punct = "P", S = "S", Symbol = "S",
  Z = "Z", Separator = "Z", Zs = "Zs", Space_Separator = "Zs",
}

local function property(name, negated, pat)
  local short = PROPERTY_ALIASES[name] or PROPERTY_ALIASES[name:match("^General_Category=(.+)$") or ""]
    or PROPERTY_ALIASES[name:match("^gc=(.+)$") or ""]
  if not short then
    error(format("crater.regex: unsupported Unicode property \\p{%s} in /%s/", name, pat), 0)
  end
  unicode_data = unicode_data or require "crater.regex_unicode"
  return { ranges = unicode_data[short], neg = negated }
end

-- A set is { items = { {ranges=, neg=}, ... }, neg = bool }: a code point is
-- in it when it is in any item (an item with neg matches what its ranges don't).
local function set_has(set, cp)
  local hit = false
  local items = set.items
  for i = 1, #items do
    local it = items[i]
    if in_ranges(it.ranges, cp) ~= (it.neg or false) then hit = true break end
  end
  return hit ~= set.neg
end

-- --------------------------------------------------------------------------
-- Parser: ECMA-262 pattern text -> tree
-- --------------------------------------------------------------------------

local Parser = {}
Parser.__index = Parser

function Parser:fail(msg)
  error(format("crater.regex: %s at offset %d in /%s/", msg, self.i - 1, self.src), 0)
end

function Parser:peek() return sub(self.src, self.i, self.i) end

function Parser:next_cp()
  local cp, j = decode(self.src, self.i)
  self.i = j
  return cp
end

local function single(ranges, neg) return { t = "set", set = { items = { { ranges = ranges, neg = neg } }, neg = false } } end

-- An escape after '\'; returns a node (char or set). In a class, \b is backspace.
function Parser:escape(in_class)
  local c = self:peek()
  if c == "" then self:fail("pattern ends with a backslash") end
  self.i = self.i + 1
  if c == "d" then return single(DIGIT, false) end
  if c == "D" then return single(DIGIT, true) end
  if c == "w" then return single(WORD, false) end
  if c == "W" then return single(WORD, true) end
  if c == "s" then return single(SPACE, false) end
  if c == "S" then return single(SPACE, true) end
  if c == "n" then return { t = "char", cp = 10 } end
  if c == "r" then return { t = "char", cp = 13 } end
  if c == "t" then return { t = "char", cp = 9 } end
  if c == "f" then return { t = "char", cp = 12 } end
  if c == "v" then return { t = "char", cp = 11 } end
  if c == "0" and not self:peek():match("%d") then return { t = "char", cp = 0 } end
  if c == "b" then
    if in_class then return { t = "char", cp = 8 } end
    return { t = "wordb", neg = false }
  end
  if c == "B" and not in_class then return { t = "wordb", neg = true } end
  if c == "x" then
    local h = self.src:match("^%x%x", self.i)
    if not h then self:fail("\\x needs two hex digits") end
    self.i = self.i + 2
    return { t = "char", cp = tonumber(h, 16) }
  end
  if c == "u" then
    local h = self.src:match("^{(%x+)}", self.i)
    if h then
      self.i = self.i + #h + 2
      return { t = "char", cp = tonumber(h, 16) }
    end
    h = self.src:match("^%x%x%x%x", self.i)
    if not h then self:fail("\\u needs four hex digits or {hex}") end
    self.i = self.i + 4
    local cp = tonumber(h, 16)
    -- A surrogate pair written as two escapes is one code point.
    local lo = cp >= 0xD800 and cp <= 0xDBFF and self.src:match("^\\u(%x%x%x%x)", self.i)
    if lo and tonumber(lo, 16) >= 0xDC00 and tonumber(lo, 16) <= 0xDFFF then
      self.i = self.i + 6
      cp = 0x10000 + (cp - 0xD800) * 0x400 + (tonumber(lo, 16) - 0xDC00)
    end
    return { t = "char", cp = cp }
  end
  if c == "p" or c == "P" then
    local name = self.src:match("^{([%w_=]+)}", self.i)
    if not name then self:fail("\\" .. c .. " needs {Property}") end
    self.i = self.i + #name + 2
    local it = property(name, c == "P", self.src)
    return { t = "set", set = { items = { it }, neg = false } }
  end
  if c == "c" then
    local l = self.src:match("^%a", self.i)
    if not l then self:fail("\\c needs a letter") end
    self.i = self.i + 1
    return { t = "char", cp = byte(l) % 32 }
  end
  if c:match("%d") then
    self:fail("backreferences (\\" .. c .. ") are not supported")
  end
  if c == "k" then self:fail("named backreferences are not supported") end
  if c:match("[%w]") then self:fail("unknown escape \\" .. c) end
  -- Identity escape of a syntax character (or any punctuation).
  self.i = self.i - 1
  return { t = "char", cp = self:next_cp() }
end

function Parser:class()
  -- After '['.
  local set = { items = {}, neg = false }
  if self:peek() == "^" then set.neg = true; self.i = self.i + 1 end
  local ranges = {}
  local function atom()
    local c = self:peek()
    if c == "" then self:fail("unterminated character class") end
    if c == "\\" then
      self.i = self.i + 1
      return self:escape(true)
    end
    return { t = "char", cp = self:next_cp() }
  end
  while true do
    local c = self:peek()
    if c == "" then self:fail("unterminated character class") end
    if c == "]" then self.i = self.i + 1 break end
    local a = atom()
    if a.t == "char" and self:peek() == "-" and sub(self.src, self.i + 1, self.i + 1) ~= "]"
        and sub(self.src, self.i + 1, self.i + 1) ~= "" then
      self.i = self.i + 1
      local b = atom()
      if b.t ~= "char" then self:fail("a class escape cannot end a range") end
      if b.cp < a.cp then self:fail("range out of order in character class") end
      ranges[#ranges + 1] = { a.cp, b.cp }
    elseif a.t == "char" then
      ranges[#ranges + 1] = { a.cp, a.cp }
    else
      for _, it in ipairs(a.set.items) do set.items[#set.items + 1] = it end
    end
  end
  table.sort(ranges, function(x, y) return x[1] < y[1] end)
  local flat = {}
  for _, r in ipairs(ranges) do
    local n = #flat
    if n > 0 and r[1] <= flat[n] + 1 then
      if r[2] > flat[n] then flat[n] = r[2] end
    else
      flat[n + 1], flat[n + 2] = r[1], r[2]
    end
  end
  if #flat > 0 then table.insert(set.items, 1, { ranges = flat, neg = false, plain = true }) end
  return { t = "set", set = set }
end

function Parser:quantifier(node)
  local c = self:peek()
  local min, max
  if c == "*" then min, max = 0, nil
  elseif c == "+" then min, max = 1, nil
  elseif c == "?" then min, max = 0, 1
  elseif c == "{" then
    local a, comma, b = self.src:match("^{(%d+)(,?)(%d*)}", self.i)
    if not a then return node end -- A lone '{' is a literal (Annex B).
    self.i = self.i + #a + #comma + #b + 1
    min = tonumber(a)
    max = comma == "" and min or (b ~= "" and tonumber(b) or nil)
    if max and max < min then self:fail("numbers out of order in {} quantifier") end
  else
    return node
  end
  self.i = self.i + 1
  local greedy = true
  if self:peek() == "?" then greedy = false; self.i = self.i + 1 end
  if node.t == "bol" or node.t == "eol" or node.t == "wordb" then self:fail("nothing to repeat") end
  return { t = "rep", node = node, min = min, max = max, greedy = greedy }
end

function Parser:term()
  local c = self:peek()
  if c == "^" then self.i = self.i + 1 return { t = "bol" } end
  if c == "$" then self.i = self.i + 1 return { t = "eol" } end
  if c == "(" then
    self.i = self.i + 1
    local kind = "group"
    local neg = false
    if sub(self.src, self.i, self.i + 1) == "?:" then self.i = self.i + 2
    elseif sub(self.src, self.i, self.i + 1) == "?=" then self.i = self.i + 2; kind = "look"
    elseif sub(self.src, self.i, self.i + 1) == "?!" then self.i = self.i + 2; kind = "look"; neg = true
    elseif sub(self.src, self.i, self.i + 2) == "?<=" or sub(self.src, self.i, self.i + 2) == "?<!" then
      self:fail("lookbehind is not supported")
    elseif sub(self.src, self.i, self.i + 1) == "?<" then
      local name = self.src:match("^%?<([%a_][%w_]*)>", self.i)
      if not name then self:fail("bad group name") end
      self.i = self.i + #name + 3
    elseif self:peek() == "?" then self:fail("unknown group syntax (?" .. sub(self.src, self.i + 1, self.i + 1))
    end
    local inner = self:alt()
    if self:peek() ~= ")" then self:fail("missing )") end
    self.i = self.i + 1
    local node = kind == "look" and { t = "look", node = inner, neg = neg } or { t = "group", node = inner }
    if kind == "look" then return node end -- lookaheads are not quantifiable with the u flag
    return self:quantifier(node)
  end
  if c == ")" then self:fail("unmatched )") end
  if c == "*" or c == "+" or c == "?" then self:fail("nothing to repeat") end
  local node
  if c == "[" then
    self.i = self.i + 1
    node = self:class()
  elseif c == "." then
    self.i = self.i + 1
    node = { t = "set", set = { items = { { ranges = LINE_END, neg = true } }, neg = false }, dot = true }
  elseif c == "\\" then
    self.i = self.i + 1
    node = self:escape(false)
  else
    -- Anything else is a literal, ']' and '}' included (as Annex B allows).
    node = { t = "char", cp = self:next_cp() }
  end
  return self:quantifier(node)
end

function Parser:seq()
  local items = {}
  while true do
    local c = self:peek()
    if c == "" or c == "|" or c == ")" then break end
    items[#items + 1] = self:term()
  end
  return { t = "seq", items = items }
end

function Parser:alt()
  local alts = { self:seq() }
  while self:peek() == "|" do
    self.i = self.i + 1
    alts[#alts + 1] = self:seq()
  end
  if #alts == 1 then return alts[1] end
  return { t = "alt", alts = alts }
end

local function parse(src)
  local p = setmetatable({ src = src, i = 1 }, Parser)
  local tree = p:alt()
  if p.i <= #src then p:fail("unmatched )") end
  return tree
end

-- --------------------------------------------------------------------------
-- Translation to a Lua pattern, when the meaning is the same
-- --------------------------------------------------------------------------

local MAGIC = "^$()%.[]*+-?"

local function lua_char(cp)
  if cp >= 0x80 then return encode(cp) end
  local ch = char(cp)
  if find(MAGIC, ch, 1, true) then return "%" .. ch end
  if cp == 0 then return "%z" end
  return ch
end

-- A positive ASCII-only set as a Lua class, or nil.
local function lua_class(set)
  if set.neg then return nil end
  local parts = {}
  for _, it in ipairs(set.items) do
    if it.neg then return nil end
    local r = it.ranges
    for i = 1, #r, 2 do
      local a, b = r[i], r[i + 1]
      if b >= 0x80 or a == 0 then return nil end
      if a == b then parts[#parts + 1] = lua_char(a)
      else parts[#parts + 1] = lua_char(a) .. "-" .. lua_char(b) end
    end
  end
  if #parts == 0 then return nil end
  return "[" .. concat(parts) .. "]"
end

-- One item (a code point matcher) as Lua pattern text, and whether it can
-- match a part of a multi-byte character (dot, negated sets).
local function lua_item(node)
  if node.t == "char" then
    if node.cp >= 0x80 then return encode(node.cp), "multi" end
    return lua_char(node.cp), "ascii"
  end
  if node.t == "set" then
    local cls = lua_class(node.set)
    if cls then return cls, "ascii" end
    if node.dot then return ".", "any" end
    return nil
  end
  return nil
end

local function to_lua(tree)
  if tree.t ~= "seq" then return nil end
  local items, out = tree.items, {}
  for k, node in ipairs(items) do
    if node.t == "bol" then
      if k ~= 1 then return nil end
      out[#out + 1] = "^"
    elseif node.t == "eol" then
      if k ~= #items then return nil end
      out[#out + 1] = "$"
    elseif node.t == "rep" then
      local text, kind = lua_item(node.node)
      if not text or kind == "multi" then return nil end
      if kind == "any" then
        -- '.' with * or + only, and not next to another such item: then
        -- "some bytes" and "some code points" match the same strings.
        if node.max ~= nil or node.min > 1 or not node.greedy then return nil end
        local nx = items[k + 1]
        if nx and nx.t ~= "eol" then
          local _, nkind = lua_item(nx.t == "rep" and nx.node or nx)
          if nkind ~= "ascii" and nkind ~= "multi" then return nil end
        end
        out[#out + 1] = text .. (node.min == 0 and "*" or "+")
      else
        local min, max = node.min, node.max
        if not node.greedy then
          if min == 0 and max == nil then out[#out + 1] = text .. "-"
          elseif min == 1 and max == nil then out[#out + 1] = text .. text .. "-"
          else return nil end
        else
          if min > 20 or (max and max > 20) then return nil end
          for _ = 1, min do out[#out + 1] = text end
          if max == nil then out[#out + 1] = text .. "*"
          else for _ = min + 1, max do out[#out + 1] = text .. "?" end end
        end
      end
    else
      local text, kind = lua_item(node)
      if not text or kind == "any" then return nil end
      out[#out + 1] = text
    end
  end
  return concat(out)
end

-- --------------------------------------------------------------------------
-- Byte code for simple patterns: when every item is one ASCII byte (a
-- literal or a class of ASCII) and every repeated item is followed by items
-- it cannot match, a greedy scan never needs to give anything back. Then
-- the pattern becomes a Lua function of string.byte comparisons, which
-- LuaJIT compiles into the trace of the validator (string.find cannot be).
-- --------------------------------------------------------------------------

-- The ASCII bytes an item matches, as a set { [byte] = true }, or nil.
local function byte_set(node)
  if node.t == "char" then
    if node.cp >= 0x80 then return nil end
    return { [node.cp] = true }
  end
  if node.t == "set" then
    local set = node.set
    if set.neg or node.dot then return nil end
    local out = {}
    for _, it in ipairs(set.items) do
      if it.neg then return nil end
      local r = it.ranges
      for i = 1, #r, 2 do
        if r[i + 1] >= 0x80 then return nil end
        for b = r[i], r[i + 1] do out[b] = true end
      end
    end
    return out
  end
  return nil
end

local function set_test(set, var)
  local parts, b = {}, 0
  while b < 128 do
    if set[b] then
      local e = b
      while set[e + 1] do e = e + 1 end
      if e == b then parts[#parts + 1] = var .. " == " .. b
      else parts[#parts + 1] = "(" .. var .. " >= " .. b .. " and " .. var .. " <= " .. e .. ")" end
      b = e + 1
    else
      b = b + 1
    end
  end
  if #parts == 0 then return "false" end
  return concat(parts, " or ")
end

local function disjoint(a, b)
  for k in pairs(a) do if b[k] then return false end end
  return true
end

local function to_bytes(tree)
  if tree.t ~= "seq" then return nil end
  local items = {}
  local anchored, tail = false, false
  for k, node in ipairs(tree.items) do
    if node.t == "bol" then
      if k ~= 1 then return nil end
      anchored = true
    elseif node.t == "eol" then
      if k ~= #tree.items then return nil end
      tail = true
    else
      local inner = node.t == "rep" and node.node or node
      local set = byte_set(inner)
      if not set then return nil end
      if node.t == "rep" then
        items[#items + 1] = { set = set, min = node.min, max = node.max }
      else
        items[#items + 1] = { set = set, min = 1, max = 1 }
      end
    end
  end
  -- A variable item must not match anything that may come right after it.
  for k, it in ipairs(items) do
    if it.max ~= it.min then
      for j = k + 1, #items do
        if not disjoint(it.set, items[j].set) then return nil end
        if items[j].min > 0 then break end
      end
      if not tail and k == #items then
        -- Unanchored end: any count >= min matches, so stop at min.
        it.max = it.min
      end
    end
  end
  local out = { "local byte = ...", "local function at(s, i)", "local b, c" }
  for _, it in ipairs(items) do
    local test = set_test(it.set, "b")
    -- The required repetitions are straight-line code (a short inner loop
    -- would make LuaJIT trace it separately); only the optional rest loops.
    local must = it.min <= 16 and it.min or 0
    for _ = 1, must do
      out[#out + 1] = "b = byte(s, i); if b == nil or not (" .. test .. ") then return false end; i = i + 1"
    end
    if it.max ~= must then
      local min, max = it.min - must, it.max and (it.max - must)
      out[#out + 1] = "c = 0"
      out[#out + 1] = "while " .. (max and ("c < " .. max) or "true") .. " do b = byte(s, i); if b == nil or not ("
        .. test .. ") then break end; i = i + 1; c = c + 1 end"
      if min > 0 then out[#out + 1] = "if c < " .. min .. " then return false end" end
    end
  end
  out[#out + 1] = tail and "return i == #s + 1 end" or "return true end"
  if anchored then
    out[#out + 1] = "return function(s) return at(s, 1) end"
  else
    out[#out + 1] = "return function(s) for i = 1, #s + 1 do if at(s, i) then return true end end return false end"
  end
  local f = assert(load(concat(out, "\n"), "=crater.regex"))
  return f(byte), concat(out, "\n")
end

-- --------------------------------------------------------------------------
-- The backtracking matcher: each node becomes m(s, i, k) -> bool, where k
-- is the continuation taking the index after the match.
-- --------------------------------------------------------------------------

local build

-- For a node that matches exactly one code point: step(s, i) -> next i or nil.
local function stepper(node)
  if node.t == "char" then
    local cp = node.cp
    if cp < 0x80 then
      return function(s, i) if byte(s, i) == cp then return i + 1 end return nil end
    end
    local bytes = encode(cp)
    local n = #bytes
    return function(s, i) if sub(s, i, i + n - 1) == bytes then return i + n end return nil end
  end
  if node.t == "set" then
    local set = node.set
    return function(s, i)
      local cp, j = decode(s, i)
      if cp ~= nil and set_has(set, cp) then return j end
      return nil
    end
  end
  return nil
end

local function is_word(s, i)
  local c = byte(s, i)
  return c ~= nil and ((c >= 48 and c <= 57) or (c >= 65 and c <= 90) or (c >= 97 and c <= 122) or c == 95)
end

function build(node)
  local t = node.t
  local step = stepper(node)
  if step then
    return function(s, i, k)
      local j = step(s, i)
      if j then return k(j) end
      return false
    end
  end
  if t == "seq" then
    local ms = {}
    for i, n in ipairs(node.items) do ms[i] = build(n) end
    local function from(idx)
      local m = ms[idx]
      if m == nil then return function(_, i, k) return k(i) end end
      local rest = from(idx + 1)
      if ms[idx + 1] == nil then return m end
      return function(s, i, k)
        return m(s, i, function(j) return rest(s, j, k) end)
      end
    end
    return from(1)
  end
  if t == "alt" then
    local ms = {}
    for i, n in ipairs(node.alts) do ms[i] = build(n) end
    return function(s, i, k)
      for a = 1, #ms do
        if ms[a](s, i, k) then return true end
      end
      return false
    end
  end
  if t == "group" then return build(node.node) end
  if t == "bol" then return function(_, i, k) if i == 1 then return k(i) end return false end end
  if t == "eol" then return function(s, i, k) if i == #s + 1 then return k(i) end return false end end
  if t == "wordb" then
    local neg = node.neg
    return function(s, i, k)
      local at = (i > 1 and is_word(s, i - 1)) ~= is_word(s, i)
      if at ~= neg then return k(i) end
      return false
    end
  end
  if t == "look" then
    local m, neg = build(node.node), node.neg
    local yes = function() return true end
    return function(s, i, k)
      if m(s, i, yes) ~= neg then return k(i) end
      return false
    end
  end
  if t == "rep" then
    local min, max, greedy = node.min, node.max, node.greedy
    local st = stepper(node.node)
    if st and greedy then
      -- One code point at a time: run forward as far as possible, then
      -- give back one at a time. No recursion, so long inputs are fine.
      return function(s, i, k)
        local j, count = i, 0
        while max == nil or count < max do
          local nj = st(s, j)
          if not nj then break end
          j, count = nj, count + 1
        end
        while count >= min do
          if k(j) then return true end
          if count == 0 then break end
          j, count = back(s, j), count - 1
        end
        return false
      end
    end
    local m = build(node.node)
    local function rep(s, i, count, k)
      if greedy then
        if (max == nil or count < max) and m(s, i, function(j)
              if j == i then return false end -- an empty iteration ends the loop
              return rep(s, j, count + 1, k)
            end) then
          return true
        end
        return count >= min and k(i)
      end
      if count >= min and k(i) then return true end
      if max ~= nil and count >= max then return false end
      return m(s, i, function(j)
        if j == i then return false end
        return rep(s, j, count + 1, k)
      end)
    end
    return function(s, i, k)
      if min > 0 then
        -- Empty matches may satisfy the minimum (ECMA-262 allows them there).
        return rep(s, i, 0, k) or (m(s, i, function(j) return j == i end) and k(i))
      end
      return rep(s, i, 0, k)
    end
  end
  error("crater.regex: internal error: node " .. tostring(t))
end

-- --------------------------------------------------------------------------
-- The NFA simulation (Thompson / Pike): for patterns without lookahead,
-- every position is visited once per NFA state, so the time is
-- O(length x pattern) whatever the input, where the backtracking matcher
-- can take exponential time on patterns like ^(a+)+$ (a ReDoS). A boolean
-- "does it match anywhere" needs neither captures nor the greedy/lazy
-- order, so the simulation gives ECMA-262's answer.
-- --------------------------------------------------------------------------

local CHAR, SET, SPLIT, JMP, BOL, EOL, WORDB, MATCH = 1, 2, 3, 4, 5, 6, 7, 8
local MAX_PROGRAM = 4000 -- instructions; beyond (huge {n,m} counts) backtrack instead

local function has_look(node)
  if node.t == "look" then return true end
  if node.t == "seq" then
    for _, n in ipairs(node.items) do if has_look(n) then return true end end
  elseif node.t == "alt" then
    for _, n in ipairs(node.alts) do if has_look(n) then return true end end
  elseif node.t == "group" or node.t == "rep" then
    return has_look(node.node)
  end
  return false
end

-- Compiles the tree into parallel arrays op/a/b; nil when too large.
local function program(tree)
  local op, a, b = {}, {}, {}
  local function emit(o, x, y)
    local pc = #op + 1
    if pc > MAX_PROGRAM then error("too large", 0) end
    op[pc], a[pc], b[pc] = o, x or false, y or false
    return pc
  end
  local gen
  function gen(node)
    local t = node.t
    if t == "char" then emit(CHAR, node.cp)
    elseif t == "set" then emit(SET, node.set)
    elseif t == "seq" then for _, n in ipairs(node.items) do gen(n) end
    elseif t == "group" then gen(node.node)
    elseif t == "bol" then emit(BOL)
    elseif t == "eol" then emit(EOL)
    elseif t == "wordb" then emit(WORDB, node.neg)
    elseif t == "alt" then
      local jumps = {}
      for i, n in ipairs(node.alts) do
        if i < #node.alts then
          local split = emit(SPLIT, 0, 0)
          a[split] = split + 1
          gen(n)
          jumps[#jumps + 1] = emit(JMP, 0)
          b[split] = #op + 1
        else
          gen(n)
        end
      end
      for _, j in ipairs(jumps) do a[j] = #op + 1 end
    elseif t == "rep" then
      for _ = 1, node.min do gen(node.node) end
      if node.max == nil then
        local split = emit(SPLIT, 0, 0)
        a[split] = split + 1
        gen(node.node)
        emit(JMP, split)
        b[split] = #op + 1
      else
        local splits = {}
        for _ = node.min + 1, node.max do
          local split = emit(SPLIT, 0, 0)
          a[split] = split + 1
          splits[#splits + 1] = split
          gen(node.node)
        end
        for _, sp in ipairs(splits) do b[sp] = #op + 1 end
      end
    else
      error("unsupported", 0)
    end
  end
  local ok = pcall(gen, tree)
  if not ok then return nil end
  emit(MATCH)
  return op, a, b
end

local function pike(tree)
  local op, a, b = program(tree)
  if not op then return nil end
  local nprog = #op
  -- Scratch state, reused by every call: a test never yields or recurses
  -- into another test of the same pattern.
  local mark = {}
  for pc = 1, nprog do mark[pc] = 0 end
  local clist, nlist = {}, {}
  local gen_id = 0
  local anchored = tree.t == "seq" and tree.items[1] ~= nil and tree.items[1].t == "bol"

  -- Adds pc and what it reaches without reading a code point; true on MATCH.
  local function add(list, pc, s, i)
    if mark[pc] == gen_id then return false end
    mark[pc] = gen_id
    local o = op[pc]
    if o == JMP then return add(list, a[pc], s, i) end
    if o == SPLIT then return add(list, a[pc], s, i) or add(list, b[pc], s, i) end
    if o == BOL then return i == 1 and add(list, pc + 1, s, i) end
    if o == EOL then return i == #s + 1 and add(list, pc + 1, s, i) end
    if o == WORDB then
      local at = (i > 1 and is_word(s, i - 1)) ~= is_word(s, i)
      return at ~= a[pc] and add(list, pc + 1, s, i)
    end
    if o == MATCH then return true end
    list[#list + 1] = pc
    return false
  end

  return function(s)
    local n = #s
    local i = 1
    for k = #clist, 1, -1 do clist[k] = nil end
    gen_id = gen_id + 1
    if add(clist, 1, s, 1) then return true end
    while i <= n do
      local cp, j = decode(s, i)
      gen_id = gen_id + 1
      for k = #nlist, 1, -1 do nlist[k] = nil end
      for k = 1, #clist do
        local pc = clist[k]
        local o = op[pc]
        local hit
        if o == CHAR then hit = a[pc] == cp else hit = set_has(a[pc], cp) end
        if hit and add(nlist, pc + 1, s, j) then return true end
      end
      if not anchored and add(nlist, 1, s, j) then return true end
      clist, nlist = nlist, clist
      if #clist == 0 and anchored then return false end
      i = j
    end
    return false
  end
end

local function yes() return true end

--- Compiles an ECMA-262 pattern. Raises an error naming the problem and its
--- offset for syntax this dialect does not have. The result has
--- `test(s) -> boolean` (a match anywhere in s, like RegExp.prototype.test),
--- `source`, `engine` ("bytes": generated byte comparisons, "lua": a Lua
--- pattern, "nfa": the linear-time NFA simulation, "matcher": the
--- backtracking matcher, only for lookaheads) and `lua`, the Lua pattern
--- when engine is "lua".
---@param source string
---@return { test: fun(s: string): boolean, source: string, engine: string, lua: string|nil }
function _M.compile(source, force)
  if type(source) ~= "string" then error("crater.regex.compile: string expected", 2) end
  local tree = parse(source)
  -- `force` ("nfa" or "matcher") is for the specs, to check the engines agree.
  local lp = not force and to_lua(tree) or nil
  local test = not force and to_bytes(tree) or nil -- generated byte comparisons, when possible
  local engine = "bytes"
  if test == nil and lp then
    engine = "lua"
    test = function(s) return find(s, lp) ~= nil end
  elseif test == nil and not has_look(tree) and force ~= "matcher" then
    engine, lp = "nfa", nil
    test = pike(tree)
  end
  if test == nil then
    engine, lp = "matcher", nil
    local m = build(tree)
    local anchored = tree.t == "seq" and tree.items[1] and tree.items[1].t == "bol"
    test = function(s)
      if m(s, 1, yes) then return true end
      if anchored then return false end
      local i, n = 1, #s
      while i <= n do
        local _, j = decode(s, i)
        i = j
        if m(s, i, yes) then return true end
      end
      return false
    end
  end
  return { test = test, source = source, engine = engine, lua = engine == "lua" and lp or nil }
end

return _M
