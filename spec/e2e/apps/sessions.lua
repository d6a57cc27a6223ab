-- spec/e2e/test_sessions.py: signed-cookie sessions, and the same app with
-- its sessions in Redis when REDIS_URL is set (the store of
-- docs/cookies-and-sessions.md).
local crater = require "crater"
local app = crater.app { title = "sessions" }

local store
if os.getenv("REDIS_URL") then
  local r = assert(crater.redis.connect(os.getenv("REDIS_URL")))
  store = {
    get = function(id)
      local v = assert(r:get("session:" .. id))
      if v ~= crater.json.null then return v end
    end,
    set = function(id, data, max_age) assert(r:set("session:" .. id, data, "EX", max_age)) end,
    delete = function(id) assert(r:del("session:" .. id)) end,
  }
end

app:sessions {
  -- rotation: the newest first; cookies signed with the older one still read
  secrets = { os.getenv("NEW_SECRET") or ("n"):rep(32), ("o"):rep(32) },
  max_age = tonumber(os.getenv("SESSION_MAX_AGE")) or 3600,
  store = store,
}

app:get("/me", function(req) return req.session end)

app:post("/login/{user}", function(req)
  req.session.user = req.params.user
  req.session.cart = { "apple" }
  return { ok = true }
end)

app:post("/cart/{item}", function(req)
  local cart = req.session.cart or {}
  cart[#cart + 1] = req.params.item -- a nested change is seen too
  req.session.cart = cart
  return req.session.cart
end)

app:post("/logout", function(req)
  req.session = nil
  return 204
end)

app:post("/clear", function(req)
  for k in pairs(req.session) do req.session[k] = nil end
  return 204
end)

app:post("/replace", function(req)
  req.session = { user = "fresh" }
  return 204
end)

app:post("/big", function(req)
  req.session.blob = ("x"):rep(4000)
  return 200
end)

app:get("/untouched", function() return "no session read" end)

return app
