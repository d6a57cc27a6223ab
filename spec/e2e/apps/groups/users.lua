-- A blueprint built without the app (test_groups.py): app.lua mounts it.
local crater = require "crater"

local users = crater.group { tags = { { name = "users", description = "The people" } } }

users:before(function(req) req.trail = req.trail .. "users>" end)

users:get("", function(req) return { users = { "ann" }, trail = req.trail } end)

users:get("/{id}", function(req)
  if req.params.id == "0" then crater.abort(404, "no user 0") end
  return { id = req.params.id, trail = req.trail }
end)

users:error(404, function(req, err) return 404, { users_404 = err.detail } end)

local admin = users:group("/admin", { before = function(req) req.trail = req.trail .. "uadmin>" end })
admin:get("/audit", function(req) return { trail = req.trail } end)

return users
