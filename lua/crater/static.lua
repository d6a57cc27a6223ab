--- crater.static: app:static(url_prefix, folder [, opts]) -- files from a
--- folder, served by the C core (docs/static-files.md).
--
-- A static mount is one route, GET `prefix/{path...}` (HEAD answers from
-- it; other methods get 405 with Allow), so the app's `before` and `after`
-- hooks and error handlers apply as to any route. Its handler decides:
-- it decodes and checks the path, opens the file beneath the folder
-- (crater._static: openat2 with RESOLVE_BENEATH), picks a precompressed
-- sibling, evaluates the conditional and Range headers, and returns a
-- *file answer* (a userdata holding the open file and the part to send)
-- with its headers. The core then sends the bytes (sendfile(2) on a
-- socket, reads for an injected request) and closes the file: no file is
-- ever read into Lua.

-- The C half; absent in stock luajit (spec/lua), where app:static raises.
local has_c, c = pcall(require, "crater._static")
if not has_c then c = {} end
local request = require "crater.request"
local response = require "crater.response"

local type, pairs, tostring, tonumber, error, setmetatable = type, pairs, tostring, tonumber, error,
  setmetatable
local byte, char, find, format, gsub, lower, match, sub = string.byte, string.char, string.find,
  string.format, string.gsub, string.lower, string.match, string.sub
local floor = math.floor
local getinfo = debug.getinfo
local c_open, c_range, c_close, c_root = c.open, c.range, c.close, c.root
local header = request.header
local response_mt = response.mt

local _M = { version = "0.1.0" }

local UTF8 = "; charset=utf-8"

--- The built-in Content-Types by extension (lower case, no dot). Text
--- types get `; charset=utf-8`. opts.types adds to or overrides them.
_M.types = {
  html = "text/html", htm = "text/html", css = "text/css", js = "text/javascript",
  mjs = "text/javascript", json = "application/json", map = "application/json",
  txt = "text/plain", md = "text/markdown", csv = "text/csv", xml = "application/xml",
  svg = "image/svg+xml", png = "image/png", jpg = "image/jpeg", jpeg = "image/jpeg",
  gif = "image/gif", webp = "image/webp", avif = "image/avif", ico = "image/x-icon",
  bmp = "image/bmp", wasm = "application/wasm", woff = "font/woff", woff2 = "font/woff2",
  ttf = "font/ttf", otf = "font/otf", pdf = "application/pdf", zip = "application/zip",
  gz = "application/gzip", mp4 = "video/mp4", webm = "video/webm", mp3 = "audio/mpeg",
  ogg = "audio/ogg", wav = "audio/wav", webmanifest = "application/manifest+json",
}
local OCTET = "application/octet-stream"

-- Types that are text, so get a charset.
local function is_text(t)
  return find(t, "^text/") ~= nil or t == "application/json" or t == "application/xml"
    or t == "image/svg+xml" or t == "application/manifest+json" or t == "application/javascript"
end

-- ---------------------------------------------------------------------------
-- HTTP dates (IMF-fixdate, RFC 9110 5.6.7), without the C library's locale
-- ---------------------------------------------------------------------------

local DAYS = { "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed" } -- 1970-01-01 was a Thursday
local MONTHS = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }
local MONTH_NO = {}
for i, m in pairs(MONTHS) do MONTH_NO[m] = i end

-- Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local d = doy - floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m, d
end

--- The IMF-fixdate of a time in seconds since the epoch.
---@param t number
---@return string
function _M.http_date(t)
  t = floor(t)
  local days = floor(t / 86400)
  local s = t - days * 86400
  local y, m, d = civil_from_days(days)
  return format("%s, %02d %s %04d %02d:%02d:%02d GMT", DAYS[days % 7 + 1], d, MONTHS[m], y,
    floor(s / 3600), floor(s % 3600 / 60), s % 60)
end

