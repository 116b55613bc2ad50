// Verdicts of ajv (strict, draft 2020-12, formats) on raw JSON texts.
// Usage: node verdicts.mjs <schema.json> <texts.json>
// texts.json is a JSON array of strings, each one raw JSON document; prints a
// JSON array of "OK" or "no: <reason>", one per text, in order.
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [schemaFile, textsFile] = process.argv.slice(2);
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(schemaFile, "utf8")));
const texts = JSON.parse(readFileSync(textsFile, "utf8"));
const out = texts.map((raw) => {
  let doc;
  try {
    doc = JSON.parse(raw);
  } catch (e) {
    return `no: invalid JSON: ${e.message.slice(0, 80)}`;
  }
  return validate(doc) ? "OK" : `no: ${ajv.errorsText(validate.errors).slice(0, 200)}`;
});
console.log(JSON.stringify(out));
