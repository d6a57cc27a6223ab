--- crater.cli_validate: `crater validate --schema SCHEMA.json DATA.json...`
--- and `crater validate --emit SCHEMA.json`
--
-- Runs inside the crater binary (host/src/cli_validate.c), which gives it
-- crater.json and calls main(args). Validates each data file against one
-- JSON Schema, prints what is wrong with each, and returns the exit
-- status: 0 all valid, 1 any invalid, 2 a bad schema, unreadable file or
-- malformed JSON (which wins over 1). With --emit it prints the Lua code
-- the schema compiles to instead (status 0, or 2 for a bad schema).
-- Described in docs/schemas.md.

local json = require "crater.json"
local schema = require "crater.schema"
local uri = require "crater.schema.uri"
local urls = require "crater.urls"

local io, ipairs, pcall, tostring, concat = io, ipairs, pcall, tostring, table.concat

local _M = { version = "0.1.0" }

local USAGE = [[
usage: crater validate --schema SCHEMA.json [options] DATA.json...
       crater validate --emit SCHEMA.json [--coerce] [--defaults]

Validates each DATA file against the JSON Schema (draft 2020-12) in SCHEMA.
Exit status: 0 all valid, 1 any invalid, 2 bad schema, unreadable file or
malformed JSON.

options:
  --schema FILE   the JSON Schema (required); its $refs to other files are
                  read relative to the file that has them. Or a URI the
                  registry knows: https://json-schema.org/draft/2020-12/schema
                  checks schemas against the draft 2020-12 meta-schema
  --ref FILE      another schema document, known by its $id (repeatable)
  --emit FILE     print the Lua code the schema in FILE compiles to, and
                  validate nothing
  --coerce        convert strings to the declared types first (as for query strings)
  --defaults      fill in defaults, and print each valid document with them
  --json          one JSON object per file: {"file", "valid", "errors"}
  -q, --quiet     print only errors
  --annotate-formats
                  treat `format` as an annotation (the spec's default)
                  instead of checking it
]]

local function read_json(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("*a")
  f:close()
  local v, derr = json.decode(text)
  if v == nil then return nil, path .. ": " .. derr end
  return v
end

-- The file: URI of a file on disk (absolute, symlinks resolved), or nil.
local function file_uri(path)
  local dir = urls.root_of(path)
  if dir == nil then return nil end
  return "file://" .. (dir == "/" and "" or dir) .. "/" .. path:match("([^/]*)$")
end

-- compile's resolve: a file: URI is read from disk (a $ref "common.json"
-- in /s/main.json is file:///s/common.json). Nothing else is looked up.
local function read_file_uri(u)
  local path = u:match("^file://(/.*)$")
  if path == nil then return nil end
  local doc, err = read_json(uri.unescape(path))
  if doc == nil and io.open(uri.unescape(path), "rb") then
    error({ crater_schema_error = true, message = err }, 0)
  end
  return doc
end

--- Runs the command; `args` are the words after `validate`. `out` and
--- `err` are writers (default io.stdout / io.stderr). Returns the exit status.
---@param args string[]
---@param out? file*
---@param errout? file*
---@return integer
function _M.main(args, out, errout)
  out, errout = out or io.stdout, errout or io.stderr
  local schema_path, files = nil, {}
  local opts = { coerce = false, defaults = false, assert_formats = true }
  local as_json, quiet, emit = false, false, false
  local refs = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local flag, value = a:match("^(%-%-%a+)=(.*)$")
    if a == "--schema" or a == "-s" or a == "--emit" then
      schema_path = args[i + 1]
      if schema_path == nil then
        errout:write("crater validate: " .. a .. " needs a file\n")
        return 2
      end
      emit = emit or a == "--emit"
      i = i + 1
    elseif flag == "--schema" or flag == "--emit" then
      schema_path = value
      emit = emit or flag == "--emit"
    elseif a == "--ref" or flag == "--ref" then
      local r = value or args[i + 1]
      if r == nil then
        errout:write("crater validate: --ref needs a file\n")
        return 2
      end
      refs[#refs + 1] = r
      if value == nil then i = i + 1 end
    elseif a == "--coerce" then opts.coerce = true
    elseif a == "--defaults" then opts.defaults = true
    elseif a == "--annotate-formats" then opts.assert_formats = false
    elseif a == "--json" then as_json = true
    elseif a == "-q" or a == "--quiet" then quiet = true
    elseif a == "-h" or a == "--help" then
      out:write(USAGE)
      return 0
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      errout:write("crater validate: unknown option " .. a .. " (see crater validate --help)\n")
      return 2
    else
      files[#files + 1] = a
    end
    i = i + 1
  end
  if emit and #files > 0 then
    errout:write("crater validate: --emit prints the schema's code and validates no file\n")
    return 2
  end
  if schema_path == nil or (#files == 0 and not emit) then
    errout:write(USAGE)
    return 2
  end

  local reg = schema.registry({ resolve = read_file_uri })
  for _, r in ipairs(refs) do
    local doc, rerr = read_json(r)
    if doc == nil then
      errout:write("crater validate: " .. rerr .. "\n")
      return 2
    end
    local name = type(doc) == "table" and type(doc["$id"]) == "string" and doc["$id"] or file_uri(r)
    reg:register(doc, name)
  end
  opts.registry = reg
  local s, err
  local f = io.open(schema_path, "rb")
  if f == nil and schema_path:match("^%a[%w+.-]*:") then
    -- A URI: a document the registry knows (the meta-schema, a --ref).
    s = reg:get((uri.split(schema_path)))
    if s == nil then err = schema_path .. ": no such file, and no schema known by that URI" end
    opts.base = schema_path
  else
    if f then f:close() end
    s, err = read_json(schema_path)
    opts.base = file_uri(schema_path)
  end
  if s == nil then
    errout:write("crater validate: " .. err .. "\n")
    return 2
  end
  local ok, validate = pcall(emit and schema.source or schema.compile, s, opts)
  if not ok then
    errout:write("crater validate: " .. schema_path .. ": "
      .. tostring(validate):gsub("^crater%.schema%.%a+: ", "") .. "\n")
    return 2
  end
  if emit then
    out:write(validate)
    return 0
  end

  local status = 0
  for _, path in ipairs(files) do
    local data, derr = read_json(path)
    if data == nil then
      out:flush()
      errout:write("crater validate: " .. derr .. "\n")
      status = 2
    else
      local valid, errors, value = validate(data)
      if as_json then
        out:write(json.encode({ file = path, valid = valid, errors = errors or json.array() }), "\n")
      elseif valid then
        if not quiet then out:write(path, ": valid\n") end
        if opts.defaults then out:write(json.encode(value), "\n") end
      else
        local lines = { path .. ": invalid" }
        for _, e in ipairs(errors) do
          lines[#lines + 1] = "  " .. (e.pointer == "" and "(root)" or e.pointer) .. ": " .. e.message
            .. " (" .. e.keyword .. ")"
        end
        out:write(concat(lines, "\n"), "\n")
      end
      if not valid and status == 0 then status = 1 end
    end
  end
  return status
end

return _M
