--- crater.form_schema: a route's `form` option, for crater.route_schema
--- (checking requests) and crater.openapi (describing them).
--
-- A form's values arrive as strings, so its schema is compiled with the
-- query's coercion (integer, number, boolean, a lone value as an array).
-- A property that describes a file (s.string{ format = "binary" }, or one
-- with contentMediaType, or an array of such) is no part of req.form: the
-- file is in req.files, and only its presence is checked.

local json = require "crater.json"

local type, pairs, ipairs, setmetatable = type, pairs, ipairs, setmetatable
local find, gsub, lower, match = string.find, string.gsub, string.lower, string.match
local array_mt = json.array_mt

local _M = {}

_M.URLENCODED = "application/x-www-form-urlencoded"
_M.MULTIPART = "multipart/form-data"

--- Whether a form property's schema describes an uploaded file.
---@param s any
---@return boolean
function _M.is_file(s)
  if type(s) ~= "table" then return false end
  if s.type == "array" and type(s.items) == "table" then s = s.items end
  return s.format == "binary" or s.contentMediaType ~= nil
end

--- The form's object schema split in two: the schema of req.form (the
--- file properties taken out), and the file properties, name -> required
--- (nil when it has none).
---@param form table an object schema
---@return table fields
---@return table<string, boolean>|nil files
function _M.split(form)
  if type(form) ~= "table" or type(form.properties) ~= "table" then return form, nil end
  local files, props = nil, {}
  for name, s in pairs(form.properties) do
    if _M.is_file(s) then
      files = files or {}
      files[name] = false
    else
      props[name] = s
    end
  end
  if files == nil then return form, nil end
  local fields = {}
  for k, v in pairs(form) do fields[k] = v end
  fields.properties = props
  fields.required = nil
  if type(form.required) == "table" then
    local required = setmetatable({}, array_mt)
    for _, n in ipairs(form.required) do
      if files[n] ~= nil then files[n] = true else required[#required + 1] = n end
    end
    if #required > 0 then fields.required = required end
  end
  return fields, files
end

--- The detail of a 415 when the request's Content-Type is no form's,
--- else nil.
---@param ctype string|nil the Content-Type field
---@param files_only boolean the form declares files: multipart only
---@return string|nil
function _M.wrong_type(ctype, files_only)
  local mt = ctype and lower(match(ctype, "^%s*([^;%s]+)") or "") or nil
  if mt == _M.MULTIPART or (mt == _M.URLENCODED and not files_only) then return nil end
  local want = files_only and "a multipart/form-data body"
    or "an application/x-www-form-urlencoded or multipart/form-data body"
  if ctype == nil then return "expected " .. want .. " (no Content-Type given)" end
  return "expected " .. want .. ", got " .. ctype
end

-- RFC 6901: "~" and "/" in a name.
local function pointer(name)
  if find(name, "[~/]") then name = gsub(gsub(name, "~", "~0"), "/", "~1") end
  return "/" .. name
end

--- The errors of the required files that did not come, as validator
--- records (nil when none is missing).
---@param files_spec table<string, boolean>
---@param files crater.UploadedFile[] req.files
---@return table|nil
function _M.missing(files_spec, files)
  local have, errs = {}, nil
  for i = 1, #files do have[files[i].name] = true end
  for name, required in pairs(files_spec) do
    if required and not have[name] then
      errs = errs or {}
      errs[#errs + 1] = { pointer = pointer(name), keyword = "required",
                          message = "a file is required (multipart/form-data part '" .. name .. "')" }
    end
  end
  return errs
end

return _M
