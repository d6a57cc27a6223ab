--- crater.schema.writer: a buffer of generated Lua source, one statement a
--- line, indented by block.
--
-- The compiler and the shaper write their code through it so what
-- `crater validate --emit` prints reads like code written by hand:
-- indentation follows the blocks, comments cannot break out of their line,
-- and an `else` with nothing in it is never written. Indentation and
-- comments cost nothing when the code runs.

local setmetatable, format, gsub, byte, rep, concat =
  setmetatable, string.format, string.gsub, string.byte, string.rep, table.concat

local _M = { version = "0.2.0" }

local ESCAPES = { ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t", ['"'] = '\\"', ["\\"] = "\\\\" }
local function escape(c) return ESCAPES[c] or format("\\%03d", byte(c)) end

--- A Lua string literal for `s` that stays on one line (control bytes are
--- escaped; UTF-8 is kept as it is, readable).
---@param s string
---@return string
function _M.quote(s)
  return '"' .. gsub(s, '[%c"\\]', escape) .. '"'
end

---@class crater.schema.writer
---@field depth integer current block depth
---@field size integer statements written (comments and block ends not counted)
local Writer = {}
Writer.__index = Writer

--- A new buffer whose first line is at `depth`.
---@param depth? integer
---@return crater.schema.writer
function _M.new(depth)
  return setmetatable({ depth = depth or 0, size = 0, pending = false }, Writer)
end

local function put(w, depth, s)
  w[#w + 1] = depth > 0 and rep("  ", depth) .. s or s
end

-- A pending `else` is written once something goes in its block.
local function flush(w)
  if w.pending then
    w.pending = false
    put(w, w.depth - 1, "else")
  end
end

--- A statement, and a comment after it on its line when `note` is given
--- (escaped as comment() does).
---@param s string
---@param note? string
function Writer:line(s, note)
  flush(self)
  self.size = self.size + 1
  put(self, self.depth, note and s .. " -- " .. gsub(note, "%c", escape) or s)
end

--- A line that opens a block (`if ... then`, `do`, `for ... do`, `function`).
---@param s string
function Writer:open(s)
  self:line(s)
  self.depth = self.depth + 1
end

--- `else` of the open `if` block: written only if the block gets a line.
function Writer:otherwise()
  flush(self)
  self.pending = true
end

--- `elseif cond then` of the open `if` block.
---@param cond string
function Writer:elseif_(cond)
  flush(self)
  self.size = self.size + 1
  put(self, self.depth - 1, "elseif " .. cond .. " then")
end

--- Closes the open block with `end` (or `s`, e.g. "end)").
---@param s? string
function Writer:close(s)
  self.pending = false
  self.depth = self.depth - 1
  put(self, self.depth, s or "end")
end

--- A comment line. Control characters in `text` are escaped, so a schema
--- path holding a newline cannot end the comment early.
---@param text string
function Writer:comment(text)
  flush(self)
  put(self, self.depth, "-- " .. gsub(text, "%c", escape))
end

--- The source written so far.
---@return string
function Writer:text()
  return concat(self, "\n")
end

return _M
