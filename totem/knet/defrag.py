"""Out-of-order defragmentation of DATA packets (ref knet/README.md 1.2;
``threads_rx.c:pckt_defrag``, ``host.c:_reclaim_old_defrag_bufs``).

A sender cuts a message larger than its data MTU into ``frag_num`` fragments (at most
255) that all carry the message's sequence number and ``frag_seq`` 1..frag_num; every
fragment but the last has the same size. The receiver keeps 32 buffers per source host
(``KNET_DEFRAG_BUFFERS``), found by sequence number:

* the first fragment of a sequence number not seen before takes a free buffer, or the
  least recently updated one when all 32 are busy, and marks the number in the
  window's defragmentation buffer (:mod:`.seqring`); a fragment of a number already
  marked but without a buffer (reclaimed, or completed) is dropped;
* fragments arrive in any order; a fragment already held is ignored;
* on every lookup of the window, buffers more than 33 sequence numbers behind the
  window's anchor are released.

knet places fragments by offset and trusts the sender's sizes; here fragments are
kept by number and joined, and a fragment numbered outside 1..frag_num is refused
(``bad_fragment``) instead of corrupting the buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from totem.knet.constants import DEFRAG_BUFFERS

__all__ = ["DefragBuffers", "DefragSlot"]


@dataclass(slots=True)
class DefragSlot:
    """``struct knet_host_defrag_buf``."""

    in_use: bool = False
    seq: int = 0
    received: dict[int, bytes | memoryview] = field(default_factory=dict)
    last_update: float = 0.0


class DefragBuffers:
    """The 32 defragmentation buffers of one source host.

    ``busy_slots`` indexes the buffers in use by sequence number (at most one buffer per
    number: a buffer is taken only for a number none holds), so that the per-packet
    lookups and the reclaim walk only the few buffers assembling something."""

    __slots__ = ("busy_slots", "slots")

    def __init__(self) -> None:
        self.slots = [DefragSlot() for _ in range(DEFRAG_BUFFERS)]
        self.busy_slots: dict[int, DefragSlot] = {}

    def clear(self) -> None:
        for slot in self.slots:
            slot.in_use = False
            slot.received = {}
        self.busy_slots.clear()

    def reclaim(self, seq: int) -> None:
        """``_reclaim_old_defrag_bufs``: release buffers outside (seq - 33, seq]."""
        busy = self.busy_slots
        if not busy:
            return
        head = (seq + 1) & 0xFFFF
        tail = (seq - (DEFRAG_BUFFERS + 1)) & 0xFFFF
        if tail > head:
            stale = [held for held in busy if head <= held <= tail]
        else:
            stale = [held for held in busy if held >= head or held <= tail]
        for held in stale:
            self.release(busy[held])

    def find(self, seq: int) -> DefragSlot | None:
        """The buffer already assembling ``seq``, if any."""
        return self.busy_slots.get(seq)

    def take(self, seq: int, now: float) -> DefragSlot:
        """A buffer for a new ``seq``: a free one, else the least recently updated."""
        chosen = next((slot for slot in self.slots if not slot.in_use), None)
        if chosen is None:
            chosen = min(self.slots, key=lambda slot: slot.last_update)
            self.busy_slots.pop(chosen.seq, None)
        chosen.in_use = True
        chosen.seq = seq
        chosen.received = {}
        chosen.last_update = now
        self.busy_slots[seq] = chosen
        return chosen

    def release(self, slot: DefragSlot) -> None:
        """The buffer is free again (its message completed, or it was reclaimed)."""
        if slot.in_use:
            slot.in_use = False
            slot.received = {}
            self.busy_slots.pop(slot.seq, None)

    def busy(self) -> int:
        """Buffers holding part of a message (for status)."""
        return len(self.busy_slots)
