"""Service-level targets: one typed model -> Prometheus rules, a Grafana dashboard, a gate.

:class:`SLOConfig` holds the targets; its defaults are the seed's table of key
production metrics:

=================================  ==========  ==========================================
target                             default     measured as
=================================  ==========  ==========================================
time to first token                < 1 s       p90 of TTFT (``ttft_quantile``)
tokens per second                  > 20        p10 of tokens/s (``tokens_per_second_quantile``)
error rate                         < 1%        failed + abandoned streams / finished streams
retry rate                         < 5%        retries / finished streams
guardrail violations               < 1%        violations / finished streams
=================================  ==========  ==========================================

The same definitions are used by the Prometheus recording rules (over a
``window``), by the Grafana dashboard and by ``l0-monitoring check`` (over a
file of records), so a canary gate and the alerts agree.

Overrides: a TOML or JSON file (:meth:`SLOConfig.load`) and the environment,
``L0_SLO_<FIELD>`` (for example ``L0_SLO_TTFT_SECONDS=0.8``). Precedence:
explicit argument > environment > file > default.
"""

from __future__ import annotations

import json
import math
import operator
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..telemetry import Telemetry

if TYPE_CHECKING:
    from ..config import MetricsConfig

__all__ = [
    "DASHBOARD_PATH",
    "ENV_PREFIX",
    "RULES_PATH",
    "SLOConfig",
    "SLOResult",
    "dashboard",
    "dashboard_queries",
    "evaluate_aggregates",
    "evaluate_records",
    "recording_rules",
    "render_rules",
    "rules",
    "write_artifacts",
    "check_artifacts",
    "check_duration",
    "format_number",
    "format_percent",
    "missed",
    "MISSED_OPERATOR",
]

ENV_PREFIX = "L0_SLO_"
RULES_PATH = Path("deploy/prometheus/l0-rules.yml")
DASHBOARD_PATH = Path("deploy/grafana/l0-dashboard.json")


# Prometheus's duration grammar (common/model.ParseDuration): units in this order,
# each at most once, and the whole > 0.
_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_UNIT_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)
_QUANTILE_DECIMALS = 4


def check_duration(value: str) -> str:
    """Return ``value`` if Prometheus accepts it as a positive duration, else raise ValueError.

    The grammar is Prometheus's (``model.ParseDuration``): integers with the
    units ``y w d h m s ms``, in that order, each at most once (``1h30m``;
    not ``30s1m`` or ``5m5m``), in total more than 0 and at most 100 years.
    """
    match = _DURATION.match(value) if isinstance(value, str) and value else None
    if match is None:
        raise ValueError(
            f"a Prometheus duration like 5m or 1h30m is required (units y w d h m s ms, "
            f"in that order, each once), got {value!r}"
        )
    total = sum(int(n) * ms for n, ms in zip(match.groups(), _UNIT_MS, strict=True) if n)
    if not 0 < total <= 100 * _UNIT_MS[0]:
        raise ValueError(f"a duration must be more than 0 and at most 100y, got {value!r}")
    return value


def format_number(value: float) -> str:
    """Format a threshold or quantile for PromQL, YAML and display: exact, no exponent.

    ``repr`` precision (the shortest text that reads back as the same float),
    written out in positional notation (``0.00001``, not ``1e-05``).
    """
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


# The one definition of "the target is missed", used by the alerting rules (as
# the PromQL operator) and by ``check`` (as the Python operator): a target
# "< 1 s" is missed at 1 s exactly, a target "> 20 tokens/s" at 20 exactly.
MISSED_OPERATOR: dict[str, str] = {"<": ">=", ">": "<="}
_OPERATORS = {">=": operator.ge, "<=": operator.le}


def missed(value: float, direction: Literal["<", ">"], target: float) -> bool:
    """True when ``value`` misses a target ``direction target`` (``value < 1`` must hold...).

    Same comparison as the alerting rules' ``record MISSED_OPERATOR[direction] target``.
    """
    return bool(_OPERATORS[MISSED_OPERATOR[direction]](value, target))


