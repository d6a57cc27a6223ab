-- Cosocket cases for spec/e2e/test_socket.py. The fixtures' ports come in
-- the query (?port=...); most routes answer "a|b|c": the values their
-- calls returned, tostring'd and joined.
local crater = require "crater"
local app = crater.app()

local tcp = crater.socket.tcp
local concat, select, tostring = table.concat, select, tostring

local function show(...)
  local out = {}
  for i = 1, select("#", ...) do out[i] = tostring((select(i, ...))) end
  return concat(out, "|")
end

local function port(req, name) return tonumber(req.query[name or "port"]) end

local function connected(req, opts)
  local sock = tcp()
  local ok, err = sock:connect("127.0.0.1", port(req), opts)
  if not ok then crater.abort(502, "connect: " .. err) end
  return sock
end

-- send (a string and a table), receive(n), "*l" and a close.
app:get("/echo", function(req)
  local sock = connected(req)
  local out = {}
  out[#out + 1] = show(sock:send({ "hello", " ", 42, "\r\n" }))
  out[#out + 1] = show(sock:receive())
  out[#out + 1] = show(sock:send("abc\nxyz"))
  out[#out + 1] = show(sock:receive(2))
  out[#out + 1] = show(sock:receive("*l"))
  out[#out + 1] = show(sock:receive(0))
  out[#out + 1] = show(sock:receive(3))
  out[#out + 1] = show(sock:close())
  out[#out + 1] = show(sock:close())
  out[#out + 1] = show(sock:send("x"))
  return concat(out, "\n")
end)

-- A big round trip: more than one read and one write.
app:get("/echo-big", function(req)
  local sock = connected(req)
  local n = tonumber(req.query.n)
  local piece = ("0123456789abcdef"):rep(n / 16)
  local sent = sock:send(piece)
  local got, err = sock:receive(n)
  sock:close()
  return show(sent, got == piece, err)
end)

app:get("/not-connected", function()
  local sock = tcp()
  return show(sock:send("x")) .. "\n" .. show(sock:receive()) .. "\n" .. show(sock:close())
    .. "\n" .. show(sock:getreusedtimes()) .. "\n" .. tostring(sock)
end)

app:get("/refused", function(req)
  local sock = tcp()
  local a = show(sock:connect("127.0.0.1", port(req)))
  return a .. "\n" .. show(sock:send("x"))
end)

app:get("/resolve", function(req)
  local sock = tcp()
  local ok, err = sock:connect(req.query.host, port(req))
  if not ok then return show(ok, err) end
  sock:send("via name\n")
  local line = sock:receive()
  sock:close()
  return show(ok, line)
end)

app:get("/unix", function(req)
  local sock = tcp()
  local ok, err = sock:connect("unix:" .. req.query.path)
  if not ok then return show(ok, err) end
  sock:send("over unix\n")
  local line = sock:receive()
  local reused = sock:getreusedtimes()
  sock:setkeepalive()
  return show(ok, line, reused)
end)

-- The silent fixture accepts and never answers: read timeouts keep the
-- socket usable, a send timeout (the sink never reads) closes it.
app:get("/read-timeout", function(req)
  local sock = connected(req)
  sock:settimeouts(nil, nil, 100)
  local out = {}
  out[#out + 1] = show(sock:receive())
  out[#out + 1] = show(sock:send("still there\n"))
  sock:settimeout(50)
  out[#out + 1] = show(sock:receive(10))
  out[#out + 1] = show(sock:close())
  return concat(out, "\n")
end)

app:get("/send-timeout", function(req)
  local sock = connected(req)
  sock:settimeouts(nil, 200, nil)
  local big = ("x"):rep(32 * 1024 * 1024)
  local out = {}
  out[#out + 1] = show(sock:send(big))
  out[#out + 1] = show(sock:send("x"))
  return concat(out, "\n")
end)

app:get("/connect-timeout", function(req)
  local sock = tcp()
  sock:settimeouts(100, nil, nil)
  return show(sock:connect("127.0.0.1", port(req)))
end)

-- The fixture sends "partial" and closes (or resets) the connection.
app:get("/midclose", function(req)
  local sock = connected(req)
  sock:send("request\n")
  local out = {}
  out[#out + 1] = show(sock:receive(100))
  out[#out + 1] = show(sock:receive())
  out[#out + 1] = show(sock:send("x"))
  return concat(out, "\n")
end)

-- The data fixture sends its payload in small pieces, then closes.
app:get("/all", function(req)
  local sock = connected(req)
  local all = sock:receive("*a")
  local sum = 0
  for i = 1, #all do sum = sum + all:byte(i) end
  local out = { show(#all, sum) }
  local rest = sock:receive("*a")
  out[#out + 1] = show(rest, #rest)
  return concat(out, "\n")
end)

app:get("/until", function(req)
  local sock = connected(req)
  local out = {}
  local reader = sock:receiveuntil("--BOUNDARY--")
  out[#out + 1] = show(reader())
  local pieces = {}
  repeat
    local piece, err = reader(3)
    pieces[#pieces + 1] = tostring(piece)
  until piece == nil or err
  out[#out + 1] = concat(pieces, ",")
  local incl = sock:receiveuntil("\r\n", { inclusive = true })
  out[#out + 1] = (incl():gsub("\r\n", "<CRLF>"))
  out[#out + 1] = show(reader())
  out[#out + 1] = show(reader())
  return concat(out, "\n")
end)

-- Keep-alive pools. The lines fixture answers each line with
-- "<connection number>:<line>".
app:get("/pool", function(req)
  local sock = tcp()
  local ok, err = sock:connect("127.0.0.1", port(req), { pool = req.query.pool })
  if not ok then return show(ok, err) end
  sock:send("hi\n")
  local line = sock:receive()
  local reused = sock:getreusedtimes()
  local idle = tonumber(req.query.idle)
  return show(line, reused, sock:setkeepalive(idle))
end)

-- n sockets at once, then all put back in order: the pool keeps `size`.
app:get("/pool-many", function(req)
  local n, size = tonumber(req.query.n), tonumber(req.query.size)
  local socks, out = {}, {}
  for i = 1, n do
    local sock = tcp()
    assert(sock:connect("127.0.0.1", port(req), { pool = "many" }))
    sock:send("x\n")
    out[i] = show(sock:receive(), sock:getreusedtimes())
    socks[i] = sock
  end
  for i = 1, n do socks[i]:setkeepalive(nil, size) end
  return concat(out, "\n")
end)

-- A pooled connection that the peer writes to is closed.
app:get("/pool-then-talk", function(req)
  local sock = connected(req)
  sock:send("LATER 1000\n") -- time enough to be pooled first, however slow the machine
  local line = sock:receive()
  return show(line, sock:setkeepalive())
end)

app:get("/keepalive-unread", function(req)
  local sock = connected(req)
  sock:send("abcd")
  local two = sock:receive(2) -- "cd" came in the same read, unread
  return show(two, sock:setkeepalive()) .. "\n" .. show(sock:send("x"))
end)

-- backlog: pool_size 1; the second connect waits for the first's
-- connection, the third finds the queue full.
app:get("/backlog", function(req)
  local p = port(req)
  local opts = { pool = "bl", pool_size = 1, backlog = 1 }
  local a = tcp()
  assert(a:connect("127.0.0.1", p, opts))
  a:send("a\n")
  local la = a:receive()
  local tb = crater.spawn(function()
    local b = tcp()
    local ok, err = b:connect("127.0.0.1", p, opts)
    if not ok then return show(ok, err) end
    b:send("b\n")
    local lb = b:receive()
    local r = b:getreusedtimes()
    b:close()
    return show(lb, r)
  end)
  local c = tcp()
  local rc = show(c:connect("127.0.0.1", p, opts))
  crater.sleep(0.05)
  a:setkeepalive()
  local rb = crater.wait(tb)
  return concat({ la, rb, rc }, "\n")
end)

app:get("/backlog-timeout", function(req)
  local p = port(req)
  local opts = { pool = "blt", pool_size = 1, backlog = 5 }
  local a = tcp()
  assert(a:connect("127.0.0.1", p, opts))
  local b = tcp()
  b:settimeouts(100)
  local r = show(b:connect("127.0.0.1", p, opts))
  a:close()
  -- a's slot is free again
  local c = tcp()
  return r .. "\n" .. show(c:connect("127.0.0.1", p, opts))
end)

-- Ownership: a socket of another request, of an ended request.
local kept
app:get("/hold", function(req)
  kept = tcp()
  crater.sleep(tonumber(req.query.s) or 0.3)
  return "held"
end)

app:get("/use-kept", function()
  local ok, err = pcall(kept.send, kept, "x")
  return show(ok, err)
end)

app:get("/use-kept-raw", function()
  return kept:send("x")
end)

-- A request that ends with its socket open: the socket closes.
app:get("/leave-open", function(req)
  local sock = connected(req)
  sock:send("left\n")
  return show(sock:receive())
end)

-- Waits on the silent fixture for long: the client goes away meanwhile.
app:get("/wait-long", function(req)
  local sock = connected(req)
  sock:settimeout(10000)
  return show(sock:receive())
end)

-- busy: a thread reads; the main one cannot use the socket meanwhile;
-- killing the reader closes the socket.
app:get("/busy", function(req)
  local sock = connected(req)
  local t = crater.spawn(function() return sock:receive() end)
  local out = { show(sock:receive()), show(sock:send("x")), show(sock:close()) }
  out[#out + 1] = show(crater.kill(t))
  out[#out + 1] = show(sock:send("x"))
  return concat(out, "\n")
end)

-- Spawned threads, each with its own socket to the slow fixture.
app:get("/parallel", function(req)
  local n = tonumber(req.query.n)
  local threads = {}
  for i = 1, n do
    threads[i] = crater.spawn(function()
      local sock = connected(req)
      sock:send("t" .. i .. "\n")
      local line = sock:receive()
      sock:close()
      return line
    end)
  end
  local t0 = crater.now()
  local res = { crater.wait(unpack(threads)) }
  return show(unpack(res)) .. "\n" .. tostring(crater.now() - t0)
end)

-- Inside pcall, in a before hook, and in a stream interleaving reads from
-- the ticker fixture with writes to the client.
app:get("/pcall", function(req)
  local sock = connected(req)
  local ok, n = pcall(sock.send, sock, "in pcall\n")
  local ok2, line = pcall(function() return sock:receive() end)
  sock:close()
  return show(ok, n, ok2, line)
end)

app:before(function(req)
  local p = req:header("x-hook-port")
  if p then
    local sock = tcp()
    assert(sock:connect("127.0.0.1", tonumber(p)))
    sock:send("from hook\n")
    req.hooked = sock:receive()
    sock:close()
  end
end)

app:get("/hooked", function(req) return tostring(req.hooked) end)

-- An error handler (and an after hook) that use a socket.
app:error(418, function(req, err)
  local sock = connected(req)
  sock:send("teapot " .. err.detail .. "\n")
  local line = sock:receive()
  sock:close()
  return 418, line
end)

app:get("/teapot", function() crater.abort(418, "short and stout") end)

app:after(function(req, res)
  if req.query.after_port then
    local sock = tcp()
    assert(sock:connect("127.0.0.1", tonumber(req.query.after_port)))
    sock:send("after\n")
    res:set_header("X-After", sock:receive())
    sock:close()
  end
end)

app:get("/stream", function(req)
  local sock = connected(req)
  return crater.stream(function(write)
    while true do
      local line, err = sock:receive()
      if not line then
        write("end: " .. err .. "\n")
        break
      end
      write(line .. "\n")
    end
  end)
end)

-- Argument errors raise (500, logged).
app:get("/bad-args", function()
  local sock = tcp()
  local out = {}
  for _, f in ipairs({
    function() sock:connect("127.0.0.1", 0) end,
    function() sock:connect("unix:/x", 1) end,
    function() sock:receive("*x") end,
    function() sock:receiveuntil("") end,
    function() sock:settimeout(-1) end,
    function() sock:send(true) end,
    function() sock:send({ {} }) end,
  }) do
    local ok, err = pcall(f)
    out[#out + 1] = show(ok, err)
  end
  return concat(out, "\n")
end)

app:get("/in-coroutine", function(req)
  local sock = connected(req)
  local co = coroutine.create(function() return sock:receive() end)
  local ok, err = coroutine.resume(co)
  sock:close()
  return show(ok, err)
end)

-- TLS: the tls fixture answers "tls: <line>".
app:get("/tls", function(req)
  local q = req.query
  local sock = tcp()
  sock:settimeouts(tonumber(q.timeout) or 5000)
  local ok, err = sock:connect("127.0.0.1", port(req), { pool = q.pool })
  if not ok then return show(ok, err) end
  ok, err = sock:sslhandshake({ server_name = q.name, cafile = q.cafile, verify = q.verify ~= "0" })
  if not ok then return show(ok, err, sock:send("x")) end
  local reused = sock:getreusedtimes()
  if q.idle then return show(ok, reused, sock:setkeepalive()) end
  local n = tonumber(q.n)
  local data = n and ("0123456789abcdef"):rep(n / 16) or "secret"
  sock:send({ data, "\n" })
  local line, lerr = sock:receive()
  if n then line = line == "tls: " .. data and "echoed " .. n or tostring(line) .. "|" .. tostring(lerr) end
  return show(ok, line, reused, sock:setkeepalive())
end)

return app
