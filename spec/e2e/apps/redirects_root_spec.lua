-- spec/e2e/test_redirects.py runs this with `crater test` from "/": app.root
-- is the app file's folder even when the file tail-calls crater.app (the
-- loader sets it then) and wherever the server was started.
local crater = require "crater"
local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/")
local app = crater.app()
assert(app.root == here, "app.root " .. tostring(app.root) .. " is not " .. here)
local tail = dofile(here .. "/redirects_tail.lua")
assert(tail.root == nil, "a tail call hides the file from crater.app")
require("crater.app").entry(tail, here .. "/redirects_tail.lua")
assert(tail.root == here, "entry() sets app.root from the app file: " .. tostring(tail.root))
