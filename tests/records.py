"""Records the Monitor builds, for the exporter tests (one builder, shared)."""

from __future__ import annotations

from l0_monitoring import Monitor, MonitoringConfig, Telemetry
from l0_monitoring.testing import make_stream_events


def monitor_records(n: int, config: MonitoringConfig | None = None) -> list[Telemetry]:
    """``n`` finished streams folded by a Monitor: completed, halted and aborted in
    turn, network retries on every other one, one guardrail violation (the third
    stream), context metadata with non-ASCII text."""
    m = Monitor(config)
    for i in range(n):
        for e in make_stream_events(
            f"s{i}",
            network_retries=i % 2,
            outcome=["complete", "halt", "abort"][i % 3],
            violations=[{"rule": "pii", "message": "m", "severity": "error"}] if i == 2 else None,
            context={"tenant": f"t{i}", "n": i, "note": "é"},
        ):
            m.handle_event(e)
    return m.get_all_telemetry()
