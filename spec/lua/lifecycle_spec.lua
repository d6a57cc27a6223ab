-- crater.app lifecycle hooks (on_start, on_reload, on_stop) and the state
-- handover the C core (host/src/reload.c) drives through lifecycle() and
-- save_state().
require("fake_host").install()
local crater = require "crater"
local capp = require "crater.app"

describe("crater.app lifecycle", function()
  it("runs each event's hooks in the order added and returns the route count", function()
    local app = crater.app()
    app:get("/a", function() end)
    app:post("/b", function() end)
    local seen = {}
    app:on_start(function(info) seen[#seen + 1] = "start1 " .. info.generation end)
    app:on_start(function(info) seen[#seen + 1] = "start2 " .. tostring(info.previous) end)
    app:on_stop(function(info) seen[#seen + 1] = "stop " .. info.reason end)
    assert.equal(2, capp.lifecycle(app, "start", { generation = 3, previous = 2 }))
    assert.same({ "start1 3", "start2 2" }, seen)
    assert.equal(2, capp.lifecycle(app, "stop", { generation = 3, reason = "reload" }))
    assert.same({ "start1 3", "start2 2", "stop reload" }, seen)
  end)

  it("counts routes without hooks or without an event", function()
    local app = crater.app()
    app:get("/a", function() end)
    assert.equal(1, capp.lifecycle(app, nil, { generation = 1 }))
    assert.equal(1, capp.lifecycle(app, "start", { generation = 1 }))
  end)

  it("hands app.state over as a JSON copy to on_reload", function()
    local old = crater.app()
    old.state.hits = 41
    old.state.names = { "a", "b" }
    local text = capp.save_state(old)
    assert.is_string(text)
    local new = crater.app()
    local got
    new:on_reload(function(info) got = info end)
    capp.lifecycle(new, "reload", { generation = 2, previous = 1, state_json = text })
    assert.equal(41, got.state.hits)
    assert.same({ "a", "b" }, got.state.names)
    assert.is_nil(got.state_json)
    assert.equal(1, got.previous)
  end)

  it("hands nothing over when app.state is empty", function()
    assert.is_nil(capp.save_state(crater.app()))
  end)

  it("refuses state JSON cannot hold", function()
    local app = crater.app()
    app.state.fn = function() end
    assert.has_error(function() capp.save_state(app) end)
  end)

  it("lets a hook's error through with its file:line", function()
    local app = crater.app()
    app:on_reload(function() error("cannot take over") end)
    local ok, err = pcall(capp.lifecycle, app, "reload", { generation = 2, previous = 1 })
    assert.is_false(ok)
    assert.matches("lifecycle_spec.lua:%d+: cannot take over", err)
  end)

  it("rejects a hook that is not a function, naming the caller's line", function()
    local app = crater.app()
    local ok, err = pcall(function() app:on_start("nope") end)
    assert.is_false(ok)
    assert.matches("lifecycle_spec.lua:%d+: on_start hook must be a function", err)
  end)
end)
