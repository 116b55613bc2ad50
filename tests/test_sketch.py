"""BulkSketch gives the same quantiles as adding values one by one to a DDSketch."""

from __future__ import annotations

import math
import random

from ddsketch import DDSketch
from ddsketch.mapping import LogarithmicMapping
from hypothesis import given
from hypothesis import strategies as st

from l0_monitoring._internal.sketch import SKETCH_ACCURACY, BulkSketch, bucket_key

QUANTILES = (0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0)


def test_bucket_keys_match_ddsketch_mapping_bit_for_bit() -> None:
    mapping = LogarithmicMapping(SKETCH_ACCURACY)
    rng = random.Random(7)
    values = [10 ** rng.uniform(-9, 9) for _ in range(50_000)]
    values += [1.0, 0.001, 1000.0, 2.0**-1000, 1e300]
    for v in values:
        assert bucket_key(v) == mapping.key(v), v
    # A bucket's representative value lands back in the same bucket.
    for key in range(-3000, 3000):
        assert mapping.key(mapping.value(key)) == key


def test_quantiles_equal_a_plain_ddsketch_across_batches() -> None:
    rng = random.Random(11)
    plain = DDSketch(relative_accuracy=SKETCH_ACCURACY)
    bulk = BulkSketch()
    for _ in range(20):
        batch = [rng.lognormvariate(0, 1.5) for _ in range(rng.randint(0, 700))]
        batch += [0.0] * rng.randint(0, 3)
        for v in batch:
            plain.add(v)
        bulk.extend(batch)
        for q in QUANTILES:
            assert bulk.quantile(q) == plain.get_quantile_value(q)
    assert bulk.count == plain.count


@given(
    st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_subnormal=True),
        max_size=300,
    )
)
def test_quantiles_equal_for_any_finite_values(values: list[float]) -> None:
    plain = DDSketch(relative_accuracy=SKETCH_ACCURACY)
    for v in values:
        plain.add(v)
    bulk = BulkSketch()
    bulk.extend(values)
    assert bulk.count == plain.count
    for q in QUANTILES:
        assert bulk.quantile(q) == plain.get_quantile_value(q)


def test_nan_and_infinities_are_skipped() -> None:
    bulk = BulkSketch()
    bulk.extend([math.nan, math.inf, -math.inf, 2.0])
    assert bulk.count == 1
    assert bulk.quantile(0.5) is not None
    assert math.isclose(bulk.quantile(0.5) or 0.0, 2.0, rel_tol=SKETCH_ACCURACY)
    assert BulkSketch().quantile(0.5) is None
