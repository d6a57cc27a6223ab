-- An app with compression off (test_compress.py).
local crater = require "crater"
local app = crater.app { compress = false }

app:get("/text", function() return string.rep("t", 5000) end)

return app