def format_percent(ratio: float) -> str:
    """Format a ratio as an exact percentage (``0.07`` -> ``7%``, no float noise)."""
    return format_number(float(Decimal(repr(float(ratio))) * 100)) + "%"


class SLOConfig(BaseModel):
    """Production targets (defaults: the seed's table of key metrics).

    Example:
        >>> SLOConfig().ttft_seconds
        1.0
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttft_seconds: float = Field(
        default=1.0,
        gt=0,
        allow_inf_nan=False,
        description="Time to first token must stay below this (s; finite, > 0).",
    )
    ttft_quantile: float = Field(
        default=0.9,
        gt=0,
        lt=1,
        description="Quantile of TTFT compared with ttft_seconds (0 < q < 1, at most 4 decimals).",
    )
    tokens_per_second: float = Field(
        default=20.0,
        gt=0,
        allow_inf_nan=False,
        description="Generation rate must stay above this (tokens/s; finite, > 0).",
    )
    tokens_per_second_quantile: float = Field(
        default=0.1,
        gt=0,
        lt=1,
        description="Quantile of tokens/s compared with tokens_per_second (0.1: 90% are "
        "faster; at most 4 decimals).",
    )
    error_rate: float = Field(
        default=0.01, ge=0, le=1, description="Failed + abandoned streams / finished streams."
    )
    retry_rate: float = Field(
        default=0.05, ge=0, allow_inf_nan=False, description="Retries / finished streams."
    )
    guardrail_violation_rate: float = Field(
        default=0.01,
        ge=0,
        allow_inf_nan=False,
        description="Guardrail violations / finished streams.",
    )
    window: str = Field(
        default="5m",
        description="PromQL range of the recording rules (rate window): a Prometheus "
        "duration > 0, units in the order y w d h m s ms, each at most once (5m, 1h30m).",
    )
    alert_for: str = Field(
        default="5m",
        description="How long a target is missed before firing (a Prometheus duration > 0).",
    )
    severity: str = Field(
        default="warning",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="`severity` label of the alerts (letters, digits, `_`, `.`, `-`: the "
        "value is copied into the rule file, where Prometheus reads it as a template).",
    )
    prefix: str = Field(default="l0", description="Metric name prefix of the exposition.")

    @field_validator("window", "alert_for")
    @classmethod
    def _duration(cls, value: str) -> str:
        return check_duration(value)

    @field_validator("ttft_quantile", "tokens_per_second_quantile")
    @classmethod
    def _quantile(cls, value: float) -> float:
        if Decimal(repr(value)).as_tuple().exponent < -_QUANTILE_DECIMALS:  # type: ignore[operator]
            raise ValueError(
                f"a quantile has at most {_QUANTILE_DECIMALS} decimals (like 0.9 or 0.999), "
                f"got {value!r}"
            )
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        from .text import check_metric_name

        return check_metric_name(value)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> SLOConfig:
        """Build the targets: explicit overrides > environment > file > defaults.

        Args:
            path: A ``.toml`` or ``.json`` file with any of the fields (a
                top-level ``[slo]`` table / ``"slo"`` key is also accepted).
            environ: The environment (default ``os.environ``); ``L0_SLO_<FIELD>``.
            **overrides: Field values that win over everything else.

        Returns:
            The validated targets.

        Raises:
            ValueError: An unreadable file, or a bad value (the message names the
                field and where the value came from: the file or the variable).
        """
        data: dict[str, Any] = {}
        if path is not None:
            data.update(_read_file(Path(path)))
        env = os.environ if environ is None else environ
        from_env = {
            name: env[ENV_PREFIX + name.upper()]
            for name in cls.model_fields
            if env.get(ENV_PREFIX + name.upper(), "") != ""
        }
        for name, raw in from_env.items():
            try:
                cls.model_validate({name: raw})
            except ValidationError as exc:
                msg = exc.errors()[0]["msg"]
                raise ValueError(
                    f"error getting value for field {name!r} from environment variable "
                    f"{ENV_PREFIX + name.upper()}={raw!r}: {msg}"
                ) from None
        data.update(from_env)
        data.update(overrides)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = f"file {path}" if path is not None else "arguments"
            loc = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"bad SLO value for {loc!r} from {where}: {err['msg']}") from None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read SLO file {path}: {exc.strerror}") from None
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot parse SLO file {path}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("slo"), dict):
        data = data["slo"]
    if not isinstance(data, dict):
        raise ValueError(f"SLO file {path} must hold a table/object of targets")
    return data


# -- the targets as data --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    key: str  # stable id, alert name suffix
    title: str
    direction: Literal["<", ">"]
    threshold: float
    unit: str
    record: str  # recording rule name
    expr: str  # PromQL over `window`, by model


def _q(q: float) -> str:
    # 0.9 -> p90, 0.999 -> p99_9 (exact: the quantile has at most 4 decimals).
    return "p" + format_number(float(Decimal(repr(q)) * 100)).replace(".", "_")


def _targets(slo: SLOConfig) -> list[_Target]:
    p, w = slo.prefix, slo.window

    def rate(metric: str, selector: str = "") -> str:
        return f"sum by (model) (rate({p}_{metric}{selector}[{w}]))"

    def quantile(q: float, metric: str) -> str:
        return (
            f"histogram_quantile({format_number(q)}, "
            f"sum by (model, le) (rate({p}_{metric}_bucket[{w}])))"
        )

    streams = rate("streams_total")
    failed = rate("streams_total", '{outcome=~"failed|abandoned"}')
    return [
        _Target("TimeToFirstToken", f"time to first token ({_q(slo.ttft_quantile)})", "<",
                slo.ttft_seconds, "s",
                f"{p}:time_to_first_token_seconds:{_q(slo.ttft_quantile)}_rate{w}",
                quantile(slo.ttft_quantile, "time_to_first_token_seconds")),
        _Target("TokensPerSecond", f"tokens per second ({_q(slo.tokens_per_second_quantile)})",
                ">", slo.tokens_per_second, "tokens/s",
                f"{p}:tokens_per_second:{_q(slo.tokens_per_second_quantile)}_rate{w}",
                quantile(slo.tokens_per_second_quantile, "tokens_per_second")),
        _Target("ErrorRate", "error rate", "<", slo.error_rate, "ratio",
                f"{p}:stream_errors:ratio_rate{w}",
                f"{failed}\n  / {streams}"),
        _Target("RetryRate", "retry rate", "<", slo.retry_rate, "ratio",
                f"{p}:retries:per_stream_rate{w}", f"{rate('retries_total')}\n  / {streams}"),
        _Target("GuardrailViolationRate", "guardrail violation rate", "<",
                slo.guardrail_violation_rate, "ratio",
                f"{p}:guardrail_violations:per_stream_rate{w}",
                f"{rate('guardrail_violations_total')}\n  / {streams}"),
    ]  # fmt: skip


# -- Prometheus rules -----------------------------------------------------------------------


def recording_rules(slo: SLOConfig | None = None) -> list[dict[str, str]]:
    """The recording rules (``record``, ``expr``), one per target plus the stream rate."""
    slo = slo or SLOConfig()
    p, w = slo.prefix, slo.window
    out = [
        {"record": f"{p}:streams:rate{w}", "expr": f"sum by (model) (rate({p}_streams_total[{w}]))"}
    ]
    out += [{"record": t.record, "expr": t.expr} for t in _targets(slo)]
    return out


def rules(slo: SLOConfig | None = None) -> dict[str, Any]:
    """The Prometheus rule file as data: a recording group and an alerting group."""
    slo = slo or SLOConfig()
    alerts = []
    for t in _targets(slo):
        op = MISSED_OPERATOR[t.direction]  # fires when the target is missed, as `check` says
        ratio = t.unit == "ratio"
        shown = format_percent(t.threshold) if ratio else f"{format_number(t.threshold)} {t.unit}"
        value = "{{ $value | humanizePercentage }}" if ratio else "{{ $value | humanize }}"
        alerts.append({
            "alert": f"L0{t.key}SLOMissed",
            "expr": f"{t.record} {op} {format_number(t.threshold)}",
            "for": slo.alert_for,
            "labels": {"severity": slo.severity, "slo": t.key},
            "annotations": {
                "summary": f"{t.title} of {{{{ $labels.model }}}} misses its target "
                           f"({t.direction} {shown})",
                "description": f"{t.title} is {value} for model {{{{ $labels.model }}}} over "
                               f"{slo.window} (target {t.direction} {shown}).",
            },
        })  # fmt: skip
    return {
        "groups": [
            {"name": f"{slo.prefix}_slo_recording", "rules": recording_rules(slo)},
            {"name": f"{slo.prefix}_slo_alerts", "rules": alerts},
        ]
    }


def render_rules(slo: SLOConfig | None = None) -> str:
    """The Prometheus rule file as YAML text (deterministic), written by PyYAML.

    Multi-line expressions are literal blocks (``|-``); keys keep the order of
    :func:`rules`.
    """
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    slo = slo or SLOConfig()
    header = (
        "# Generated by `l0-monitoring slo generate` from l0_monitoring.prometheus.slo.SLOConfig;\n"
        "# do not edit by hand. Targets: " + json.dumps(slo.model_dump(), sort_keys=True) + "\n"
    )
    body = yaml.dump(
        rules(slo), Dumper=_Dumper, sort_keys=False, allow_unicode=False, width=1000, indent=2
    )
    return header + body


# -- Grafana dashboard ----------------------------------------------------------------------

_DS = {"type": "prometheus", "uid": "${datasource}"}


def _panel(
    pid: int, title: str, unit: str, exprs: list[tuple[str, str]], x: int, y: int,
    threshold: tuple[float, str] | None = None, description: str = "",
) -> dict[str, Any]:  # fmt: skip
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    defaults: dict[str, Any] = {"unit": unit, "custom": {"lineWidth": 2}}
    if threshold is not None:
        value, direction = threshold
        if direction == "<":  # target: stay below; red above
            steps.append({"color": "red", "value": value})
        else:  # target: stay above; red below
            steps = [{"color": "red", "value": None}, {"color": "green", "value": value}]
        defaults["custom"]["thresholdsStyle"] = {"mode": "line+area"}
    defaults["thresholds"] = {"mode": "absolute", "steps": steps}
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": _DS,
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {
                "displayMode": "table",
                "placement": "bottom",
                "calcs": ["lastNotNull", "max"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": [
            {"refId": chr(65 + i), "datasource": _DS, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(exprs)
        ],
    }


def dashboard(slo: SLOConfig | None = None) -> dict[str, Any]:
    """The Grafana dashboard (schema 39) as data, targets drawn as threshold lines.

    Panels: TTFT, duration, tokens/s quantiles, error, retry and guardrail
    violation rates per model, streams by outcome. Variables: ``datasource``
    (a Prometheus data source) and ``model`` (multi-select, all by default).
    Queries use ``$__rate_interval``.
    """
    slo = slo or SLOConfig()
    p, sel = slo.prefix, 'model=~"$model"'

    def hq(q: float, metric: str) -> tuple[str, str]:
        return (f"histogram_quantile({format_number(q)}, sum by (model, le) "
                f"(rate({p}_{metric}_bucket{{{sel}}}[$__rate_interval])))",
                f"{{{{model}}}} {_q(q)}")  # fmt: skip

    def ratio(num: str, num_sel: str = "") -> tuple[str, str]:
        inner = f"{sel},{num_sel}" if num_sel else sel
        return (f"sum by (model) (rate({p}_{num}{{{inner}}}[$__rate_interval]))\n  / "
                f"sum by (model) (rate({p}_streams_total{{{sel}}}[$__rate_interval]))",
                "{{model}}")  # fmt: skip

    qs = sorted({0.5, 0.99, slo.ttft_quantile})
    tq = sorted({0.5, slo.tokens_per_second_quantile})
    panels = [
        _panel(1, f"Time to first token (target {_q(slo.ttft_quantile)} < "
                  f"{format_number(slo.ttft_seconds)} s)",
               "s", [hq(q, "time_to_first_token_seconds") for q in qs], 0, 0,
               (slo.ttft_seconds, "<")),
        _panel(2, "Stream duration", "s",
               [hq(q, "stream_duration_seconds") for q in (0.5, 0.9, 0.99)], 12, 0),
        _panel(3, f"Tokens per second (target {_q(slo.tokens_per_second_quantile)} > "
                  f"{format_number(slo.tokens_per_second)})",
               "short", [hq(q, "tokens_per_second") for q in tq], 0, 8,
               (slo.tokens_per_second, ">")),
        _panel(4, f"Error rate (target < {format_percent(slo.error_rate)})", "percentunit",
               [ratio("streams_total", 'outcome=~"failed|abandoned"')], 12, 8,
               (slo.error_rate, "<"), "Failed and abandoned streams / finished streams."),
        _panel(5, f"Retry rate (target < {format_percent(slo.retry_rate)})", "percentunit",
               [ratio("retries_total")], 0, 16, (slo.retry_rate, "<"),
               "Retries (network and model) / finished streams."),
        _panel(6, "Guardrail violation rate (target < "
               f"{format_percent(slo.guardrail_violation_rate)})",
               "percentunit", [ratio("guardrail_violations_total")], 12, 16,
               (slo.guardrail_violation_rate, "<"), "Guardrail violations / finished streams."),
        _panel(7, "Streams per second by outcome", "reqps",
               [(f"sum by (outcome) (rate({p}_streams_total{{{sel}}}[$__rate_interval]))",
                 "{{outcome}}")], 0, 24),
        _panel(8, "Inter-token latency", "s",
               [hq(q, "inter_token_latency_seconds") for q in (0.5, 0.9, 0.99)], 12, 24),
    ]  # fmt: skip
    return {
        "title": "L0 streams",
        "uid": f"{p}-streams-slo",
        "description": "Generated by `l0-monitoring slo generate`; targets from SLOConfig.",
        "tags": ["l0", "llm", "slo"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Data source",
                    "current": {},
                    "hide": 0,
                },
                {
                    "name": "model",
                    "type": "query",
                    "datasource": _DS,
                    "label": "Model",
                    "query": {
                        "query": f"label_values({p}_streams_total, model)",
                        "refId": "models",
                    },
                    "definition": f"label_values({p}_streams_total, model)",
                    "refresh": 2,
                    "multi": True,
                    "includeAll": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                    "sort": 1,
                    "hide": 0,
                },
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def dashboard_queries(board: Mapping[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard's panels (in panel order)."""
    return [t["expr"] for panel in board["panels"] for t in panel["targets"]]


