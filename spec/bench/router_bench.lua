-- crater.router lookup benchmark: ns per match for static, one-param and
-- two-param paths, in a router of 10 routes and one of 1,000, and the ratio
-- 1000/10 (the goal: within 10%, i.e. lookup cost does not grow with routes).
--
--   LUA_PATH='lua/?.lua;;' luajit spec/bench/router_bench.lua [lookups]
--
-- Each router holds N/5 "resources" with five routes each:
--   GET    /api/v1/resourceK/list                 (static)
--   POST   /api/v1/resourceK                      (static)
--   GET    /api/v1/resourceK/{id}                 (one param)
--   DELETE /api/v1/resourceK/{id}                 (one param)
--   GET    /api/v1/resourceK/{id}/items/{item}    (two params)
--
-- Columns:
--   10 routes, 1000 routes : the same 256 paths (resources 1 and 2, 256
--     distinct ids) looked up in both routers; the ratio isolates the cost
--     of having more routes.
--   1000 spread : 256 paths spread over all 200 resources of the big router.
--     This adds the cost of a bigger working set (more distinct segment
--     strings to hash, more nodes), which any router pays under real
--     traffic; it is not a function of the number of routes.
-- Every timing is the best of ROUNDS runs; paths are built beforehand, as
-- the server hands the router a path string it already has.

local router = require "crater.router"
local clock = os.clock
local format = string.format

local ITER = tonumber(arg and arg[1]) or 2000000
local ROUNDS = 7
local NPATHS = 256

local function build(nroutes)
  local r = router.new()
  for k = 1, nroutes / 5 do
    local base = "/api/v1/resource" .. k
    r:add("GET", base .. "/list", "list" .. k)
    r:add("POST", base, "create" .. k)
    r:add("GET", base .. "/{id}", "get" .. k)
    r:add("DELETE", base .. "/{id}", "delete" .. k)
    r:add("GET", base .. "/{id}/items/{item}", "item" .. k)
  end
  assert(#r:routes() == nroutes)
  return r
end

local KINDS = {
  { name = "static",
    path = function(k, i) return "/api/v1/resource" .. k .. "/list" end,
    want = function(k) return "list" .. k end },
  { name = "1 param",
    path = function(k, i) return "/api/v1/resource" .. k .. "/" .. (1000 + i) end,
    want = function(k) return "get" .. k end },
  { name = "2 params",
    path = function(k, i) return "/api/v1/resource" .. k .. "/" .. (1000 + i) .. "/items/" .. i end,
    want = function(k) return "item" .. k end },
}

-- Checks the answers once, then times ITER lookups over paths spread over
-- resources 1..nres; best of ROUNDS.
local function time(r, kind, nres)
  local paths = {}
  for i = 0, NPATHS - 1 do
    local k = i % nres + 1
    paths[i] = kind.path(k, i)
    assert(r:match("GET", paths[i]) == kind.want(k), "wrong answer for " .. paths[i])
  end
  local match = r.match
  local best = math.huge
  for _ = 1, ROUNDS do
    collectgarbage()
    local hits = 0
    local t0 = clock()
    for i = 1, ITER do
      if match(r, "GET", paths[i % NPATHS]) then hits = hits + 1 end
    end
    local dt = clock() - t0
    assert(hits == ITER)
    if dt < best then best = dt end
  end
  return best / ITER * 1e9
end

print(format("crater.router %s on %s, %d lookups, best of %d",
  router.version, jit and jit.version or _VERSION, ITER, ROUNDS))
print(format("%-10s %11s %12s %7s %13s", "ns/lookup", "10 routes", "1000 routes", "ratio", "1000 spread"))
local small, big = build(10), build(1000)
for _, kind in ipairs(KINDS) do
  local a = time(small, kind, 2)
  local b = time(big, kind, 2)
  local c = time(big, kind, 200)
  print(format("%-10s %11.1f %12.1f %7.2f %13.1f", kind.name, a, b, b / a, c))
end