--- Seconds since the epoch of an HTTP date (IMF-fixdate, or the obsolete
--- RFC 850 and asctime forms), or nil when it is none.
---@param s string
---@return number|nil
function _M.parse_http_date(s)
  local d, mon, y, hh, mm, ss = match(s, "^%a+, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if not d then
    d, mon, y, hh, mm, ss = match(s, "^%a+, (%d%d)%-(%a%a%a)%-(%d%d) (%d%d):(%d%d):(%d%d) GMT$")
    if d then y = tonumber(y) + (tonumber(y) < 70 and 2000 or 1900) end
  end
  if not d then
    mon, d, hh, mm, ss, y = match(s, "^%a+ (%a%a%a) +(%d%d?) (%d%d):(%d%d):(%d%d) (%d%d%d%d)$")
  end
  local m = mon and MONTH_NO[mon]
  if not m then return nil end
  return days_from_civil(tonumber(y), m, tonumber(d)) * 86400 + tonumber(hh) * 3600
    + tonumber(mm) * 60 + tonumber(ss)
end
local parse_http_date, http_date = _M.parse_http_date, _M.http_date

-- ---------------------------------------------------------------------------
-- Request paths
-- ---------------------------------------------------------------------------

-- The path below the mount, percent-decoded and checked, or nil, status,
-- detail. Checked on the raw path first (an encoded '/' or '\' would
-- otherwise look like a separator after decoding), then on the decoded
-- one: no NUL (400), no '..' or '.' segment, no empty segment (a '//' or a
-- leading '/': an absolute path), no backslash (404: such a file cannot be
-- served, whatever the folder holds).
local function decode_slow(raw)
  if find(raw, "%", 1, true) then
    if find(raw, "%%2[fF]") or find(raw, "%%5[cC]") then return nil, 404, "encoded separator" end
    local bad = false
    raw = gsub(raw, "%%(.?.?)", function(h)
      if find(h, "^%x%x$") then return char(tonumber(h, 16)) end
      bad = true
      return ""
    end)
    if bad then return nil, 400, "malformed percent-encoding in the path" end
  end
  if find(raw, "%z") then return nil, 400, "NUL byte in the path" end
  if find(raw, "\\", 1, true) then return nil, 404, "backslash in the path" end
  -- every segment but the last non-empty; none "." or ".."
  if byte(raw, 1) == 47 or find(raw, "//", 1, true) or find(raw, "/%.%.?/") or find(raw, "^%.%.?/")
    or find(raw, "/%.%.?$") or raw == "." or raw == ".." then
    return nil, 404, "path segment refused"
  end
  return raw
end

-- The common path (no escape, no segment starting with '.') is checked with
-- plain finds only, in a function without closures: LuaJIT compiles those.
local function decode_path(raw)
  if not find(raw, "%", 1, true) and not find(raw, "/.", 1, true) and byte(raw, 1) ~= 46
    and byte(raw, 1) ~= 47 and not find(raw, "//", 1, true) and not find(raw, "\\", 1, true)
    and not find(raw, "\0", 1, true) then
    return raw
  end
  return decode_slow(raw)
end

-- ---------------------------------------------------------------------------
-- Validators, conditional requests and ranges (RFC 9110 8.8, 13, 14)
-- ---------------------------------------------------------------------------

-- Whether an If-None-Match list matches etag (weak comparison: W/ ignored).
local function none_match(list, etag)
  if match(list, "^%s*%*%s*$") then return true end
  local opaque = match(etag, '^W/(".*")$') or etag
  for tag in list:gmatch('%s*([^,]+)') do
    tag = match(tag, "^(.-)%s*$")
    if (match(tag, '^W/(".*")$') or tag) == opaque then return true end
  end
  return false
end

-- Whether If-Range allows the range: a strong match of the ETag, or the
-- exact Last-Modified date.
local function if_range_ok(v, etag, mtime)
  if byte(v, 1) == 34 then return v == etag end -- '"': an entity tag, compared strongly
  if sub(v, 1, 2) == "W/" then return false end
  local t = parse_http_date(v)
  return t ~= nil and t == floor(mtime)
end

-- The range asked for: first, last (inclusive); false when unsatisfiable;
-- nil to send the whole file (no range, not bytes, malformed, several).
local function byte_range(v, size)
  local spec = match(v, "^%s*[Bb][Yy][Tt][Ee][Ss]%s*=%s*(.-)%s*$")
  if not spec or find(spec, ",", 1, true) then return nil end
  local a, b = match(spec, "^(%d*)%s*%-%s*(%d*)$")
  if not a or (a == "" and b == "") then return nil end
  if a == "" then -- the last b bytes
    local n = tonumber(b)
    if n == 0 or size == 0 then return false end
    if n > size then n = size end
    return size - n, size - 1
  end
  local first, last = tonumber(a), tonumber(b)
  if last and last < first then return nil end -- invalid: ignored (RFC 9110 14.1.1)
  if first >= size then return false end
  if not last then last = size - 1 end
  if last >= size then last = size - 1 end
  return first, last
end

-- Which precompressed sibling the client accepts, in our order of
-- preference: "br", "gzip", or none (q=0 refuses a coding).
local function accepts(ae, coding)
  local pos = 1
  while true do
    local s, e = find(ae, coding, pos, true)
    if not s then return false end
    local before = s == 1 and "," or sub(ae, s - 1, s - 1)
    local rest = sub(ae, e + 1)
    local whole = (before == "," or before == " " or before == "\t")
      and (find(rest, "^%s*[,;]") or find(rest, "^%s*$"))
    if whole then -- the coding itself, not part of another token (x-gzip)
      local q = match(rest, "^%s*;%s*[qQ]%s*=%s*([%d.]+)")
      return not q or tonumber(q) ~= 0
    end
    pos = e + 1
  end
end

-- ---------------------------------------------------------------------------
-- The handler
-- ---------------------------------------------------------------------------

local function not_found(detail)
  error({ crater_http_error = true, status = 404, detail = detail or "no such file" }, 0)
end

-- Opens the file for rel: the file answer, its size and mtime, or a
-- directory redirect, or raises 404.
local function open_file(m, req, rel)
  local kind, f, size, mtime, ns = c_open(m.root, rel, m.follow)
  if kind == "dir" then
    if not m.index then not_found("a directory") end
    if rel ~= "" and byte(rel, -1) ~= 47 then
      local q = req.raw_query
      return "redirect", req.path .. "/" .. (q ~= "" and ("?" .. q) or "")
    end
    rel = rel .. m.index
    kind, f, size, mtime, ns = c_open(m.root, rel, m.follow)
  end
  if kind ~= "file" then not_found() end
  return rel, f, size, mtime, ns
end

-- A response object whose headers (a flat list) go out in that order: made
-- here, checked once by crater.response's finish like any answer. (Straight
-- code, no loop, no tail call of a builtin: LuaJIT keeps it in one trace.)
local function answer(status, body, ctype, h)
  local res = setmetatable({ status = status, body = body, content_type = ctype, _h = h }, response_mt)
  return res
