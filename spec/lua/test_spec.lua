-- crater.test: the client's request building and response object, in stock
-- luajit against the fake host (spec/host/test_client_spec.lua runs the same
-- client through the real C core with `crater test`).
require("fake_host").install()
local crater = require "crater"
local t = require "crater.test"

describe("crater.test", function()
  local app, client
  before_each(function()
    app = crater.app()
    app:get("/echo", function(req)
      return { query = req.raw_query, ua = req.headers["user-agent"], ctype = req.headers["content-type"] }
    end)
    app:post("/echo", function(req) return 201, { body = req.body } end)
    app:get("/two", function()
      local res = crater.response("x")
      res:header("X-A", "1"):header("X-A", "2")
      return res
    end)
    app:get("/stream", function()
      return crater.stream(function(write) write("a") write("b") end)
    end)
    client = t.client(app, { headers = { ["User-Agent"] = "spec" } })
  end)

  it("sends default headers and encodes a sorted query", function()
    local res = client:get("/echo", { query = { b = "x y", a = { "1", "2" } } })
    assert.equal(200, res.status)
    assert.same({ query = "a=1&a=2&b=x%20y", ua = "spec" }, res:json())
  end)

  it("appends a query to a path that has one", function()
    assert.equal("z=1&a=2", client:get("/echo?z=1", { query = { a = 2 } }):json().query)
  end)

  it("sends json with its content type, and bodies as given", function()
    local res = client:post("/echo", { json = { n = 1 } })
    assert.equal(201, res.status)
    assert.equal('{"n":1}', res:json().body)
    assert.equal("raw", client:post("/echo", { body = "raw" }):json().body)
  end)

  it("gives case-insensitive headers and every value of a repeated one", function()
    local res = client:get("/two")
    assert.equal("1, 2", res.headers["X-A"])
    assert.same({ "1", "2" }, res:header_values("x-a"))
    assert.equal("text/plain; charset=utf-8", res.headers["content-type"])
  end)

  it("joins a streamed body", function()
    local res = client:get("/stream")
    assert.equal("ab", res.body)
    assert.is_false(res.truncated)
  end)

  it("raises a clear error for a body that is not JSON", function()
    local ok, err = pcall(function() return client:get("/two"):json() end)
    assert.is_false(ok)
    assert.matches("response 200 is not JSON", err)
  end)

  it("checks its arguments", function()
    assert.has_error(function() t.client({}) end, "crater.test.client: expects an app (crater.app{...}) or nil, got table")
    assert.has_error(function() client:post("/echo", { json = {}, body = "x" }) end, "give body or json, not both")
    assert.has_error(function() client:post("/echo", { body = {} }) end)
  end)
end)
