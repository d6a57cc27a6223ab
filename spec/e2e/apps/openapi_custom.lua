-- An app that moves and turns off docs routes, points the page at a CDN,
-- and replaces the 422 format with its own (declared for the document):
-- for spec/e2e/test_openapi.py.
local crater = require "crater"
local s = require "crater.schema"

local app = crater.app {
  title = "Custom", version = "2.0.0",
  openapi = {
    path = "/api/spec.json", docs = "/api/docs", redoc = false,
    assets = false, cdn = { swagger_ui = "https://cdn.example.test/sui" },
    info = { license = { name = "MIT", identifier = "MIT" } },
    servers = { { url = "/" } },
  },
}

local MyError = app:schema("MyError", s.object {
  code = s.string(),
  problems = s.array(s.object { where = s.string(), what = s.string() }),
})

app:error(422, function(_, err)
  local problems = crater.json.array()
  for _, e in ipairs(err.errors or {}) do
    problems[#problems + 1] = { where = e["in"] .. e.pointer, what = e.message }
  end
  return 422, { code = "invalid", problems = problems }
end, { schema = MyError, content_type = "application/json", description = "Invalid input" })

app:get("/redoc", function() return "the app's own /redoc" end)

app:get("/n/{n}", { params = { n = s.integer() }, summary = "Echo a number" },
  function(req) return { n = req.params.n } end)

app:get("/files/{path...}", { operationId = "getFile" }, function(req) return req.params.path end)

return app
