-- The TechEmpower fortunes page rendered by crater.template beside the same
-- page built by hand, pure CPU (no server, no socket): renders per second of
--   template     crater.template (the page as one template: a loop over rows)
--   layout       crater.template, the page as a layout + a page + a row partial
--   etlua-style  what etlua compiles a template to, written by hand: a buffer
--                appended value by value, tostring + escape on each, one concat
--   concat       examples/tfb/app.lua's builder: one `..` per row, one concat
-- with the same rows (TFB's 12 fortunes and the one added per request, sorted)
-- and the same escaping function (crater.template.escape) everywhere.
--
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' luajit spec/bench/template_bench.lua [seconds per case] [rounds]
--   LUA_PATH=... valgrind --tool=callgrind --callgrind-out-file=/dev/null \
--     luajit spec/bench/template_bench.lua --only CASE N
--
-- Each case runs for the given seconds (default 1) per round (default 5)
-- after a warm-up; the median round is printed with the ratio to etlua-style.
-- The four outputs are checked to be the same page first. `--only CASE N`
-- renders one case N times and prints nothing: under callgrind, the
-- instructions of N renders (less those of N = 0) are a count a loaded
-- machine does not blur.
local template = require "crater.template"

local escape = template.escape
local concat = table.concat
local clock, tostring = os.clock, tostring

local ONLY = arg[1] == "--only" and arg[2]
local SECONDS = not ONLY and tonumber(arg[1]) or 1
local ROUNDS = not ONLY and tonumber(arg[2]) or 5

local rows = {
  { id = 11, message = "<script>alert(\"This should not be displayed in a browser alert box.\");</script>" },
  { id = 4, message = "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1" },
  { id = 5, message = "A computer program does what you tell it to do, not what you want it to do." },
  { id = 2, message = "A computer scientist is someone who fixes things that aren't broken." },
  { id = 8, message = "A list is only as strong as its weakest link. — Donald Knuth" },
  { id = 0, message = "Additional fortune added at request time." },
  { id = 3, message = "After enough decimal places, nobody gives a damn." },
  { id = 7, message = "Any program that runs right is obsolete." },
  { id = 10, message = "Computers make very fast, very accurate mistakes." },
  { id = 6, message = "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen" },
  { id = 9, message = "Feature: A bug with seniority." },
  { id = 1, message = "fortune: No such file or directory" },
  { id = 12, message = "フレームワークのベンチマーク" },
}

local PAGE = [[
<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>
{%- for _, f in ipairs(fortunes) do -%}
<tr><td>{{ f.id }}</td><td>{{ f.message }}</td></tr>
{%- end -%}
</table></body></html>]]

local page = template.compile(PAGE, "fortunes.html")

local views = template.new { sources = {
  ["base.html"] = "<!DOCTYPE html><html><head><title>{% block title %}{% endblock %}</title></head>"
    .. "<body>{{{ content }}}</body></html>",
  ["fortunes.html"] = '{% layout "base.html" %}{% block title %}Fortunes{% endblock -%}\n'
    .. "<table><tr><th>id</th><th>message</th></tr>"
    .. '{% for _, f in ipairs(fortunes) do %}{% include "row.html", f %}{% end %}</table>',
  ["row.html"] = "<tr><td>{{ id }}</td><td>{{ message }}</td></tr>",
} }
local layout = views:get("fortunes.html")

local function etlua_style(ctx)
  local _b, _i = {}, 0
  _i = _i + 1; _b[_i] = "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
    .. "<tr><th>id</th><th>message</th></tr>"
  for _, f in ipairs(ctx.fortunes) do
    _i = _i + 1; _b[_i] = "<tr><td>"
    _i = _i + 1; _b[_i] = escape(tostring(f.id))
    _i = _i + 1; _b[_i] = "</td><td>"
    _i = _i + 1; _b[_i] = escape(tostring(f.message))
    _i = _i + 1; _b[_i] = "</td></tr>"
  end
  _i = _i + 1; _b[_i] = "</table></body></html>"
  return concat(_b)
end

local HEAD = "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>" ..
  "<tr><th>id</th><th>message</th></tr>"

local function tfb_concat(ctx)
  local rs = ctx.fortunes
  local parts = { HEAD }
  for i = 1, #rs do
    local f = rs[i]
    parts[i + 1] = "<tr><td>" .. f.id .. "</td><td>" .. escape(f.message) .. "</td></tr>"
  end
  parts[#parts + 1] = "</table></body></html>"
  return concat(parts)
end

local CASES = {
  { "template", page }, { "layout", layout }, { "etlua-style", etlua_style }, { "concat", tfb_concat },
}

local ctx = { fortunes = rows }
local want = etlua_style(ctx)
for _, c in ipairs(CASES) do
  local got = c[2](ctx)
  if got ~= want then error(c[1] .. " renders another page:\n" .. got .. "\n---\n" .. want) end
end

if ONLY then
  for _, c in ipairs(CASES) do
    if c[1] == ONLY then
      local fn = c[2]
      for _ = 1, tonumber(arg[3]) or 10000 do fn(ctx) end
      os.exit(0)
    end
  end
  error("no case " .. ONLY)
end

local function per_second(fn)
  local n, t0 = 0, clock()
  local t
  repeat
    for _ = 1, 1000 do fn(ctx) end
    n = n + 1000
    t = clock() - t0
  until t >= SECONDS
  return n / t
end

for _, c in ipairs(CASES) do per_second(c[2]) end -- warm-up (JIT)
local results = {}
for _, c in ipairs(CASES) do results[c[1]] = {} end
for _ = 1, ROUNDS do
  for _, c in ipairs(CASES) do
    local r = results[c[1]]
    r[#r + 1] = per_second(c[2])
  end
end

local function median(t)
  table.sort(t)
  return t[math.ceil(#t / 2)]
end

print(string.format("fortunes page, %d bytes, %d rows; median of %d rounds of %g s", #want, #rows, ROUNDS, SECONDS))
local base = median(results["etlua-style"])
for _, c in ipairs(CASES) do
  local m = median(results[c[1]])
  print(string.format("%-12s %10.0f renders/s  %5.2fx etlua-style", c[1], m, m / base))
end
