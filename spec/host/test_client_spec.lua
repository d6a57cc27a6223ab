-- crater.test against examples/hello/app.lua, run by `crater test` (ctest:
-- host_test_client_spec): every kind of route the app has, through the C
-- core's injection path.
local t = require "crater.test"
local json = require "crater.json"

local app = dofile("examples/hello/app.lua")
local client = t.client(app)

local function eq(want, got, what)
  if want ~= got then
    error(string.format("%s: expected %q, got %q", what, tostring(want), tostring(got)), 2)
  end
end

-- text
local res = client:get("/")
eq(200, res.status, "GET / status")
eq("Hello from Crater!\n", res.body, "GET / body")
eq("text/plain; charset=utf-8", res.headers["Content-Type"], "GET / content type")
eq("crater", res.headers["x-powered-by"], "after hook header")

-- path params, percent-encoding left to the app
eq("Hello, you!\n", client:get("/hello/you").body, "path param")

-- query strings, repeated keys
res = client:get("/search", { query = { q = "lua", tag = { "a", "b" } } })
eq("lua", res:json().q, "query q")
eq(2, #res:json().tags, "query repeated key")
eq("application/json", res.headers["content-type"], "json content type")

-- request headers and the remote address of an injected request
res = client:get("/whoami", { headers = { ["User-Agent"] = "spec/1" } })
eq("spec/1", res:json().agent, "request header")
eq("inject", res:json().remote, "remote address")

-- JSON in, JSON out, status and Location
res = client:post("/notes", { json = { text = "hi" } })
eq(201, res.status, "POST status")
local id = res:json().id
eq("/notes/" .. id, res.headers.location, "Location")
eq("hi", client:get("/notes/" .. id):json().text, "read back")

-- malformed JSON is 400 problem+json, a bad shape 422
res = client:post("/notes", { body = "{", headers = { ["Content-Type"] = "application/json" } })
eq(400, res.status, "malformed JSON")
eq("application/problem+json", res.headers["content-type"], "problem type")
eq(422, client:post("/notes", { json = { text = 1 } }).status, "abort 422")

-- repeated response headers
res = client:get("/cookie")
eq(2, #res:header_values("Set-Cookie"), "two cookies")

-- catch-all, streamed body (joined), HEAD without a body
eq("you asked for a/b.txt\n", client:get("/files/a/b.txt").body, "catch-all")
res = client:get("/count/3")
eq("1\n2\n3\n", res.body, "streamed body")
eq(false, res.truncated, "stream complete")
eq("", client:head("/").body, "HEAD has no body")

-- handler errors, 404 via the app's error handler, 405
res = client:get("/boom")
eq(500, res.status, "handler error")
eq("about:blank", res:json().type, "problem json")
res = client:get("/nope")
eq(404, res.status, "not found")
eq("/nope", res:json().path, "app error handler")
eq(405, client:delete("/").status, "method not allowed")

-- a client without an app talks to the server's app: none here, so 503
eq(503, t.client():get("/").status, "no app loaded")

-- arguments are checked
local ok, err = pcall(client.get, client, "no-slash")
assert(not ok and err:find("must start with '/'"), err)
assert(json.encode({}) == "{}")
