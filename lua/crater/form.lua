--- crater.form: a request's form, `req.form` and `req.files`.
--
-- An application/x-www-form-urlencoded body is parsed like a query string.
-- A multipart/form-data body was parsed by the C core as it arrived
-- (host/src/multipart.c, upload.c): its text fields come here as a flat
-- list, its files as tables, a large file's bytes in a temporary file that
-- the core removes when the request ends.

local host = require "crater.host"

local setmetatable, rawget, rawset, type, error = setmetatable, rawget, rawset, type, error
local find, lower, sub = string.find, string.lower, string.sub
local io_open, os_rename = io.open, os.rename

local _M = {}

---@class crater.UploadedFile
---@field name string the form field's name
---@field filename string the file name the client gave ("" when none)
---@field content_type string the part's Content-Type ("" when none)
---@field size integer its size in bytes
---@field data string|nil its bytes, for a file kept in memory
---@field path string|nil its temporary file, for a larger one (removed when the request ends)
local File = {}
File.__index = File

--- The file's bytes (read from its temporary file when it has one).
---@return string|nil bytes
---@return string|nil err
function File:read()
  if self.data ~= nil then return self.data end
  local f, err = io_open(self.path, "rb")
  if f == nil then return nil, err end
  local s = f:read("*a")
  f:close()
  return s
end

--- Stores the file at `dest` (a temporary file is moved there when it can
--- be, else copied). Returns true, or nil and a message.
---@param dest string
---@return true|nil ok
---@return string|nil err
function File:save(dest)
  if type(dest) ~= "string" then error("file:save(dest): dest must be a path string", 2) end
  if self.path ~= nil and os_rename(self.path, dest) then
    self.path = dest -- the core's unlink of the old name finds nothing
    return true
  end
  local out, err = io_open(dest, "wb")
  if out == nil then return nil, err end
  if self.data ~= nil then
    out:write(self.data)
  else
    local f, ferr = io_open(self.path, "rb")
    if f == nil then out:close() return nil, ferr end
    while true do
      local chunk = f:read(65536)
      if chunk == nil then break end
      out:write(chunk)
    end
    f:close()
  end
  out:close()
  return true
end

_M.File = File

local function content_type(r)
  local ct = r:header("content-type")
  if ct == nil then return nil end
  local semi = find(ct, ";", 1, true)
  if semi then ct = sub(ct, 1, semi - 1) end
  return lower((ct:gsub("%s+$", "")))
end
_M.content_type = content_type

-- The multipart body's fields and files, once per request. Field names,
-- values and file names must be UTF-8 text, as a query's are.
local function multipart(r, text)
  local fields, files = host.multipart(r._conn, r._seq)
  if fields == nil then
    if files ~= nil then error({ crater_http_error = true, status = 400, detail = files }, 0) end
    return nil
  end
  local bad_utf8, refuse = text.bad_utf8, text.refuse_utf8
  local form = {}
  for i = 1, #fields, 2 do
    local k, v = fields[i], fields[i + 1]
    local at = bad_utf8(k) or bad_utf8(v)
    if at then refuse("form field", k, at) end
    local old = form[k]
    if old == nil then form[k] = v
    elseif type(old) == "table" then old[#old + 1] = v
    else form[k] = { old, v } end
  end
  for i = 1, #files do
    local f = files[i]
    local at = bad_utf8(f.name) or bad_utf8(f.filename)
    if at then refuse("file field", f.name, at) end
    setmetatable(f, File)
  end
  rawset(r, "_files", files)
  return form
end

--- req.form: the fields of a urlencoded or multipart body (a repeated name
--- is an array of its values in order), else an empty table. Raises a 400
--- (answered as problem+json) for a multipart body without a boundary.
--- Raises a 400 too for a field name or value, or a file name, that is not
--- UTF-8 text (once percent-decoded).
---@param r table the request
---@param text table crater.request: parse_query, bad_utf8, refuse_utf8
---@return table<string, string|string[]>
function _M.fields(r, text)
  local form = multipart(r, text)
  if form ~= nil then return form end
  if content_type(r) == "application/x-www-form-urlencoded" then
    local t, bad, at = text.parse_query(r.body)
    if bad then text.refuse_utf8("form field", bad, at) end
    return t
  end
  return {}
end

--- req.files: a multipart body's files in the body's order, else an empty
--- table.
---@param r table the request
---@param text table crater.request (see fields)
---@return crater.UploadedFile[]
function _M.files(r, text)
  local files = rawget(r, "_files")
  if files == nil and rawget(r, "form") == nil then
    rawset(r, "form", _M.fields(r, text))
    files = rawget(r, "_files")
  end
  return files or {}
end

return _M
