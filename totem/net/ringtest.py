"""The passive RRP "ring test" messages that re-enable a FAULTY ring (anchors.md A2).

corosync 2.x ``exec/totemrrp.c`` recovers a faulty ring with two messages of its
own, types 6 and 7 of the Totem header (0-5 are totemsrp's), that travel *only on
the ring under test* from each node to its token target:

* ``RING_TEST_ACTIVE`` (6): sent every ``rrp_autorecovery_check_timeout`` by a node
  that holds the ring faulty (the *activator*). Every other node forwards it; when
  it is back at its activator the ring has carried one whole rotation.
* ``RING_TEST_ACTIVATE`` (7): the activator then sends this one around; every node
  it reaches re-enables the ring ("Automatically recovered ring N") and forwards
  it, until it is back at the activator.

corosync 3.x has no RRP, so no real node ever sends or expects these; the layout
is ours. It keeps the 13-byte Totem 3.x header (so the magic/byte-order rules of
ref totem-wire.md section 3 apply) and adds, in the sender's byte order::

    off size field
     13   4  ring_number      the ring (link) under test
     17   4  nodeid_activator the node that started the test
     21   4  hops             forwards so far; a message is dropped past the nodelist
                              size, so a test whose activator left the ring dies out
                              instead of circling for ever (2.x had no such bound)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from totem.wire.constants import HEADER_SIZE, MAGIC, MAGIC_SWAPPED, VERSION

__all__ = [
    "RING_TEST_ACTIVATE",
    "RING_TEST_ACTIVE",
    "RING_TEST_SIZE",
    "RingTest",
    "RingTestError",
    "decode_ring_test",
    "encode_ring_test",
]

RING_TEST_ACTIVE: Final = 6
"""``MESSAGE_TYPE_RING_TEST_ACTIVE``: is the ring carrying a whole rotation?"""
RING_TEST_ACTIVATE: Final = 7
"""``MESSAGE_TYPE_RING_TEST_ACTIVATE``: it is; every node re-enables it."""
RING_TEST_SIZE: Final = HEADER_SIZE + 12

_LITTLE = struct.Struct("<HBBBIIIII")
_BIG = struct.Struct(">HBBBIIIII")


class RingTestError(ValueError):
    """A malformed ring test message; ``reason`` is a counter key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RingTest:
    """One ring test message."""

    type: int
    """``RING_TEST_ACTIVE`` or ``RING_TEST_ACTIVATE``."""
    sender: int
    ring_number: int
    activator: int
    hops: int = 0


def encode_ring_test(message: RingTest) -> bytes:
    """The message in little-endian byte order (as every x86 node sends)."""
    return _LITTLE.pack(
        MAGIC,
        VERSION,
        message.type,
        0,
        message.sender,
        0,
        message.ring_number,
        message.activator,
        message.hops,
    )


def decode_ring_test(data: bytes) -> RingTest:
    """Parse a ring test message of either byte order; :class:`RingTestError` if malformed."""
    if len(data) < RING_TEST_SIZE:
        raise RingTestError("short")
    if data[0] | data[1] << 8 == MAGIC:
        layout = _LITTLE
    elif data[0] | data[1] << 8 == MAGIC_SWAPPED:
        layout = _BIG
    else:
        raise RingTestError("bad_magic")
    _magic, version, kind, _enc, sender, _target, ring, activator, hops = layout.unpack_from(data)
    if version != VERSION:
        raise RingTestError("bad_version")
    if kind not in (RING_TEST_ACTIVE, RING_TEST_ACTIVATE):
        raise RingTestError("bad_type")
    return RingTest(kind, sender, ring, activator, hops)
