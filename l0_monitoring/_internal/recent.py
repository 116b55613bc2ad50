"""A bounded set of recently finished stream ids, so late events open nothing new."""

from __future__ import annotations


class RecentIds:
    """Remembers at least the last ``limit`` ids added, at most ``2 * limit``; O(1) each.

    Two generations of sets: ids are added to the current one; when it holds
    ``limit`` ids it becomes the previous generation (the older one is
    dropped) and a new current set starts. An id is remembered while it is in
    either, so every one of the last ``limit`` ids added is remembered, and
    memory is bounded by ``2 * limit`` ids. One set insertion per finished
    stream (no ordered queue to maintain).

    Not thread-safe on its own: callers hold their lock around ``add`` and
    ``discard``. ``current`` and ``previous`` are the underlying sets, for hot
    paths that test membership without a call (use both).
    """

    __slots__ = ("_limit", "current", "previous")

    def __init__(self, limit: int = 4096) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self._limit = limit
        self.current: set[str] = set()
        self.previous: set[str] = set()

    def __contains__(self, stream_id: object) -> bool:
        return stream_id in self.current or stream_id in self.previous

    def __len__(self) -> int:
        return len(self.current) + len(self.previous - self.current)

    @property
    def ids(self) -> set[str]:
        """Every id remembered now (a new set)."""
        return self.current | self.previous

    def add(self, stream_id: str) -> None:
        """Remember ``stream_id`` for at least the next ``limit - 1`` additions."""
        current = self.current
        current.add(stream_id)
        if len(current) >= self._limit:
            self.previous = current
            self.current = set()

    def discard(self, stream_id: str) -> None:
        """Forget ``stream_id`` (a new lifetime of the same id started)."""
        self.current.discard(stream_id)
        self.previous.discard(stream_id)

    def clear(self) -> None:
        """Forget everything."""
        self.current = set()
        self.previous = set()
