-- crater.schema against the official JSON-Schema-Test-Suite (draft 2020-12):
-- every case of every file in the suite directory must pass, and of the
-- draft2020-12-extra/ directory beside it (its *.json and optional/*.json;
-- the format files are run by the formats' own spec).
--
-- The suite lives outside the repository, in ../shared/conformance/ next to
-- the clone (or wherever $CRATER_JSON_SCHEMA_SUITE says: the directory of
-- the 597 cases, with draft2020-12-extra/ beside it). If it cannot be
-- found, the run says so on stderr and marks the cases pending;
-- CRATER_REQUIRE_CONFORMANCE=1 makes that a failure.
--
-- The suite's remotes (http://localhost:1234/<path>) are read from
-- draft2020-12-extra/remotes/<path> by the compile option `resolve`:
-- nothing is fetched.
local schema = require "crater.schema"
local json = require "crater.json"

-- Cases we do not run, by "file: group: case", each with the reason.
local EXCLUDED = {
}

-- Extra files another spec runs (formats), by name under draft2020-12-extra/.
local NOT_HERE = { ["format.json"] = true, ["optional/float-overflow.json"] = true }

local suite = require "suite_case"
local read, list_json = suite.read, suite.list_json

local function suite_dir()
  local env = os.getenv("CRATER_JSON_SCHEMA_SUITE")
  if env and env ~= "" then return env, "$CRATER_JSON_SCHEMA_SUITE" end
  local d = suite.repo_root() .. "/../shared/conformance/json-schema/draft2020-12"
  return d, "<repo>/../shared/conformance"
end

-- The suite's remote documents, by the URI the cases use.
local function remotes(dir)
  return function(uri)
    local path = uri:match("^http://localhost:1234/(.*)$")
    if path == nil or path:find("%.%.") then return nil end
    local f = io.open(dir .. "/" .. path, "rb")
    if f == nil then return nil end
    local text = f:read("*a")
    f:close()
    return (json.decode(text))
  end
end

describe("JSON Schema conformance (draft 2020-12)", function()
  local dir, from = suite_dir()
  local files = list_json(dir)
  local extra = dir:gsub("/[^/]+$", "") .. "/draft2020-12-extra"
  local resolve = remotes(extra .. "/remotes")
  -- Each file as a path from `dir`.
  if files then
    for _, sub in ipairs({ "", "optional/" }) do
      for _, f in ipairs(list_json(extra .. "/" .. sub) or {}) do
        if not NOT_HERE[sub .. f] then files[#files + 1] = "../draft2020-12-extra/" .. sub .. f end
      end
    end
  end

  -- The suite is test data from outside the repository (never vendored into
  -- it); a checkout without ../shared next to it cannot run these cases.
  -- That is reported loudly as pending rather than failing the whole run,
  -- unless CRATER_REQUIRE_CONFORMANCE=1 says the suite must be there.
  local missing = "no JSON-Schema-Test-Suite files in " .. dir .. " (from " .. from ..
    "); set CRATER_JSON_SCHEMA_SUITE to the suite's tests/draft2020-12 directory"
  if (files == nil or #files == 0) and os.getenv("CRATER_REQUIRE_CONFORMANCE") ~= "1" then
    io.stderr:write("WARNING: JSON Schema conformance NOT RUN: ", missing, "\n")
    pending("conformance cases not run: " .. missing)
  else
    it("finds the test suite", function()
      assert(files and #files > 0, missing)
    end)
  end

  local total, excluded_seen = 0, 0
  for _, file in ipairs(files or {}) do
    local groups, err = json.decode(read(dir .. "/" .. file) or "")
    describe(file, function()
      it("decodes", function() assert(groups, err) end)
      for _, g in ipairs(groups or {}) do
        local ok_compile, validate = pcall(schema.compile, g.schema, { resolve = resolve })
        -- The same verdicts in first-error mode, which generates other code.
        local ok_fast, validate_fast = pcall(schema.compile, g.schema, { all_errors = false, resolve = resolve })
        for _, case in ipairs(g.tests) do
          local name = file:gsub("%.json$", ""):gsub("^%.%./draft2020%-12%-extra/", "extra/") .. ": "
            .. g.description .. ": " .. case.description
          total = total + 1
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