def render_dashboard(slo: SLOConfig | None = None) -> str:
    """The dashboard as JSON text (sorted keys, 2-space indent, newline-terminated)."""
    return json.dumps(dashboard(slo), indent=2, sort_keys=True) + "\n"


def write_artifacts(root: str | os.PathLike[str], slo: SLOConfig | None = None) -> list[Path]:
    """Write the rule file and the dashboard under ``root`` (``RULES_PATH``, ``DASHBOARD_PATH``)."""
    out = []
    for rel, text in ((RULES_PATH, render_rules(slo)), (DASHBOARD_PATH, render_dashboard(slo))):
        path = Path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        out.append(path)
    return out


def check_artifacts(root: str | os.PathLike[str], slo: SLOConfig | None = None) -> list[str]:
    """Return one problem per stale or missing artifact under ``root`` (empty: up to date)."""
    problems = []
    for rel, text in ((RULES_PATH, render_rules(slo)), (DASHBOARD_PATH, render_dashboard(slo))):
        path = Path(root) / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{rel}: stale")
    return problems


# -- evaluating records or aggregates against the targets ----------------------------------


@dataclass(frozen=True, slots=True)
class SLOResult:
    """One row of ``l0-monitoring check``: the measured value against its target."""

    name: str
    value: float | None  # None: not measurable from this input
    direction: Literal["<", ">"]
    target: float
    unit: str
    key: str = ""  # the target's stable id (TimeToFirstToken, ErrorRate, ...)
    collected: bool = True  # False: the Monitor's config did not collect this data

    @property
    def passed(self) -> bool | None:
        """True when the target is met, False when missed, None when not measurable."""
        if self.value is None:
            return None
        return not missed(self.value, self.direction, self.target)


