-- The app of spec/e2e/test_scaleout.py: two copies run behind nginx and share
-- their state through PostgreSQL (users) and Redis (sessions), so any copy can
-- answer for a session another one created. Each copy names itself (INSTANCE)
-- in every answer: that is how the test proves a request crossed instances.
local crater = require "crater"
local app = crater.app()

local INSTANCE = os.getenv("INSTANCE") or "?"
local SESSION_TTL = 3600 -- seconds; Redis forgets a session by itself

-- (assert returns its message too: the URLs go through locals so that the
-- message is not taken for connect's options.)
local db_url = assert(os.getenv("DATABASE_URL"), "DATABASE_URL is needed")
local redis_url = assert(os.getenv("REDIS_URL"), "REDIS_URL is needed")
local db = assert(crater.pg.connect(db_url))
local r = assert(crater.redis.connect(redis_url))

-- While the file loads (a blocking query). The test starts the second copy
-- after the first is up, so the two never race to create the table.
db:query([[CREATE TABLE IF NOT EXISTS users (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  created_by text NOT NULL)]])

-- The session id: a cookie for browsers, X-Session for API clients (the test
-- uses both).
local function session_id(req)
  local sid = req:header("x-session")
  if sid then return sid end
  local cookie = req:header("cookie")
  return cookie and cookie:match("sid=([%w%-]+)")
end

app:post("/login", function(req)
  local name = req:json().name
  if type(name) ~= "string" or name == "" then crater.abort(400, "name is needed") end
  -- gen_random_uuid (PostgreSQL 13+) gives an unguessable session id in the
  -- same round trip as the user's row.
  local row = db:query("INSERT INTO users (name, created_by) VALUES ($1, $2) " ..
    "RETURNING id, gen_random_uuid()::text AS sid", name, INSTANCE)[1]
  local ok, err = r:set("session:" .. row.sid, tostring(row.id), "EX", SESSION_TTL)
  if not ok then return 503, { error = err, instance = INSTANCE } end
  return 201, { sid = row.sid, user = row.id, instance = INSTANCE },
    { ["Set-Cookie"] = "sid=" .. row.sid .. "; Path=/; HttpOnly; Max-Age=" .. SESSION_TTL }
end)

app:get("/me", function(req)
  local sid = session_id(req)
  if not sid then crater.abort(401, "no session") end
  local uid, err = r:get("session:" .. sid)
  if not uid then return 503, { error = err, instance = INSTANCE } end
  if uid == crater.json.null then crater.abort(401, "unknown or expired session") end
  local user = db:query("SELECT id, name, created_by FROM users WHERE id = $1", tonumber(uid))[1]
  if not user then crater.abort(401, "the session's user is gone") end
  return { user = user, instance = INSTANCE, ttl = r:ttl("session:" .. sid) }
end)

-- A request that takes a while, so that some are in flight when the test
-- sends SIGTERM: those must still be answered. With ?tag= it says in the log
-- that it has started: the test waits for that line to know the request is
-- in the server (not in its accept queue) before it sends SIGTERM.
app:get("/slow", function(req)
  if req.query.tag then
    io.stderr:write("slow started: ", req.query.tag, "\n")
    io.stderr:flush()
  end
  crater.sleep((tonumber(req.query.ms) or 200) / 1000)
  return { instance = INSTANCE }
end)

app:get("/whoami", function() return { instance = INSTANCE } end)

return app
