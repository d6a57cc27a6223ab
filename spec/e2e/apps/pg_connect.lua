-- The app of spec/e2e/test_pg_connect.py: how crater.pg connects (URL
-- forms, the PG* environment, TLS, several hosts, unix sockets). Each
-- request names its target; the handle is made once per target.
local crater = require "crater"
local json = require "crater.json"
local app = crater.app()

local function err_table(e)
  if crater.pg.is_error(e) then return { code = e.code, message = e.message } end
  return { message = tostring(e) }
end

-- { how = "url" | "nil" | "none" | "db", url =, opts =, sql =, raise = }
-- how: crater.pg.connect(url, opts), crater.pg.connect(nil),
-- crater.pg.connect(), crater.db(url). raise: the error goes uncaught.
local handles = {}
app:post("/connect", function(req)
  local b = req:json()
  local how = b.how or "url"
  local key = how .. " " .. tostring(b.url) .. json.encode(b.opts or {})
  local h = handles[key]
  if not h then
    local err
    if how == "nil" then h, err = crater.pg.connect(nil)
    elseif how == "none" then h, err = crater.pg.connect()
    elseif how == "db" then h, err = crater.db(b.url)
    elseif b.url == nil then h, err = crater.pg.connect(b.opts)
    else h, err = crater.pg.connect(b.url, b.opts) end
    if not h then return 400, { message = err } end
    handles[key] = h
  end
  local sql = b.sql or [[SELECT current_user AS who, current_database() AS db,
    inet_server_port() AS port, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl]]
  if b.raise then return { rows = h:query(sql) } end
  local ok, rows = pcall(h.query, h, sql)
  if not ok then return 400, err_table(rows) end
  return { rows = rows }
end)

app:get("/ping", function() return { ok = true } end)

return app
