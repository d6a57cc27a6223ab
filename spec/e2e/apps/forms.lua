-- The app of spec/e2e/test_forms.py: req.form and req.files as JSON, a
-- file's bytes, a slow handler (to look at temporary files while it runs)
-- and routes with form schemas.
local crater = require "crater"
local s = crater.schema

local app = crater.app { title = "Forms", version = "1.0.0" }

local function describe(req)
  local files = setmetatable({}, crater.json.array_mt)
  for i, f in ipairs(req.files) do
    files[i] = { name = f.name, filename = f.filename, content_type = f.content_type, size = f.size,
                 spooled = f.path ~= nil, read = #assert(f:read()) }
  end
  return { form = req.form, files = files }
end

app:post("/echo", describe)

-- The bytes of the file number ?i= (1 when not given).
app:post("/file", function(req)
  local f = req.files[tonumber(req.query.i or "1")]
  if not f then return 404, "no such file" end
  return 200, f:read(), { ["content-type"] = "application/octet-stream" }
end)

-- Waits ?ms= before answering, with the temporary files' paths.
app:post("/slow", function(req)
  local paths = setmetatable({}, crater.json.array_mt)
  for _, f in ipairs(req.files) do
    if f.path then paths[#paths + 1] = f.path end
  end
  crater.sleep(tonumber(req.query.ms or "1000") / 1000)
  return { paths = paths }
end)

-- file:save moves a spooled file out of the way of the cleanup.
app:post("/save", function(req)
  local f = req.files[1]
  assert(f:save(req.query.to))
  return { saved = req.query.to }
end)

-- The files' bytes in hex, for a browser's form (test_forms.py's Browser).
app:post("/hex", function(req)
  local files = setmetatable({}, crater.json.array_mt)
  for i, f in ipairs(req.files) do
    files[i] = { name = f.name, filename = f.filename, content_type = f.content_type,
                 hex = (f:read():gsub(".", function(c) return string.format("%02x", c:byte()) end)) }
  end
  return { form = req.form, files = files, ctype = req:header("content-type"):match("^[^;]*") }
end)

-- A page whose script fills a form (a file made in the page) and submits it.
app:get("/page/{enctype}", function(req)
  local enctype = req.params.enctype == "multipart" and "multipart/form-data"
    or "application/x-www-form-urlencoded"
  return 200, [[<!doctype html><meta charset="utf-8">
<form id="f" method="post" action="/hex" enctype="]] .. enctype .. [[">
<input name="title" value="caf&eacute; &amp; cr&egrave;me">
<input name="tag" value="a"><input name="tag" value="b+c=d&amp;e">
<textarea name="note">line1
line2</textarea>
<input type="file" name="doc" id="doc">
</form>
<script>
const bytes = new Uint8Array([0, 1, 13, 10, 45, 45, 13, 10, 255, 200]);
const dt = new DataTransfer();
dt.items.add(new File([bytes], 'résumé "v2".bin', { type: 'application/octet-stream' }));
document.getElementById('doc').files = dt.files;
document.getElementById('f').submit();
</script>]], { ["content-type"] = "text/html; charset=utf-8" }
end)

app:post("/signup", {
  form = {
    name = s.string { minLength = 1 },
    age = s.integer { minimum = 0 },
    newsletter = s.optional(s.boolean()),
    tags = s.optional(s.array(s.string())),
  },
}, function(req) return req.form end)

app:post("/avatar", {
  form = {
    user = s.string(),
    avatar = s.string { format = "binary", contentMediaType = "image/png" },
  },
}, function(req) return { user = req.form.user, size = req.files[1].size } end)

return app
