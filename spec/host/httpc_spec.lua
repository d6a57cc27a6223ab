-- The response parser behind crater.http (host/src/httpc.c), fed by hand.
local host = require "crater.host"

describe("crater.host.http_parser", function()
  it("reads a response fed in pieces, and keeps what follows it", function()
    local p = host.http_parser(false, 1000)
    assert.are.equal("more", p:feed("HTTP/1.1 200 OK\r\nContent-Len"))
    assert.are.equal("headers", p:feed("gth: 5\r\nX-A: b\r\n\r\nhel"))
    assert.are.equal(200, p:status())
    assert.are.same({ "Content-Length", "5", "X-A", "b" }, p:headers())
    assert.are.equal("done", p:feed("loEXTRA"))
    assert.are.equal("hello", p:body())
    assert.are.equal("EXTRA", p:rest())
    assert.is_true(p:keepalive())
  end)

  it("skips a 100 Continue and decodes a chunked body", function()
    local p = host.http_parser(false, 0)
    assert.are.equal("done", p:feed("HTTP/1.1 100 Continue\r\n\r\n" ..
      "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"))
    assert.are.equal(201, p:status())
    assert.are.equal("abcde", p:body())
  end)

  it("waits past a 100 Continue that came alone", function()
    local p = host.http_parser(false, 0)
    assert.are.equal("more", p:feed("HTTP/1.1 100 Continue\r\n\r\n"))
    assert.are.equal(0, p:status())
    assert.are.equal("done", p:feed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-B: c\r\n\r\nok"))
    assert.are.equal(200, p:status())
    assert.are.same({ "Content-Length", "2", "X-B", "c" }, p:headers())
  end)

  it("takes a body that ends at close", function()
    local p = host.http_parser(false, 0)
    assert.are.equal("headers", p:feed("HTTP/1.0 200 OK\r\n\r\nuntil close"))
    assert.are.equal("done", p:eof())
    assert.are.equal("until close", p:body())
    assert.is_false(p:keepalive())
  end)

  it("hands the body over piece by piece with take()", function()
    local p = host.http_parser(false, 0)
    p:feed("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc")
    assert.are.equal("abc", p:take())
    assert.are.equal("done", p:feed("def"))
    assert.are.equal("def", p:take())
  end)

  it("says what went wrong", function()
    local t = host.http_parser(false, 0)
    t:feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert.are.same({ nil, "closed before the response was complete" }, { t:eof() })
    local u = host.http_parser(false, 4)
    assert.are.same({ nil, "body too large" },
      { u:feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789") })
    local v = host.http_parser(false, 0)
    assert.are.same({ nil, "response head too large" },
      { v:feed("HTTP/1.1 200 OK\r\nX-Big: " .. ("x"):rep(70000) .. "\r\n\r\n") })
    local ok, err = host.http_parser(false, 0):feed("NOT HTTP\r\n\r\n")
    assert.is_nil(ok)
    assert.matches("^malformed response: ", err)
  end)

  it("is as strict as the server's parser (llhttp's strict mode, docs/limits.md)", function()
    -- chunk data must end with CRLF; a CR must be followed by LF
    for _, bad in ipairs({ "3\r\nabcXX0\r\n\r\n", "3\r\nabc\r0\r\n\r\n", "3\rXabc\r\n0\r\n\r\n" }) do
      local ok, err = host.http_parser(false, 0):feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" .. bad)
      assert.is_nil(ok)
      assert.matches("^malformed response: ", err)
    end
    local ok, err = host.http_parser(false, 0):feed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\rXok")
    assert.is_nil(ok)
    assert.matches("^malformed response: ", err)
  end)

  it("gives the head as crater.http shows it, and is reused", function()
    local mt = {}
    local p = host.http_parser(false, 0)
    p:feed("HTTP/1.1 201 Created\r\nX-Multi: a\r\nContent-Length: 2\r\nx-MULTI: b\r\n\r\nok")
    local status, h = p:response(mt)
    assert.are.equal(201, status)
    assert.are.same({ ["x-multi"] = "a, b", ["content-length"] = "2" }, h)
    assert.are.equal(mt, getmetatable(h))
    assert.are.same({ "ok", true }, { p:result() })
    p:reset(false, 3)
    assert.are.equal("headers", p:feed("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\n"))
    assert.are.equal(200, (p:response()))
    assert.are.equal("done", p:feed("abc"))
    assert.are.same({ "abc", false }, { p:result() }) -- Connection: close
    p:reset(false, 3)
    assert.are.same({ nil, "body too large" }, { p:feed("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd") })
    p:reset(true, 0)
    assert.are.equal("done", p:feed("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEXTRA"))
    assert.are.same({ "", false }, { p:result() }) -- bytes after the response
  end)

  it("expects no body after a HEAD request", function()
    local p = host.http_parser(true, 0)
    assert.are.equal("done", p:feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"))
    assert.are.equal("", p:body())
  end)
end)
