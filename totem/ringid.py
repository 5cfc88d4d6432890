"""The ring identifier (``struct memb_ring_id``, ref totem-wire.md section 3).

A ring id is the node id of the ring's representative plus a 64-bit sequence
number. corosync prints it as ``%x.%llx`` (``1.5f``) and compares ring ids
with ``memcmp`` over the 12 packed bytes, so equality is field equality.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RingId"]


@dataclass(frozen=True, slots=True)
class RingId:
    """``memb_ring_id``: representative node id and ring sequence number."""

    rep: int
    """Node id of the representative (the lowest node id of the ring at its creation)."""
    seq: int
    """Ring sequence: +4 per new ring (ref 5.2), persisted in ``ringid_<nodeid>``."""

    def __str__(self) -> str:
        return f"{self.rep:x}.{self.seq:x}"

    @classmethod
    def parse(cls, text: str) -> RingId:
        """Parse the ``rep.seq`` hex form printed by corosync's tools."""
        rep, _, seq = text.partition(".")
        return cls(int(rep, 16), int(seq, 16))
