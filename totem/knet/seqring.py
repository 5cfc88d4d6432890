"""The delivered-sequence window of one source host (ref knet/README.md 1.2; ``host.c``).

knet has no retransmission and no ordering (Totem has both); what it has is duplicate
suppression: per source host a 4096-entry circular buffer (``KNET_CBUFFER_SIZE``) of
the DATA sequence numbers already delivered, and a second one of those whose
defragmentation started. ACTIVE link mode (every packet on every link) and a sender
that restarted both rely on it. The rules, ported from ``_seq_num_lookup``:

* the window is anchored at ``rx_seq``, the newest sequence number seen; the first
  packet ever seen anchors it;
* a number up to 4095 *behind* ``rx_seq`` is judged by its buffer slot: seen once,
  dropped ever after;
* a number up to 4095 *ahead* moves the window forward, clearing the slots it passes;
* anything farther away in either direction means the sender is in another epoch
  (restarted, or a long silence): both buffers are wiped and the window re-anchors;
* ``clear`` (a timed ping with sequence 0 from a restarted sender, or an untimed
  ping with no data in between) wipes everything, defragmentation buffers included.

Old defragmentation buffers are reclaimed on every lookup (see :mod:`.defrag`).
"""

from __future__ import annotations

from typing import Protocol

from totem.knet.constants import CBUFFER_SIZE, SEQ_MAX

__all__ = ["Reclaimer", "SeqWindow"]

_ZEROS = bytes(CBUFFER_SIZE)


class Reclaimer(Protocol):
    """What the window tells the defragmentation buffers of the same host."""

    def reclaim(self, seq: int) -> None: ...

    def clear(self) -> None: ...


class SeqWindow:
    """``circular_buffer``, ``circular_buffer_defrag`` and ``rx_seq_num`` of one host."""

    __slots__ = ("defrag", "defragging", "delivered", "rx_seq")

    def __init__(self, defrag: Reclaimer) -> None:
        self.delivered = bytearray(CBUFFER_SIZE)
        self.defragging = bytearray(CBUFFER_SIZE)
        self.rx_seq = 0
        self.defrag = defrag

    def clear(self, rx_seq: int = 0) -> None:
        """``_clear_cbuffers``: forget everything, re-anchor at ``rx_seq``."""
        self.delivered[:] = _ZEROS
        self.defragging[:] = _ZEROS
        self.rx_seq = rx_seq
        self.defrag.clear()

    def lookup(self, seq: int, *, defrag: bool = False, clear: bool = False) -> bool:
        """``_seq_num_lookup``: may a packet with ``seq`` go on (True), or was it seen?"""
        if not self.rx_seq:
            self.rx_seq = seq
        if clear:
            self.clear(seq)
        self.defrag.reclaim(self.rx_seq)
        anchor = self.rx_seq
        # seq_num_t arithmetic: both differences wrap to 16 bits
        distance = ((SEQ_MAX - seq + anchor) if seq < anchor else (anchor - seq)) & 0xFFFF
        head = seq % CBUFFER_SIZE
        if distance < CBUFFER_SIZE:
            buffer = self.defragging if defrag else self.delivered
            return buffer[head] == 0
        if distance <= SEQ_MAX - CBUFFER_SIZE:
            self.delivered[:] = _ZEROS
            self.defragging[:] = _ZEROS
            self.rx_seq = seq
        tail = (self.rx_seq + 1) % CBUFFER_SIZE
        if tail > head:
            for buffer in (self.delivered, self.defragging):
                buffer[tail:] = _ZEROS[tail:]
                buffer[: head + 1] = _ZEROS[: head + 1]
        else:
            for buffer in (self.delivered, self.defragging):
                buffer[tail : head + 1] = _ZEROS[tail : head + 1]
        self.rx_seq = seq
        return True

    def mark(self, seq: int, *, defrag: bool = False) -> None:
        """``_seq_num_set``: ``seq`` was delivered (or its defragmentation began)."""
        (self.defragging if defrag else self.delivered)[seq % CBUFFER_SIZE] = 1
