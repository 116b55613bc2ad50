// A small TypeScript service reading the Telemetry records of a JSON Lines file
// produced by l0_monitoring, with types generated from schemas/Telemetry.schema.json.
// Compiled with `tsc --strict`: fields that are always present are not optional,
// so no `?.` is needed; nullable values are `T | null` and must be checked.
import { readFileSync } from "node:fs";
import type { Telemetry } from "./telemetry";

type Outcome = "completed" | "aborted" | "failed" | "abandoned";

export function summarize(record: Telemetry): string {
  const ttft: number | null = record.metrics.time_to_first_token;
  const ttftMs = ttft === null ? "-" : String(Math.round(ttft * 1000));
  const violations: number = record.guardrails.violations.length;
  const retries: number = record.retries.total_retries;
  const started: string | null = record.timing.started_at;
  const outcome: Outcome = record.outcome;
  const category: string | null = record.error.category;
  return `${record.stream_id} model=${record.model ?? "?"} outcome=${outcome} ` +
    `tokens=${record.metrics.token_count} ttft_ms=${ttftMs} retries=${retries} ` +
    `violations=${violations} category=${category ?? "-"} started=${started ?? "-"}`;
}

const lines = readFileSync(process.argv[2], "utf8").split("\n").filter((l) => l.trim() !== "");
for (const line of lines) {
  console.log(summarize(JSON.parse(line) as Telemetry));
}
