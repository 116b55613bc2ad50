"""A bounded set of recently finished stream ids, so late events open nothing new."""

from __future__ import annotations

from collections import deque


class RecentIds:
    """Remembers the last ``limit`` ids added (FIFO eviction); O(1) add and lookup.

    Not thread-safe on its own: callers hold their lock around ``add`` and
    ``discard``. ``ids`` is the underlying set, for hot paths that test
    membership without a call. Each id appears once in the FIFO order, so an id
    that is discarded and added again is remembered for a full window from its
    new ``add`` (re-adding is rare: it costs a scan of the window).
    """

    __slots__ = ("_limit", "_order", "ids")

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self.ids: set[str] = set()
        self._order: deque[str] = deque()

    def __contains__(self, stream_id: object) -> bool:
        return stream_id in self.ids

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, stream_id: str) -> None:
        """Remember ``stream_id``, forgetting the oldest past the limit."""
        if stream_id in self.ids:
            self._order.remove(stream_id)
        self.ids.add(stream_id)
        self._order.append(stream_id)
        if len(self._order) > self._limit:
            self.ids.discard(self._order.popleft())

    def discard(self, stream_id: str) -> None:
        """Forget ``stream_id`` (a new lifetime of the same id started)."""
        if stream_id in self.ids:
            self.ids.discard(stream_id)
            self._order.remove(stream_id)

    def clear(self) -> None:
        """Forget everything."""
        self.ids.clear()
        self._order.clear()
