-- Route schemas with `format` (spec/e2e/test_formats.py). With FORMATS=annotate
-- the app is made with assert_formats = false.
local crater = require "crater"
local s = crater.schema

local app = crater.app { title = "Formats", assert_formats = os.getenv("FORMATS") ~= "annotate" }

app:post("/contacts", {
  body = s.object {
    email = s.string { format = "email" },
    host = s.optional(s.string { format = "idn-hostname" }),
    site = s.optional(s.string { format = "uri" }),
  },
}, function(req) return 201, req.body end)

app:get("/at/{day}", { params = { day = s.string { format = "date" } },
  query = { every = s.optional(s.string { format = "duration" }) } },
  function(req) return { day = req.params.day, every = req.query.every } end)

return app
