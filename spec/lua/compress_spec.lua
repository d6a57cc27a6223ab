-- crater.compress: the app's and a route's `compress` option, checked where
-- they are set, and the policy the dispatcher hands the core with each
-- answer (its fifth value), against a fake `crater.host`.
local host = require("fake_host").install()
local crater = require "crater"
local compress = require "crater.compress"

local function answer(app, path)
  local dispatch = require("crater.app").entry(app, "spec")
  local co = coroutine.create(dispatch)
  local ok, status, _, _, _, policy = coroutine.resume(co, "GET", path, "", { seq = 1, headers = {} }, 1)
  assert(ok, status)
  return status, policy
end

describe("crater.compress", function()
  it("accepts nil, true, false and full option tables", function()
    assert.is_true(compress.check(nil))
    assert.is_true(compress.check(true))
    assert.is_true(compress.check(false))
    assert.is_true(compress.check({ level = 9, br = false, min_size = 0, types = { "text/*", "*+json", "application/json" } }))
  end)

  it("refuses bad options with a message naming the option", function()
    local cases = {
      { "yes", "compress must be true, false or a table of options" },
      { { lvl = 1 }, "unknown compress option lvl" },
      { { level = 0 }, "compress.level must be an integer from 1 to 9 (gzip)" },
      { { level = 2.5 }, "compress.level must be an integer from 1 to 9 (gzip)" },
      { { br = 12 }, "compress.br must be false or an integer from 1 to 11 (brotli quality)" },
      { { br = true }, "compress.br must be false or an integer from 1 to 11 (brotli quality)" },
      { { min_size = -1 }, "compress.min_size must be a number of bytes >= 0" },
      { { types = "text/*" }, "compress.types must be a list of media types" },
      { { types = { "text/html; charset=utf-8" } }, "compress.types[1] must be a media type like \"text/*\" or \"*+json\"" },
    }
    for _, c in ipairs(cases) do
      local ok, err = compress.check(c[1])
      assert.is_nil(ok)
      assert.equal(c[2], err)
    end
  end)

  it("makes crater.app and a route fail at the line that set the option", function()
    local ok, err = pcall(function() local a = crater.app { compress = { level = 10 } } return a end)
    assert.is_false(ok)
    assert.matches("compress_spec.lua:%d+: crater.app: compress.level must be", err)
    local app = crater.app()
    ok, err = pcall(function() app:get("/x", { compress = { lvl = 1 } }, function() end) end)
    assert.is_false(ok)
    assert.matches("compress_spec.lua:%d+: route /x: unknown compress option lvl", err)
  end)

  it("hands the route's policy, the route's fields over the app's", function()
    local app = crater.app { compress = { level = 3, min_size = 10 } }
    app:get("/a", function() return "a" end)
    app:get("/off", { compress = false }, function() return "b" end)
    app:get("/br", { compress = { br = false } }, function() return "c" end)
    local _, p = answer(app, "/a")
    assert.same({ level = 3, br = 4, min_size = 10, types = compress.TYPES }, p)
    _, p = answer(app, "/off")
    assert.is_false(p)
    _, p = answer(app, "/br")
    assert.same({ level = 3, br = 0, min_size = 10, types = compress.TYPES }, p)
    local st
    st, p = answer(app, "/missing") -- no route: the app's policy
    assert.equal(404, st)
    assert.same({ level = 3, br = 4, min_size = 10, types = compress.TYPES }, p)
  end)

  it("hands false for every answer of an app with compress = false", function()
    local app = crater.app { compress = false }
    app:get("/a", { compress = { level = 1 } }, function() return "a" end)
    local _, p = answer(app, "/a")
    assert.is_false(p)
    _, p = answer(app, "/missing")
    assert.is_false(p)
  end)
end)
