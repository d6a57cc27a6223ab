-- `format` checks alone: validations/s of crater.schema (assert_formats) on
-- one string schema per format, over the samples in formats_samples.json
-- (valid and invalid strings, used in turn). Run by formats_bench.sh (which
-- runs ajv with ajv-formats on the same samples beside it).
-- Prints one line per format: "<format> <validations/s> <valid samples>".
local schema = require "crater.schema"
local json = require "crater.json"

local SECONDS = tonumber(os.getenv("SECONDS_PER_CASE") or "0.5")
local ROUNDS = tonumber(os.getenv("ROUNDS") or "3")

local f = assert(io.open("spec/bench/formats_samples.json", "rb"))
local samples = assert(json.decode(f:read("*a")))
f:close()
local names = {}
for name in pairs(samples) do names[#names + 1] = name end
table.sort(names)

local clock = os.clock
for _, name in ipairs(names) do
  local validate = schema.compile({ type = "string", format = name }, { assert_formats = true })
  local list = samples[name]
  local m = #list
  local valid = 0
  for i = 1, m do if validate(list[i]) then valid = valid + 1 end end
  local best = 0
  for _ = 1, ROUNDS do
    local n, seen = 0, 0
    local t0 = clock()
    local t
    repeat
      for i = 1, 1000 do
        if validate(list[i % m + 1]) then seen = seen + 1 end
      end
      n = n + 1000
      t = clock() - t0
    until t >= SECONDS
    if seen < 0 then error("unreachable") end
    if n / t > best then best = n / t end
  end
  io.write(("%s\t%.0f\t%d\n"):format(name, best, valid))
end
