-- Response compression cases for spec/e2e/test_compress.py.
local crater = require "crater"
local app = crater.app()

-- 20 KiB of JSON that compresses well but not to nothing.
local items = {}
for i = 1, 400 do items[i] = { id = i, name = "item " .. i, ok = i % 3 == 0 } end
local BIG = crater.json.encode({ items = items })

local TEXT = string.rep("the quick brown fox jumps over the lazy dog\n", 100) -- 4400 bytes

app:get("/json", function() return crater.response(BIG, 200, { ["Content-Type"] = "application/json" }) end)
app:get("/text", function() return TEXT end)
app:get("/small", function() return string.rep("a", 1000) end)
app:get("/octets", function()
  return crater.response(TEXT, 200, { ["Content-Type"] = "application/octet-stream" })
end)
app:get("/off", { compress = false }, function() return TEXT end)
app:get("/empty", { compress = { min_size = 0 } }, function() return "" end)
app:get("/level1", { compress = { level = 1, br = false, min_size = 10 } }, function()
  return string.rep("b", 100)
end)
app:get("/vary", function()
  return crater.response(TEXT, 200, { ["Content-Type"] = "text/plain", Vary = "Origin" })
end)
app:get("/vary-ae", function()
  return crater.response(TEXT, 200, { ["Content-Type"] = "text/plain", Vary = "accept-encoding" })
end)
app:get("/etag", function()
  return crater.response(TEXT, 200, { ["Content-Type"] = "text/plain", ETag = '"v1"' })
end)
app:get("/weak-etag", function()
  return crater.response(TEXT, 200, { ["Content-Type"] = "text/plain", ETag = 'W/"v1"' })
end)
app:get("/own-encoding", function()
  return crater.response(TEXT, 200, { ["Content-Type"] = "text/plain", ["Content-Encoding"] = "x-custom" })
end)
app:get("/no-transform", function()
  return crater.response(TEXT, 200, { ["Content-Type"] = "text/plain", ["Cache-Control"] = "public, no-transform" })
end)
app:get("/range", function()
  return crater.response(TEXT, 206, { ["Content-Type"] = "text/plain", ["Content-Range"] = "bytes 0-4399/9000" })
end)
app:get("/status/{n}", function(req)
  return crater.response(TEXT, tonumber(req.params.n), { ["Content-Type"] = "text/plain" })
end)
app:get("/missing", function() crater.abort(404, string.rep("no such thing. ", 100)) end)

-- A stream whose second chunk waits until /release is asked for: the first
-- must reach the client, decodable, before that.
local released = false
app:get("/release", function() released = true return "ok" end)
app:get("/stream", function()
  released = false
  return crater.stream(function(write)
    write(string.rep("first chunk ", 50) .. "\n")
    while not released do crater.sleep(0.01) end
    write(string.rep("second chunk ", 50) .. "\n")
  end, 200, { ["Content-Type"] = "text/plain" })
end)
app:get("/stream-octets", function()
  return crater.stream(function(write) write(TEXT) end, 200, { ["Content-Type"] = "application/octet-stream" })
end)
app:get("/stream-big", function()
  return crater.stream(function(write)
    for i = 1, 200 do write(string.rep("line " .. i .. " ", 200) .. "\n") end
  end, 200, { ["Content-Type"] = "text/plain" })
end)

return app
