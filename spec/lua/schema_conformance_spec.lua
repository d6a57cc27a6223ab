-- crater.schema against the official JSON-Schema-Test-Suite (draft 2020-12):
-- every case of every file in the suite directory must pass.
--
-- The suite lives outside the repository, in ../shared/conformance/ next to
-- the clone (or wherever $CRATER_JSON_SCHEMA_SUITE says; /work/shared is
-- tried last). If it cannot be found, the run says so on stderr and marks
-- the cases pending; CRATER_REQUIRE_CONFORMANCE=1 makes that a failure.
local schema = require "crater.schema"
local json = require "crater.json"

-- Cases we do not run, by "file: group: case", each with the reason.
local EXCLUDED = {
}

local function repo_root()
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  local dir = src:match("^(.*)/spec/lua/[^/]+$")
  if dir == nil or dir == "" then dir = "." end
  return dir
end

local function suite_dir()
  local env = os.getenv("CRATER_JSON_SCHEMA_SUITE")
  if env and env ~= "" then return env, "$CRATER_JSON_SCHEMA_SUITE" end
  local rel = "/shared/conformance/json-schema/draft2020-12"
  local candidates = { repo_root() .. "/.." .. rel, "/work" .. rel }
  for _, d in ipairs(candidates) do
    local f = io.open(d .. "/type.json", "rb")
    if f then f:close(); return d, d end
  end
  return candidates[1], "<repo>/../shared/conformance or /work/shared/conformance"
end

local function list_json(dir)
  local files = {}
  local ok, lfs = pcall(require, "lfs")
  if ok then
    local ok2, iter, st = pcall(lfs.dir, dir)
    if not ok2 then return nil end
    for f in iter, st do
      if f:match("%.json$") then files[#files + 1] = f end
    end
  else
    local p = io.popen('ls "' .. dir .. '" 2>/dev/null')
    for f in p:lines() do
      if f:match("%.json$") then files[#files + 1] = f end
    end
    p:close()
    if #files == 0 then return nil end
  end
  table.sort(files)
  return files
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

describe("JSON Schema conformance (draft 2020-12)", function()
  local dir, from = suite_dir()
  local files = list_json(dir)

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
    local groups, err = json.decode(read(dir .. "/" .. file))
    describe(file, function()
      it("decodes", function() assert(groups, err) end)
      for _, g in ipairs(groups or {}) do
        local ok_compile, validate = pcall(schema.compile, g.schema)
        -- The same verdicts in first-error mode, which generates other code.
        local ok_fast, validate_fast = pcall(schema.compile, g.schema, { all_errors = false })
        for _, case in ipairs(g.tests) do
          local name = file:gsub("%.json$", "") .. ": " .. g.description .. ": " .. case.description
          total = total + 1
          if EXCLUDED[name] then
            excluded_seen = excluded_seen + 1
          else
            it(g.description .. ": " .. case.description, function()
              assert(ok_compile, "schema does not compile: " .. tostring(validate))
              local ok, errors = validate(case.data)
              if ok ~= case.valid then
                error(("%s\n  expected %s, got %s\n  schema: %s\n  data: %s\n  errors: %s"):format(name,
                  case.valid and "valid" or "invalid", ok and "valid" or "invalid",
                  json.encode(g.schema), json.encode(case.data), errors and json.encode(errors) or "none"), 0)
              end
              assert.are.equal(ok, errors == nil)
              assert(ok_fast, "schema does not compile with all_errors = false: " .. tostring(validate_fast))
              local okf, errf = validate_fast(case.data)
              assert(okf == case.valid, name .. ": all_errors = false gives the other verdict")
              if not okf then
                -- One error, except that a failing anyOf/oneOf also lists its
                -- branches' first errors before its own (as ajv does).
                local last = errf[#errf].keyword
                assert(#errf == 1 or last == "anyOf" or last == "oneOf",
                  name .. ": all_errors = false returned " .. json.encode(errf))
              end
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
