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
