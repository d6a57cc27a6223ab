-- An app whose compress options replace the defaults (test_compress.py):
-- only application/octet-stream, from 10 bytes, gzip level 9, no brotli.
local crater = require "crater"
local app = crater.app { compress = { types = { "application/octet-stream" }, min_size = 10, level = 9, br = false } }

app:get("/octets", function()
  return crater.response(string.rep("z", 50), 200, { ["Content-Type"] = "application/octet-stream" })
end)
app:get("/text", function() return string.rep("t", 5000) end)

return app
