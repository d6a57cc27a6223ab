// ajv on the same schemas and data as schema_bench.lua, in two modes:
// "ajv" (defaults: stops at the first error) and "ajv-all" (allErrors: true,
// which is what crater.schema always does). Formats from ajv-formats.
// Prints "<mode> <case> <validations/s> <errors reported>" per line.
const fs = require("fs");
const path = require("path");
const Ajv2020 = require("ajv/dist/2020").default;
const addFormats = require("ajv-formats").default;

const SECONDS = Number(process.env.SECONDS_PER_CASE || 1);
const ROUNDS = Number(process.env.ROUNDS || 3);
const dir = process.env.SCHEMA_DIR || "examples/schemas";
const load = (f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));

const cases = [
  ["item valid", "item.schema.json", "item.json"],
  ["item invalid", "item.schema.json", "item-invalid.json"],
  ["order valid", "order.schema.json", "order.json"],
  ["order invalid", "order.schema.json", "order-invalid.json"],
  // The spec's extensible tree: $dynamicRef, recursion, unevaluatedProperties.
  ["tree valid", "tree.schema.json", "tree.json"],
  ["tree invalid", "tree.schema.json", "tree-invalid.json"],
];

for (const [mode, opts] of [["ajv", {}], ["ajv-all", { allErrors: true }]]) {
  for (const [name, schemaFile, dataFile] of cases) {
    const ajv = new Ajv2020(opts);
    addFormats(ajv);
    const validate = ajv.compile(load(schemaFile));
    const copies = [];
    for (let i = 0; i < 16; i++) copies.push(load(dataFile));
    const data = copies[0];
    validate(data);
    const nerr = validate.errors ? validate.errors.length : 0;
    let best = 0;
    // The errors are counted, as a caller would use them (as the Lua side does).
    let seen = 0;
    for (let r = 0; r < ROUNDS; r++) {
      let n = 0;
      const t0 = process.hrtime.bigint();
      let t;
      do {
        for (let i = 0; i < 1000; i++) {
          if (!validate(copies[i % 16])) seen += validate.errors.length;
        }
        n += 1000;
        t = Number(process.hrtime.bigint() - t0) / 1e9;
      } while (t < SECONDS);
      best = Math.max(best, n / t);
    }
    if (seen < 0) throw new Error("unreachable");
    console.log(`${mode}\t${name}\t${best.toFixed(0)}\t${nerr}`);
  }
}
