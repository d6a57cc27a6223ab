-- crater.errors: answering what went wrong, through the app's error
-- handlers or with problem+json (against a fake crater.host).
local host = require("fake_host").install()
local crater = require "crater"
local errors = require "crater.errors"
local response = require "crater.response"
local json = crater.json

local req = { method = "GET", path = "/p" }

local function finished(res) return { response.finish(res) } end

describe("crater.errors", function()
  local app
  before_each(function()
    host.logged = {}
    app = crater.app()
  end)

  it("answers problem+json when the app has no error handler", function()
    local res = errors.answer(app, req, 405, "not here", { Allow = "GET" })
    assert.same({ 405, '{"type":"about:blank","title":"Method Not Allowed","status":405,"detail":"not here"}',
                  "application/problem+json", { "Allow", "GET" } }, finished(res))
    res = errors.answer(app, req, 400, "malformed", nil, { offset = 2 })
    assert.equal(2, json.decode(res.body).offset)
  end)

  it("answers through the handler for the status, else *", function()
    local seen
    app:error(404, function(r, err) seen = { r, err } return 404, { gone = r.path } end)
    app:error("*", function(_, err) return err.status, "status " .. err.status end)
    local res = errors.answer(app, req, 404, "no route")
    assert.same({ 404, '{"gone":"/p"}', "application/json" }, { response.finish(res) })
    assert.equal(req, seen[1])
    assert.same({ type = "about:blank", title = "Not Found", status = 404, detail = "no route" }, seen[2])
    assert.same({ 409, "status 409", "text/plain; charset=utf-8" }, { response.finish(errors.answer(app, req, 409)) })
  end)

  it("answers 500 and logs when the error handler fails", function()
    app:error(404, function() error("handler bug") end)
    local res = errors.answer(app, req, 404, "no route", { X = "dropped" })
    assert.same({ 500, '{"type":"about:blank","title":"Internal Server Error","status":500,'
      .. '"detail":"the error handler failed"}', "application/problem+json" }, { response.finish(res) })
    assert.truthy(host.logged[1]:find("error handler for 404 failed: .*handler bug"))
  end)

  it("keeps crater.abort's error and traces any other", function()
    local ok, e = xpcall(crater.abort, errors.traceback, 409, "taken", { X = "1" })
    assert.is_false(ok)
    assert.is_true(e.crater_http_error)
    local res = errors.failed(app, req, e)
    assert.same({ 409, "1" }, { res.status, res:get_header("X") })
    ok, e = xpcall(function() error("kaput") end, errors.traceback)
    assert.truthy(e.message:find("kaput"))
    assert.truthy(e.traceback:find("stack traceback", 1, true))
  end)

  it("logs a failed handler and hides the error from the client", function()
    local _, e = xpcall(function() error("secret") end, errors.traceback)
    local res = errors.failed(app, req, e)
    assert.same({ 500, "the server failed to answer this request" }, { res.status, json.decode(res.body).detail })
    assert.is_nil(res.body:find("secret"))
    assert.truthy(host.logged[1]:find("handler for GET /p failed: .*secret"))
  end)
end)
