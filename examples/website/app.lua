-- A small website in the Flask style: pages from templates with a layout,
-- a sign-in form kept in a signed-cookie session, a guestbook form with an
-- optional attachment (multipart, spooled by the core), redirects after
-- each POST, a stylesheet served from a folder, compressed HTML.
--
--   build/crater examples/website/app.lua     -> http://127.0.0.1:8080/
--
-- spec/e2e/test_website.py drives it in headless Chromium.
local crater = require "crater"
local s = crater.schema

local app = crater.app { title = "Guestbook", version = "1.0.0" }
local views = crater.template.new { root = "templates" }

app:sessions {
  secret = os.getenv("SESSION_SECRET") or "examples/website: not a secret, set SESSION_SECRET",
}
app:static("/static", "public", { max_age = 3600 })

-- The guestbook lives in memory: app.state is handed to the next
-- generation on a hot reload (docs/reload.md), so a reload keeps it.
local function book()
  app.state.entries = app.state.entries or {}
  return app.state.entries
end

local MAX_ATTACHMENT = 256 * 1024

app:get("/", { name = "home" }, function(req)
  return views:html("index.html", {
    user = req.session.user,
    entries = book(),
    flash = req.query.flash,
    url_for = function(name, params) return app:url_for(name, params) end,
  })
end)

app:post("/login", { name = "login", form = { name = s.string { minLength = 1, maxLength = 40 } } },
  function(req)
    req.session.user = req.form.name
    return crater.redirect(app:url_for("home", nil, { flash = "Welcome, " .. req.form.name }), 303)
  end)

app:post("/logout", { name = "logout" }, function(req)
  req.session = nil
  return crater.redirect(app:url_for("home"), 303)
end)

app:post("/entries", {
  name = "sign",
  form = {
    message = s.string { minLength = 1, maxLength = 500 },
    attachment = s.optional(s.string { format = "binary" }),
  },
}, function(req)
  local user = req.session.user
  if not user then return crater.redirect(app:url_for("home", nil, { flash = "Sign in first" }), 303) end
  local entries = book()
  local entry = { id = #entries + 1, user = user, message = req.form.message }
  local file = req.files[1]
  if file and file.filename ~= "" then
    if file.size > MAX_ATTACHMENT then crater.abort(413, "an attachment is at most 256 KiB") end
    entry.attachment = { filename = file.filename, size = file.size,
                         content_type = file.content_type ~= "" and file.content_type or "application/octet-stream",
                         data = file:read() }
  end
  entries[#entries + 1] = entry
  return crater.redirect(app:url_for("home"), 303)
end)

app:get("/entries/{id}/attachment", { name = "attachment", params = { id = s.integer { minimum = 1 } } },
  function(req)
    local e = book()[req.params.id]
    if not (e and e.attachment) then crater.abort(404, "no such attachment") end
    local a = e.attachment
    return crater.response(a.data, 200, {
      ["Content-Type"] = a.content_type,
      ["Content-Disposition"] = 'attachment; filename="' .. a.filename:gsub('[^%w%.%-_ ]', "_") .. '"',
    })
  end)

return app
