-- crater.urls: redirects, route names and url_for.
require("fake_host").install()
local crater = require "crater"

describe("crater.urls", function()
  it("builds paths from route names, percent-encoding params", function()
    local app = crater.app()
    app:get("/users/{id}", { name = "user" }, function() end)
    app:put("/users/{id}", { name = "user" }, function() end) -- one name, one path: fine
    app:get("/files/{path...}", { operationId = "file" }, function() end)
    app:get("/", { name = "home" }, function() end)
    assert.equal("/users/42", app:url_for("user", { id = 42 }))
    assert.equal("/users/a%20b%2F%C3%A9", app:url_for("user", { id = "a b/é" }))
    assert.equal("/files/a/b%3Fc/", app:url_for("file", { path = "a/b?c/" }))
    assert.equal("/files/", app:url_for("file", { path = "" }))
    assert.equal("/", app:url_for("home"))
    app:get("/café/{id}", { name = "cafe" }, function() end)
    assert.equal("/caf%C3%A9/1", app:url_for("cafe", { id = 1 }))  -- as clients send it
    assert.equal("/?a=1&b=x%26y&b=2&c=true", app:url_for("home", nil, { b = { "x&y", 2 }, a = 1, c = true }))
  end)

  it("refuses a missing, extra or empty param, an unknown name, naming the route", function()
    local app = crater.app()
    app:get("/users/{id}", { name = "user" }, function() end)
    local function err(...)
      local ok, e = pcall(function(...) local u = app:url_for(...) return u end, ...)
      assert.is_false(ok)
      return e
    end
    assert.matches('urls_spec.lua:%d+: app:url_for: route "user" %(/users/{id}%) needs param id', err("user", {}))
    assert.matches('has no param x', err("user", { id = 1, x = 2 }))
    assert.matches('param id is empty', err("user", { id = "" }))
    assert.matches('param id is a table', err("user", { id = {} }))
    assert.matches('no route is named "nope"', err("nope"))
  end)

  it("refuses one name for two paths at the route", function()
    local app = crater.app()
    app:get("/a", { name = "x" }, function() end)
    assert.has_error(function() app:get("/b", { name = "x" }, function() end) end,
      'route /b: name "x" is already the name of /a (' .. debug.getinfo(1, "S").short_src .. ":" ..
      (debug.getinfo(1, "l").currentline - 3) .. ")")
  end)

  it("redirects with a Location and a short body", function()
    local res = crater.redirect("/there")
    assert.equal(302, res.status)
    assert.equal("/there", res:get_header("Location"))
    assert.equal(303, crater.redirect("/x", 303).status)
    assert.has_error(function() crater.redirect("/x", 200) end)
    assert.has_error(function() crater.redirect("/x\r\nA: b") end)
    assert.has_error(function() crater.redirect("") end)
  end)

  it("refuses an unknown trailing_slash policy", function()
    assert.has_error(function() crater.app { trailing_slash = "strip" } end)
    assert.equal("redirect", crater.app { trailing_slash = "redirect" }._trailing_slash)
  end)
end)
