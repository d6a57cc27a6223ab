-- crater.http.parse_url: what an absolute http(s) URL becomes, and the
-- errors for what is not one.
local http = require "crater.http"

describe("crater.http.parse_url", function()
  local function parts(url) return { http.parse_url(url) } end

  it("takes scheme, host, port and target apart", function()
    assert.are.same({ "http", "example.com", 80, "/" }, parts("http://example.com"))
    assert.are.same({ "https", "example.com", 443, "/a/b?x=1" }, parts("HTTPS://example.com/a/b?x=1#frag"))
    assert.are.same({ "http", "127.0.0.1", 8080, "/?q" }, parts("http://user:pw@127.0.0.1:8080?q"))
    assert.are.same({ "http", "::1", 9000, "/v1" }, parts("http://[::1]:9000/v1"))
    assert.are.same({ "https", "::1", 443, "/" }, parts("https://[::1]"))
  end)

  it("says what is wrong with a bad url", function()
    for url, why in pairs({
      ["ftp://x/"] = "unsupported scheme", ["/relative"] = "not absolute", ["http://"] = "no host",
      ["http://h:0/"] = "bad port", ["http://h:65536/"] = "bad port", ["http://h/a b"] = "a space",
      ["http://h/\r\nX: y"] = "a space or control character", ["http://[zz]/"] = "no host",
    }) do
      local ok, err = http.parse_url(url)
      assert.is_nil(ok)
      assert.are.equal("bad url: ", err:sub(1, 9), url)
      assert.truthy(err:find(why, 1, true), err)
    end
    assert.are.same({ nil, "bad url: not a string: nil" }, parts(nil))
  end)
end)
