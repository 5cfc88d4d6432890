"""The sort queue: messages of one ring indexed by sequence number (ref 6.2, ``sq.h``).

A window of ``size`` sequence numbers starting at ``head`` (the first seq not
yet released). Messages outside the window are refused, so a stale or wild
sequence number can never grow memory. Each slot also keeps a *miss count*:
how many token visits found the slot empty, so a retransmission is requested
only after ``miss_count_const`` visits (ref 6.1 step 6).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from totem.srp.seqno import U32, seq_lt

__all__ = ["QUEUE_RTR_ITEMS_SIZE_MAX", "SortQueue"]

QUEUE_RTR_ITEMS_SIZE_MAX = 16384
"""corosync's ``QUEUE_RTR_ITEMS_SIZE_MAX``: the window of a sort queue."""

T = TypeVar("T")


class SortQueue(Generic[T]):
    """Messages keyed by ring sequence number within ``[head, head + size)``."""

    __slots__ = ("_items", "_miss", "head", "size")

    def __init__(self, head: int = 0, size: int = QUEUE_RTR_ITEMS_SIZE_MAX) -> None:
        self.head = head
        self.size = size
        self._items: dict[int, T] = {}
        self._miss: dict[int, int] = {}

    def reinit(self, head: int) -> None:
        """Empty the queue and restart its window at ``head``."""
        self.head = head
        self._items.clear()
        self._miss.clear()

    def copy_from(self, other: SortQueue[T]) -> None:
        """Become a copy of ``other`` (the recovery queue becomes the regular one)."""
        self.head = other.head
        self.size = other.size
        self._items = dict(other._items)
        self._miss = dict(other._miss)

    def in_range(self, seq: int) -> bool:
        """Whether ``seq`` falls inside the window."""
        return ((seq - self.head) & U32) < self.size

    def __contains__(self, seq: int) -> bool:
        return seq in self._items

    def get(self, seq: int) -> T | None:
        """The message at ``seq``, or None for a hole."""
        return self._items.get(seq)

    def add(self, seq: int, item: T) -> None:
        """Store a message; the caller checked ``in_range`` and absence."""
        self._items[seq] = item
        self._miss.pop(seq, None)

    def miss(self, seq: int) -> int:
        """Count one more token visit that found ``seq`` missing; return the count."""
        count = self._miss.get(seq, 0) + 1
        self._miss[seq] = count
        return count

    def release_to(self, seq: int) -> None:
        """Forget every message up to and including ``seq``; the window moves on."""
        if seq_lt(seq, self.head):
            return
        count = ((seq - self.head) & U32) + 1
        if count >= self.size:
            self._items.clear()
            self._miss.clear()
        else:
            for offset in range(count):
                pos = (self.head + offset) & U32
                self._items.pop(pos, None)
                self._miss.pop(pos, None)
        self.head = (seq + 1) & U32

    def __len__(self) -> int:
        return len(self._items)

    def items_from(self, first: int, last: int) -> list[tuple[int, T]]:
        """Stored ``(seq, message)`` pairs with ``first <= seq <= last``, in seq order."""
        out: list[tuple[int, T]] = []
        seq = first
        count = ((last - first) & U32) + 1
        if count > self.size:
            count = self.size
        for _ in range(count):
            item = self._items.get(seq)
            if item is not None:
                out.append((seq, item))
            seq = (seq + 1) & U32
        return out
