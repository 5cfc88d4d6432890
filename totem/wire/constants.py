"""Totem protocol constants of corosync 3.1.7 (ref totem-wire.md sections 2.3, 3, 4).

Sizes are those of the packed C structures (``exec/totemsrp.c``,
``include/corosync/totem/totem.h``); limits include the Debian
``3.1.7-1+deb12u2`` hardening (ref section 0).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

__all__ = [
    "COMMIT_MEMB_ENTRY_SIZE",
    "COMMIT_TOKEN_SIZE",
    "ENCAPSULATED",
    "FRAME_SIZE_MAX",
    "HEADER_SIZE",
    "MAGIC",
    "MAGIC_SWAPPED",
    "MCAST_SIZE",
    "MEMB_JOIN_SIZE",
    "MERGE_DETECT_SIZE",
    "MESSAGE_SIZE_MAX",
    "NOT_ENCAPSULATED",
    "ORF_TOKEN_SIZE",
    "ORF_TOKEN_SIZE_MAX",
    "PROCESSOR_COUNT_MAX",
    "RING_ID_SIZE",
    "RTR_ENTRIES_MAX",
    "RTR_ITEM_SIZE",
    "TOKEN_HOLD_CANCEL_SIZE",
    "UDP_RECEIVE_FRAME_SIZE_MAX",
    "VERSION",
    "MessageType",
]


class MessageType(IntEnum):
    """``totem_message_header.type`` (ref 3)."""

    ORF_TOKEN = 0
    MCAST = 1
    MEMB_MERGE_DETECT = 2
    MEMB_JOIN = 3
    MEMB_COMMIT_TOKEN = 4
    TOKEN_HOLD_CANCEL = 5


MAGIC: Final = 0xC070
"""``TOTEM_MH_MAGIC``; little-endian bytes ``70 c0``."""
MAGIC_SWAPPED: Final = 0x70C0
"""The magic as read from a peer of the other byte order."""
VERSION: Final = 3
"""``TOTEM_MH_VERSION``."""

ENCAPSULATED: Final = 1
"""MCAST re-originated in RECOVERY: the body is a complete old-ring MCAST (ref 4.2)."""
NOT_ENCAPSULATED: Final = 2
"""Ordinary MCAST: the body is a totempg packet."""

RTR_ENTRIES_MAX: Final = 30
"""``RETRANSMIT_ENTRIES_MAX``: ORF tokens with more entries are dropped (Debian patch)."""
PROCESSOR_COUNT_MAX: Final = 384
"""Largest ring; joins with longer lists are dropped (Debian patch)."""
ORF_TOKEN_SIZE_MAX: Final = 1500
"""Size of corosync's token receive buffer; longer tokens are dropped (Debian patch)."""
FRAME_SIZE_MAX: Final = 65536
"""``KNET_MAX_PACKET_SIZE``: corosync asserts an MCAST is no longer than this."""
UDP_RECEIVE_FRAME_SIZE_MAX: Final = 136192
"""384 * (8 * 2 * 22) + 1024: longer datagrams are dropped as truncated (ref 2.1)."""
MESSAGE_SIZE_MAX: Final = 1024 * 1024
"""Largest totempg message; the reassembly buffer is this plus ``FRAME_SIZE_MAX``."""

HEADER_SIZE: Final = 13
"""``struct totem_message_header``."""
RING_ID_SIZE: Final = 12
"""``struct memb_ring_id``: u32 rep + u64 seq."""
ORF_TOKEN_SIZE: Final = 57
"""``struct orf_token`` without its rtr list."""
RTR_ITEM_SIZE: Final = 16
"""``struct rtr_item``."""
MCAST_SIZE: Final = 45
"""``struct mcast`` (the header in front of a totempg packet)."""
MERGE_DETECT_SIZE: Final = 29
"""``struct memb_merge_detect``."""
MEMB_JOIN_SIZE: Final = 33
"""``struct memb_join`` without its lists."""
COMMIT_TOKEN_SIZE: Final = 41
"""``struct memb_commit_token`` without its arrays."""
COMMIT_MEMB_ENTRY_SIZE: Final = 24
"""``struct memb_commit_token_memb_entry``."""
TOKEN_HOLD_CANCEL_SIZE: Final = 25
"""``struct token_hold_cancel``."""
