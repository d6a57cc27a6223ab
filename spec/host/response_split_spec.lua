-- Nothing an app returns can split a response, for injected requests too
-- (crater.test's client goes through crater_inject and the C core's
-- pipeline, as over a socket: spec/e2e/test_response_split.py). The
-- framework refuses a bad header as the handler's error (the app's error
-- handler answers); a dispatcher that goes around it meets the core's own
-- check (pipeline.c's respond_from_stack) and gets 500.
local crater = require "crater"
local client = require("crater.test").client
local dispatch = require "crater.dispatch"

local app = crater.app()
app:error(500, function(_, err) return 500, "custom: " .. err.detail end)
app:get("/plain", function(req) return 200, "hi", { ["X-Echo"] = req.query.v } end)
app:get("/array", function(req) return 200, "hi", { ["X-Many"] = { "ok", req.query.v } } end)
app:get("/ct", function(req) return 200, "hi", { ["Content-Type"] = req.query.v } end)
app:get("/object", function(req)
  local res = crater.response("hi")
  res:header("X-Echo", req.query.v)
  return res
end)
app:get("/cookie", function(req)
  local res = crater.response("hi")
  res:set_cookie("sid", "1", { path = req.query.v })
  return res
end)
app:get("/stream", function(req)
  return crater.stream(function(write) write("a") end, 200, { ["X-Echo"] = req.query.v })
end)
app:get("/status", function(req) return tonumber(req.query.s), "x" end)
app:get("/close", function() return 200, "bye", { Connection = "close" } end)

describe("an injected request's answer", function()
  local c = client(app)

  it("goes out when every header keeps the rule", function()
    local res = c:get("/plain", { query = { v = "a b\tc\195\169" } })
    assert.are.equal(200, res.status)
    assert.are.equal("a b\tc\195\169", res.headers["X-Echo"])
    res = c:get("/stream", { query = { v = "fine" } })
    assert.are.same({ 200, "fine", "a" }, { res.status, res.headers["X-Echo"], res.body })
  end)

  it("is the handler's error when a header breaks it, however it was returned", function()
    for _, path in ipairs({ "/plain", "/array", "/ct", "/object", "/cookie", "/stream" }) do
      for _, v in ipairs({ "a\r\nX-Injected: yes", "a\nb", "a\0b", "a\vb", "a\127b" }) do
        local res = c:get(path, { query = { v = v } })
        assert.are.equal(500, res.status, path)
        assert.are.equal("custom: the server failed to answer this request", res.body, path)
        assert.is_nil(res.headers["X-Injected"], path)
      end
    end
    assert.are.equal(200, c:get("/plain", { query = { v = "ok" } }).status)
  end)

  it("refuses a 1xx status as the final answer", function()
    for _, s in ipairs({ "100", "101", "199" }) do
      assert.are.equal(500, c:get("/status", { query = { s = s } }).status)
    end
  end)

  it("honours Connection: close without sending the handler's header twice", function()
    local res = c:get("/close")
    assert.are.equal(200, res.status)
    assert.are.equal("bye", res.body)
  end)
end)

describe("the core's own check, for a dispatcher that goes around the framework", function()
  local raw = {
    ["/crlf"] = { 200, "x", "text/plain", { "X-A", "a\r\nX-Injected: yes" } },
    ["/colon"] = { 200, "x", "text/plain", { "X-Injected:", "yes" } },
    ["/ctype"] = { 200, "x", "text/plain\r\nX-Injected: yes", nil },
    ["/cl"] = { 200, "x", "text/plain", { "Content-Length", "0" } },
    ["/s101"] = { 101, "", nil, nil },
    ["/ok"] = { 200, "fine", "text/plain", { "X-Fine", "yes" } },
  }
  local new = dispatch.new
  dispatch.new = function()
    return function(_, p)
      local a = raw[p]
      return a[1], a[2], a[3], a[4]
    end
  end
  local ok, c = pcall(client, crater.app())
  dispatch.new = new
  assert(ok, c)

  it("answers 500 and sends nothing of the refused answer", function()
    for _, path in ipairs({ "/crlf", "/colon", "/ctype", "/cl", "/s101" }) do
      local res = c:get(path)
      assert.are.equal(500, res.status, path)
      assert.are.equal("application/problem+json", res.headers["Content-Type"], path)
      assert.is_nil(res.headers["X-Injected"], path)
    end
    local res = c:get("/ok")
    assert.are.same({ 200, "fine", "yes" }, { res.status, res.body, res.headers["X-Fine"] })
  end)
end)
