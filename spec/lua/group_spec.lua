-- crater.group, crater.cors and crater.security against a fake `crater.host`:
-- hooks order, error handlers, blueprints, the document's tags and security,
-- CORS policies and preflights, credentials.
local host = require("fake_host").install()
local crater = require "crater"
local json = crater.json
local call = host.call
local openapi = require "crater.openapi"
local security = require "crater.security"
local cors = require "crater.cors"

local function dispatcher(app) return require("crater.app").entry(app, "spec") end

-- status and body only
local function sb(...)
  local st, body = call(...)
  return { st, body }
end

describe("crater.group", function()
  it("runs before hooks app, outer, inner; after hooks inner, outer, app", function()
    local app = crater.app()
    local seen = {}
    local function mark(s) return function() seen[#seen + 1] = s end end
    app:before(mark("app>")); app:after(mark("<app"))
    local a = app:group("/a", { before = mark("a>"), after = { mark("<a") } })
    local b = a:group("/b", { before = { mark("b>") } })
    b:after(mark("<b"))
    b:get("/x", function() seen[#seen + 1] = "x" return "ok" end)
    local st = call(dispatcher(app), "GET", "/a/b/x")
    assert.equal(200, st)
    assert.same({ "app>", "a>", "b>", "x", "<b", "<a", "<app" }, seen)
  end)

  it("tries the innermost group's error handler first, then outer, then the app's", function()
    local app = crater.app()
    app:error("*", function(req, err) return err.status, "app " .. err.status end)
    local a = app:group("/a")
    a:error(404, function(req, err) return 404, "a 404" end)
    local b = a:group("/b")
    b:error(409, function(req, err) return 409, "b 409" end)
    b:get("/404", function() crater.abort(404) end)
    b:get("/409", function() crater.abort(409) end)
    b:get("/500", function() error("x") end)
    local d = dispatcher(app)
    assert.same({ 404, "a 404" }, sb(d, "GET", "/a/b/404"))
    assert.same({ 409, "b 409" }, sb(d, "GET", "/a/b/409"))
    assert.same({ 500, "app 500" }, sb(d, "GET", "/a/b/500"))
    assert.same({ 404, "app 404" }, sb(d, "GET", "/a/none"))
  end)

  it("mounts a blueprint's instances at several prefixes, with the template's later hooks", function()
    local bp = crater.group { tags = { "bp" } }
    bp:get("/x", function(req) return req.tag or "-" end)
    local app = crater.app()
    local one = app:mount("/one", bp)
    app:mount("/two", bp)
    bp:before(function(req) req.tag = "hooked" end)
    assert.are_not.equal(bp, one)
    local d = dispatcher(app)
    assert.same({ 200, "hooked" }, sb(d, "GET", "/one/x"))
    assert.same({ 200, "hooked" }, sb(d, "GET", "/two/x"))
    assert.has_error(function() bp:get("/y", function() end) end,
      "add routes and groups to a group made by crater.group before mounting it")
  end)

  it("gives operations their groups' tags and the document the tags' descriptions", function()
    local app = crater.app()
    local v1 = app:group("/v1", { tags = { { name = "v1", description = "One" } } })
    v1:group("/in", { tags = { "in" } }):get("/x", { tags = { "mine", "v1" } }, function() end)
    local doc = openapi.document(app)
    assert.same({ "v1", "in", "mine" }, doc.paths["/v1/in/x"].get.tags)
    assert.same({ name = "v1", description = "One" }, doc.tags[1])
  end)

  it("uses the group's deadline when the route has none", function()
    local app = crater.app { deadline = 9 }
    local g = app:group("/g", { deadline = 0.5 })
    g:get("/a", function() end)
    g:get("/b", { deadline = false }, function() end)
    app:get("/c", function() end)
    dispatcher(app)
    assert.equal(500, app._routes[1].deadline_ms)
    assert.is_nil(app._routes[2].deadline_ms)
    assert.equal(9000, app._routes[3].deadline_ms)
  end)
end)

describe("crater.cors", function()
  it("refuses a wildcard with credentials and malformed origins", function()
    assert.has_error(function() cors.config { origins = "*", credentials = true } end)
    assert.has_error(function() cors.config { origins = { "https://a.example/" } } end)
    assert.has_error(function() cors.config { origins = { "https://a.example" }, methods = { "GE T" } } end)
    assert.is_table(cors.config { origins = { "https://a.example", "null" } })
  end)

  it("answers a preflight and decorates answers per the route's group", function()
    local app = crater.app()
    app:cors { origins = { "https://a.example" }, credentials = true, max_age = 5 }
    app:post("/x", function() return "x" end)
    local g = app:group("/pub")
    g:cors { origins = "*" }
    g:get("/y", function() return "y" end)
    local d = dispatcher(app)
    local pre = { "Origin", "https://a.example", "Access-Control-Request-Method", "POST" }
    local st, _, _, h = call(d, "OPTIONS", "/x", { headers = pre })
    assert.equal(204, st)
    assert.equal("https://a.example", h["access-control-allow-origin"])
    assert.equal("true", h["access-control-allow-credentials"])
    assert.equal("5", h["access-control-max-age"])
    st, _, _, h = call(d, "GET", "/pub/y", { headers = { "Origin", "https://z.example" } })
    assert.same({ 200, "*", "Origin" }, { st, h["access-control-allow-origin"], h.vary })
    st, _, _, h = call(d, "POST", "/x", { headers = { "Origin", "https://z.example" } })
    assert.same({ 200, nil, "Origin" }, { st, h["access-control-allow-origin"], h.vary })
  end)
end)

describe("crater.security", function()
  it("decodes base64 and refuses what is not", function()
    assert.equal("aladdin:opensesame", security.b64_decode("YWxhZGRpbjpvcGVuc2VzYW1l"))
    assert.equal("u:p:w", security.b64_decode("dTpwOnc="))
    assert.equal("u:p:w", security.b64_decode("dTpwOnc"))
    assert.is_nil(security.b64_decode("!!!"))
    assert.is_nil(security.b64_decode("a"))
  end)

  it("normalizes requirements to OpenAPI's form", function()
    local n = security.normalize { "a", { b = { "s" }, c = {} } }
    assert.equal('{"a":[]}', json.encode(n[1]))
    assert.same({ "s" }, n[2].b)
    assert.equal("[]", json.encode(n[2].c))
    assert.has_error(function() security.normalize { 3 } end)
    assert.has_error(function() security.normalize "a" end)
  end)

  it("checks credentials and sets req.auth, the route's requirement winning", function()
    local app = crater.app()
    app:security_scheme("k", { type = "apiKey", ["in"] = "header", name = "X-K" },
      function(req, v) return v == "good" and { who = "me" } end)
    app:security_scheme("b", { type = "http", scheme = "basic" },
      function(req, c) return c.user .. "/" .. c.password end)
    app:security { "k" }
    app:get("/x", function(req) return req.auth end)
    app:get("/basic", { security = { "b" } }, function(req) return req.auth end)
    app:get("/open", { security = {} }, function(req) return "open" end)
    local d = dispatcher(app)
    local st, body, _, h = call(d, "GET", "/x")
    assert.equal(401, st)
    assert.equal('ApiKey realm="Crater app", in="header", name="X-K"', h["www-authenticate"])
    assert.equal(401, (call(d, "GET", "/x", { headers = { "X-K", "bad" } })))
    st, body = call(d, "GET", "/x", { headers = { "X-K", "good" } })
    assert.same({ 200, { who = "me" } }, { st, json.decode(body) })
    st, body = call(d, "GET", "/basic", { headers = { "Authorization", "Basic dTpwOnc=" } })
    assert.same({ 200, "u/p:w" }, { st, body })
    assert.equal(200, (call(d, "GET", "/open")))
  end)

  it("checks nothing when an alternative holds only documented schemes", function()
    local app = crater.app()
    app:security_scheme("k", { type = "apiKey", ["in"] = "header", name = "X-K" }, function() return true end)
    app:security_scheme("m", { type = "mutualTLS" }, false)
    app:get("/either", { security = { "k", "m" } }, function() return "in" end)
    app:get("/both", { security = { { k = {}, m = {} } } }, function() return "in" end)
    local d = dispatcher(app)
    assert.same({ 200, "in" }, sb(d, "GET", "/either"))
    assert.equal(401, (call(d, "GET", "/both")))
    assert.same({ 200, "in" }, sb(d, "GET", "/both", { headers = { "X-K", "x" } }))
  end)

  it("refuses an undeclared scheme when the app is loaded", function()
    local app = crater.app()
    app:get("/x", { security = { "nope" } }, function() end)
    assert.has_error(function() dispatcher(app) end)
  end)
end)
