"""atheris target: every input boundary either parses or raises a documented ValueError.

Run: python tests/reliability/fuzz_target.py -runs=20000 -max_total_time=60
"""

from __future__ import annotations

import json
import sys

import atheris

with atheris.instrument_imports():
    from l0_monitoring import Monitor, ObservabilityEvent, TelemetryExporter
    from l0_monitoring.recording import iter_events
    from l0_monitoring.settings import OpenTelemetryExporterConfig, SentryExporterConfig

ENV_VARS = [
    "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_INSECURE",
    "OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SDK_DISABLED",
    "SENTRY_DSN", "SENTRY_SAMPLE_RATE", "SENTRY_TRACES_SAMPLE_RATE", "SENTRY_DEBUG",
]  # fmt: skip
MONITOR = Monitor()


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    choice = fdp.ConsumeIntInRange(0, 5)
    text = fdp.ConsumeUnicodeNoSurrogates(4096)
    try:
        if choice == 0:
            try:
                obj = json.loads(text)
            except ValueError:
                return
            ObservabilityEvent.from_dict(obj)
        elif choice == 1:
            for event in iter_events(text.split("\n")):
                MONITOR.handle_event(event)
        elif choice == 2:
            TelemetryExporter.from_csv(text)
        elif choice == 3:
            TelemetryExporter.from_jsonl(text)
        elif choice == 4:
            var = ENV_VARS[fdp.ConsumeIntInRange(0, len(ENV_VARS) - 1)]
            cls = SentryExporterConfig if var.startswith("SENTRY") else OpenTelemetryExporterConfig
            cls.from_env({var: text})
        else:
            MONITOR.handle_event({"type": text[:20], "ts": len(text), "stream_id": text[:8] or "s",
                                  "meta": {"token": text}})  # fmt: skip
    except ValueError:
        pass  # the documented error for bad input


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
