"""DDSketch fed in bulk: values are bucketed in batches and added once per bucket.

``DDSketch.add`` costs two Python calls and a logarithm per value. The Monitor
adds values once per finished stream and per chunk of inter-token gaps, so
:class:`BulkSketch` takes them in batches: bucket keys are computed in one
comprehension with the sketch's own logarithmic-mapping arithmetic and counted
with :class:`collections.Counter` (bounded by the number of distinct buckets);
each bucket reaches the DDSketch once, with its weight, when a quantile is read.
Quantiles are identical to adding the values one by one (tests check the keys
bit for bit against ``ddsketch.mapping.LogarithmicMapping`` and the quantiles
against a plain DDSketch).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from ddsketch import DDSketch
from ddsketch.mapping import LogarithmicMapping

SKETCH_ACCURACY = 0.01  # 1% relative accuracy on every quantile

_MAPPING = LogarithmicMapping(SKETCH_ACCURACY)
# Exactly LogarithmicMapping's arithmetic, so keys match ``_MAPPING.key`` bit for bit.
_MULTIPLIER = 1 / math.log1p(2 * SKETCH_ACCURACY / (1 - SKETCH_ACCURACY)) * math.log(2)
_LOW = _MAPPING.min_possible
_HIGH = _MAPPING.max_possible


def bucket_key(value: float) -> int:
    """Return the DDSketch bucket key of a positive finite ``value``."""
    return math.ceil(math.log(value, 2) * _MULTIPLIER)


class BulkSketch:
    """A DDSketch (1% relative accuracy) that takes values in batches.

    Not thread-safe: the owner holds its lock.
    """

    __slots__ = ("_keys", "_sketch")

    def __init__(self) -> None:
        self._sketch = DDSketch(relative_accuracy=SKETCH_ACCURACY)
        self._keys: Counter[int] = Counter()

    def extend(self, values: Sequence[float]) -> None:
        """Add ``values``; NaN and infinities are skipped.

        Zero, subnormal and negative values go to the sketch's zero count and
        negative store as ``DDSketch.add`` would put them.
        """
        log = math.log
        ceil = math.ceil
        mult = _MULTIPLIER
        low = _LOW
        high = _HIGH
        keys = [ceil(log(v, 2) * mult) for v in values if low < v < high]
        self._keys.update(keys)
        if len(keys) != len(values):
            add = self._sketch.add
            for v in values:
                if -high < v <= low:
                    add(v)

    def _settle(self) -> DDSketch:
        keys = self._keys
        if keys:
            add = self._sketch.add
            bucket_value = _MAPPING.value
            for key, weight in keys.items():
                add(bucket_value(key), float(weight))  # the bucket's representative
            keys.clear()
        return self._sketch

    @property
    def count(self) -> float:
        """How many values were added."""
        return float(self._sketch.count + sum(self._keys.values()))

    def quantile(self, q: float) -> float | None:
        """Return the value at quantile ``q`` (0..1), or None when empty."""
        value: float | None = self._settle().get_quantile_value(q)
        return value
