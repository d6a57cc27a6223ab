-- crater.schema's formats against the official JSON-Schema-Test-Suite
-- (draft 2020-12): format.json (formats are annotations unless asserted),
-- optional/float-overflow.json, and every optional/format/*.json file, the
-- latter with `assert_formats = true`; every case in both error modes.
--
-- The files live outside the repository, in
-- ../shared/conformance/json-schema/draft2020-12-extra next to the clone, or
-- in $CRATER_JSON_SCHEMA_SUITE (the suite's own tests/draft2020-12, which
-- holds the same files in the same layout). Missing files are reported on
-- stderr and the cases marked pending; CRATER_REQUIRE_CONFORMANCE=1 makes
-- that a failure.
local schema = require "crater.schema"
local json = require "crater.json"

-- Cases we do not run, by "file: group: case", each with the reason (also
-- listed in docs/schemas.md, "Formats").
local EXCLUDED = {
  -- `format: regex` accepts what `pattern` can run: crater.regex has no
  -- backreferences and no lookbehind (docs/schemas.md, "Regular expressions").
  ["optional/format/ecmascript-regex: ECMA 262 named groups and backreferences are valid: "
    .. "an ECMA 262 named backreference \\k<name>"] = "no backreferences in crater.regex",
  ["optional/format/ecmascript-regex: ECMA 262 lookbehind is valid, including variable width: "
    .. "a variable-width lookbehind (ES2018)"] = "no lookbehind in crater.regex",
}

local suite = require "suite_case"
local read, list_json = suite.read, suite.list_json

local function suite_dir()
  local env = os.getenv("CRATER_JSON_SCHEMA_SUITE")
  if env and env ~= "" then
    -- The suite's own layout has format.json beside the other files; the
    -- shared copy keeps it in a sibling "-extra" folder.
    if read(env .. "/format.json") == nil and read(env .. "-extra/format.json") then return env .. "-extra" end
    return env
  end
  return suite.repo_root() .. "/../shared/conformance/json-schema/draft2020-12-extra"
end

local dir = suite_dir()
-- Each file with the compile options its cases assume.
local FILES = {
  { "format.json", {} },
  { "optional/float-overflow.json", {} },
}
for _, f in ipairs(list_json(dir .. "/optional/format") or {}) do
  FILES[#FILES + 1] = { "optional/format/" .. f, { assert_formats = true } }
end

local function with(opts, extra)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  for k, v in pairs(extra) do o[k] = v end
  return o
end

describe("JSON Schema formats (draft 2020-12 suite)", function()
  local missing = "no format suite files in " .. dir ..
    "; set CRATER_JSON_SCHEMA_SUITE to the suite's tests/draft2020-12 directory"
  if read(dir .. "/format.json") == nil then
    if os.getenv("CRATER_REQUIRE_CONFORMANCE") ~= "1" then
      io.stderr:write("WARNING: JSON Schema format suite NOT RUN: ", missing, "\n")
      pending("format suite not run: " .. missing)
      return
    end
    it("finds the test suite", function() error(missing, 0) end)
    return
  end

  local excluded_seen = 0
  for _, entry in ipairs(FILES) do
    local file, opts = entry[1], entry[2]
    local groups, err = json.decode(read(dir .. "/" .. file) or "")
    describe(file, function()
      it("decodes", function() assert(groups, err) end)
      for _, g in ipairs(groups or {}) do
        local ok_compile, validate = pcall(schema.compile, g.schema, opts)
        local ok_fast, validate_fast = pcall(schema.compile, g.schema, with(opts, { all_errors = false }))
        for _, case in ipairs(g.tests) do
          local name = file:gsub("%.json$", "") .. ": " .. g.description .. ": " .. case.description
          if EXCLUDED[name] then
            excluded_seen = excluded_seen + 1
          else
            it(g.description .. ": " .. case.description, function()
              suite.check(name, g, case, ok_compile, validate, ok_fast, validate_fast)
            end)
          end
        end
      end
    end)
  end

  it("every exclusion names a real case", function()
    local n = 0
    for _ in pairs(EXCLUDED) do n = n + 1 end
    assert.are.equal(n, excluded_seen)
  end)
end)
