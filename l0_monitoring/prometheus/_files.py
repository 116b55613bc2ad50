"""The shape of a series file (one worker's snapshot): pydantic models, loaded lazily.

Validated before anything is merged: a malformed file from one worker must
never break the fleet's scrape. Kept apart from :mod:`.series` so that the
Monitor's import does not build these models.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, model_validator

from .series import _CATEGORIES, _SEVERITIES, MAX_MODELS, OTHER, OUTCOMES

_Count = NonNegativeInt
_Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class _HistogramData(_Data):
    bounds: list[_Finite] = Field(min_length=1, max_length=200)
    counts: list[_Count]
    sum: _Finite = Field(ge=0.0)
    count: _Count
    exemplars: (
        list[tuple[Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")], _Finite, _Finite] | None]
        | None
    ) = None

    @model_validator(mode="after")
    def _consistent(self) -> _HistogramData:
        if any(not b > a for a, b in itertools.pairwise(self.bounds)):
            raise ValueError("bounds must be strictly increasing")
        if len(self.counts) != len(self.bounds) + 1:
            raise ValueError("counts must have one more entry than bounds (the +Inf bucket)")
        if sum(self.counts) != self.count:
            raise ValueError("count must be the sum of the bucket counts")
        if self.exemplars is not None and len(self.exemplars) != len(self.counts):
            raise ValueError("exemplars must have one entry per bucket")
        return self


def _keys(allowed: Iterable[str]) -> Any:
    known = frozenset(allowed)

    def check(d: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown label values {unknown[:3]}")
        return d

    return check


class _ModelData(_Data):
    streams: dict[str, _Count]
    tokens: _Count
    network_retries: _Count
    model_retries: _Count
    violations: dict[str, _Count]
    errors: dict[str, _Count]
    ttft: _HistogramData
    duration: _HistogramData
    tps: _HistogramData
    itl: _HistogramData

    @model_validator(mode="after")
    def _labels(self) -> _ModelData:
        _keys(OUTCOMES)(self.streams)
        _keys((*_SEVERITIES, OTHER))(self.violations)
        _keys((*_CATEGORIES, OTHER))(self.errors)
        return self


class _SetData(_Data):
    models: dict[Annotated[str, Field(min_length=1, max_length=1024)], _ModelData] = Field(
        max_length=MAX_MODELS + 1
    )
