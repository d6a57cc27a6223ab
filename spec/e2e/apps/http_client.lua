-- crater.http cases for spec/e2e/test_http_client.py. The test posts what
-- to call as JSON to /call ({ url, opts, as = "request" | "get" | "post",
-- body }); the answer describes the result: { ok, status, headers, body,
-- err, ... }.
local crater = require "crater"
local http = crater.http
local app = crater.app { openapi = false }

local pairs, concat, tostring = pairs, table.concat, tostring

local function describe(res, err)
  if not res then return { ok = false, err = err } end
  local h = {}
  for k, v in pairs(res.headers) do h[k] = v end
  return { ok = true, status = res.status, headers = h, body = res.body }
end

app:post("/call", function(req)
  local c = req:json()
  local res, err
  if c.as == "get" then
    res, err = http.get(c.url, c.opts)
  elseif c.as == "post" then
    res, err = http.post(c.url, c.body, c.opts)
  else
    res, err = http.request(c.url, c.opts)
  end
  local d = describe(res, err)
  if res then
    -- lookups ignore case; :json() decodes (nil, err when not JSON)
    d.content_type = res.headers["Content-TYPE"]
    local v, jerr = res:json()
    d.json, d.json_err = v, jerr
  end
  return d
end)

-- n requests one after the other in one handler: each answer of the
-- upstream's /conn names its connection and the request number on it.
app:get("/sequential", function(req)
  local n, out = tonumber(req.query.n), {}
  for i = 1, n do
    local res, err = http.get(req.query.url, { keepalive = req.query.keepalive ~= "0",
      cafile = req.query.cafile })
    out[i] = res and res.body or "nil|" .. tostring(err)
  end
  return concat(out, ",")
end)

-- n requests at once from spawned threads.
app:get("/parallel", function(req)
  local n, threads = tonumber(req.query.n), {}
  local opts = { pool_size = tonumber(req.query.pool_size) }
  for i = 1, n do
    threads[i] = crater.spawn(function()
      local res, err = http.get(req.query.url, opts)
      return res and res.status .. ":" .. res.body or "nil|" .. tostring(err)
    end)
  end
  local t0 = crater.now()
  local res = { crater.wait(unpack(threads)) }
  return concat(res, ",") .. "\n" .. tostring(crater.now() - t0)
end)

-- A streamed upstream body relayed piece by piece to the client; the count
-- of pieces read goes last.
app:get("/relay", function(req)
  local res, err = http.request(req.query.url, { stream = true })
  if not res then return 502, err end
  return crater.stream(function(write)
    local n = 0
    while true do
      local piece, rerr = res:read()
      if not piece then
        if rerr then write("\nerror: " .. rerr) end
        break
      end
      n = n + 1
      write(piece)
    end
    write("\npieces: " .. n)
  end, res.status, { ["Content-Type"] = res.headers["content-type"] })
end)

-- A crater.http call made inside a stream's function.
app:get("/inside-stream", function(req)
  return crater.stream(function(write)
    write("before\n")
    local res, err = http.get(req.query.url)
    write(res and res.body or "nil|" .. tostring(err))
    write("\nafter\n")
  end)
end)

-- Streamed: reads `pieces` pieces (all: 0), then res:close(); body, count,
-- and what read() says after the close. ?small_default=1: the default
-- max_body is 1000 meanwhile (a streamed body is not held to it).
app:get("/stream-some", function(req)
  local opts = { stream = true, max_body = tonumber(req.query.max_body) }
  local saved = http.defaults.max_body
  if req.query.small_default then http.defaults.max_body = 1000 end
  local res, err = http.request(req.query.url, opts)
  http.defaults.max_body = saved
  if not res then return "nil|" .. tostring(err) end
  local want, got, n = tonumber(req.query.pieces), {}, 0
  while want == 0 or n < want do
    local piece, rerr = res:read()
    if not piece then
      if rerr then got[#got + 1] = "error: " .. rerr end
      break
    end
    n = n + 1
    got[#got + 1] = piece
  end
  res:close()
  return concat(got) .. "|" .. n .. "|" .. tostring(res:read()) .. "|" .. tostring(res.body)
    .. "|" .. tostring(select(2, res:json()))
end)

-- Argument errors raise.
app:get("/bad-args", function(req)
  local out = {}
  for _, f in ipairs({
    function() http.request(req.query.url, "GET") end,
    function() http.request(req.query.url, { method = "GE T" }) end,
    function() http.request(req.query.url, { headers = { ["Bad Name"] = "x" } }) end,
    function() http.request(req.query.url, { headers = { ["X-A"] = "a\r\nX-Injected: 1" } }) end,
    function() http.request(req.query.url, { body = {} }) end,
    function() http.request(req.query.url, { headers = "x" }) end,
    function() http.get(req.query.url, 5) end,
  }) do
    local ok, err = pcall(f)
    out[#out + 1] = tostring(ok) .. "|" .. tostring(err)
  end
  return concat(out, "\n")
end)

-- Waits on an upstream that never answers: the client goes away meanwhile.
app:get("/wait", function(req)
  local res, err = http.get(req.query.url, { timeout = 10 })
  return res and res.body or "nil|" .. tostring(err)
end)

app:get("/hello", function() return "hello from crater" end)

return app
