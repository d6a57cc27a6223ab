// ajv with ajv-formats on the samples formats_bench.lua uses: one string
// schema per format. Prints "<format> <validations/s> <valid samples>".
const fs = require("fs");
const Ajv2020 = require("ajv/dist/2020").default;
const addFormats = require("ajv-formats").default;

const SECONDS = Number(process.env.SECONDS_PER_CASE || 0.5);
const ROUNDS = Number(process.env.ROUNDS || 3);
const samples = JSON.parse(fs.readFileSync("spec/bench/formats_samples.json", "utf8"));

for (const name of Object.keys(samples).sort()) {
  const ajv = new Ajv2020();
  addFormats(ajv);
  const validate = ajv.compile({ type: "string", format: name });
  const list = samples[name];
  const m = list.length;
  let valid = 0;
  for (const s of list) if (validate(s)) valid++;
  let best = 0;
  let seen = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const t0 = process.hrtime.bigint();
    let t;
    do {
      for (let i = 0; i < 1000; i++) if (validate(list[i % m])) seen++;
      n += 1000;
      t = Number(process.hrtime.bigint() - t0) / 1e9;
    } while (t < SECONDS);
    best = Math.max(best, n / t);
  }
  if (seen < 0) throw new Error("unreachable");
  console.log(`${name}\t${best.toFixed(0)}\t${valid}`);
}
