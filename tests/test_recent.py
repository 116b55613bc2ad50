"""RecentIds: a bounded set of finished stream ids (two generations)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from l0_monitoring._internal.recent import RecentIds


def test_remembers_the_last_limit_ids_and_forgets_older_ones() -> None:
    r = RecentIds(3)
    for sid in "abcdefg":
        r.add(sid)
    assert all(sid in r for sid in "efg")
    assert "a" not in r and "b" not in r and "c" not in r
    assert len(r) <= 6 and r.ids <= set("defg")


def test_an_id_added_again_gets_a_full_new_window() -> None:
    r = RecentIds(3)
    r.add("a")
    r.discard("a")  # a new lifetime of "a" started...
    assert "a" not in r
    r.add("b")
    r.add("a")  # ...and finished again
    for sid in "cd":
        r.add(sid)
    assert "a" in r  # within the last 3 additions of "a"
    for sid in "efgh":
        r.add(sid)
    assert "a" not in r


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit"):
        RecentIds(0)


@given(
    limit=st.integers(min_value=1, max_value=8),
    ops=st.lists(st.tuples(st.booleans(), st.integers(0, 20)), max_size=200),
)
def test_window_and_bound_against_a_model(limit: int, ops: list[tuple[bool, int]]) -> None:
    """Every id among the last ``limit`` additions (not discarded since) is remembered;
    at most ``2 * limit`` ids are held; a discarded id is forgotten at once."""
    r = RecentIds(limit)
    history: list[str] = []
    discarded: set[str] = set()
    for is_add, n in ops:
        sid = f"s{n}"
        if is_add:
            r.add(sid)
            history.append(sid)
            discarded.discard(sid)
        else:
            r.discard(sid)
            discarded.add(sid)
            assert sid not in r
        for recent in history[-limit:]:
            if recent not in discarded:
                assert recent in r
        assert len(r.current) + len(r.previous) <= 2 * limit
    r.clear()
    assert len(r) == 0 and not r.ids
