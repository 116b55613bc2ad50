"""Stateful property test: the Monitor under any interleaving of hostile events."""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from l0_monitoring import MetricsConfig, Monitor, MonitoringConfig, ObservabilityEvent, Telemetry
from l0_monitoring.events import ObservabilityEventType as T

STREAMS = [f"s{i}" for i in range(12)]
TERMINAL = ["COMPLETE", "ABORT_COMPLETED", "RETRY_GIVE_UP", "SESSION_END"]


class ExplodingStr:
    def __str__(self):
        raise RuntimeError("no str for you")

    __repr__ = __str__


class Huge(str):
    def __repr__(self):
        return f"<huge str of {len(self)} chars>"


class Weird:
    def __init__(self):
        self.__dict__["self"] = self  # cycles


def deep(n: int):
    node: dict = {}
    for _ in range(n):
        node = {"x": node, "l": [node]}
    return node


hostile_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.just(Huge("x" * 200_000)),
    st.builds(ExplodingStr),
    st.builds(Weird),
    st.builds(deep, st.integers(min_value=1, max_value=60)),
    st.just(object()),
    st.just(ValueError("boom")),
    st.lists(st.integers(), max_size=5),
)
meta_keys = st.sampled_from(["token", "text", "content", "tokenCount", "token_count",
                             "contentLength", "violation", "violations", "isNetwork", "category",
                             "recoveryStrategy", "failureType", "error", "errorCode", "attempt",
                             "maxAttempts", "timeoutType", "detected", "score", "metrics", "model",
                             "sessionId", "reason", "lastError"])  # fmt: skip
timestamps = st.one_of(
    st.floats(min_value=1.6e12, max_value=1.8e12),
    st.just(math.nan),
    st.just(math.inf),
    st.just(-5.0),
    st.integers(min_value=0, max_value=2 * 10**12),
)


class MonitorMachine(RuleBasedStateMachine):
    @initialize(itl=st.booleans(), buffer=st.integers(min_value=1, max_value=5),
                max_in_flight=st.integers(min_value=2, max_value=8))  # fmt: skip
    def setup(self, itl, buffer, max_in_flight):
        self.kept: list[Telemetry] = []
        self.buffer = buffer
        self.max_in_flight = max_in_flight
        cfg = MonitoringConfig(buffer_size=buffer, max_in_flight=max_in_flight,
                               metrics=MetricsConfig(inter_token_latency=itl))  # fmt: skip
        self.monitor = Monitor(cfg, on_complete=self.kept.append, raise_internal_errors=True)
        self.lifetimes: Counter[str] = Counter()  # SESSION_STARTs seen per stream id

    def send(self, t, ts, sid, meta, ctx=None):
        if t == "SESSION_START":
            self.lifetimes[sid] += 1
        self.monitor.handle_event(ObservabilityEvent(t, ts, sid, ctx or {}, meta))

    @rule(sid=st.sampled_from(STREAMS), ts=timestamps)
    def start(self, sid, ts):
        self.send("SESSION_START", ts, sid, {"attempt": 1, "model": "m"})

    @rule(
        sid=st.sampled_from(STREAMS),
        ts=timestamps,
        text=st.one_of(st.text(max_size=5), hostile_values),
    )
    def token(self, sid, ts, text):
        self.send("TOKEN", ts, sid, {"token": text})

    @rule(
        sid=st.sampled_from(STREAMS),
        ts=timestamps,
        t=st.sampled_from([x.value for x in T] + ["NOT_A_TYPE", ""]),
        meta=st.dictionaries(meta_keys, hostile_values, max_size=4),
        ctx=st.dictionaries(st.text(max_size=4), hostile_values, max_size=2),
    )
    def any_event(self, sid, ts, t, meta, ctx):
        self.send(t, ts, sid, meta, ctx)

    @rule(
        sid=st.sampled_from(STREAMS),
        ts=timestamps,
        t=st.sampled_from(TERMINAL),
        times=st.integers(min_value=1, max_value=3),
    )
    def terminal(self, sid, ts, t, times):
        for _ in range(times):  # duplicated terminal events
            self.send(t, ts, sid, {"tokenCount": 3})

    @rule(sid=st.sampled_from(STREAMS), ts=timestamps)
    def halt(self, sid, ts):
        self.send("ERROR", ts, sid, {"error": ExplodingStr(), "recoveryStrategy": "halt"})

    @rule(
        data=st.one_of(
            st.none(),
            st.integers(),
            st.text(),
            st.dictionaries(st.text(max_size=5), hostile_values, max_size=4),
        )
    )
    def garbage(self, data):
        self.monitor.handle_event(data)

    @invariant()
    def bounded_and_consistent(self):
        stats = self.monitor.stats()
        assert stats["in_flight"] <= self.max_in_flight
        assert stats["streams_started"] - stats["streams_finished"] == stats["in_flight"]
        assert len(self.monitor.get_all_telemetry()) <= self.buffer
        assert self.monitor.get_aggregate_metrics()["count"] == stats["streams_finished"]
        assert stats["records_kept"] == len(self.kept)

    @invariant()
    def each_lifetime_finalized_at_most_once(self):
        finished = Counter(t.stream_id for t in self.kept)
        for sid, n in finished.items():
            # A stream id is finalized at most once per lifetime: one lifetime
            # without SESSION_START, plus one per SESSION_START seen.
            assert n <= self.lifetimes[sid] + 1, (sid, n)

    @invariant()
    def kept_records_validate(self):
        for t in self.kept[-3:]:
            again = Telemetry.model_validate_json(t.model_dump_json())
            assert again.stream_id == t.stream_id
            for v in (again.timing.duration, again.timing.time_to_first_token):
                assert v is None or (v >= 0 and math.isfinite(v))

    def teardown(self):
        self.monitor.close()
        stats = self.monitor.stats()
        assert stats["in_flight"] == 0
        assert stats["streams_started"] == stats["streams_finished"]


MonitorMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip
TestMonitorStateMachine = MonitorMachine.TestCase