def _quantile(q: float, values: list[float]) -> float | None:
    """Exact quantile with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# Which MetricsConfig switch each target's data needs (a target whose data was
# not collected is "not collected", never a pass measured from zeros).
_NEEDS = {
    "TimeToFirstToken": "collect_timing",
    "TokensPerSecond": "collect_tokens",
    "RetryRate": "collect_retries",
    "GuardrailViolationRate": "collect_guardrails",
}


def _results(
    slo: SLOConfig, values: list[float | None], metrics: MetricsConfig | None = None
) -> list[SLOResult]:
    out = []
    for t, v in zip(_targets(slo), values, strict=True):
        need = _NEEDS.get(t.key)
        collected = metrics is None or need is None or bool(getattr(metrics, need))
        out.append(SLOResult(t.title, v if collected else None, t.direction, t.threshold,
                             t.unit, t.key, collected))  # fmt: skip
    return out


def evaluate_records(
    records: Iterable[Telemetry],
    slo: SLOConfig | None = None,
    metrics: MetricsConfig | None = None,
) -> list[SLOResult]:
    """Measure finished records against the targets (same definitions as the rules).

    Args:
        records: Telemetry records (for example read from ``telemetry.jsonl``).
        slo: The targets (default: the seed's).
        metrics: What the Monitor collected (``MonitoringConfig.metrics``), when
            known: a target whose data it did not collect (retries with
            ``collect_retries=False``) is not measured (value None,
            ``collected=False``) instead of passing on zeros.

    Returns:
        One result per target; rates are None when there are no records.
    """
    slo = slo or SLOConfig()
    ttft: list[float] = []
    tps: list[float] = []
    n = failed = retries = violations = 0
    for t in records:
        n += 1
        if t.metrics.time_to_first_token is not None:
            ttft.append(t.metrics.time_to_first_token)
        if t.metrics.tokens_per_second is not None:
            tps.append(t.metrics.tokens_per_second)
        failed += t.outcome in ("failed", "abandoned")
        retries += t.retries.total_retries
        violations += t.guardrails.total
    return _results(slo, [
        _quantile(slo.ttft_quantile, ttft),
        _quantile(slo.tokens_per_second_quantile, tps),
        failed / n if n else None,
        retries / n if n else None,
        violations / n if n else None,
    ], metrics)  # fmt: skip


def evaluate_aggregates(
    agg: Mapping[str, Any], slo: SLOConfig | None = None, metrics: MetricsConfig | None = None
) -> list[SLOResult]:
    """Measure saved aggregates (``Monitor.get_aggregate_metrics()`` as JSON).

    Quantiles are read from the ``p<q>_ttft`` / ``p<q>_tokens_per_sec`` keys
    when the Monitor was configured with those percentiles; violations are not
    in the aggregates. What is missing is reported as not measurable (None);
    ``metrics`` as in :func:`evaluate_records`.
    """
    from .._internal.aggregates import percentile_key

    slo = slo or SLOConfig()
    n = agg.get("count") or 0

    def get(key: str) -> float | None:
        value = agg.get(key)
        return float(value) if isinstance(value, int | float) else None

    return _results(slo, [
        get(f"{percentile_key(slo.ttft_quantile)}_ttft"),
        get(f"{percentile_key(slo.tokens_per_second_quantile)}_tokens_per_sec"),
        get("failure_rate") if n else None,
        (get("total_retries") or 0.0) / n if n and "total_retries" in agg else None,
        None,
    ], metrics)  # fmt: skip
