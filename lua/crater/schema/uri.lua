--- crater.schema.uri: URI references as JSON Schema uses them -- RFC 3986
--- section 5 resolution of `$id` and `$ref` against a base, and the
--- fragment split off and decoded. Strings in, strings out; nothing here
--- fetches anything.

local find, sub, gsub, char, tonumber = string.find, string.sub, string.gsub, string.char, tonumber
local concat = table.concat

local _M = { version = "0.1.0" }

-- RFC 3986 appendix B, the regular expression split into Lua steps:
-- scheme ":" then "//" authority, path, "?" query, "#" fragment. Absent
-- parts are nil (an empty query "?" is "", not nil).
local function parse(s)
  local r = {}
  local hash = find(s, "#", 1, true)
  if hash then r.fragment = sub(s, hash + 1); s = sub(s, 1, hash - 1) end
  local q = find(s, "?", 1, true)
  if q then r.query = sub(s, q + 1); s = sub(s, 1, q - 1) end
  local scheme, rest = s:match("^([%a][%w+.-]*):(.*)$")
  if scheme then r.scheme = scheme:lower(); s = rest end
  if sub(s, 1, 2) == "//" then
    local slash = find(s, "/", 3, true)
    r.authority = sub(s, 3, (slash or #s + 1) - 1)
    s = slash and sub(s, slash) or ""
  end
  r.path = s
  return r
end
_M.parse = parse

-- RFC 3986 5.2.4.
local function remove_dots(path)
  if not find(path, ".", 1, true) then return path end
  local out = {}
  local input = path
  while input ~= "" do
    if sub(input, 1, 3) == "../" then input = sub(input, 4)
    elseif sub(input, 1, 2) == "./" then input = sub(input, 3)
    elseif sub(input, 1, 3) == "/./" then input = sub(input, 3)
    elseif input == "/." then input = "/"
    elseif sub(input, 1, 4) == "/../" or input == "/.." then
      input = "/" .. sub(input, 5)
      out[#out] = nil
    elseif input == "." or input == ".." then input = ""
    else
      local seg_end = find(input, "/", 2, true)
      local seg = seg_end and sub(input, 1, seg_end - 1) or input
      out[#out + 1] = seg
      input = seg_end and sub(input, seg_end) or ""
    end
  end
  return concat(out)
end

local function unparse(r)
  local t = {}
  if r.scheme then t[#t + 1] = r.scheme .. ":" end
  if r.authority then t[#t + 1] = "//" .. r.authority end
  t[#t + 1] = r.path
  if r.query then t[#t + 1] = "?" .. r.query end
  if r.fragment then t[#t + 1] = "#" .. r.fragment end
  return concat(t)
end

--- `ref` resolved against `base` (RFC 3986 5.2.2). A base of "" (a
--- document with no `$id` and no file name) leaves `ref` as it is, so
--- names registered as plain strings ("common.json") still match.
---@param base string
---@param ref string
---@return string
function _M.resolve(base, ref)
  local R = parse(ref)
  if base == nil or base == "" then
    if R.scheme then R.path = remove_dots(R.path) end
    return unparse(R)
  end
  local B = parse(base)
  local T = {}
  if R.scheme then
    T.scheme, T.authority, T.path, T.query = R.scheme, R.authority, remove_dots(R.path), R.query
  else
    if R.authority then
      T.authority, T.path, T.query = R.authority, remove_dots(R.path), R.query
    else
      if R.path == "" then
        T.path = B.path
        if R.query then T.query = R.query else T.query = B.query end
      else
        if sub(R.path, 1, 1) == "/" then
          T.path = remove_dots(R.path)
        else
          -- 5.2.3: merge with the base's path.
          local merged
          if B.authority and B.path == "" then merged = "/" .. R.path
          else
            local last = B.path:match("^(.*/)") or ""
            merged = last .. R.path
          end
          T.path = remove_dots(merged)
        end
        T.query = R.query
      end
      T.authority = B.authority
    end
    T.scheme = B.scheme
  end
  T.fragment = R.fragment
  return unparse(T)
end

--- `uri` split at its "#": the part before it (the resource) and the
--- fragment (nil when there is no "#"; "" for a trailing "#").
---@param uri string
---@return string resource
---@return string|nil fragment
function _M.split(uri)
  local hash = find(uri, "#", 1, true)
  if not hash then return uri, nil end
  return sub(uri, 1, hash - 1), sub(uri, hash + 1)
end

--- A fragment's percent-encoding decoded (RFC 3986 2.1); JSON Pointer
--- fragments are percent-encoded in a URI (RFC 6901 section 6).
---@param s string
---@return string
function _M.unescape(s)
  return (gsub(s, "%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

--- The reference tokens of a JSON Pointer fragment ("/a/b~1c" ->
--- { "a", "b/c" }), percent-decoded, ~1 and ~0 undone (in that order).
---@param fragment string starts with "/" (or is "")
---@return string[]
function _M.pointer_tokens(fragment)
  local out = {}
  if fragment == "" then return out end
  for seg in (sub(fragment, 2) .. "/"):gmatch("([^/]*)/") do
    seg = _M.unescape(seg)
    out[#out + 1] = (gsub(gsub(seg, "~1", "/"), "~0", "~"))
  end
  return out
end

return _M
