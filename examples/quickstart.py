"""Quick start: real L0 runs (fake provider streams) folded into telemetry by a Monitor.

Run: ``python examples/quickstart.py``
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import l0
from l0.types import Event, EventType, Retry, Timeout

from l0_monitoring import MetricsConfig, Monitor, MonitoringConfig


async def fake_provider(words: list[str], fail_first: list[bool]) -> AsyncIterator[Any]:
    """A provider stream: one token every 20 ms; the first call may drop the connection."""
    for i, word in enumerate(words):
        if i == 2 and fail_first and fail_first.pop():
            raise ConnectionError("connection reset by peer")
        await asyncio.sleep(0.02)
        yield Event(type=EventType.TOKEN, text=word)
    yield Event(type=EventType.COMPLETE)


async def main() -> None:
    monitor = Monitor(MonitoringConfig(metrics=MetricsConfig(inter_token_latency=True)))
    words = ["Streams", " are", " observable", " now", "."]
    for n, flaky in enumerate([False, True, False]):
        fail = [flaky]
        result = await l0.run(
            stream=lambda fail=fail: fake_provider(words, fail),
            retry=Retry(attempts=2, base_delay=0.05),
            timeout=Timeout(initial_token=5000, inter_token=5000),
            on_event=monitor.handle_event,
            context={"model": "gpt-4o", "request": f"req-{n}"},
        )
        await result.read()
        t = monitor.get_telemetry()
        assert t is not None
        print(
            f"{t.stream_id[:13]}  ttft={t.metrics.time_to_first_token}s "
            f"tokens={t.metrics.token_count} retries={t.retries.total_retries} "
            f"completed={t.completed}"
        )
    print(json.dumps(monitor.get_aggregate_metrics(), indent=2))


if __name__ == "__main__":
    asyncio.run(main())
