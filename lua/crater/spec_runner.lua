--- crater.spec_runner: how `crater test PATH` runs PATH inside a Crater VM
--- (where crater.host, and so crater.test's client, exist).
--
-- With busted installed (Debian's lua-busted), PATH goes through busted:
-- `describe`/`it`, `before_each`, luassert's `assert.are.same`, spies,
-- pending tests, and busted's report; PATH may be a directory (its
-- *_spec.lua files). A file without `describe` blocks is run whole, as
-- one block, so plain `assert` scripts work either way. Without busted,
-- PATH is run as a plain Lua script.

local pcall, error, require, rawget, rawset = pcall, error, require, rawget, rawset

local _M = {}

--- Runs one spec file (or, with busted, a directory of them). A plain
--- script's error is raised (with its traceback); when busted reports a
--- failed test it returns false and a one-line summary, busted having
--- printed which tests failed and why.
---@param path string
---@return boolean ok
---@return string|nil summary
function _M.run(path)
  local f = io.open(path, "rb") -- a directory opens too
  if f == nil then error("cannot open " .. path, 0) end
  f:close()
  local has_busted, runner = pcall(require, "busted.runner")
  if not has_busted then
    local chunk, err = loadfile(path)
    if chunk == nil then error(err, 0) end
    chunk()
    return true
  end
  -- busted's runner reads its command line from the global `arg`, and
  -- looks at its caller's frame: called from a Lua file (not a tail call,
  -- not pcall directly) it raises on failure instead of os.exit()ing the
  -- whole process.
  local saved = rawget(_G, "arg")
  rawset(_G, "arg", { path })
  local function go()
    local r = runner({ standalone = false })
    return r
  end
  local ok, err = pcall(go)
  rawset(_G, "arg", saved)
  if not ok then
    if err ~= nil then error(err, 0) end -- busted itself could not run
    return false, path .. ": tests failed (busted's report above)"
  end
  return true
end

return _M