end

-- The headers of a 200, 206 or 304 (`ranges`: with Accept-Ranges), and their count.
local function common(m, etag, coding, ranges)
  local h, n
  if ranges then
    h, n = { "Accept-Ranges", "bytes", "ETag", etag, "Last-Modified", m.date }, 6
  else
    h, n = { "ETag", etag, "Last-Modified", m.date }, 4
  end
  local cc = m.cache_control
  if cc then h[n + 1], h[n + 2], n = "Cache-Control", cc, n + 2 end
  if m.precompressed then h[n + 1], h[n + 2], n = "Vary", "Accept-Encoding", n + 2 end
  if coding then h[n + 1], h[n + 2], n = "Content-Encoding", coding, n + 2 end
  return h, n
end

-- The extension of a file name, or nil.
local function extension(rel)
  local dot, i = nil, find(rel, ".", 1, true)
  while i do
    dot = i
    i = find(rel, ".", i + 1, true)
  end
  if not dot or find(rel, "/", dot + 1, true) then return nil end
  return sub(rel, dot + 1)
end

local function serve(m, req)
  local rel, status, detail = decode_path(sub(req.path, m.plen))
  if rel == nil then
    error({ crater_http_error = true, status = status, detail = detail }, 0)
  end
  local f, size, mtime, ns
  rel, f, size, mtime, ns = open_file(m, req, rel)
  if rel == "redirect" then return answer(301, "", nil, { "Location", f }) end

  local ext = extension(rel)
  local ctype = ext and (m.types[ext] or m.types[lower(ext)]) or OCTET
  local coding, suffix = nil, ""
  if m.precompressed then
    local ae = header(req, "accept-encoding")
    if ae then
      for i = 1, #m.precompressed do
        local p = m.precompressed[i]
        if accepts(ae, p[1]) then
          local k2, f2, s2, t2, n2 = c_open(m.root, rel .. p[2], m.follow)
          if k2 == "file" then
            c_close(f)
            f, size, mtime, ns, coding, suffix = f2, s2, t2, n2, p[1], "-" .. sub(p[2], 2)
            break
          end
        end
      end
    end
  end
  local etag = format('"%x.%x-%x%s"', mtime, ns, size, suffix)
  if mtime ~= m.date_of then m.date_of, m.date = mtime, http_date(mtime) end

  -- RFC 9110 13.2.2: If-None-Match, else If-Modified-Since; then Range.
  local inm = header(req, "if-none-match")
  local not_modified
  if inm then
    not_modified = none_match(inm, etag)
  else
    local ims = header(req, "if-modified-since")
    local t = ims and parse_http_date(ims)
    not_modified = t ~= nil and floor(mtime) <= t
  end
  if not_modified then
    c_close(f)
    return answer(304, nil, nil, (common(m, etag, coding, false))) -- no content: no type, no ranges
  end
  local range = req.method == "GET" and header(req, "range")
  if range then
    local ifr = header(req, "if-range")
    if not ifr or if_range_ok(ifr, etag, mtime) then
      local first, last = byte_range(range, size)
      if first == false then
        c_close(f)
        return answer(416, "", nil, { "Content-Range", format("bytes */%d", size), "Accept-Ranges", "bytes" })
      elseif first then
        c_range(f, first, last - first + 1)
        local h, n = common(m, etag, coding, true)
        h[n + 1], h[n + 2] = "Content-Range", format("bytes %d-%d/%d", first, last, size)
        return answer(206, f, ctype, h)
      end
    end
  end
  return answer(200, f, ctype, (common(m, etag, coding, true)))
