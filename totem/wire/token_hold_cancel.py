"""TOKEN_HOLD_CANCEL (type 5): "release the held token" (ref totem-wire.md 4.6, 6.4).

Layout (packed, 25 bytes): header(13) · ring_id(12). Acceptance: at least 25
bytes (``check_token_hold_cancel_sanity``); trailing bytes are ignored.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Any

from totem.ringid import RingId
from totem.wire.constants import MAGIC, TOKEN_HOLD_CANCEL_SIZE, VERSION, MessageType
from totem.wire.declare import compiled
from totem.wire.errors import WireError
from totem.wire.header import header_fields, ring_id

__all__ = [
    "FORMAT",
    "TokenHoldCancel",
    "build_construct",
    "decode_token_hold_cancel",
    "encode_token_hold_cancel",
    "parse_construct",
]


@dataclass(frozen=True, slots=True)
class TokenHoldCancel:
    """Multicast by a node with data to send while the rep holds the token."""

    nodeid: int
    target_nodeid: int
    ring_id: RingId


FORMAT: Any
"""Normative declaration of TOKEN_HOLD_CANCEL (little-endian, as we send it)."""


@functools.cache
def _declare() -> dict[str, Any]:
    """This module's construct declarations, built on first use (``totem.wire.declare``)."""
    from construct import Struct

    from totem.wire.header import RING_ID_FORMAT

    FORMAT = Struct(
        *header_fields(MessageType.TOKEN_HOLD_CANCEL),
        "ring_id" / RING_ID_FORMAT,
    )
    return {"FORMAT": FORMAT}


def __getattr__(name: str) -> Any:
    if name == "FORMAT":
        return _declare()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_FIXED = {False: struct.Struct("<HBBBIIIQ"), True: struct.Struct(">HBBBIIIQ")}
_FIXED_LE = _FIXED[False]
_TYPE = int(MessageType.TOKEN_HOLD_CANCEL)

assert _FIXED_LE.size == TOKEN_HOLD_CANCEL_SIZE


def decode_token_hold_cancel(data: bytes, byteswapped: bool = False) -> TokenHoldCancel:
    """Decode a TOKEN_HOLD_CANCEL whose header already passed ``check_header``."""
    if len(data) < TOKEN_HOLD_CANCEL_SIZE:
        raise WireError(
            "short", f"token_hold_cancel of {len(data)} bytes < {TOKEN_HOLD_CANCEL_SIZE}"
        )
    _m, _v, _t, _e, nodeid, target_nodeid, rep, seq = _FIXED[byteswapped].unpack_from(data)
    return TokenHoldCancel(nodeid, target_nodeid, ring_id(rep, seq))


def encode_token_hold_cancel(message: TokenHoldCancel) -> bytes:
    """Encode little-endian."""
    try:
        return _FIXED_LE.pack(
            MAGIC,
            VERSION,
            _TYPE,
            0,
            message.nodeid,
            message.target_nodeid,
            message.ring_id.rep,
            message.ring_id.seq,
        )
    except struct.error as exc:
        raise ValueError(f"token_hold_cancel field out of range: {exc}") from exc


def build_construct(message: TokenHoldCancel) -> bytes:
    """Reference encoder through ``FORMAT`` (slow; for tests and benchmarks)."""
    built: bytes = compiled(_declare()["FORMAT"]).build(
        {
            "nodeid": message.nodeid,
            "target_nodeid": message.target_nodeid,
            "ring_id": {"rep": message.ring_id.rep, "seq": message.ring_id.seq},
        }
    )
    return built


def parse_construct(data: bytes) -> TokenHoldCancel:
    """Reference decoder through ``FORMAT`` (little-endian, no sanity rules)."""
    c = compiled(_declare()["FORMAT"]).parse(data)
    return TokenHoldCancel(c.nodeid, c.target_nodeid, RingId(c.ring_id.rep, c.ring_id.seq))
