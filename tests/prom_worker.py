"""A worker process for the Prometheus end-to-end test (run as a script).

Serves its Monitor on its own port (``MonitorCollector``) and writes its series
to a shared directory (``SeriesFileWriter``). Commands on stdin, one per line:
``run`` simulates this worker's share of the demo traffic inside one sampled
span, writes the finished records to ``records-<k>.jsonl`` and answers
``done <trace id>``; ``quit`` stops everything.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    out_dir, index, workers, streams, seed = (
        Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
    )  # fmt: skip
    from opentelemetry.sdk.trace import TracerProvider
    from prometheus_client import CollectorRegistry, start_http_server

    from l0_monitoring import Monitor, MonitoringConfig, TelemetryExporter
    from l0_monitoring.config import MetricsConfig
    from l0_monitoring.demo import MODELS, make_scenarios, run_simulated
    from l0_monitoring.prometheus import MonitorCollector
    from l0_monitoring.prometheus.multiprocess import SeriesFileWriter

    records = []
    config = MonitoringConfig(
        buffer_size=10,
        metrics=MetricsConfig(models=[m.name for m in MODELS], inter_token_latency=True),
    )
    monitor = Monitor(config, on_complete=records.append)
    registry = CollectorRegistry()
    registry.register(MonitorCollector(monitor))
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    writer = SeriesFileWriter(monitor, out_dir / "series", interval=0.2).start()
    tracer = TracerProvider().get_tracer("worker")
    print(f"port {server.server_address[1]}", flush=True)
    mine = make_scenarios(streams, seed)[index::workers]
    for line in sys.stdin:
        command = line.strip()
        if command == "run":
            with tracer.start_as_current_span("batch") as span:
                run_simulated(mine, monitor.handle_event, 1.7e12)
                trace_id = f"{span.get_span_context().trace_id:032x}"
            (out_dir / f"records-{index}.jsonl").write_text(TelemetryExporter.to_jsonl(records))
            writer.write()
            print(f"done {trace_id}", flush=True)
        elif command == "quit":
            break
    writer.close(timeout=2)
    monitor.close()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