end

-- ---------------------------------------------------------------------------
-- Mounting
-- ---------------------------------------------------------------------------

-- The folder of the file that called app:static, for a relative folder.
local function caller_dir(level)
  local info = getinfo(level, "S")
  local src = info and info.source or ""
  if byte(src, 1) ~= 64 then return nil end -- "@file"
  return match(sub(src, 2), "^(.*)/[^/]*$") or "."
end

local OPTS = { index = "string", max_age = "number", cache_control = "string", types = "table",
               precompressed = "boolean", follow_symlinks = "boolean", name = "string" }

--- Serves the files of `folder` under `url_prefix` (docs/static-files.md):
--- app:static("/assets", "public", { max_age = 3600 }). A relative folder
--- is relative to the file that calls app:static. Raises when the folder
--- cannot be opened or an option is wrong.
---@param app table
---@param url_prefix string "/assets" (or "/" for the whole site)
---@param folder string
---@param opts? { index?: string, max_age?: number, cache_control?: string, types?: table<string, string>, precompressed?: boolean, follow_symlinks?: boolean }
---@return table app
function _M.mount(app, url_prefix, folder, opts)
  if not has_c then error("app:static: needs the Crater core (crater._static)", 2) end
  if type(url_prefix) ~= "string" or byte(url_prefix, 1) ~= 47 or find(url_prefix, "[{}%%?#]") then
    error("app:static: the URL prefix must be a path starting with '/', without {}, % ? or #", 2)
  end
  if type(folder) ~= "string" or folder == "" then error("app:static: the folder must be a path", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("app:static: options must be a table", 2) end
  opts = opts or {}
  for k, v in pairs(opts) do
    if OPTS[k] == nil then error("app:static: unknown option " .. tostring(k), 2) end
    if type(v) ~= OPTS[k] then error(format("app:static: option %s must be a %s", k, OPTS[k]), 2) end
  end
  if opts.max_age and not (opts.max_age >= 0 and opts.max_age % 1 == 0) then
    error("app:static: max_age must be a whole number of seconds >= 0", 2)
  end
  if opts.index and (find(opts.index, "/", 1, true) or opts.index == "." or opts.index == "..") then
    error("app:static: index must be a file name, e.g. \"index.html\"", 2)
  end
  local path = folder
  if byte(folder, 1) ~= 47 then
    local dir = caller_dir(3)
    if dir then path = dir .. "/" .. folder end
  end
  local root, err = c_root(path)
  if not root then error(format("app:static: cannot open the folder %s: %s", path, err), 2) end

  local types = {}
  for ext, t in pairs(_M.types) do types[ext] = is_text(t) and t .. UTF8 or t end
  for ext, t in pairs(opts.types or {}) do
    if type(ext) ~= "string" or type(t) ~= "string" then
      error("app:static: types maps an extension to a content type (strings)", 2)
    end
    ext = lower((gsub(ext, "^%.", "")))
    types[ext] = (is_text(t) and not find(t, ";", 1, true)) and t .. UTF8 or t
  end
  local cc = opts.cache_control
  if cc == nil and opts.max_age then cc = format("public, max-age=%d", opts.max_age) end
  local prefix = gsub(url_prefix, "/+$", "")
  local m = {
    root = root, follow = opts.follow_symlinks == true, index = opts.index, types = types,
    cache_control = cc, plen = #prefix + 2, -- the path below starts after prefix .. "/"
    precompressed = opts.precompressed ~= false and { { "br", ".br" }, { "gzip", ".gz" } } or nil,
  }
  app:route("GET", prefix .. "/{path...}", { hidden = true, name = opts.name, static = path },
    function(req) return serve(m, req) end)
  -- the route was made here: it was written where app:static was called
  local info = getinfo(2, "Sl")
  app._routes[#app._routes].where = info and (info.short_src .. ":" .. (info.currentline or 0)) or "?"
  return app
end

return _M
