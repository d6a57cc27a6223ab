-- CORS (test_cors.py): an app policy with a list and credentials, a group
-- with "*", a group with a function, a group whose policy allows no page
-- the browser test serves; and a page for headless Chromium.
local crater = require "crater"
local s = require "crater.schema"
local app = crater.app { title = "CORS" }

app:cors {
  origins = { "https://a.example", "https://B.example" },
  methods = { "GET", "POST", "DELETE" },
  headers = { "X-Token", "Content-Type" },
  expose = { "X-Total", "X-Page" },
  credentials = true,
  max_age = 600,
}

app:get("/items", function() return 200, { 1, 2 }, { ["X-Total"] = "2" } end)
app:post("/items", { body = s.object { name = s.string() } }, function(req) return 201, req.body end)
app:get("/boom", function() error("kaboom") end)
app:get("/missing", function() crater.abort(404, "no such thing") end)
app:get("/badheader", function() return 200, "x", { ["X-Bad"] = "a\rb" } end)
app:get("/vary", function() return 200, "v", { Vary = "Accept" } end)

local pub = app:group("/public")
pub:cors { origins = "*", expose = { "X-Total" } }
pub:get("/x", function() return "x" end)

local inner = pub:group("/inner")
inner:get("/y", function() return "y" end)

-- The browser test: the page comes from one server (http://127.0.0.1:A),
-- the API it calls is a second one (http://127.0.0.1:B) -- another origin
-- of the same site, so the API's cookie is not a third-party one.
local api = app:group("/api")
api:cors {
  origins = function(origin) return origin:match("^http://127%.0%.0%.1:%d+$") ~= nil end,
  headers = { "X-Token", "Content-Type" },
  credentials = true,
}
api:post("/login", function(req)
  local res = crater.response({ token_seen = req:header("X-Token") }, 200)
  res:set_cookie("sid", "s3cret", { path = "/", same_site = "Lax", http_only = true })
  return res
end)
api:get("/me", function(req)
  return { cookie = req:header("Cookie"), token = req:header("X-Token") }
end)

local closed = app:group("/closed")
closed:cors { origins = { "https://nowhere.example" } }
closed:get("/data", function() return { secret = 1 } end)

app:get("/page", function()
  return 200, [[<!doctype html><html><body><pre id="out">pending</pre><script>
(async () => {
  const api = "http://127.0.0.1:" + new URLSearchParams(location.search).get("api");
  const out = {};
  try {
    const r = await fetch(api + "/api/login", { method: "POST", credentials: "include",
      headers: { "X-Token": "t1", "Content-Type": "application/json" }, body: "{}" });
    out.login = { status: r.status, body: await r.json() };
    const r2 = await fetch(api + "/api/me", { credentials: "include", headers: { "X-Token": "t2" } });
    out.me = { status: r2.status, body: await r2.json() };
  } catch (e) { out.error = String(e); }
  try {
    const r3 = await fetch(api + "/closed/data", { headers: { "X-Token": "t3" } });
    out.closed = { status: r3.status };
  } catch (e) { out.closed = { failed: String(e) }; }
  try {
    const r4 = await fetch(api + "/closed/data");
    out.closed_simple = { status: r4.status };
  } catch (e) { out.closed_simple = { failed: String(e) }; }
  document.getElementById("out").textContent = "RESULT" + JSON.stringify(out) + "END";
})();
</script></body></html>]], { ["Content-Type"] = "text/html; charset=utf-8" }
end)

return app
