"""A bounded set of recently finished stream ids, so late events open nothing new."""

from __future__ import annotations

from collections import deque


class RecentIds:
    """Remembers the last ``limit`` ids added (FIFO eviction); O(1) add and lookup.

    Not thread-safe on its own: callers hold their lock around ``add``. ``ids``
    is the underlying set, for hot paths that test membership without a call
    (an id discarded from it directly is still forgotten in FIFO order).
    """

    __slots__ = ("_limit", "_order", "ids")

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self.ids: set[str] = set()
        self._order: deque[str] = deque()

    def __contains__(self, stream_id: object) -> bool:
        return stream_id in self.ids

    def add(self, stream_id: str) -> None:
        """Remember ``stream_id``, forgetting the oldest past the limit."""
        self.ids.add(stream_id)
        self._order.append(stream_id)
        if len(self._order) > self._limit:
            self.ids.discard(self._order.popleft())

    def discard(self, stream_id: str) -> None:
        """Forget ``stream_id`` (a new lifetime of the same id started)."""
        self.ids.discard(stream_id)

    def clear(self) -> None:
        """Forget everything."""
        self.ids.clear()
        self._order.clear()
