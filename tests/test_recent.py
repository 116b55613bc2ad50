"""RecentIds: a bounded FIFO set of finished stream ids."""

from __future__ import annotations

from l0_monitoring._internal.recent import RecentIds


def test_remembers_the_last_limit_ids() -> None:
    r = RecentIds(3)
    for sid in "abcd":
        r.add(sid)
    assert "a" not in r and {"b", "c", "d"} == set(r.ids) and len(r) == 3


def test_an_id_added_again_gets_a_full_new_window() -> None:
    r = RecentIds(3)
    r.add("a")
    r.discard("a")  # a new lifetime of "a" started...
    r.add("b")
    r.add("a")  # ...and finished again
    r.add("c")
    r.add("d")  # pushes out the first "a" entry, not the second
    assert "a" in r
    r.add("e")
    r.add("f")
    assert "a" not in r and len(r) == 3
