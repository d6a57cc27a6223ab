-- examples/embed/app.lua: the routes examples/embed/main.c serves. The
-- counter lives in C; "host.counter" is the module main.c registered.
local crater = require "crater"
local counter = require "host.counter"
local ffi = require "ffi"

-- The same layout as embed_counter in main.c: the FFI reads it directly.
ffi.cdef [[ typedef struct { int64_t value; int64_t ticks; } embed_counter; ]]
local counter_ptr = ffi.cast("embed_counter *", counter.context())

local app = crater.app { title = "Embedded counter", version = "1.0.0" }

-- Read through the registered C functions.
app:get("/counter", function()
  return { value = counter.get(), ticks = counter.ticks() }
end)

-- Change it: POST {"add": n}.
app:post("/counter", function(req)
  local body = req:json()
  if type(body) ~= "table" or type(body.add) ~= "number" or body.add % 1 ~= 0 then
    crater.abort(422, "body must be an object with an integer 'add'")
  end
  return { value = counter.add(body.add) }
end)

-- Read through the FFI: no C call at all.
app:get("/counter/ffi", function()
  return { value = tonumber(counter_ptr.value) }
end)

return app
