-- crater.response: response objects, and finish(), the one function that
-- turns whatever a handler answered into what the C core sends.
local response = require "crater.response"
local json = require "crater.json"

local finish, new = response.finish, response.new
local TEXT, JSON = "text/plain; charset=utf-8", "application/json"

-- finish's four results as one table (a nil in the middle kept by n)
local function fin(...) return { n = 4, finish(...) } end
local function ans(status, body, ctype, flat) return { n = 4, status, body, ctype, flat } end

describe("crater.response", function()
  describe("finish", function()
    it("answers a string as text and a table as JSON, with no headers list", function()
      assert.same(ans(200, "hi", TEXT, nil), fin("hi"))
      assert.same(ans(200, '{"a":1}', JSON, nil), fin({ a = 1 }))
      assert.same(ans(200, "[]", JSON, nil), fin(json.array {}))
      assert.same(ans(200, "3", JSON, nil), fin(200, 3))
      assert.same(ans(200, "true", JSON, nil), fin(true))
    end)

    it("answers nothing with 204, and a status without body with an empty one", function()
      assert.same(ans(204, "", nil, nil), fin())
      assert.same(ans(200, "", nil, nil), fin(200))
      assert.same(ans(404, "", nil, nil), fin(404, nil))
    end)

    it("takes status, body, headers, flattening repeated ones", function()
      local r = fin(201, { ok = true }, { Location = "/x", ["Set-Cookie"] = { "a=1", "b=2" } })
      assert.same({ 201, '{"ok":true}', JSON }, { r[1], r[2], r[3] })
      local h = {}
      for i = 1, #r[4], 2 do h[#h + 1] = r[4][i] .. ": " .. r[4][i + 1] end
      table.sort(h)
      assert.same({ "Location: /x", "Set-Cookie: a=1", "Set-Cookie: b=2" }, h)
    end)

    it("takes a Content-Type from the headers, in any case, out of the list", function()
      assert.same(ans(200, "<p>", "text/html", {}), fin(200, "<p>", { ["Content-Type"] = "text/html" }))
      assert.same(ans(200, "{}", "application/x", { "X-A", "1" }),
        fin(200, "{}", { ["content-type"] = "application/x", ["X-A"] = 1 }))
      -- 204 has no content, so no type; a 304 keeps one set on purpose
      assert.same(ans(204, "", nil, {}), fin(204, nil, { ["CONTENT-TYPE"] = "text/x" }))
      assert.same(ans(304, "", "text/x", {}), fin(304, nil, { ["CONTENT-TYPE"] = "text/x" }))
    end)

    it("drops a 204's or 304's body and the type it implied", function()
      assert.same(ans(204, "", nil, nil), fin(204, "gone"))
      assert.same(ans(204, "", nil, nil), fin(204, { a = 1 }))
      assert.same(ans(304, "", nil, nil), fin(304, "stale"))
      assert.same(ans(204, "", nil, nil), fin(new("x", 204)))
    end)

    it("finishes a response object: its content type, its own header list", function()
      local res = new("body", 202)
      res:header("X-A", "1"):header("X-A", "2")
      local r = fin(res)
      assert.same(ans(202, "body", TEXT, { "X-A", "1", "X-A", "2" }), r)
      assert.equal(res._h, r[4])
      assert.same(ans(200, '{"a":1}', JSON, nil), fin(new({ a = 1 })))
      assert.same(ans(200, "", nil, nil), fin(new()))
      local typed = new("<p>"):header("Content-Type", "text/html")
      assert.same(ans(200, "<p>", "text/html", nil), fin(typed))
      assert.same(ans(200, '{"x":1}', JSON, nil), fin(new():json({ x = 1 })))
    end)

    it("refuses a status the core cannot send, and a body it cannot encode", function()
      for _, bad in ipairs({ 99, 1000, 200.5 }) do
        local ok, err = pcall(finish, bad, "x")
        assert.is_false(ok)
        assert.equal("a handler answered with status " .. bad
          .. " (a final status is an integer from 200 to 999)", err)
        assert.is_false(pcall(finish, new("x", bad)))
      end
      assert.is_false(pcall(finish, new("x", "200")))
      local ok, err = pcall(finish, function() end)
      assert.is_false(ok)
      assert.equal("a handler answered with a function as body (a body is a string, a table or nil)", err)
      assert.is_false(pcall(finish, 200, coroutine.create(print)))
      assert.is_false(pcall(finish, new(print)))
    end)
  end)

  describe("from_result", function()
    it("keeps a response object and makes one of anything else", function()
      local res = new("x")
      assert.equal(res, response.from_result(res))
      local made = response.from_result(201, "y", { ["X-A"] = "1" })
      assert.same({ 201, "y", { "X-A", "1" } }, { made.status, made.body, made._h })
      assert.same({ 200, "z" }, { response.from_result("z").status, response.from_result("z").body })
      assert.equal(204, response.from_result().status)
      assert.same(ans(204, "", nil, nil), fin(response.from_result()))
    end)
  end)

  describe("objects", function()
    it("replace headers by name, read them back and set cookies", function()
      local res = new("x", 200, { ["X-A"] = { "1", "2" }, ["Content-Type"] = "text/x" })
      assert.equal("text/x", res.content_type)
      res:set_header("x-a", "3")
      assert.same({ "x-a", "3" }, res._h)
      assert.equal("3", res:get_header("X-A"))
      res:set_cookie("s", "v", { path = "/", max_age = 60, secure = true })
      assert.equal("s=v; Path=/; Max-Age=60; Secure", res:get_header("set-cookie"))
      assert.has_error(function() res:header("Bad Name", "x") end)
      assert.has_error(function() res:header("X-B", "a\r\nb") end)
    end)

    it("refuse a cookie whose name, value or attribute would add attributes or split the header", function()
      local res = new("x")
      for opt, v in pairs({ path = "/; Domain=evil", domain = "a.example; Secure", expires = "x\r\nX: y",
                            same_site = "Lax; Domain=evil" }) do
        local ok, err = pcall(res.set_cookie, res, "sid", "1", { [opt] = v })
        assert.is_false(ok, opt)
        assert.truthy(err:find("cookie sid: " .. opt, 1, true), err)
      end
      assert.is_false(pcall(res.set_cookie, res, "a;b", "1"))
      assert.is_false(pcall(res.set_cookie, res, "sid", "1; Domain=evil"))
      assert.is_false(pcall(res.set_cookie, res, "sid", "1", { max_age = 1.5 }))
      assert.is_false(pcall(res.set_cookie, res, "sid", "1", { pth = "/" }))
      res:set_cookie("sid", "1", { same_site = "strict", domain = "a.example" })
      assert.equal("sid=1; Domain=a.example; SameSite=Strict", res:get_header("set-cookie"))
      assert.is_nil(res._h[3])
    end)

    it("check every header as the C core does (http.c's crater__http_response_header_use)", function()
      local header_error = response.header_error
      for c = 0, 255 do
        local ch = string.char(c)
        local value_ok = c == 9 or (c >= 32 and c ~= 127)
        assert.equal(value_ok, header_error("X-A", "a" .. ch .. "b") == nil, "value byte " .. c)
        -- RFC 9110 5.6.2's tchar, spelled out rather than as the module's pattern
        local tchar = (c >= 48 and c <= 57) or (c >= 65 and c <= 90) or (c >= 97 and c <= 122)
          or ("!#$%&'*+-.^_`|~"):find(ch, 1, true) ~= nil
        assert.equal(tchar, header_error("X" .. ch, "v") == nil, "name byte " .. c)
      end
      assert.truthy(header_error("", "v"))
      assert.truthy(header_error("content-length", "1"))
      assert.truthy(header_error("Transfer-Encoding", "chunked"))
      assert.truthy(header_error("Connection", "keep-alive"))
      assert.is_nil(header_error("Connection", "CLOSE"))
      -- every way of returning headers goes through it
      assert.is_false(pcall(finish, 200, "x", { ["X-A"] = "a\nb" }))
      assert.is_false(pcall(finish, 200, "x", { ["X-A"] = { "ok", "a\rb" } }))
      assert.is_false(pcall(finish, 200, "x", { ["Content-Type"] = "a\vb" }))
      assert.is_false(pcall(finish, 200, "x", { ["X:A"] = "v" }))
      assert.is_false(pcall(finish, 101, "x"))
      assert.is_false(pcall(new, "x", 200, { ["X-A"] = "a\0b" }))
      local res = new("x")
      res.content_type = "text/html\r\nX: y"
      assert.is_false(pcall(finish, res))
      assert.is_false(pcall(response.stream, function() end, 200, { ["X-A"] = "a\nb" }))
      assert.same(ans(200, "x", TEXT, { "X-N", "42" }), fin(200, "x", { ["X-N"] = 42 }))
    end)

    it("streams: finish gives the head, without a body", function()
      local res = response.stream(function() end, 200, { ["X-S"] = "1" })
      assert.same(ans(200, "", nil, { "X-S", "1" }), fin(res))
      assert.has_error(function() response.stream("no") end)
    end)
  end)
end)
