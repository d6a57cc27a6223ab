// Differential testing of crater.schema against ajv: the generator half.
//
// Writes one JSON line per random schema to stdout:
//   {"id": N, "schema": ..., "instances": [...], "ajv": [true, false, ...]}
// where ajv[i] is ajv's verdict (draft 2020-12, ajv-formats) on instances[i].
// spec/fuzz/schema_diff_check.lua reads these lines and compares crater.schema's
// verdicts; spec/fuzz/schema_diff.py runs both.
//
//   node schema_diff_gen.js SEED CASES      (CASES = number of (schema, instance) pairs)
//
// The schemas use only what docs/schemas.md says crater.schema supports, and
// stay away from its documented differences where they can be avoided up front:
// patterns are the documented regex subset, multipleOf is an integer or an
// exact binary fraction. Everything else is left to the checker's triage.
"use strict";
const path = require("path");
const tools = process.env.CRATER_TOOLS || "/usr/local/share/crater/tools";
const mod = (name) => require(path.join(tools, "node_modules", name));
const Ajv2020 = mod("ajv/dist/2020");
const addFormats = mod("ajv-formats");

const seed = Number(process.argv[2] || 1) >>> 0;
const wanted = Number(process.argv[3] || 1000);

// mulberry32: small, seedable, good enough to pick shapes.
let st = seed || 1;
function rnd() {
  st = (st + 0x6d2b79f5) >>> 0;
  let t = st;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (a, b) => a + Math.floor(rnd() * (b - a + 1));
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
const chance = (p) => rnd() < p;

// ---------------------------------------------------------------- values
const CHARS = ["a", "b", "c", "x", "0", "1", "9", "_", "-", " ", "é", "€", "😀", "𝄞", "A", "\n", ".", "\r", "\u2028"];
const KEYS = ["a", "b", "c", "ab", "x1", "x2", "é", "😀", "foo", "bar", "", "a_b", "A", "1", "~", "/x"];
const FORMAT_SAMPLES = {
  email: ["a@b.co", "joe.smith@example.com", "a@localhost", "@b.co", "a@@b.co", "a..b@c.de",
    ".a@b.co", "a@b", "a b@c.de", "é@b.co", "a@-b.co", "a@b.co.", "x+y@z.org", "a@[1.2.3.4]"],
  uuid: ["123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000",
    "123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400",
    "urn:uuid:123e4567-e89b-12d3-a456-426614174000", "g23e4567-e89b-12d3-a456-426614174000",
    "00000000-0000-0000-0000-000000000000"],
  date: ["2024-02-29", "2023-02-29", "2024-13-01", "2024-04-31", "2024-1-01", "2024-01-01T",
    "0000-01-01", "2024-12-31", "20240101"],
  "date-time": ["2024-02-29T12:00:00Z", "2024-02-29t12:00:00z", "2024-02-29 12:00:00Z",
    "2024-02-29T12:00:00", "2024-02-29T24:00:00Z", "2024-02-29T12:00:00.123+02:00",
    "2016-12-31T23:59:60Z", "2024-02-30T12:00:00Z", "2024-02-29T12:60:00Z", "2024-02-29T12:00:00+2:00"],
  ipv4: ["1.2.3.4", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "0.0.0.0", "1.2.3.-4"],
  ipv6: ["::", "::1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1::2::3", "::ffff:1.2.3.4",
    "fe80::1%eth0", "12345::", "1:2:3:4:5:6:7::", "G::1", "::1.2.3.4"],
  uri: ["http://example.com/a?b=c#d", "urn:isbn:0451450523", "//example.com", "/relative",
    "http://a b.com", "http://example.com/%zz", "mailto:a@b.co", "a:b", "1http://x", "http://[::1]:80/"],
};
const FORMATS = Object.keys(FORMAT_SAMPLES);

function randString(maxLen) {
  const n = int(0, maxLen);
  let s = "";
  for (let i = 0; i < n; i++) s += pick(CHARS);
  return s;
}
function randNumber() {
  return pick([0, 1, -1, 2, 3, 5, 10, 100, -7, 0.5, 1.5, -2.5, 0.25, 7.75, 1e6, 123.125, 4, 6, 12]);
}
function randScalar() {
  switch (int(0, 5)) {
    case 0: return null;
    case 1: return chance(0.5);
    case 2: return randNumber();
    case 3: return int(-3, 20);
    default: return randString(4);
  }
}
function randValue(depth) {
  if (depth <= 0 || chance(0.6)) return randScalar();
  if (chance(0.5)) {
    const a = [];
    for (let i = int(0, 3); i > 0; i--) a.push(randValue(depth - 1));
    return a;
  }
  const o = {};
  for (let i = int(0, 3); i > 0; i--) o[pick(KEYS)] = randValue(depth - 1);
  return o;
}

// ---------------------------------------------------------------- patterns
// Only the regex subset docs/schemas.md documents, all valid with the u flag.
const PAT_ATOMS = ["a", "b", "x", "[a-c]", "[^a]", "\\d", "\\w", "\\s", ".", "é", "😀", "[0-9_]",
  "(ab|c)", "(?:a|😀)", "\\p{L}", "\\P{L}", "\\p{Lu}", "\\p{N}", "[\\d-]", "-", "\\.", "[é-ü]"];
const PAT_QUANT = ["", "", "", "*", "+", "?", "{2}", "{1,2}", "{0,}", "+?"];
function randPattern() {
  let p = "";
  for (let i = int(1, 3); i > 0; i--) p += pick(PAT_ATOMS) + pick(PAT_QUANT);
  if (chance(0.1)) p = "(?!x)" + p;
  if (chance(0.1)) p = p + "|" + pick(PAT_ATOMS);
  if (chance(0.5)) p = "^" + p;
  if (chance(0.4)) p = p + "$";
  return p;
}
const KEY_PATTERNS = ["^a", "b$", "^x\\d$", "^\\p{L}+$", "😀", "^$", "^[a-c]+$", "_", "^.$", "^[^a-z]"];

// ---------------------------------------------------------------- schemas
// ctx: { defs: [names], anchors: [names], refs: [more $ref strings],
//        dynamic: [$dynamicRef strings], descended: bool }
// A $ref may close a cycle only below a keyword that goes into a child value
// (properties, items, ...), so every validation ends on a finite instance.
function refSchema(ctx) {
  const opts = [];
  for (const d of ctx.defs) opts.push("#/$defs/" + d);
  for (const a of ctx.anchors) opts.push("#" + a);
  for (const r of ctx.refs || []) opts.push(r);
  if (ctx.descended) opts.push("#", "#");
  if (!opts.length) return null;
  const s = { $ref: pick(opts) };
  if (ctx.descended && ctx.dynamic && ctx.dynamic.length && chance(0.4)) {
    delete s.$ref;
    s.$dynamicRef = pick(ctx.dynamic);
  }
  if (chance(0.2)) Object.assign(s, smallKeywords(ctx));
  return s;
}

function smallKeywords() {
  const s = {};
  switch (int(0, 5)) {
    case 0: s.minLength = int(0, 3); break;
    case 1: s.minimum = int(-2, 5); break;
    case 2: s.maxItems = int(0, 3); break;
    case 3: s.required = [pick(KEYS)]; break;
    case 4: s.type = pick(["object", "array", "string", "number"]); break;
    default: s.not = { const: randScalar() };
  }
  return s;
}

const TYPES = ["string", "number", "integer", "boolean", "null", "object", "array"];

function genSchema(depth, ctx) {
  if (chance(0.04)) return chance(0.7);
  if (depth <= 0) return leafSchema(ctx);
  const r = rnd();
  if (r < 0.18) return objectSchema(depth, ctx);
  if (r < 0.32) return arraySchema(depth, ctx);
  if (r < 0.44) return stringSchema();
  if (r < 0.54) return numberSchema();
  if (r < 0.64) return combinator(depth, ctx);
  if (r < 0.70) return conditional(depth, ctx);
  if (r < 0.78) { const s = refSchema(ctx); if (s) return s; return leafSchema(ctx); }
  if (r < 0.84) return mixed(depth, ctx);
  return leafSchema(ctx);
}

function leafSchema(ctx) {
  switch (int(0, 7)) {
    case 0: return { type: pick(TYPES) };
    case 1: {
      const t = [];
      for (let i = int(1, 3); i > 0; i--) { const x = pick(TYPES); if (!t.includes(x)) t.push(x); }
      return { type: t };
    }
    case 2: {
      const e = [];
      for (let i = int(1, 4); i > 0; i--) e.push(randValue(1));
      return { enum: e };
    }
    case 3: return { const: randValue(2) };
    case 4: return stringSchema();
    case 5: return numberSchema();
    case 6: { const s = refSchema(ctx); return s || { type: "string" }; }
    default: return {};
  }
}

function stringSchema() {
  const s = {};
  if (chance(0.8)) s.type = "string";
  if (chance(0.4)) s.minLength = int(0, 4);
  if (chance(0.4)) s.maxLength = int(0, 5);
  if (chance(0.35)) s.pattern = randPattern();
  if (chance(0.25)) s.format = pick(FORMATS);
  return s;
}

function numberSchema() {
  const s = {};
  if (chance(0.8)) s.type = pick(["number", "integer", ["integer", "string"], ["number", "null"]]);
  const b = () => pick([int(-5, 10), int(-5, 10) + 0.5]);
  if (chance(0.4)) s.minimum = b();
  if (chance(0.4)) s.maximum = b();
  if (chance(0.25)) s.exclusiveMinimum = b();
  if (chance(0.25)) s.exclusiveMaximum = b();
  if (chance(0.35)) s.multipleOf = pick([1, 2, 3, 5, 0.5, 0.25, 0.125, 1.5, 10]);
  return s;
}

function propMap(depth, ctx, n) {
  const p = {};
  for (let i = 0; i < n; i++) p[pick(KEYS)] = genSchema(depth - 1, ctx);
  return p;
}

function objectSchema(depth, ctx) {
  const d = { ...ctx, descended: true };
  const s = {};
  if (chance(0.85)) s.type = "object";
  if (chance(0.8)) s.properties = propMap(depth, d, int(1, 3));
  if (chance(0.5)) {
    const names = s.properties ? Object.keys(s.properties) : [];
    const req = [];
    for (let i = int(1, 2); i > 0; i--) {
      const k = names.length && chance(0.7) ? pick(names) : pick(KEYS);
      if (!req.includes(k)) req.push(k);
    }
    s.required = req;
  }
  if (chance(0.3)) s.additionalProperties = chance(0.5) ? false : genSchema(depth - 1, d);
  if (chance(0.25)) {
    s.patternProperties = {};
    for (let i = int(1, 2); i > 0; i--) s.patternProperties[pick(KEY_PATTERNS)] = genSchema(depth - 1, d);
  }
  if (chance(0.15)) s.propertyNames = pick([{ maxLength: int(0, 2) }, { pattern: pick(KEY_PATTERNS) },
    { enum: [pick(KEYS), pick(KEYS)] }, { not: { const: pick(KEYS) } }]);
  if (chance(0.2)) s.minProperties = int(0, 3);
  if (chance(0.2)) s.maxProperties = int(0, 3);
  if (chance(0.15)) s.dependentRequired = { [pick(KEYS)]: [pick(KEYS), pick(KEYS)].filter((v, i, a) => a.indexOf(v) === i) };
  if (chance(0.15)) s.dependentSchemas = { [pick(KEYS)]: genSchema(depth - 1, ctx) };
  if (chance(0.2)) s.unevaluatedProperties = chance(0.6) ? false : genSchema(depth - 1, d);
  if (chance(0.2)) s.allOf = [genSchema(depth - 1, ctx)];
  return s;
}

function arraySchema(depth, ctx) {
  const d = { ...ctx, descended: true };
  const s = {};
  if (chance(0.85)) s.type = "array";
  if (chance(0.35)) {
    s.prefixItems = [];
    for (let i = int(1, 3); i > 0; i--) s.prefixItems.push(genSchema(depth - 1, d));
  }
  if (chance(0.6)) s.items = chance(0.15) ? false : genSchema(depth - 1, d);
  if (chance(0.3)) s.minItems = int(0, 3);
  if (chance(0.3)) s.maxItems = int(0, 4);
  if (chance(0.25)) s.uniqueItems = chance(0.8);
  if (chance(0.25)) {
    s.contains = genSchema(depth - 1, d);
    if (chance(0.4)) s.minContains = int(0, 2);
    if (chance(0.4)) s.maxContains = int(0, 3);
  }
  if (chance(0.2)) s.unevaluatedItems = chance(0.6) ? false : genSchema(depth - 1, d);
  if (chance(0.15)) s.anyOf = [genSchema(depth - 1, ctx), genSchema(depth - 1, ctx)];
  return s;
}

function combinator(depth, ctx) {
  const k = pick(["anyOf", "oneOf", "allOf", "not"]);
  if (k === "not") return { not: genSchema(depth - 1, ctx) };
  const list = [];
  for (let i = int(1, 3); i > 0; i--) list.push(genSchema(depth - 1, ctx));
  return { [k]: list };
}

function conditional(depth, ctx) {
  const s = { if: genSchema(depth - 1, ctx) };
  if (chance(0.8)) s.then = genSchema(depth - 1, ctx);
  if (chance(0.6)) s.else = genSchema(depth - 1, ctx);
  return s;
}

// Several keywords of different kinds on one schema, so unevaluated* sees
// in-place applicators that did or did not evaluate.
function mixed(depth, ctx) {
  const s = chance(0.5) ? objectSchema(depth, ctx) : arraySchema(depth, ctx);
  const c = chance(0.5) ? combinator(depth, ctx) : conditional(depth, ctx);
  Object.assign(s, c);
  if (chance(0.5)) { const r = refSchema(ctx); if (r) s.$ref = r.$ref; }
  return s;
}

// Some roots have an $id and some of their defs one of their own (a
// resource): those are then referred to by relative and absolute URI, their
// anchors by "dN#AN" (an anchor belongs to its resource); some roots have
// a $dynamicAnchor that $dynamicRef refers to. Every $id is new: ajv keeps the ones
// embedded in a schema after removeSchema.
let idSerial = 0;
function genRoot() {
  const ctx = { defs: [], anchors: [], refs: [], dynamic: [], descended: false };
  const defs = {};
  const nd = int(0, 2);
  const base = chance(0.35) ? "https://diff.crater.test/" + (++idSerial) + "/" : null;
  for (let i = 0; i < nd; i++) {
    const name = "d" + i;
    // A def only refers to "#" below a child keyword (never to another def),
    // so the reference graph has no in-place cycle.
    const body = genSchema(int(1, 2), { defs: [], anchors: [], descended: false });
    let def = body;
    if (typeof def === "boolean") def = { allOf: [def] };
    const own = base !== null && chance(0.6);
    if (own) {
      def.$id = name;
      ctx.refs.push(name, base + name);
    }
    ctx.defs.push(name);
    if (chance(0.4)) {
      def.$anchor = "A" + i;
      if (own) ctx.refs.push(name + "#A" + i); else ctx.anchors.push("A" + i);
    }

    defs[name] = def;
  }
  // ajv registers a $dynamicAnchor when the schema holding it is
  // evaluated, and takes only "#name" in $dynamicRef: an anchor at the
  // root, referred to from below a child keyword (the recursive pattern of
  // extensible schemas), means the same to both.
  const dynamicRoot = chance(0.25);
  if (dynamicRoot) ctx.dynamic.push("#R");
  let root = genSchema(int(2, 4), ctx);
  if (typeof root === "boolean") root = { allOf: [root] };
  if (nd) root.$defs = defs;
  if (base !== null) root.$id = base + "root";
  if (dynamicRoot) root.$dynamicAnchor = "R";
  return root;
}

// ---------------------------------------------------------------- instances
// A best-effort valid value for a schema, then mutations of it.
function resolveRef(root, ref) {
  if (ref === "#") return root;
  if (ref === "#R") return root;
  const byId = /(?:^|\/)(d\d+)(?:#.*)?$/.exec(ref);
  if (byId && root.$defs) return root.$defs[byId[1]];
  if (ref.startsWith("#/$defs/")) return root.$defs && root.$defs[ref.slice(8)];
  for (const d of Object.values(root.$defs || {})) if (d.$anchor === ref.slice(1)) return d;
  return undefined;
}

function sampleFor(s, root, depth) {
  if (s === true || s === undefined) return randValue(1);
  if (s === false) return randScalar();
  if (depth > 6) return randScalar();
  if (s.$ref && chance(0.7)) return sampleFor(resolveRef(root, s.$ref), root, depth + 1);
  if (s.$dynamicRef && chance(0.7)) return sampleFor(resolveRef(root, s.$dynamicRef), root, depth + 1);
  if ("const" in s) return s.const;
  if (s.enum) return pick(s.enum);
  if (s.allOf && chance(0.5)) return sampleFor(s.allOf[0], root, depth + 1);
  if (s.anyOf && chance(0.5)) return sampleFor(pick(s.anyOf), root, depth + 1);
  if (s.oneOf && chance(0.5)) return sampleFor(pick(s.oneOf), root, depth + 1);
  if (s.if !== undefined && chance(0.3)) return sampleFor(s.if, root, depth + 1);
  let t = s.type;
  if (Array.isArray(t)) t = pick(t);
  if (!t) {
    if (s.properties || s.required || s.patternProperties) t = "object";
    else if (s.items !== undefined || s.prefixItems || s.contains !== undefined) t = "array";
    else if (s.minLength !== undefined || s.pattern || s.format) t = "string";
    else if (s.minimum !== undefined || s.multipleOf) t = "number";
    else return randValue(2);
  }
  switch (t) {
    case "null": return null;
    case "boolean": return chance(0.5);
    case "string": {
      if (s.format && chance(0.8)) return pick(FORMAT_SAMPLES[s.format] || [""]);
      let n = int(s.minLength || 0, Math.max(s.minLength || 0, s.maxLength === undefined ? 4 : s.maxLength));
      let x = "";
      for (let i = 0; i < n; i++) x += pick(CHARS);
      return x;
    }
    case "integer":
    case "number": {
      const lo = s.minimum !== undefined ? s.minimum : s.exclusiveMinimum !== undefined ? s.exclusiveMinimum : -5;
      const hi = s.maximum !== undefined ? s.maximum : s.exclusiveMaximum !== undefined ? s.exclusiveMaximum : 10;
      let v = pick([lo, hi, Math.round((lo + hi) / 2), lo + 1, hi - 1]);
      if (s.multipleOf) v = Math.round(v / s.multipleOf) * s.multipleOf;
      if (t === "integer") v = Math.round(v);
      return v;
    }
    case "array": {
      const a = [];
      const pre = s.prefixItems || [];
      let n = int(s.minItems || 0, Math.max(s.minItems || 0, s.maxItems === undefined ? 3 : s.maxItems));
      for (let i = 0; i < n; i++) {
        const sub = i < pre.length ? pre[i] : s.items !== undefined ? s.items : s.contains;
        a.push(sampleFor(sub, root, depth + 1));
      }
      return a;
    }
    case "object": {
      const o = {};
      for (const k of s.required || []) o[k] = sampleFor(s.properties && s.properties[k], root, depth + 1);
      for (const k of Object.keys(s.properties || {})) if (chance(0.5)) o[k] = sampleFor(s.properties[k], root, depth + 1);
      return o;
    }
    default: return randValue(2);
  }
}

// Every container node of v, with a way to replace it.
function nodes(v, out, set) {
  out.push({ v, set });
  if (Array.isArray(v)) v.forEach((x, i) => nodes(x, out, (y) => { v[i] = y; }));
  else if (v && typeof v === "object") for (const k of Object.keys(v)) nodes(v[k], out, (y) => { v[k] = y; });
  return out;
}

function mutate(base) {
  let root = JSON.parse(JSON.stringify(base === undefined ? null : base));
  let result = root;
  const n = nodes(root, [], (y) => { result = y; });
  const target = pick(n);
  const v = target.v;
  switch (int(0, 11)) {
    case 0: target.set(randValue(2)); break;                 // wrong type / anything
    case 1: target.set(null); break;
    case 2: target.set(Array.isArray(v) ? {} : []); break;   // empty object vs empty array
    case 3:
      if (typeof v === "string") target.set(chance(0.5) ? v + pick(CHARS) : [...v].slice(0, -1).join(""));
      else target.set(randString(5));
      break;
    case 4:
      if (typeof v === "number") target.set(v + pick([1, -1, 0.5, -0.5, 0.125, 1e-3]));
      else target.set(randNumber());
      break;
    case 5:
      if (Array.isArray(v) && v.length) v.push(JSON.parse(JSON.stringify(pick(v))));  // duplicate
      else if (Array.isArray(v)) v.push(randValue(1));
      else target.set([randValue(1), randValue(1)]);
      break;
    case 6:
      if (Array.isArray(v) && v.length) v.splice(int(0, v.length - 1), 1);
      else if (v && typeof v === "object" && Object.keys(v).length) delete v[pick(Object.keys(v))];
      else target.set({});
      break;
    case 7:
      if (v && typeof v === "object" && !Array.isArray(v)) v[pick(KEYS)] = randValue(1);
      else target.set({ [pick(KEYS)]: randValue(1) });
      break;
    case 8: target.set(pick(["😀", "𝄞x", "é", "", "a😀b", "\u00a0", "\ufeff"])); break;
    case 9: { const f = pick(FORMATS); target.set(pick(FORMAT_SAMPLES[f])); break; }
    case 10: target.set(pick([0, -1, 1.5, 2 ** 53, -0.5, 1e300, 3, 10])); break;
    default: target.set(v && typeof v === "object" ? (Array.isArray(v) ? [] : {}) : v); break;
  }
  return result;
}

// ---------------------------------------------------------------- main
const ajv = new Ajv2020({ strict: false, allErrors: false });
addFormats(ajv);
// The same without format checks: a disagreement that this one does not have
// with crater.schema minus its formats is a format-checker difference.
const ajvNf = new Ajv2020({ strict: false, allErrors: false, validateFormats: false, logger: false });
const usesFormat = (s) => JSON.stringify(s).includes('"format":');

let made = 0, id = 0, ajvRefused = 0, ajvThrew = 0;
const out = [];
while (made < wanted) {
  id++;
  const schema = genRoot();
  let validate;
  try {
    validate = ajv.compile(schema);
  } catch (e) {
    ajvRefused++;
    if (process.env.SCHEMA_DIFF_DEBUG) process.stderr.write("ajv refused: " + e.message + "\n");
    continue;
  }
  const instances = [];
  const per = Math.min(12, wanted - made);
  const base = sampleFor(schema, schema, 0);
  instances.push(base);
  while (instances.length < per) {
    instances.push(chance(0.15) ? sampleFor(schema, schema, 0) : mutate(chance(0.7) ? base : pick(instances)));
  }
  // ajv's generated code can itself throw (a TypeError on some unevaluated*
  // combinations): such an instance has no reference verdict and is left out.
  const kept = [], verdicts = [];
  for (const x of instances) {
    try {
      verdicts.push(validate(x));
      kept.push(x);
    } catch (e) {
      ajvThrew++;
      if (process.env.SCHEMA_DIFF_DEBUG) process.stderr.write("ajv threw: " + e.message + "\n");
    }
  }
  instances.length = 0;
  instances.push(...kept);
  const rec = { id, schema, instances, ajv: verdicts };
  if (usesFormat(schema)) {
    const v = ajvNf.compile(schema);
    rec.ajv_nf = instances.map((x) => { try { return v(x); } catch (e) { return null; } });
    ajvNf.removeSchema(schema);
  }
  made += instances.length;
  out.push(JSON.stringify(rec));
  if (out.length >= 200) { process.stdout.write(out.join("\n") + "\n"); out.length = 0; }
  ajv.removeSchema(schema);
}
if (out.length) process.stdout.write(out.join("\n") + "\n");
process.stderr.write(`schema_diff_gen: seed ${seed}: ${made} cases, ${id} schemas (${ajvRefused} refused by ajv); ` +
  `ajv threw on ${ajvThrew} cases, left out\n`);
