-- Security schemes (test_security.py): declared, applied per app, group and
-- route, checked by Crater, listed in the OpenAPI document.
local crater = require "crater"
local app = crater.app { title = "Secure", version = "1.0.0", description = "Security schemes" }

local KEYS = { k1 = { user = "ann" } }
local TOKENS = { t1 = { user = "bob", scopes = { read = true } }, t2 = { user = "cy", scopes = { read = true, write = true } } }

app:security_scheme("api_key", { type = "apiKey", ["in"] = "header", name = "X-API-Key" },
  function(req, key) return KEYS[key] end)
app:security_scheme("query_key", { type = "apiKey", ["in"] = "query", name = "key" },
  function(req, key) return KEYS[key] end)
app:security_scheme("cookie_key", { type = "apiKey", ["in"] = "cookie", name = "sid" },
  function(req, key) return KEYS[key] end)
app:security_scheme("bearer", { type = "http", scheme = "bearer", bearerFormat = "JWT" },
  function(req, token, scopes)
    local t = TOKENS[token]
    if not t then return nil end
    for _, s in ipairs(scopes) do
      if not t.scopes[s] then crater.abort(403, "the token lacks scope " .. s) end
    end
    return t
  end)
app:security_scheme("basic", { type = "http", scheme = "basic" },
  function(req, c) return c.user == "dee" and c.password == "pa:ss" and { user = c.user } or nil end)
app:security_scheme("oauth", {
  type = "oauth2",
  flows = { clientCredentials = { tokenUrl = "https://auth.example/token", scopes = { read = "Read", write = "Write" } } },
}, function(req, token, scopes) return TOKENS[token] end)
app:security_scheme("mtls", { type = "mutualTLS", description = "at the proxy" }, false)

app:security { "api_key", "query_key", "cookie_key" }

app:before(function(req) req.seen_auth = req.auth end)

app:get("/me", { summary = "Who am I", responses = { [200] = { description = "The caller" } } },
  function(req) return { auth = req.auth, seen = req.seen_auth } end)
app:get("/health", { summary = "Health", security = {} }, function(req) return { ok = true, auth = req.auth } end)
app:get("/proxy", { summary = "Behind the proxy", security = { "mtls" } }, function(req) return "through" end)

local admin = app:group("/admin", { tags = { "admin" }, security = { { bearer = { "read" } }, "basic" } })
admin:get("/stats", { summary = "Stats" }, function(req) return { auth = req.auth } end)
admin:delete("/stats", { summary = "Reset stats", security = { { bearer = { "write" } } } },
  function(req) return { reset = true, by = req.auth.user } end)
admin:get("/both", { summary = "Key and token", security = { { api_key = {}, bearer = {} } } },
  function(req) return { key = req.auth.api_key.user, token = req.auth.bearer.user } end)
admin:get("/oauth", { summary = "OAuth", security = { { oauth = { "read" } } } },
  function(req) return { user = req.auth.user } end)
return app
