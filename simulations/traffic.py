"""Application messages the simulator multicasts, and how they are recognised again.

Every message a simulated application sends carries its identity, so the
checker can tell, for any delivery, who created it, which incarnation of that
node, and its place in the sender's stream::

    "SIMm" | u32 sender | u32 incarnation | u64 counter | u8 safe | filler

(little-endian, 25 bytes of header). ``counter`` starts at 1 for every
incarnation and grows by one per message *accepted* by the node. The filler
repeats the low byte of the counter up to the requested size, so a corrupted
or truncated payload is detected (``intact``) without keeping a copy.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["HEADER_SIZE", "AppDelivered", "AppMessage", "Traffic", "decode_app", "encode_app"]

_MAGIC = b"SIMm"
_HEADER = struct.Struct("<4sIIQB")
HEADER_SIZE = _HEADER.size


@dataclass(frozen=True, slots=True)
class AppMessage:
    """The identity of one application message."""

    sender: int
    incarnation: int
    counter: int
    safe: bool
    intact: bool = True
    """The filler and length are what the sender wrote."""


@dataclass(frozen=True, slots=True)
class AppDelivered:
    """An application message delivered above Totem (by a service), as a node event."""

    sender: int
    payload: bytes

    def __str__(self) -> str:
        message = decode_app(self.payload)
        if message is None:
            return f"app-deliver {len(self.payload)}B from {self.sender} (not a simulator message)"
        return f"app-deliver #{message.counter} of {message.sender}.{message.incarnation}"


def encode_app(sender: int, incarnation: int, counter: int, size: int, safe: bool) -> bytes:
    """The payload of message ``counter`` of ``sender`` (at least the header long)."""
    header = _HEADER.pack(_MAGIC, sender, incarnation, counter, int(safe))
    fill = size - HEADER_SIZE
    if fill <= 0:
        return header
    return header + bytes((counter & 0xFF,)) * fill


def decode_app(payload: bytes) -> AppMessage | None:
    """The identity in ``payload``, or None if it is not a simulator message."""
    if len(payload) < HEADER_SIZE or payload[:4] != _MAGIC:
        return None
    _magic, sender, incarnation, counter, safe = _HEADER.unpack_from(payload)
    fill = len(payload) - HEADER_SIZE
    intact = safe in (0, 1) and (
        fill == 0 or payload.count(bytes((counter & 0xFF,)), HEADER_SIZE) == fill
    )
    return AppMessage(sender, incarnation, counter, bool(safe), intact)


@dataclass(slots=True)
class Traffic:
    """A node's application sending pattern."""

    rate: float
    """Messages per second."""
    size: int = 100
    safe: bool = False
    poisson: bool = False
    generation: int = 0
