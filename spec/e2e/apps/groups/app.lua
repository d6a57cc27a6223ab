-- Route groups (test_groups.py): hooks order, error handlers, nesting,
-- a blueprint mounted from another module, deadlines, tags.
local crater = require "crater"
local app = crater.app { title = "Groups" }

app:before(function(req) req.trail = "app>" end)
app:after(function(req, res) res:header("X-After", "app") end)
app:error(404, function(req, err) return 404, { app_404 = err.detail } end)
app:error(500, function(req, err) return 500, { app_500 = true } end)

local v1 = app:group("/v1", {
  tags = { "v1" },
  before = function(req) req.trail = req.trail .. "v1>" end,
  after = { function(req, res) res:header("X-After", "v1") end },
})
v1:get("/items", { tags = { "items" } }, function(req) return { trail = req.trail } end)
v1:get("", function(req) return { root = true } end)
v1:get("/missing", function(req) crater.abort(404, "no such item") end)
v1:get("/boom", function(req) error("kaboom") end)
v1:error(404, function(req, err) return 404, { v1_404 = err.detail } end)

local admin = v1:group("/admin", {
  tags = { "admin" },
  deadline = 0.2,
  before = function(req)
    if req.query.deny then return 403, { denied = true } end
    req.trail = req.trail .. "admin>"
  end,
  after = function(req, res) res:header("X-After", "admin") end,
})
admin:get("/stats", function(req) return { trail = req.trail } end)
admin:get("/missing", function(req) crater.abort(404, "no stats") end)
admin:get("/slow", function(req) crater.sleep(2); return "late" end)

app:mount("/users", require "users")
app:get("/plain", function(req) return { trail = req.trail } end)
return app
