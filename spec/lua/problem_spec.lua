-- crater.problem: building problems and encoding them as problem+json text
-- (RFC 9457), the fast path for the problems Crater answers itself and the
-- general one, both with the same member order; and the schemas.
local problem = require "crater.problem"
local json = require "crater.json"

local encode, new = problem.encode, problem.new

describe("crater.problem", function()
  it("titles every status with the C core's reason phrase (one table: http.h's list)", function()
    local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/")
    local f = assert(io.open(here .. "/../../host/src/http.h"))
    local text = f:read("*a")
    f:close()
    local n = 0
    for code, phrase in text:gmatch('XX%((%d+), "([^"]*)"%)') do
      assert.equal(phrase, require("crater.problem").TITLES[tonumber(code)])
      assert.equal(phrase, new(tonumber(code)).title)
      n = n + 1
    end
    assert.is_true(n > 40)
    assert.equal("I'm a teapot", new(418).title)
  end)

  it("builds a problem with the status's title", function()
    assert.same({ type = "about:blank", title = "Not Found", status = 404, detail = "no route for /x" },
      new(404, "no route for /x"))
    assert.same({ type = "about:blank", title = "I'm a teapot", status = 418 }, new(418))
    assert.same({ type = "about:blank", title = "Error", status = 599 }, new(599))
    assert.same({ type = "about:blank", title = "Bad Request", status = 400, detail = "bad", offset = 3 },
      new(400, "bad", { offset = 3 }))
  end)

  it("encodes Crater's own problems with the members in RFC order", function()
    assert.equal('{"type":"about:blank","title":"Conflict","status":409,"detail":"taken"}',
      encode(new(409, "taken")))
    assert.equal('{"type":"about:blank","title":"Not Found","status":404}', encode(new(404)))
    assert.equal('{"type":"about:blank","title":"Bad Request","status":400,"detail":"malformed","offset":9}',
      encode(new(400, "malformed", { offset = 9 })))
    assert.equal('{"type":"about:blank","title":"Not Found","status":404,"detail":"d","instance":"/i"}',
      encode(new(404, "d", { instance = "/i" })))
  end)

  it("encodes a 422's errors: in, pointer, message, keyword, then the rest sorted", function()
    local errs = json.array {
      { ["in"] = "body", pointer = "/price", message = "must be > 0", keyword = "exclusiveMinimum" },
      { keyword = "required", message = "is required", pointer = "/name", ["in"] = "body", zeta = 1, alpha = "a" },
      { message = "only a message" },
    }
    assert.equal('{"type":"about:blank","title":"Unprocessable Content","status":422,"detail":"3 errors",'
      .. '"errors":[{"in":"body","pointer":"/price","message":"must be > 0","keyword":"exclusiveMinimum"},'
      .. '{"in":"body","pointer":"/name","message":"is required","keyword":"required","alpha":"a","zeta":1},'
      .. '{"message":"only a message"}]}',
      encode(new(422, "3 errors", { errors = errs })))
    assert.equal('{"type":"about:blank","title":"Unprocessable Content","status":422,"errors":[]}',
      encode(new(422, nil, { errors = json.array {} })))
  end)

  it("leaves errors that are not a list of tables to the JSON encoder", function()
    local p = new(422, "x", { errors = setmetatable({ a = 1 }, {}) })
    assert.same(json.decode(json.encode(p)), json.decode(encode(p)))
    p = new(422, "x", { errors = json.array { "plain" } })
    assert.same({ "plain" }, json.decode(encode(p)).errors)
    -- member names that cannot be sorted (a number beside a string)
    local odd = json.array { { ["in"] = "body", [1] = "x", b = "y" } }
    p = new(422, "x", { errors = odd })
    assert.same(json.decode(json.encode(odd)), json.decode(encode(p)).errors)
  end)

  it("encodes any other problem in the same order, extensions sorted", function()
    local p = { type = "https://example.com/out-of-stock", title = "Out of stock", status = 409,
                detail = "none left", instance = "/orders/7", sku = "a-1", count = 0 }
    assert.equal('{"type":"https://example.com/out-of-stock","title":"Out of stock","status":409,'
      .. '"detail":"none left","instance":"/orders/7","count":0,"sku":"a-1"}', encode(p))
    -- a title other than the status's own, several extensions: the general path too
    assert.equal('{"type":"about:blank","title":"Mine","status":404}',
      encode({ type = "about:blank", title = "Mine", status = 404 }))
    assert.equal('{"type":"about:blank","title":"Not Found","status":404,"a":1,"b":2}',
      encode(new(404, nil, { b = 2, a = 1 })))
    assert.equal('{"title":"no type"}', encode({ title = "no type" }))
  end)

  it("escapes strings, and gives the same text every time", function()
    local p = new(404, 'no route for /a"b\n')
    local once = encode(p)
    assert.equal('{"type":"about:blank","title":"Not Found","status":404,"detail":"no route for /a\\"b\\n"}', once)
    assert.equal(once, encode(new(404, 'no route for /a"b\n')))
    local long = string.rep("x", 200) -- longer than what the string cache keeps
    assert.equal(long, json.decode(encode(new(404, long))).detail)
    for i = 1, 600 do -- past the cache's bound: it empties and goes on answering right
      assert.equal("d" .. i, json.decode(encode(new(404, "d" .. i))).detail)
    end
  end)

  it("describes the same format as JSON Schema", function()
    assert.equal("application/problem+json", problem.CONTENT_TYPE)
    assert.same({ "type", "title", "status" }, problem.Problem.required)
    assert.equal(problem.ValidationError, problem.Problem.properties.errors.items)
  end)
end)
