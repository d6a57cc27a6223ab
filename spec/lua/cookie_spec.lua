-- crater.cookie: the Cookie header read leniently, Set-Cookie values written strictly.
local cookie = require "crater.cookie"

describe("crater.cookie", function()
  describe("parse", function()
    it("reads name=value pairs split on ';', first of a name winning", function()
      assert.same({ a = "1", b = "2" }, cookie.parse("a=1; b=2; a=3"))
      assert.same({ a = "1", b = "2" }, cookie.parse("a=1;b=2"))
      assert.same({ sid = "x y" }, cookie.parse('sid="x y"'))
      assert.same({ q = "%41" }, cookie.parse("q=%41")) -- not percent-decoded
      assert.same({ e = "" }, cookie.parse("e="))
    end)

    it("skips garbage instead of failing", function()
      assert.same({}, cookie.parse(nil))
      assert.same({}, cookie.parse(""))
      assert.same({}, cookie.parse(";;; ; = ;=x; novalue"))
      assert.same({ ok = "1" }, cookie.parse("\1\2; ok=1; =\255"))
      assert.same({ a = "b=c" }, cookie.parse("a=b=c"))
    end)
  end)

  describe("serialize", function()
    it("writes every option", function()
      assert.equal("s=v; Path=/; Domain=example.com; Max-Age=60; Expires=Sun, 06 Nov 1994 08:49:37 GMT; "
        .. "Secure; HttpOnly; SameSite=None; Partitioned; Priority=High",
        cookie.serialize("s", "v", { path = "/", domain = "example.com", max_age = 60, expires = 784111777,
          secure = true, http_only = true, same_site = "none", partitioned = true, priority = "high" }))
      assert.equal('s="quoted"', cookie.serialize("s", '"quoted"'))
      assert.equal("s=v; Expires=later", cookie.serialize("s", "v", { expires = "later" }))
    end)

    it("refuses what the header cannot carry, naming the cookie", function()
      local function err(...)
        local ok, e = pcall(cookie.serialize, ...)
        assert.is_false(ok)
        return e
      end
      assert.truthy(err("sid", "a b"):find("cookie sid: its value", 1, true))
      assert.truthy(err("sid", '"a b"'):find("cookie sid", 1, true))
      assert.truthy(err("sid", "v", { same_site = "None" }):find("needs secure", 1, true))
      assert.truthy(err("sid", "v", { partitioned = true }):find("needs secure", 1, true))
      assert.truthy(err("sid", "v", { priority = "urgent" }):find("Low, Medium or High", 1, true))
      assert.truthy(err("sid", "v", { expires = -1 }):find("not a time", 1, true))
      assert.truthy(err("sid", "v", { colour = "red" }):find("unknown option", 1, true))
      assert.truthy(err("a b", "v"):find("invalid cookie name", 1, true))
      assert.truthy(err("sid", {}):find("a string or a number", 1, true))
    end)
  end)

  it("deletes with Max-Age=0 and an Expires in the past, keeping path and domain", function()
    assert.equal("s=; Path=/app; Domain=example.com; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
      cookie.deletion("s", { path = "/app", domain = "example.com" }))
    assert.is_false(pcall(cookie.deletion, "s", { max_age = 5 }))
  end)
end)
