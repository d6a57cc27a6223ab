-- crater.router: templates, matching, precedence and backtracking, 404/405
-- with Allow, HEAD fallback, catch-all, percent-decoding, errors, and a
-- 1,000-route correctness check.
local router = require "crater.router"

-- Matches and returns the three results as one table, for assert.same.
local function m(r, method, path)
  local value, params, allow = r:match(method, path)
  return { value, params, allow }
end

-- The error message of a failing call, without the "file:line: " prefix.
local function err_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return (tostring(err):gsub("^[^:]*:%d+: ", ""))
end

describe("crater.router", function()
  it("is a module with a version", function()
    assert.is_string(router.version)
    assert.is_function(router.new)
  end)

  describe("static routes", function()
    local r
    before_each(function()
      r = router.new()
      r:add("GET", "/", "root")
      r:add("GET", "/users", "users")
      r:add("GET", "/users/", "users-slash")
      r:add("POST", "/users", "create")
      r:add("GET", "/a/b/c", "abc")
    end)

    it("match exactly, with nil params", function()
      assert.same({ "root" }, m(r, "GET", "/"))
      assert.same({ "users" }, m(r, "GET", "/users"))
      assert.same({ "create" }, m(r, "POST", "/users"))
      assert.same({ "abc" }, m(r, "GET", "/a/b/c"))
      local value, params = r:match("GET", "/users")
      assert.equal("users", value)
      assert.is_nil(params)
    end)

    it("treat a trailing slash as significant (match (/users vs /users/))", function()
      assert.same({ "users-slash" }, m(r, "GET", "/users/"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/a/b/c/"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/a/b"))
    end)

    it("are case-sensitive", function()
      assert.same({ nil, "not_found" }, m(r, "GET", "/Users"))
    end)

    it("answer not_found for paths that are not absolute", function()
      assert.same({ nil, "not_found" }, m(r, "GET", ""))
      assert.same({ nil, "not_found" }, m(r, "GET", "users"))
      assert.same({ nil, "not_found" }, m(r, "GET", "*"))
      assert.same({ nil, "not_found" }, m(r, "GET", "http://x/users"))
    end)

    it("compare literal segments in one canonical spelling (RFC 3986 6.2.2)", function()
      r:add("GET", "/caf%C3%A9", "cafe")
      assert.same({ "cafe" }, m(r, "GET", "/caf%C3%A9"))
      assert.same({ "cafe" }, m(r, "GET", "/caf%c3%a9"))   -- either case of hex digits
      assert.same({ "cafe" }, m(r, "GET", "/caf%c3%A9"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/caf%C3%A8"))
      r:add("GET", "/%7Euser", "tilde")                       -- an unreserved character's escape
      assert.same({ "tilde" }, m(r, "GET", "/~user"))
      assert.same({ "tilde" }, m(r, "GET", "/%7euser"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/a%2Fb")) -- %2F stays an escaped byte
    end)

    it("match non-ASCII literal segments as clients send them: percent-encoded", function()
      r:add("GET", "/café", "cafe")
      r:add("GET", "/ünï/{id}", "uni")
      assert.same({ "cafe" }, m(r, "GET", "/caf%C3%A9"))
      assert.same({ "cafe" }, m(r, "GET", "/caf%c3%a9"))
      assert.same({ "uni", { id = "é" } }, m(r, "GET", "/%c3%bcn%C3%AF/%C3%A9"))
      assert.same({ "uni", { id = "3" } }, m(r, "GET", "/%C3%BCn%C3%AF/3"))
      assert.equal("GET, HEAD, OPTIONS", r:allowed("/caf%c3%a9"))
      -- the same route spelled twice is one route
      assert.has_error(function() r:add("GET", "/caf%c3%a9", "again") end,
        "route GET /caf%c3%a9 is already defined")
    end)
  end)

  describe("parameters", function()
    local r
    before_each(function()
      r = router.new()
      r:add("GET", "/users/{id}", "user")
      r:add("GET", "/users/{id}/posts/{post_id}", "post")
      r:add("GET", "/{a}/{b}/{c}/{d}/{e}", "five")
      r:add("GET", "/_/{end}", "keyword")
    end)

    it("capture one whole segment", function()
      assert.same({ "user", { id = "42" } }, m(r, "GET", "/users/42"))
      assert.same({ "post", { id = "7", post_id = "x-1" } }, m(r, "GET", "/users/7/posts/x-1"))
      assert.same({ "five", { a = "1", b = "2", c = "3", d = "4", e = "5" } }, m(r, "GET", "/1/2/3/4/5"))
    end)

    it("accept any valid name, Lua keywords included", function()
      assert.same({ "keyword", { ["end"] = "x" } }, m(r, "GET", "/_/x"))
    end)

    it("never match an empty segment", function()
      assert.same({ nil, "not_found" }, m(r, "GET", "/users/"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/users//posts/1"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/1//3/4/5"))
    end)

    it("do not match fewer or more segments", function()
      assert.same({ nil, "not_found" }, m(r, "GET", "/users"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/users/1/posts"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/users/1/posts/2/x/y"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/users/1/"))
    end)

    it("are percent-decoded", function()
      assert.same({ "user", { id = "a b" } }, m(r, "GET", "/users/a%20b"))
      assert.same({ "user", { id = "caf\195\169" } }, m(r, "GET", "/users/caf%C3%A9"))
      assert.same({ "post", { id = "1", post_id = "x y" } }, m(r, "GET", "/users/1/posts/x%20y"))
    end)

    it("decode %2F to / without splitting the segment", function()
      assert.same({ "user", { id = "a/b" } }, m(r, "GET", "/users/a%2Fb"))
      assert.same({ "user", { id = "a/b" } }, m(r, "GET", "/users/a%2fb"))
    end)

    it("keep malformed escapes and '+' as they are", function()
      assert.same({ "user", { id = "100%" } }, m(r, "GET", "/users/100%"))
      assert.same({ "user", { id = "%zz%4" } }, m(r, "GET", "/users/%zz%4"))
      assert.same({ "user", { id = "a+b" } }, m(r, "GET", "/users/a+b"))
    end)

    it("return a fresh params table each time", function()
      local _, p1 = r:match("GET", "/users/1")
      local _, p2 = r:match("GET", "/users/2")
      assert.are_not.equal(p1, p2)
      assert.same({ id = "1" }, p1)
      assert.same({ id = "2" }, p2)
    end)

    it("keep each method's own parameter names on one template shape", function()
      r:add("DELETE", "/users/{user_id}", "delete")
      assert.same({ "user", { id = "9" } }, m(r, "GET", "/users/9"))
      assert.same({ "delete", { user_id = "9" } }, m(r, "DELETE", "/users/9"))
    end)
  end)

  describe("catch-all", function()
    local r
    before_each(function()
      r = router.new()
      r:add("GET", "/static/{path...}", "static")
      r:add("GET", "/static/favicon.ico", "favicon")
      r:add("GET", "/files/{name}", "file")
      r:add("GET", "/files/{rest...}", "files-rest")
    end)

    it("takes the rest of the path, slashes included", function()
      assert.same({ "static", { path = "a/b.css" } }, m(r, "GET", "/static/a/b.css"))
      assert.same({ "static", { path = "css" } }, m(r, "GET", "/static/css"))
      assert.same({ "static", { path = "a//b/" } }, m(r, "GET", "/static/a//b/"))
    end)

    it("matches the empty rest, but not the path without its slash", function()
      assert.same({ "static", { path = "" } }, m(r, "GET", "/static/"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/static"))
    end)

    it("is percent-decoded", function()
      assert.same({ "static", { path = "a b/c%d" } }, m(r, "GET", "/static/a%20b/c%25d"))
    end)

    it("loses to a literal and to a {param}", function()
      assert.same({ "favicon" }, m(r, "GET", "/static/favicon.ico"))
      assert.same({ "file", { name = "a" } }, m(r, "GET", "/files/a"))
      assert.same({ "files-rest", { rest = "a/b" } }, m(r, "GET", "/files/a/b"))
      assert.same({ "files-rest", { rest = "" } }, m(r, "GET", "/files/"))
    end)

    it("can take the whole path", function()
      local r2 = router.new()
      r2:add("GET", "/{all...}", "all")
      r2:add("GET", "/", "root")
      assert.same({ "root" }, m(r2, "GET", "/"))
      assert.same({ "all", { all = "x/y" } }, m(r2, "GET", "/x/y"))
      r2 = router.new()
      r2:add("GET", "/{all...}", "all")
      assert.same({ "all", { all = "" } }, m(r2, "GET", "/"))
    end)
  end)

  describe("precedence and backtracking", function()
    local r
    before_each(function()
      r = router.new()
      r:add("GET", "/users/me", "me")
      r:add("GET", "/users/{id}", "user")
      r:add("GET", "/users/{id}/posts", "posts")
      r:add("GET", "/users/me/settings", "settings")
      r:add("GET", "/users/{id}/{rest...}", "user-rest")
    end)

    it("prefers a literal segment to a {param}", function()
      assert.same({ "me" }, m(r, "GET", "/users/me"))
      assert.same({ "user", { id = "you" } }, m(r, "GET", "/users/you"))
      assert.same({ "settings" }, m(r, "GET", "/users/me/settings"))
    end)

    it("backtracks from a literal into a {param}", function()
      assert.same({ "posts", { id = "me" } }, m(r, "GET", "/users/me/posts"))
      assert.same({ "posts", { id = "42" } }, m(r, "GET", "/users/42/posts"))
    end)

    it("backtracks from a {param} into a catch-all", function()
      assert.same({ "user-rest", { id = "me", rest = "a/b" } }, m(r, "GET", "/users/me/a/b"))
      assert.same({ "user-rest", { id = "me", rest = "settings/x" } }, m(r, "GET", "/users/me/settings/x"))
      assert.same({ "user-rest", { id = "42", rest = "" } }, m(r, "GET", "/users/42/"))
    end)

    it("decides at the leftmost segment where templates differ", function()
      local r2 = router.new()
      r2:add("GET", "/{a}/x/y", "param-first")
      r2:add("GET", "/b/{c}/{d}", "literal-first")
      assert.same({ "literal-first", { c = "x", d = "y" } }, m(r2, "GET", "/b/x/y"))
      assert.same({ "param-first", { a = "c" } }, m(r2, "GET", "/c/x/y"))
    end)

    it("backtracks up several segments", function()
      local r2 = router.new()
      r2:add("GET", "/{a}/x/y", "param-first")
      r2:add("GET", "/b/{c}/z", "literal-first")
      r2:add("GET", "/b/x/w", "static")
      assert.same({ "param-first", { a = "b" } }, m(r2, "GET", "/b/x/y"))
      assert.same({ "literal-first", { c = "x" } }, m(r2, "GET", "/b/x/z"))
      assert.same({ "static" }, m(r2, "GET", "/b/x/w"))
    end)

    it("does not leak captures from a failed branch", function()
      local r2 = router.new()
      r2:add("GET", "/{a}/{b}/z", "abz")
      r2:add("GET", "/x/{c}/{d}/w", "xcdw")
      assert.same({ "abz", { a = "x", b = "1" } }, m(r2, "GET", "/x/1/z"))
      assert.same({ "xcdw", { c = "1", d = "2" } }, m(r2, "GET", "/x/1/2/w"))
    end)

    it("looks for the method's route across every matching template", function()
      local r2 = router.new()
      r2:add("POST", "/users/me", "post-me")
      r2:add("GET", "/users/{id}", "get-user")
      assert.same({ "get-user", { id = "me" } }, m(r2, "GET", "/users/me"))
      assert.same({ "post-me" }, m(r2, "POST", "/users/me"))
      assert.same({ nil, "method_not_allowed", "GET, HEAD, OPTIONS" }, m(r2, "POST", "/users/42"))
    end)

    it("still works when routes are added after a match", function()
      assert.same({ "user", { id = "x" } }, m(r, "GET", "/users/x"))
      r:add("GET", "/users/x", "x")
      r:add("GET", "/api/v1/{thing}", "thing")
      assert.same({ "x" }, m(r, "GET", "/users/x"))
      assert.same({ "thing", { thing = "t" } }, m(r, "GET", "/api/v1/t"))
      r:add("GET", "/api/v2/{thing}", "thing2")
      assert.same({ "thing", { thing = "t" } }, m(r, "GET", "/api/v1/t"))
      assert.same({ "thing2", { thing = "t" } }, m(r, "GET", "/api/v2/t"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/api/v3/t"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/api/v1"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/api/v1x/t"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/api"))
    end)
  end)

  describe("long literal runs", function()
    it("match only whole segments", function()
      local r = router.new()
      r:add("GET", "/api/v1/items/{id}", "item")
      r:add("GET", "/api/v1/items/{id}/", "item-slash")
      assert.same({ "item", { id = "1" } }, m(r, "GET", "/api/v1/items/1"))
      assert.same({ "item-slash", { id = "1" } }, m(r, "GET", "/api/v1/items/1/"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/api/v1/itemsX/1"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/api/v1/item/1"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/api/v1/items"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/api/v1/items/"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/api/v1"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/api//v1/items/1"))
    end)

    it("end in a trailing-slash segment", function()
      local r = router.new()
      r:add("GET", "/{x}/a/b/", "x-ab-slash")
      assert.same({ "x-ab-slash", { x = "q" } }, m(r, "GET", "/q/a/b/"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/q/a/b"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/q/a/b//"))
    end)
  end)

  describe("405 and Allow", function()
    local r
    before_each(function()
      r = router.new()
      r:add("GET", "/users", "list")
      r:add("POST", "/users", "create")
      r:add("GET", "/users/{id}", "get")
      r:add("PUT", "/users/{id}", "put")
      r:add("DELETE", "/users/{uid}", "delete")
      r:add("POST", "/notes", "note")
      r:add("PURGE", "/cache/{key...}", "purge")
      r:add("HEAD", "/ping", "ping-head")
    end)

    it("answers method_not_allowed with the sorted methods of the path", function()
      assert.same({ nil, "method_not_allowed", "GET, HEAD, OPTIONS, POST" }, m(r, "DELETE", "/users"))
      assert.same({ nil, "method_not_allowed", "DELETE, GET, HEAD, OPTIONS, PUT" }, m(r, "POST", "/users/1"))
      assert.same({ nil, "method_not_allowed", "OPTIONS, POST" }, m(r, "GET", "/notes"))
      assert.same({ nil, "method_not_allowed", "OPTIONS, PURGE" }, m(r, "GET", "/cache/a/b"))
      assert.same({ nil, "method_not_allowed", "HEAD, OPTIONS" }, m(r, "GET", "/ping"))
    end)

    it("lists OPTIONS, which the app answers itself, and HEAD with GET", function()
      assert.same({ nil, "method_not_allowed", "GET, HEAD, OPTIONS, POST" }, m(r, "OPTIONS", "/users"))
      assert.same({ nil, "method_not_allowed", "OPTIONS, POST" }, m(r, "HEAD", "/notes"))
    end)

    it("answers not_found when no method has the path", function()
      assert.same({ nil, "not_found" }, m(r, "GET", "/nope"))
      assert.same({ nil, "not_found" }, m(r, "DELETE", "/users/"))
      assert.same({ nil, "not_found" }, m(r, "BREW", "/nope"))
      assert.same({ nil, "method_not_allowed", "GET, HEAD, OPTIONS, POST" }, m(r, "BREW", "/users"))
    end)

    it("allowed(path) gives the same value", function()
      assert.equal("GET, HEAD, OPTIONS, POST", r:allowed("/users"))
      assert.equal("DELETE, GET, HEAD, OPTIONS, PUT", r:allowed("/users/9"))
      assert.equal("OPTIONS, PURGE", r:allowed("/cache/"))
      assert.is_nil(r:allowed("/nope"))
      assert.is_nil(r:allowed("/users/"))
      assert.is_nil(r:allowed("users"))
      assert.is_nil(r:allowed(""))
    end)

    it("gathers methods from every template that matches the path", function()
      local r2 = router.new()
      r2:add("GET", "/files/readme", "readme")
      r2:add("PUT", "/files/{name}", "put")
      r2:add("DELETE", "/files/{path...}", "delete")
      r2:add("POST", "/{any}/readme", "post")
      assert.equal("DELETE, GET, HEAD, OPTIONS, POST, PUT", r2:allowed("/files/readme"))
      assert.equal("DELETE, OPTIONS, PUT", r2:allowed("/files/x"))
      assert.same({ "post", { any = "files" } }, m(r2, "POST", "/files/readme"))
      assert.same({ "delete", { path = "readme" } }, m(r2, "DELETE", "/files/readme"))
    end)
  end)

  describe("HEAD", function()
    it("falls back to the GET route", function()
      local r = router.new()
      r:add("GET", "/", "root")
      r:add("GET", "/users/{id}", "user")
      r:add("GET", "/s/{p...}", "s")
      assert.same({ "root" }, m(r, "HEAD", "/"))
      assert.same({ "user", { id = "1" } }, m(r, "HEAD", "/users/1"))
      assert.same({ "s", { p = "a/b" } }, m(r, "HEAD", "/s/a/b"))
    end)

    it("prefers an explicit HEAD route on the same template", function()
      local r = router.new()
      r:add("GET", "/", "get-root")
      r:add("HEAD", "/", "head-root")
      r:add("GET", "/users/{id}", "get-user")
      r:add("HEAD", "/users/{id}", "head-user")
      assert.same({ "head-root" }, m(r, "HEAD", "/"))
      assert.same({ "head-user", { id = "1" } }, m(r, "HEAD", "/users/1"))
      assert.same({ "get-user", { id = "1" } }, m(r, "GET", "/users/1"))
    end)

    it("follows template precedence first: a more specific GET wins over a HEAD", function()
      local r = router.new()
      r:add("HEAD", "/users/{id}", "head-user")
      r:add("GET", "/users/me", "get-me")
      r:add("GET", "/users/{id}/x", "get-x")
      assert.same({ "get-me" }, m(r, "HEAD", "/users/me"))
      assert.same({ "head-user", { id = "42" } }, m(r, "HEAD", "/users/42"))
      assert.same({ "get-x", { id = "42" } }, m(r, "HEAD", "/users/42/x"))
    end)

    it("does not make GET fall back to HEAD", function()
      local r = router.new()
      r:add("HEAD", "/h", "h")
      assert.same({ nil, "method_not_allowed", "HEAD, OPTIONS" }, m(r, "GET", "/h"))
    end)
  end)

  describe("add", function()
    it("returns the router", function()
      local r = router.new()
      assert.equal(r, r:add("GET", "/", 1))
    end)

    it("rejects malformed templates with a clear message", function()
      local r = router.new()
      local cases = {
        { "users", "must start with '/'" },
        { "", "must start with '/'" },
        { "/files/{name}.json", "a parameter must fill a whole path segment, got \"{name}.json\"" },
        { "/files/x{name}", "a parameter must fill a whole path segment" },
        { "/a/{b}{c}", "a parameter must fill a whole path segment" },
        { "/a/{b", "a parameter must fill a whole path segment" },
        { "/a/b}", "a parameter must fill a whole path segment" },
        { "/a/{}", "invalid parameter name \"\"" },
        { "/a/{1x}", "invalid parameter name \"1x\"" },
        { "/a/{x-y}", "invalid parameter name \"x-y\"" },
        { "/a/{...}", "invalid parameter name \"\"" },
        { "/a/{x..}", "invalid parameter name \"x..\"" },
        { "/a/{id}/b/{id}", "parameter \"id\" appears twice" },
        { "/a/{id}/{id...}", "parameter \"id\" appears twice" },
        { "/static/{path...}/x", "the catch-all {path...} must be the last segment" },
        { "/static/{path...}/", "the catch-all {path...} must be the last segment" },
        { "/a//b", "has an empty segment (//)" },
        { "//", "has an empty segment (//)" },
        { "/a b", "character \" \" is not allowed" },
        { "/a?b", "character \"?\" is not allowed" },
        { "/a#b", "character \"#\" is not allowed" },
        { "/a\nb", "is not allowed" },
        { "/100%", "'%' must start an escape like %20" },
        { "/a%zz", "'%' must start an escape like %20" },
      }
      for _, case in ipairs(cases) do
        local msg = err_of(r.add, r, "GET", case[1], "v")
        assert.truthy(msg:find(case[2], 1, true), ("%q: got %q"):format(case[1], msg))
      end
      assert.same({}, r:routes())
    end)

    it("rejects a bad method, template type or value", function()
      local r = router.new()
      assert.truthy(err_of(r.add, r, "get", "/", 1):find("uppercase HTTP method", 1, true))
      assert.truthy(err_of(r.add, r, "", "/", 1):find("uppercase HTTP method", 1, true))
      assert.truthy(err_of(r.add, r, "GE T", "/", 1):find("uppercase HTTP method", 1, true))
      assert.truthy(err_of(r.add, r, nil, "/", 1):find("uppercase HTTP method", 1, true))
      assert.truthy(err_of(r.add, r, "GET", 5, 1):find("template must be a string", 1, true))
      assert.truthy(err_of(r.add, r, "GET", "/", nil):find("must not be nil or false", 1, true))
      assert.truthy(err_of(r.add, r, "GET", "/", false):find("must not be nil or false", 1, true))
    end)

    it("points errors at the caller", function()
      local r = router.new()
      local ok, err = pcall(function() r:add("GET", "nope", 1) end)
      assert.is_false(ok)
      assert.truthy(err:find("router_spec.lua:%d+:"), err)
    end)

    it("rejects a duplicate route", function()
      local r = router.new()
      r:add("GET", "/users", 1)
      r:add("GET", "/users/{id}", 2)
      r:add("GET", "/static/{p...}", 3)
      assert.equal("route GET /users is already defined", err_of(r.add, r, "GET", "/users", 9))
      assert.equal("route GET /users/{id} is already defined", err_of(r.add, r, "GET", "/users/{id}", 9))
      assert.equal("route GET /static/{p...} is already defined",
        err_of(r.add, r, "GET", "/static/{p...}", 9))
    end)

    it("rejects a template differing only in parameter names", function()
      local r = router.new()
      r:add("GET", "/users/{id}/posts/{pid}", 1)
      r:add("GET", "/static/{p...}", 2)
      assert.equal("route GET /users/{uid}/posts/{n} is already defined as GET /users/{id}/posts/{pid}"
        .. " (only parameter names differ)", err_of(r.add, r, "GET", "/users/{uid}/posts/{n}", 9))
      assert.truthy(err_of(r.add, r, "GET", "/static/{q...}", 9):find("already defined as GET /static/{p...}", 1, true))
    end)

    it("accepts the same template for other methods, and different shapes", function()
      local r = router.new()
      r:add("GET", "/users/{id}", 1)
      r:add("PUT", "/users/{id}", 2)
      r:add("HEAD", "/users/{id}", 3)
      r:add("GET", "/users/{id...}", 4)
      r:add("GET", "/users/me", 5)
      assert.equal(5, #r:routes())
    end)
  end)

  describe("routes()", function()
    it("lists every route in registration order", function()
      local r = router.new()
      local v = {}
      r:add("GET", "/b", "b")
      r:add("POST", "/a/{id}", v)
      r:add("GET", "/s/{p...}", "s")
      assert.same({
        { method = "GET", template = "/b", value = "b" },
        { method = "POST", template = "/a/{id}", value = v },
        { method = "GET", template = "/s/{p...}", value = "s" },
      }, r:routes())
      assert.equal(v, r:routes()[2].value)
    end)

    it("returns copies", function()
      local r = router.new()
      r:add("GET", "/b", "b")
      r:routes()[1].template = "/changed"
      assert.equal("/b", r:routes()[1].template)
    end)
  end)

  describe("match arguments", function()
    it("raises on non-string method or path", function()
      local r = router.new()
      assert.truthy(err_of(r.match, r, nil, "/"):find("method must be a string", 1, true))
      assert.truthy(err_of(r.match, r, "GET", nil):find("path must be a string", 1, true))
      assert.truthy(err_of(r.allowed, r, 1):find("path must be a string", 1, true))
    end)

    it("works on an empty router", function()
      local r = router.new()
      assert.same({ nil, "not_found" }, m(r, "GET", "/"))
      assert.is_nil(r:allowed("/"))
      assert.same({}, r:routes())
    end)
  end)

  describe("independent routers", function()
    it("do not share routes or captures", function()
      local a, b = router.new(), router.new()
      a:add("GET", "/x/{id}", "a")
      b:add("GET", "/{name}/y", "b")
      assert.same({ "a", { id = "1" } }, m(a, "GET", "/x/1"))
      assert.same({ "b", { name = "x" } }, m(b, "GET", "/x/y"))
      assert.same({ nil, "not_found" }, m(b, "GET", "/x/1"))
      assert.same({ "a", { id = "y" } }, m(a, "GET", "/x/y"))
    end)
  end)

  describe("against a brute-force reference", function()
    -- The rules, written as plainly as possible: a template matches when
    -- each segment matches (a literal byte for byte, a {param} any non-empty
    -- segment, a {rest...} everything left); among the templates that match
    -- and have a route for the method (HEAD: or GET), the winner is the
    -- smallest sequence of segment kinds (literal 0 < param 1 < catch-all 2)
    -- compared from the left; at the winner an explicit HEAD beats GET.
    local function split(path)
      local segs = {}
      for seg in path:gmatch("/([^/]*)") do segs[#segs + 1] = seg end
      return segs
    end

    local function unescape(v)
      return (v:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
    end

    -- Returns the kinds and params when template matches path, else nil.
    local function try(template, path)
      local t, p = split(template), split(path)
      local kinds, params = {}, {}
      for i, seg in ipairs(t) do
        local rest = seg:match("^{([%w_]+)%.%.%.}$")
        local name = seg:match("^{([%w_]+)}$")
        if rest then
          if i > #p then return nil end
          local tail = table.concat(p, "/", i)
          kinds[i], params[rest] = 2, unescape(tail)
          return kinds, params
        end
        if p[i] == nil then return nil end
        if name then
          if p[i] == "" then return nil end
          kinds[i], params[name] = 1, unescape(p[i])
        else
          if p[i] ~= seg then return nil end
          kinds[i] = 0
        end
      end
      if #p ~= #t then return nil end
      return kinds, next(params) and params or nil
    end

    local function less(a, b)
      for i = 1, math.max(#a, #b) do
        local x, y = a[i] or -1, b[i] or -1
        if x ~= y then return x < y end
      end
      return false
    end

    local function reference(routes, method, path)
      local best, best_kinds, best_params, rank
      local allowed = {}
      for _, rt in ipairs(routes) do
        local kinds, params = try(rt.template, path)
        if kinds then
          allowed[rt.method] = true
          local r = (rt.method == method) and 0 or (method == "HEAD" and rt.method == "GET") and 1 or nil
          if r and (best == nil or less(kinds, best_kinds)
                    or (not less(best_kinds, kinds) and r < rank)) then
            best, best_kinds, best_params, rank = rt.value, kinds, params, r
          end
        end
      end
      if best then return { best, best_params } end
      if next(allowed) == nil then return { nil, "not_found" } end
      if allowed.GET then allowed.HEAD = true end
      allowed.OPTIONS = true
      local list = {}
      for mth in pairs(allowed) do list[#list + 1] = mth end
      table.sort(list)
      return { nil, "method_not_allowed", table.concat(list, ", ") }
    end

    it("agrees on random routes and paths", function()
      math.randomseed(20240601)
      local lits = { "a", "b", "me", "api", "v1", "x%20y" }
      local methods = { "GET", "HEAD", "POST", "DELETE" }
      local function pick(list) return list[math.random(#list)] end
      for round = 1, 25 do
        local r, routes, seen = router.new(), {}, {}
        for n = 1, 30 do
          local segs, names = {}, 0
          for i = 1, math.random(0, 4) do
            local roll = math.random()
            if roll < 0.55 then segs[i] = pick(lits)
            elseif roll < 0.85 then names = names + 1; segs[i] = "{p" .. names .. "}"
            else names = names + 1; segs[i] = "{r" .. names .. "...}"; break end
          end
          if math.random() < 0.1 then segs[#segs + 1] = "" end
          local template = "/" .. table.concat(segs, "/")
          local method = pick(methods)
          local ok = pcall(r.add, r, method, template, template .. " " .. method)
          -- the only legal failures: a catch-all before the trailing "" and
          -- an equivalent template already there for this method
          local shape = method .. " " .. template:gsub("{[%w_]+}", "{}"):gsub("{[%w_]+%.%.%.}", "{...}")
          if ok then
            assert.is_nil(seen[shape], shape)
            seen[shape] = true
            routes[#routes + 1] = { method = method, template = template, value = template .. " " .. method }
          else
            assert.truthy(seen[shape] or template:find("%.%.%.}/"), template)
          end
        end
        for n = 1, 200 do
          local segs = {}
          for i = 1, math.random(0, 5) do
            segs[i] = math.random() < 0.7 and pick(lits) or pick({ "", "42", "a%2Fb", "zz" })
          end
          local path = "/" .. table.concat(segs, "/")
          for _, method in ipairs({ "GET", "HEAD", "POST", "PUT" }) do
            local want = reference(routes, method, path)
            assert.same(want, m(r, method, path), method .. " " .. path)
          end
        end
      end
    end)
  end)

  describe("with 1,000 routes", function()
    local r, expected
    setup(function()
      r, expected = router.new(), {}
      for k = 1, 200 do
        local base = "/api/v1/resource" .. k
        r:add("GET", base .. "/list", "list" .. k)
        r:add("POST", base, "create" .. k)
        r:add("GET", base .. "/{id}", "get" .. k)
        r:add("DELETE", base .. "/{id}", "delete" .. k)
        r:add("GET", base .. "/{id}/items/{item}", "item" .. k)
      end
    end)

    it("has them all", function()
      assert.equal(1000, #r:routes())
    end)

    it("finds every route with the right params", function()
      for k = 1, 200 do
        local base = "/api/v1/resource" .. k
        assert.same({ "list" .. k }, m(r, "GET", base .. "/list"))
        assert.same({ "create" .. k }, m(r, "POST", base))
        assert.same({ "get" .. k, { id = "i" .. k } }, m(r, "GET", base .. "/i" .. k))
        assert.same({ "list" .. k }, m(r, "HEAD", base .. "/list"))
        assert.same({ "get" .. k, { id = "7" } }, m(r, "HEAD", base .. "/7"))
        assert.same({ "delete" .. k, { id = "list" } }, m(r, "DELETE", base .. "/list"))
        assert.same({ "item" .. k, { id = "x" .. k, item = "y%" } }, m(r, "GET", base .. "/x" .. k .. "/items/y%25"))
        assert.same({ nil, "method_not_allowed", "DELETE, GET, HEAD, OPTIONS" }, m(r, "POST", base .. "/7"))
        assert.same({ nil, "method_not_allowed", "OPTIONS, POST" }, m(r, "GET", base))
        assert.same({ nil, "not_found" }, m(r, "GET", base .. "/7/items"))
        assert.same({ nil, "not_found" }, m(r, "GET", base .. "/7/items/"))
      end
      assert.same({ nil, "not_found" }, m(r, "GET", "/api/v1/resource201/1"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/api/v1/"))
      assert.same({ nil, "not_found" }, m(r, "GET", "/api/v2/resource1/1"))
    end)
  end)

  describe("speed properties", function()
    it("allocates nothing on a static hit and only the params on a dynamic hit", function()
      local r = router.new()
      r:add("GET", "/plaintext", "p")
      r:add("GET", "/users/{id}", "u")
      local paths = {}
      for i = 1, 100 do paths[i] = "/users/" .. i end
      local function static_hits(n) for _ = 1, n do r:match("GET", "/plaintext") end end
      local function dynamic_hits(n) for i = 1, n do r:match("GET", paths[i % 100 + 1]) end end
      -- Warm up first: compiled traces are GC objects too.
      static_hits(10000)
      dynamic_hits(10000)
      collectgarbage()
      collectgarbage("stop")
      local before = collectgarbage("count")
      static_hits(100000)
      local static_kb = collectgarbage("count") - before
      before = collectgarbage("count")
      dynamic_hits(100000)
      local dynamic_kb = collectgarbage("count") - before
      collectgarbage("restart")
      assert.is_true(static_kb < 1, "100,000 static hits allocated " .. static_kb .. " KB")
      -- One one-key table per hit (the id strings already exist): about 100
      -- bytes in the interpreter; compiled code may even sink it.
      assert.is_true(dynamic_kb * 1024 / 100000 < 160, "100,000 dynamic hits allocated " .. dynamic_kb .. " KB")
    end)

    it("runs the lookup compiled, without trace aborts", function()
      if not (jit and jit.status()) then return pending("needs LuaJIT with the JIT on") end
      local util = require "jit.util"
      local r = router.new()
      for k = 1, 50 do
        r:add("GET", "/api/v1/r" .. k .. "/{id}", k)
        r:add("GET", "/api/v1/r" .. k .. "/{id}/items/{item}", k)
        r:add("GET", "/api/v1/r" .. k .. "/list", k)
      end
      local match = r.match
      local bad = {}
      jit.attach(function(what, tr, func, pc, otr, oex)
        if what == "abort" then
          local info = util.funcinfo(func, pc)
          if func == match or (info.source or ""):find("=crater.router(", 1, true) then
            bad[#bad + 1] = tostring(info.loc) .. ": " .. tostring(otr) .. " " .. tostring(oex)
          end
        end
      end, "trace")
      -- One lookup per iteration, as the server does per request.
      local kinds = {
        function(i) return "/api/v1/r" .. (i % 50 + 1) .. "/list" end,
        function(i) return "/api/v1/r" .. (i % 50 + 1) .. "/" .. i end,
        function(i) return "/api/v1/r" .. (i % 50 + 1) .. "/" .. i .. "/items/" .. (i % 7) end,
      }
      for _, kind in ipairs(kinds) do
        local paths = {}
        for i = 0, 255 do paths[i] = kind(i) end
        for i = 1, 20000 do
          if not match(r, "GET", paths[i % 256]) then error("no match") end
        end
      end
      jit.attach(function() end)
      -- Aborts in `add` and the one-off compile are fine; none may come from
      -- the lookup (match, the generated levels and params constructors).
      assert.same({}, bad)
    end)
  end)
end)
