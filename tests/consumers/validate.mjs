// Validate JSON or JSON Lines data against one of l0_monitoring's published schemas.
// Usage: node validate.mjs <schemas-dir> <Title> <data.json|data.jsonl>
// Prints one line per invalid document and exits 1 if any is invalid.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [schemasDir, title, dataFile] = process.argv.slice(2);
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
const schema = JSON.parse(readFileSync(join(schemasDir, `${title}.schema.json`), "utf8"));
const validate = ajv.compile(schema);
const text = readFileSync(dataFile, "utf8");
const docs = dataFile.endsWith(".jsonl")
  ? text.split("\n").map((line, i) => [i + 1, line]).filter(([, l]) => /[^ \t\r]/.test(l))
  : [[1, text]];
let bad = 0;
for (const [line, raw] of docs) {
  if (!validate(JSON.parse(raw))) {
    bad += 1;
    console.log(`line ${line}: ${ajv.errorsText(validate.errors)}`);
  }
}
console.log(`${docs.length - bad} valid, ${bad} invalid`);
process.exit(bad ? 1 : 0);
