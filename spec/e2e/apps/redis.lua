-- crater.redis cases for spec/e2e/test_redis.py. Every route takes the
-- server to use as ?url= (handles are made once per URL and kept, as an app
-- would keep its one handle); commands come as JSON arrays in the body.
local crater = require "crater"
local redis = require "crater.redis"
local json = crater.json
local app = crater.app { openapi = false }

local unpack, pairs, tonumber, select = unpack, pairs, tonumber, select

local handles = {}

-- ?url=...&timeout=...&read_timeout=... -> the handle for them
local function handle(req)
  local q = req.query
  local key = req.raw_query
  local r = handles[key]
  if r then return r end
  local opts = q.opts and json.decode(q.opts) or {}
  for _, k in pairs { "timeout", "read_timeout", "connect_timeout", "pool_size", "backlog" } do
    if q[k] then opts[k] = tonumber(q[k]) end
  end
  local err
  if q.url then r, err = redis.connect(q.url, opts) else r, err = redis.connect(opts) end
  if not r then crater.abort(400, err) end
  handles[key] = r
  return r
end

-- Errors come back as { err = ... }; values as { value = ... } (a nil reply
-- is json.null, so it shows as null).
local function answer(v, err)
  if v == nil then return { err = err } end
  return { value = v }
end

app:post("/call", function(req)
  local r = handle(req)
  return answer(r:call(unpack(req:json())))
end)

-- A method made by __index: /method/incrby with ["k", 2] calls r:incrby("k", 2).
app:post("/method/{name}", function(req)
  local r = handle(req)
  local m = r[req.params.name]
  return answer(m(r, unpack(req:json())))
end)

-- Raw bytes in and out: the body is the value of ?key.
app:post("/raw", function(req)
  return answer(handle(req):set(req.query.key, req.body))
end)

app:get("/raw", function(req)
  local v, err = handle(req):get(req.query.key)
  if v == nil then return 500, err end
  if v == json.null then return 404, "nil" end
  return crater.response(v, 200, { ["Content-Type"] = "application/octet-stream" })
end)

-- Commands as an array of arrays; ?style=object uses r:pipeline() and commit.
app:post("/pipeline", function(req)
  local r = handle(req)
  local cmds = req:json()
  local results, err
  if req.query.style == "object" then
    local p = r:pipeline()
    for i = 1, #cmds do assert(p:call(unpack(cmds[i])) == i) end
    results, err = p:commit()
  else
    results, err = r:pipeline(function(p)
      for i = 1, #cmds do p[cmds[i][1]:lower()](p, unpack(cmds[i], 2)) end
    end)
  end
  if not results then return { err = err } end
  local errors = json.array()
  for i = 1, #results do errors[i] = redis.is_error(results[i]) end
  return { value = results, errors = errors }
end)

app:post("/transaction", function(req)
  local cmds = req:json()
  return answer(handle(req):transaction(function(t)
    for i = 1, #cmds do t:call(unpack(cmds[i])) end
  end))
end)

