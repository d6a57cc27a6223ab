-- The app of spec/e2e/test_websocket_deflate.py: permessage-deflate.
local crater = require "crater"
local app = crater.app()

app:get("/", function() return "plain" end)

-- Echoes every message; "big <n>" answers n compressible bytes.
local function echo(ws)
  while true do
    local data, kind = ws:receive()
    if not data then return end
    local n = data:match("^big (%d+)$")
    if n then
      ws:send(("crater "):rep(math.ceil(tonumber(n) / 7)):sub(1, tonumber(n)))
    else
      ws:send(data, kind)
    end
  end
end

app:websocket("/ws", { max_message = 256 * 1024 }, echo)
app:websocket("/ws/small", { deflate = { level = 1, memlevel = 1, max_window_bits = 9 } }, echo)
app:websocket("/ws/plain", { deflate = false }, echo)

-- A page whose WebSocket echoes one big message (Chromium's round trip).
app:get("/page", function(req)
  return crater.response([[<!doctype html><script>
window.result = null;
const ws = new WebSocket("ws://" + location.host + "/ws");
const big = "hello crater ".repeat(20000);
ws.onopen = () => ws.send(big);
ws.onmessage = (e) => { window.result = { same: e.data === big, ext: ws.extensions }; };
</script>]], 200, { ["Content-Type"] = "text/html; charset=utf-8" })
end)

return app
