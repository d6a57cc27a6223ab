-- What the JSON-Schema-Test-Suite runners share (schema_conformance_spec,
-- schema_format_suite_spec): finding and reading the suite's files, and
-- the checks of one case in both error modes. Plain errors, no luassert:
-- this is a module, not a spec.
local json = require "crater.json"

local M = {}

--- The repository: two folders above this file.
function M.repo_root()
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  local dir = src:match("^(.*)/spec/lua/[^/]+$")
  if dir == nil or dir == "" then dir = "." end
  return dir
end

--- A file's bytes, or nil when it cannot be read.
function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

--- The *.json names in `dir`, sorted, or nil when there are none.
function M.list_json(dir)
  local files = {}
  local p = io.popen('ls "' .. dir .. '" 2>/dev/null')
  for f in p:lines() do
    if f:match("%.json$") then files[#files + 1] = f end
  end
  p:close()
  if #files == 0 then return nil end
  table.sort(files)
  return files
end

--- One case: the verdict with every error and with the first error only
--- (one error, except that a failing anyOf/oneOf also lists its branches'
--- first errors before its own, as ajv does).
---@param name string "file: group: case", for the messages
function M.check(name, g, case, ok_compile, validate, ok_fast, validate_fast)
  if not ok_compile then error("schema does not compile: " .. tostring(validate), 0) end
  local ok, errors = validate(case.data)
  if ok ~= case.valid then
    error(("%s\n  expected %s, got %s\n  schema: %s\n  data: %s\n  errors: %s"):format(name,
      case.valid and "valid" or "invalid", ok and "valid" or "invalid",
      json.encode(g.schema), json.encode(case.data), errors and json.encode(errors) or "none"), 0)
  end
  if ok ~= (errors == nil) then error(name .. ": errors do not agree with the verdict", 0) end
  if not ok_fast then error("schema does not compile with all_errors = false: " .. tostring(validate_fast), 0) end
  local okf, errf = validate_fast(case.data)
  if okf ~= case.valid then error(name .. ": all_errors = false gives the other verdict", 0) end
  if not okf then
    local last = errf[#errf].keyword
    if not (#errf == 1 or last == "anyOf" or last == "oneOf") then
      error(name .. ": all_errors = false returned " .. json.encode(errf), 0)
    end
  end
end

return M