-- Subscribes to ?channel (or ?pattern), then receives ?n messages, each
-- within ?wait seconds; ?unsubscribe=1 unsubscribes at the end and names the
-- connection it then had (it went back to the pool).
app:get("/subscribe", function(req)
  local r, q = handle(req), req.query
  local sub, err
  if q.pattern then sub, err = r:psubscribe(q.pattern) else sub, err = r:subscribe(q.channel) end
  if not sub then return { err = err } end
  local got = {}
  local messages = 0
  while messages < tonumber(q.n or 1) do
    local msg, merr = sub:receive(tonumber(q.wait))
    if not msg then
      got[#got + 1] = { err = merr }
      -- ?keep=1: a timeout leaves the subscription usable, up to 100 times
      if not (q.keep and merr == "timeout" and #got < 100) then break end
    else
      got[#got + 1] = msg
      messages = messages + 1
    end
  end
  if q.also then
    -- a second channel on the same subscription, then one more message
    assert(sub:subscribe(q.also))
    local msg, merr = sub:receive(tonumber(q.wait))
    got[#got + 1] = msg or { err = merr }
  end
  if q.unsubscribe then
    local ok, uerr = sub:unsubscribe()
    got[#got + 1] = { unsubscribed = ok or uerr }
  else
    sub:close()
  end
  return { value = got }
end)

-- Server-sent events: each message of ?channel as an event, ?n of them.
app:get("/events", function(req)
  local r = handle(req)
  local sub, err = r:subscribe(req.query.channel)
  if not sub then return 503, err end
  return crater.stream(function(write)
    write(": subscribed\n\n")
    for _ = 1, tonumber(req.query.n) do
      local msg, rerr = sub:receive(5)
      if not msg then write("event: error\ndata: " .. rerr .. "\n\n") break end
      write("data: " .. msg.data .. "\n\n")
    end
    sub:close()
  end, 200, { ["Content-Type"] = "text/event-stream" })
end)

-- One request publishes while its own thread listens: no second request needed.
app:get("/pubsub-self", function(req)
  local r = handle(req)
  local sub = assert(r:subscribe("self"))
  local t = crater.spawn(function() return sub:receive(2) end)
  -- the thread is receiving: this one is refused at once, and harms nothing
  local none, busy = sub:receive(0.1)
  local none2, busy2 = sub:subscribe("other")
  assert(r:publish("self", "to myself"))
  local msg, err = crater.wait(t)
  sub:close()
  if not msg then return { err = err } end
  msg.meanwhile = { tostring(none), busy, tostring(none2), busy2 }
  return msg
end)

-- CLIENT ID of the connection each of ?n commands ran on, one after the other.
app:get("/ids", function(req)
  local r = handle(req)
  local ids = {}
  for i = 1, tonumber(req.query.n or 2) do
    local id, err = r:client("ID")
    ids[i] = id or err
  end
  return { value = ids }
end)

-- ?n concurrent INCRs of ?key in spawned threads.
app:post("/spawn-incr", function(req)
  local r = handle(req)
  local threads = {}
  for i = 1, tonumber(req.query.n) do
    threads[i] = crater.spawn(function() return r:incr(req.query.key) end)
  end
  local got = {}
  for i = 1, #threads do got[i] = crater.wait(threads[i]) or false end
  return { value = got }
end)

-- Argument errors are raised, with the command named.
app:get("/bad", function(req)
  local r = handle(req)
  local ok, err = pcall(function()
    local v
    if req.query.what == "select" then v = r:select(1)
    elseif req.query.what == "table" then v = r:set("k", {}) -- the error names this line
    elseif req.query.what == "gsub" then
      v = ("x"):gsub("x", function() local got = r:get("k") return got end)
    elseif req.query.what == "subscribe" then v = r:subscribe("a", 1)
    else v = r:multi() end
    return v
  end)
  return { ok = ok, err = tostring(err) }
end)

-- The clients Redis has in ?url's database at the end of a request that made
-- ?n commands at once: with ?backlog, never more than ?pool_size. (Only that
-- database's: other tests leave idle connections in the pools of theirs.)
app:get("/burst", function(req)
  local r = handle(req)
  local in_db = " db=" .. (assert(redis.parse_url(req.query.url)).db or 0) .. " "
  local threads = {}
  for i = 1, tonumber(req.query.n) do
    threads[i] = crater.spawn(function() return r:call("CLIENT", "LIST") end)
  end
  local most, errs = 0, json.array()
  for i = 1, #threads do
    local list, err = crater.wait(threads[i])
    if list then
      local n = 0
      for line in list:gmatch("[^\n]+") do
        if line:find(in_db, 1, true) then n = n + 1 end
      end
      if n > most then most = n end
    else
      errs[#errs + 1] = err
    end
  end
  return { most = most, errors = errs }
end)

-- A timer writes too (REDIS_URL given to the server): every 50 ms.
app:on_start(function()
  local url = os.getenv("REDIS_URL")
  if not url then return end
  local r = assert(redis.connect(url))
  assert(crater.timer.every(0.05, function(premature)
    if not premature then r:incr("from-timer") end
  end))
end)

-- WATCH, read, MULTI/EXEC on one held connection; ?interfere=1 changes the
-- key from another connection in between, so EXEC answers null.
app:post("/watch", function(req)
  local r, key = handle(req), req.query.key
  local res, err = r:connection(function(c)
    assert(c:watch(key))
    local v = c:get(key)
    if req.query.interfere then assert(r:set(key, "changed")) end
    return c:transaction(function(t)
      t:set(key, (tonumber(v) or 0) + 1)
    end)
  end)
  if res == nil then return { err = err } end
  return { value = res }
end)

-- A held connection left in MULTI (or watching), or failing: ?how=multi,
-- watch, raise. Returns the connection's CLIENT ID and what happened.
app:get("/held", function(req)
  local r, how = handle(req), req.query.how
  local id
  local ok, err = pcall(r.connection, r, function(c)
    id = c:client("ID")
    if how == "multi" then assert(c:multi()) assert(c:set("held", "1") == "QUEUED") end
    if how == "watch" then assert(c:watch("held")) end
    if how == "raise" then error("boom", 0) end
    if how == "busy" then
      local t = crater.spawn(function() return c:blpop("nothing", "0.2") end)
      local _, e = c:get("held")
      assert(crater.wait(t) == json.null)
      error(e, 0)
    end
    return "done"
  end)
  if how == "late" then
    local kept
    r:connection(function(c) kept = c end)
    ok, err = pcall(function() local v = kept:ping() return v end)
  end
  local after = r:client("ID")
  return { id = id or json.null, ok = ok, err = ok and json.null or err, after = after, held = r:get("held") }
end)

-- Holds the pool's one connection for ?hold seconds while another thread
-- asks for one: it waits in the backlog, within its connect timeout.
app:get("/starve", function(req)
  local r = handle(req)
  local started = crater.now()
  local holder = crater.spawn(function()
    return r:connection(function(c) c:ping() crater.sleep(tonumber(req.query.hold)) return "held" end)
  end)
  local v, err = r:ping()
  local waited = crater.now() - started
  crater.wait(holder)
  return { value = v or json.null, err = err or json.null, waited = waited }
end)

app:get("/parse", function(req)
  local o, err = redis.parse_url(req.query.u)
  return o and { value = o } or { err = err }
end)

return app
