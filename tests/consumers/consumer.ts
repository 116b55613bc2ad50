// A small TypeScript service reading a Telemetry record produced by l0_monitoring.
import { readFileSync } from "node:fs";
import type { Telemetry } from "./telemetry";

export function summarize(record: Telemetry): string {
  const ttftMs = record.metrics?.time_to_first_token != null
    ? Math.round(record.metrics.time_to_first_token * 1000)
    : null;
  const violations: number = record.guardrails?.violations?.length ?? 0;
  const retries: number = record.retries?.total_retries ?? 0;
  const started: string | null | undefined = record.timing?.started_at;
  return `${record.stream_id} model=${record.model ?? "?"} ttft_ms=${ttftMs} ` +
    `retries=${retries} violations=${violations} completed=${record.completed} at=${started}`;
}

const record = JSON.parse(readFileSync(process.argv[2], "utf8")) as Telemetry;
console.log(summarize(record));
