-- spec/e2e/test_cookies.py: req.cookies, res:set_cookie, res:delete_cookie.
local crater = require "crater"
local app = crater.app { title = "cookies" }

app:get("/cookies", function(req) return req.cookies end)

app:get("/cookie/{name}", function(req)
  return { value = req.cookies[req.params.name] or crater.json.null }
end)

app:post("/login", function(req)
  local res = crater.response({ ok = true })
  res:set_cookie("sid", "abc123", { path = "/", http_only = true, same_site = "Lax", max_age = 3600,
                                    expires = 784111777 })
  res:set_cookie("theme", '"dark"', { path = "/", secure = true, same_site = "None", partitioned = true,
                                      priority = "High", domain = "example.com" })
  return res
end)

app:post("/logout", function(req)
  return crater.response(nil, 204):delete_cookie("sid", { path = "/" })
end)

-- Each refused cookie is the handler's error: a 500, logged naming the cookie.
app:get("/bad/{what}", function(req)
  local res = crater.response("x")
  local w = req.params.what
  if w == "space" then res:set_cookie("sid", "a b")
  elseif w == "samesite" then res:set_cookie("sid", "v", { same_site = "None" })
  elseif w == "crlf" then res:set_cookie("sid", "v", { path = "/\r\nX-Evil: 1" })
  elseif w == "option" then res:set_cookie("sid", "v", { maxage = 1 }) end
  return res
end)

return app
