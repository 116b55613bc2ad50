// Generate TypeScript declarations from a JSON Schema file.
// Usage: node gen-types.mjs <schema.json> <out.d.ts>
import { readFileSync, writeFileSync } from "node:fs";
import { compile } from "json-schema-to-typescript";

const [schemaFile, outFile] = process.argv.slice(2);
const schema = JSON.parse(readFileSync(schemaFile, "utf8"));
const ts = await compile(schema, schema.title, { bannerComment: "", additionalProperties: false });
writeFileSync(outFile, ts);
