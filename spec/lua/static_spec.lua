-- crater.static's pure parts (the C half, crater._static, is absent in stock
-- luajit; app:static itself is tested over sockets in spec/e2e/test_static.py).
require("fake_host").install() -- crater.static requires crater.request, which needs crater.host
local static = require "crater.static"

describe("crater.static", function()
  it("formats IMF-fixdates", function()
    assert.are.equal("Thu, 01 Jan 1970 00:00:00 GMT", static.http_date(0))
    assert.are.equal("Sun, 06 Nov 1994 08:49:37 GMT", static.http_date(784111777))
    assert.are.equal("Tue, 29 Feb 2000 23:59:59 GMT", static.http_date(951868799))
  end)

  it("parses the three HTTP date forms (RFC 9110 5.6.7)", function()
    assert.are.equal(784111777, static.parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"))
    assert.are.equal(784111777, static.parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"))
    assert.are.equal(784111777, static.parse_http_date("Sun Nov  6 08:49:37 1994"))
    assert.is_nil(static.parse_http_date("yesterday"))
    assert.is_nil(static.parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"))
  end)

  it("round-trips dates", function()
    for _, t in ipairs({ 0, 86399, 951782400, 1700000000, 4102444800 }) do
      assert.are.equal(t, static.parse_http_date(static.http_date(t)))
    end
  end)

  it("knows the common types", function()
    assert.are.equal("text/css", static.types.css)
    assert.are.equal("font/woff2", static.types.woff2)
    assert.are.equal("application/wasm", static.types.wasm)
  end)

  it("raises from app:static without the core", function()
    local app = require("crater").app()
    assert.has_error(function() app:static("/x", "y") end, "app:static: needs the Crater core (crater._static)")
  end)
end)
