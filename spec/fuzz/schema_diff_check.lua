-- Differential testing of crater.schema against ajv: the checking half.
--
-- Reads the lines spec/fuzz/schema_diff_gen.js writes (stdin) and, for each
-- (schema, instance) pair, validates with crater.schema in both modes. Writes one
-- JSON line per finding to stdout, then a summary line {"summary": {...}}.
-- A finding is one of:
--   verdict   crater.schema (all errors) and ajv disagree on valid/invalid
--   modes     all_errors = false gives another verdict than the default mode
--   first     all_errors = false: errors present exactly when invalid, and >= 1
--   pointer   an error's pointer (either mode) is not a location in the
--             instance (nor, for a missing property, a place in an object of it)
--   compile   crater.schema refused a schema ajv compiled
--   crash     a validator raised an error
-- Findings in a documented difference class carry "excluded": the rule's name
-- (see EXCLUDED below); the driver fails on the others.
local json = require "crater.json"
local schema = require "crater.schema"

local null = json.null

-- Decode one RFC 6901 pointer against v: the value there, or nil (and the
-- parent and last token when only the last step failed).
local function resolve(v, ptr)
  if ptr == "" then return true, v end
  if ptr:sub(1, 1) ~= "/" then return false end
  local parent, last
  for raw in (ptr:sub(2) .. "/"):gmatch("(.-)/") do
    local tok = raw:gsub("~1", "/"):gsub("~0", "~")
    parent, last = v, tok
    if type(v) ~= "table" then return false end
    if getmetatable(v) == json.array_mt then
      local i = tok:match("^%d+$") and tonumber(tok)
      if not i or (#tok > 1 and tok:sub(1, 1) == "0") or i >= #v then return false, parent, last end
      v = v[i + 1]
    else
      if v[tok] == nil then return false, parent, last end
      v = v[tok]
    end
  end
  return true, v
end

-- Keywords whose error names a property that is missing on purpose.
local MISSING_OK = { required = true, dependentRequired = true }

local function pointer_ok(inst, e)
  local ok, parent, last = resolve(inst, e.pointer)
  if ok then return true end
  if MISSING_OK[e.keyword] and type(parent) == "table" and getmetatable(parent) ~= json.array_mt then
    -- only the last step is missing, and its parent resolves
    local ptr_parent = e.pointer:match("^(.*)/[^/]*$")
    return ptr_parent and (resolve(inst, ptr_parent)) and parent[last] == nil
  end
  return false
end

-- Does the schema use a keyword anywhere (for the named exclusion rules)?
local function uses(s, key, seen)
  if type(s) ~= "table" then return false end
  seen = seen or {}
  if seen[s] then return false end
  seen[s] = true
  if s[key] ~= nil and getmetatable(s) ~= json.array_mt then return true end
  for _, v in pairs(s) do
    if uses(v, key, seen) then return true end
  end
  return false
end

-- Documented differences (docs/schemas.md), each a rule: name -> function of
-- (schema, instance, finding) that says whether the finding may be one of them,
-- checked by validating again with the difference taken out.
local function without_formats(s)
  if type(s) ~= "table" then return s end
  local c = setmetatable({}, getmetatable(s))
  for k, v in pairs(s) do
    if k ~= "format" or getmetatable(s) == json.array_mt then c[k] = without_formats(v) end
  end
  return c
end

-- A copy of schema s with fn(copy) applied to every subschema (not inside
-- const, enum or default, which are data).
local DATA = { const = true, enum = true, default = true, examples = true }
local function rewrite(s, fn)
  if type(s) ~= "table" then return s end
  local c = setmetatable({}, getmetatable(s))
  local arr = getmetatable(s) == json.array_mt
  for k, v in pairs(s) do c[k] = (not arr and DATA[k]) and v or rewrite(v, fn) end
  if not arr then fn(c) end
  return c
end

-- crater.schema's verdict on the schema as ajv reads it (rewritten by fn)
-- equals ajv's: the whole difference is the ajv behaviour fn models.
local tried = {} -- the models tried on the current finding, for "several"
local function agrees_as(s, inst, ajv_ok, fn)
  tried[#tried + 1] = fn
  local ok, check = pcall(schema.compile, rewrite(s, fn), { assert_formats = true })
  return ok and (check(inst)) == ajv_ok
end

local function numbers(v, out)
  if type(v) == "number" then out[#out + 1] = v
  elseif type(v) == "table" then for _, x in pairs(v) do numbers(x, out) end end
  return out
end

local EXCLUDED = {
  -- ajv 8.17 bug: the property name "" is lost: `required: [""]` (and a
  -- dependentRequired list with "") is never checked, so ajv accepts {}
  -- (JSON Schema 2020-12 6.5.3: every name in the array must be a
  -- property). Modelled by dropping "" from those lists.
  ["ajv-empty-property-name"] = function(s, inst, f)
    if f.kind ~= "verdict" then return false end
    local function drop_empty(list)
      local out = setmetatable({}, json.array_mt)
      for _, n in ipairs(list) do if n ~= "" then out[#out + 1] = n end end
      return out
    end
    return agrees_as(s, inst, f.ajv, function(c)
      if type(c.required) == "table" then c.required = drop_empty(c.required) end
      if type(c.dependentRequired) == "table" then
        for k, l in pairs(c.dependentRequired) do c.dependentRequired[k] = drop_empty(l) end
      end
    end)
  end,
  -- ajv 8.17 sets "all items evaluated" whenever `contains` passes, so
  -- unevaluatedItems beside it (or in a parent) never sees an item; 2020-12
  -- 10.3.1.3 says contains evaluates only the items that match it. Modelled
  -- by adding `allOf: [{items: true}]` beside every contains.
  ["ajv-contains-evaluates-all"] = function(s, inst, f)
    if f.kind ~= "verdict" or not uses(s, "unevaluatedItems") then return false end
    return agrees_as(s, inst, f.ajv, function(c)
      if c.contains ~= nil then
        local all = setmetatable({}, json.array_mt)
        for i, b in ipairs(type(c.allOf) == "table" and c.allOf or {}) do all[i] = b end
        all[#all + 1] = { items = true }
        c.allOf = all
      end
    end)
  end,
  -- ajv 8.17 tests multipleOf as `q !== parseInt(q)` with q = value / m;
  -- from 1e21 on, String(q) has an exponent and parseInt reads only its
  -- first digits, so ajv refuses 1e300 as a multiple of 3 (it is one: the
  -- double 1e300 is an integer divisible by 3; crater uses exact fmod).
  ["ajv-multipleOf-parseInt"] = function(s, inst, f)
    if f.kind ~= "verdict" then return false end  -- under `not`, either way
    local ms = {}
    rewrite(s, function(c) if type(c.multipleOf) == "number" then ms[#ms + 1] = c.multipleOf end end)
    for _, n in ipairs(numbers(inst, {})) do
      for _, m in ipairs(ms) do if math.abs(n / m) >= 1e21 then return true end end
    end
    return false
  end,
  -- docs/schemas.md "Formats": crater's checkers are its own; a few strings get
  -- another answer than ajv-formats' regexes on purpose (uuid's urn: prefix,
  -- a space in date-time, single-label email domains), and others differ at the
  -- edges. A verdict difference that goes away when every `format` is removed,
  -- and whose instance holds a string ajv-formats and crater judge differently, is
  -- a format difference, not a keyword bug.
  ["format-checkers"] = function(s, inst, f, ajv_nf)
    if f.kind ~= "verdict" or ajv_nf == nil or not uses(s, "format") then return false end
    local ok, check = pcall(schema.compile, without_formats(s))
    return ok and (check(inst)) == ajv_nf
  end,
  -- ajv 8.17 bug: its code for prefixItems sets the "valid" variable that
  -- gates the keywords after it (contains) only inside `if (data.length > j)`,
  -- j the index of the first prefixItems schema that is not always valid; on
  -- a shorter array that variable is undefined and ajv skips `contains`
  -- altogether, accepting [] or [null] against {prefixItems: [true, {type:
  -- "array"}], contains: {type: "string"}}. JSON Schema 2020-12 10.3.1.3 wants
  -- at least minContains (default 1) matching items whatever prefixItems says.
  -- Modelled by letting such a contains pass on arrays of at most j items.
  ["ajv-prefixItems-skips-contains"] = function(s, inst, f)
    if f.kind ~= "verdict" then return false end
    return agrees_as(s, inst, f.ajv, function(c)
      if c.contains == nil or type(c.prefixItems) ~= "table" then return end
      local j
      for i, p in ipairs(c.prefixItems) do
        if p ~= true and not (type(p) == "table" and next(p) == nil) then j = i - 1 break end
      end
      if j == nil then return end
      local inner = { contains = c.contains, minContains = c.minContains, maxContains = c.maxContains }
      c.contains, c.minContains, c.maxContains = nil, nil, nil
      local all = setmetatable({}, json.array_mt)
      for i, b in ipairs(type(c.allOf) == "table" and c.allOf or {}) do all[i] = b end
      all[#all + 1] = { anyOf = setmetatable({ { maxItems = j }, inner }, json.array_mt) }
      c.allOf = all
    end)
  end,
  -- ajv 8.17 bug: the result variable of a `contains` loop is declared with
  -- `var` and only assigned inside the loop, so on an empty array it keeps the
  -- result of the previous array checked there: {items: {contains: {type:
  -- "integer"}}} accepts [[16], []]. 2020-12 10.3.1.3: [] contains nothing.
  -- Modelled (when the instance holds an empty array) by contains passing on
  -- empty arrays.
  ["ajv-contains-stale-on-empty-array"] = function(s, inst, f)
    if f.kind ~= "verdict" then return false end
    local function has_empty(v)
      if type(v) ~= "table" then return false end
      if getmetatable(v) == json.array_mt and #v == 0 then return true end
      for _, x in pairs(v) do if has_empty(x) then return true end end
      return false
    end
    if not has_empty(inst) then return false end
    return agrees_as(s, inst, f.ajv, function(c)
      if c.contains == nil then return end
      local inner = { contains = c.contains, minContains = c.minContains, maxContains = c.maxContains }
      c.contains, c.minContains, c.maxContains = nil, nil, nil
      local all = setmetatable({}, json.array_mt)
      for i, b in ipairs(type(c.allOf) == "table" and c.allOf or {}) do all[i] = b end
      all[#all + 1] = { anyOf = setmetatable({ { maxItems = 0 }, inner }, json.array_mt) }
      c.allOf = all
    end)
  end,
  -- ajv 8.17 skips `contains` entirely when minContains is 0 and there is
  -- no maxContains, so the items it matches are not evaluated for
  -- unevaluatedItems; 2020-12 10.3.1.3 makes contains' annotation the matching
  -- indexes whatever minContains is. Modelled by dropping such a contains.
  ["ajv-minContains-zero-ignored"] = function(s, inst, f)
    if f.kind ~= "verdict" or not uses(s, "unevaluatedItems") then return false end
    return agrees_as(s, inst, f.ajv, function(c)
      if c.minContains == 0 and c.maxContains == nil then c.contains, c.minContains = nil, nil end
    end)
  end,
  -- ajv 8.17 compiles a `contains` whose schema is always valid (true, {})
  -- into a length check and records no evaluated items, so unevaluatedItems
  -- still sees every item; 2020-12 10.3.1.3: contains evaluates each item its
  -- schema matches, here all of them. Modelled by a length check in allOf.
  ["ajv-trivial-contains-no-annotation"] = function(s, inst, f)
    if f.kind ~= "verdict" or not uses(s, "unevaluatedItems") then return false end
    return agrees_as(s, inst, f.ajv, function(c)
      local x = c.contains
      if x == true or (type(x) == "table" and next(x) == nil) then
        local len = { minItems = c.minContains or 1, maxItems = c.maxContains }
        c.contains, c.minContains, c.maxContains = nil, nil, nil
        local all = setmetatable({}, json.array_mt)
        for i, b in ipairs(type(c.allOf) == "table" and c.allOf or {}) do all[i] = b end
        all[#all + 1] = len
        c.allOf = all
      end
    end)
  end,
  -- ajv 8.17 bug: an `items` in an anyOf/oneOf branch or in then/else marks
  -- "all items evaluated" at run time with the value `true`, and the
  -- unevaluatedItems check then compares `length > true`, that is > 1: a
  -- second item counts as unevaluated. 2020-12 11.2: items evaluates them all.
  -- The same for a contains there. Modelled by such a branch evaluating only
  -- index 0 (prefixItems: [true]) while its items or contains still checks
  -- (under not/not, which keeps no annotation).
  ["ajv-dynamic-items-true-as-1"] = function(s, inst, f)
    if f.kind ~= "verdict" or not uses(s, "unevaluatedItems") then return false end
    local function only_first(b)
      if type(b) ~= "table" then return end
      local moved
      if b.items ~= nil then
        moved = { items = b.items, prefixItems = b.prefixItems }
        b.items = nil
      elseif b.contains ~= nil and b.prefixItems == nil then  -- contains too (see ajv-contains-evaluates-all)
        moved = { contains = b.contains, minContains = b.minContains, maxContains = b.maxContains }
        b.contains, b.minContains, b.maxContains = nil, nil, nil
      else
        return
      end
      b.prefixItems = setmetatable({ true }, json.array_mt)
      local all = setmetatable({}, json.array_mt)
      for i, y in ipairs(type(b.allOf) == "table" and b.allOf or {}) do all[i] = y end
      all[#all + 1] = { ["not"] = { ["not"] = moved } }
      b.allOf = all
    end
    return agrees_as(s, inst, f.ajv, function(c)
      for _, kw in ipairs({ "anyOf", "oneOf" }) do
        if type(c[kw]) == "table" then for _, b in ipairs(c[kw]) do only_first(b) end end
      end
      if c["if"] ~= nil then only_first(c["then"]); only_first(c["else"]) end
    end)
  end,
  -- ajv 8.17 bug: the items that `items`, `prefixItems` or `unevaluatedItems`
  -- evaluate, in an anyOf or oneOf branch or in if/then/else (directly,
  -- through allOf, dependentSchemas or a $ref), are counted at compile time, even when that branch fails or does
  -- not apply: {unevaluatedItems: false, anyOf: [true, {type: "string",
  -- items: {}}]} accepts ["a"], {unevaluatedItems: {minimum: 10}, anyOf: [{},
  -- {prefixItems: [{maximum: 4.5}]}]} accepts [9]. 2020-12 7.7.1.1: a failed
  -- subschema's annotations are dropped. Modelled by dropping unevaluatedItems
  -- where an in-place branch holds such keywords.
  ["ajv-failed-branch-static-items"] = function(s, inst, f)
    if f.kind ~= "verdict" or not uses(s, "unevaluatedItems") then return false end
    local function resolve_ref(ref)
      if ref == "#" then return s end
      local defs = type(s["$defs"]) == "table" and s["$defs"] or {}
      if ref:sub(1, 8) == "#/$defs/" then return defs[ref:sub(9)] end
      -- By URI ("d0", ".../d0", "d0#A0", "d0#D0": the generator's names).
      local def = ref:match("^(d%d+)") or ref:match("/(d%d+)$") or ref:match("/(d%d+)#") or ref:match("^(d%d+)#")
      if def then return defs[def] end
      for _, d in pairs(defs) do
        if type(d) == "table" and d["$anchor"] == ref:sub(2) then return d end
      end
    end
    -- Does b hold, in place, an items or prefixItems that ajv counts at
    -- compile time whatever the branch's result?
    local function static_items(b, depth)
      if type(b) ~= "table" or depth > 6 then return false end
      if b.items ~= nil or b.prefixItems ~= nil or b.unevaluatedItems ~= nil then return true end
      if type(b["$ref"]) == "string" and static_items(resolve_ref(b["$ref"]), depth + 1) then return true end
      if type(b["$dynamicRef"]) == "string" and static_items(resolve_ref(b["$dynamicRef"]), depth + 1) then
        return true
      end
      if type(b.dependentSchemas) == "table" then
        for _, x in pairs(b.dependentSchemas) do if static_items(x, depth + 1) then return true end end
      end
      for _, kw in ipairs({ "allOf", "anyOf", "oneOf" }) do
        if type(b[kw]) == "table" then
          for _, x in ipairs(b[kw]) do if static_items(x, depth + 1) then return true end end
        end
      end
      return static_items(b["if"], depth + 1) or static_items(b["then"], depth + 1)
        or static_items(b["else"], depth + 1)
    end
    return agrees_as(s, inst, f.ajv, function(c)
      if c.unevaluatedItems == nil then return end
      for _, kw in ipairs({ "anyOf", "oneOf" }) do
        if type(c[kw]) == "table" then
          for _, b in ipairs(c[kw]) do
            if static_items(b, 0) then c.unevaluatedItems = nil return end
          end
        end
      end
      if c["if"] ~= nil and (static_items(c["if"], 0) or static_items(c["then"], 0) or static_items(c["else"], 0)) then
        c.unevaluatedItems = nil
      end
    end)
  end,
  -- ajv 8.17 bug: the keys that `properties` and `patternProperties` evaluate
  -- are recorded, when dependentSchemas sits beside them, only inside the
  -- branch for a present dependent property; when none is present ajv counts
  -- no key evaluated and unevaluatedProperties refuses even declared ones
  -- ({properties: {a: {}}, dependentSchemas: {b: {properties: {c: {}}}},
  -- unevaluatedProperties: false} refuses {"a": 1}). Modelled by moving those
  -- keywords into each dependentSchemas entry (still checked under not/not).
  ["ajv-dependentSchemas-hides-properties"] = function(s, inst, f)
    if f.kind ~= "verdict" or not uses(s, "unevaluatedProperties") then return false end
    return agrees_as(s, inst, f.ajv, function(c)
      if type(c.dependentSchemas) ~= "table" or c.unevaluatedProperties == nil
          or (c.properties == nil and c.patternProperties == nil) then return end
      local moved = { properties = c.properties, patternProperties = c.patternProperties }
      c.properties, c.patternProperties = nil, nil
      for name, ds in pairs(c.dependentSchemas) do
        c.dependentSchemas[name] = { allOf = setmetatable({ ds, moved }, json.array_mt) }
      end
      local all = setmetatable({}, json.array_mt)
      for i, y in ipairs(type(c.allOf) == "table" and c.allOf or {}) do all[i] = y end
      all[#all + 1] = { ["not"] = { ["not"] = moved } }
      c.allOf = all
    end)
  end,
  -- ajv 8.17 bug: additionalProperties (or unevaluatedProperties) inside an
  -- `if` (also one in an allOf branch), or inside an anyOf/oneOf branch, marks every key evaluated at
  -- compile time, even when that subschema fails (2020-12 7.7.1.1: a failed
  -- subschema's annotations are dropped), and the keys an `if`'s properties
  -- name count as evaluated when the `if` fails. Modelled by dropping
  -- unevaluatedProperties beside such a subschema, and by `true` properties
  -- beside the `if` for the keys it names.
  ["ajv-failed-branch-static-props"] = function(s, inst, f)
    if f.kind ~= "verdict" or not uses(s, "unevaluatedProperties") then return false end
    local function static_props(b, depth)
      if type(b) ~= "table" or depth > 6 then return false end
      if b.additionalProperties ~= nil or b.unevaluatedProperties ~= nil then return true end
      for _, kw in ipairs({ "allOf", "anyOf", "oneOf" }) do
        if type(b[kw]) == "table" then
          for _, x in ipairs(b[kw]) do if static_props(x, depth + 1) then return true end end
        end
      end
      return static_props(b["if"], depth + 1) or static_props(b["then"], depth + 1)
        or static_props(b["else"], depth + 1)
    end
    return agrees_as(s, inst, f.ajv, function(c)
      if c.unevaluatedProperties == nil then return end
      local subs = { c["if"] }
      for _, kw in ipairs({ "anyOf", "oneOf", "allOf" }) do
        if type(c[kw]) == "table" then for _, b in ipairs(c[kw]) do subs[#subs + 1] = b end end
      end
      for i = 1, #subs + 1 do
        if static_props(subs[i], 0) then c.unevaluatedProperties = nil return end
      end
      -- the keys `if` names count as evaluated, whether it passes or not
      local cond = c["if"]
      if type(cond) == "table" and (type(cond.properties) == "table" or type(cond.patternProperties) == "table") then
        for _, kw in ipairs({ "properties", "patternProperties" }) do
          if type(cond[kw]) == "table" then
            c[kw] = c[kw] or {}
            for name in pairs(cond[kw]) do if c[kw][name] == nil then c[kw][name] = true end end
          end
        end
      end
    end)
  end,
  -- ajv 8.17 skips an `if` that has neither `then` nor `else`, so the keys and
  -- items it evaluates are not seen by unevaluated*; the test suite's
  -- "unevaluatedProperties can see annotations from if without then and
  -- else" wants them seen. Modelled by removing such an if.
  ["ajv-lone-if-ignored"] = function(s, inst, f)
    if f.kind ~= "verdict" then return false end
    if not uses(s, "unevaluatedProperties") and not uses(s, "unevaluatedItems") then return false end
    return agrees_as(s, inst, f.ajv, function(c)
      if c["if"] ~= nil and c["then"] == nil and c["else"] == nil then c["if"] = nil end
    end)
  end,
  -- ajv 8.17 picks its uniqueItems algorithm from the type of `items` and
  -- then compares only items of that type, though prefixItems may hold
  -- others: [null, null] passed with prefixItems [{}, {}], items {type:
  -- string}. 2020-12 6.4.3: all elements must be unique. Modelled by dropping
  -- uniqueItems where items has a type and prefixItems is beside it.
  ["ajv-uniqueItems-typed-items"] = function(s, inst, f)
    if f.kind ~= "verdict" or f.ajv ~= true then return false end
    return agrees_as(s, inst, true, function(c)
      if c.uniqueItems == true and c.prefixItems ~= nil and type(c.items) == "table" and c.items.type ~= nil then
        c.uniqueItems = nil
      end
    end)
  end,
}

local RULE_ORDER = {}
for name in pairs(EXCLUDED) do RULE_ORDER[#RULE_ORDER + 1] = name end
table.sort(RULE_ORDER)

local function finding(out, kind, rec, extra)
  extra.kind = kind
  extra.id = rec.id
  extra.schema = rec.schema
  out[#out + 1] = extra
end

local stats = { schemas = 0, cases = 0, findings = 0, excluded = 0, valid = 0, invalid = 0 }
local by_rule = {}

for line in io.lines() do
  local rec, why = json.decode(line)
  if rec == nil then error("schema_diff_check: input line " .. (stats.schemas + 1) .. ": " .. why) end
  stats.schemas = stats.schemas + 1
  local out = {}
  local okc, all = pcall(schema.compile, rec.schema, { assert_formats = true })
  local okf, first = pcall(schema.compile, rec.schema, { all_errors = false, assert_formats = true })
  if not okc or not okf then
    finding(out, "compile", rec, { error = tostring(okc and first or all) })
    stats.cases = stats.cases + #rec.instances
  else
    for i = 1, #rec.instances do
      stats.cases = stats.cases + 1
      local inst = rec.instances[i]
      local ajv_ok = rec.ajv[i]
      local ok1, v1, errs1 = pcall(all, inst)
      local ok2, v2, errs2 = pcall(first, inst)
      if not ok1 or not ok2 then
        finding(out, "crash", rec, { instance = inst, error = tostring(ok1 and v2 or v1) })
      else
        if v1 then stats.valid = stats.valid + 1 else stats.invalid = stats.invalid + 1 end
        if v1 ~= ajv_ok then
          finding(out, "verdict", rec, { instance = inst, ajv = ajv_ok, crater = v1,
            errors = errs1, ajv_nf = rec.ajv_nf and rec.ajv_nf[i] })
        end
        if v1 ~= v2 then
          finding(out, "modes", rec, { instance = inst, ajv = ajv_ok, crater = v1, first = v2 })
        end
        if v2 and errs2 ~= nil or not v2 and (type(errs2) ~= "table" or #errs2 < 1) then
          finding(out, "first", rec, { instance = inst, first = v2, errors = errs2 or null })
        end
        if v1 and errs1 ~= nil or not v1 and (type(errs1) ~= "table" or #errs1 < 1) then
          finding(out, "first", rec, { instance = inst, all = v1, errors = errs1 or null })
        end
        for mode, errs in pairs({ all = errs1 or {}, first = errs2 or {} }) do
          for _, e in ipairs(errs) do
            if type(e.pointer) ~= "string" or not pointer_ok(inst, e) then
              finding(out, "pointer", rec, { instance = inst, error = e, mode = mode })
              break
            end
          end
        end
      end
    end
  end
  for _, f in ipairs(out) do
    tried = {}
    for _, name in ipairs(RULE_ORDER) do
      if EXCLUDED[name](rec.schema, f.instance, f, f.ajv_nf) then f.excluded = name break end
    end
    -- Two ajv bugs at once: every model that applied, together.
    if not f.excluded and f.kind == "verdict" and #tried > 1 then
      local all = { unpack(tried) } -- agrees_as appends to tried
      if agrees_as(rec.schema, f.instance, f.ajv, function(c) for _, fn in ipairs(all) do fn(c) end end) then
        f.excluded = "several-ajv-bugs"
      end
    end
    if f.excluded then
      stats.excluded = stats.excluded + 1
      by_rule[f.excluded] = (by_rule[f.excluded] or 0) + 1
    else
      stats.findings = stats.findings + 1
    end
    io.write(json.encode(f), "\n")
  end
end
stats.by_rule = by_rule
io.write(json.encode({ summary = stats }), "\n")
