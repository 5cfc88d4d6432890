"""Decoding and encoding of any Totem datagram (ref totem-wire.md sections 3, 4).

:func:`decode` applies every acceptance rule corosync 3.1.7 (Debian
``3.1.7-1+deb12u2``) applies before a message reaches the SRP state machine
(header rules, then the per-type sanity rules of ref 4.7) and returns one of
the six message values, or raises :class:`WireError`. Datagrams of a peer of the
other byte order are recognised by the swapped magic and decoded with every
field swapped. :func:`encode` always produces little-endian, the byte order of
every real deployment (ref 0, "Byte order").

``decode_construct`` / ``encode_construct`` are the slow reference codecs built
from the construct declarations; tests prove them byte-identical to the fast
path, and ``bench/wire_codec.py`` compares their cost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

from totem.wire import commit_token, mcast, memb_join, merge_detect, orf_token, token_hold_cancel
from totem.wire.commit_token import CommitToken, decode_commit_token, encode_commit_token
from totem.wire.constants import HEADER_SIZE, UDP_RECEIVE_FRAME_SIZE_MAX, MessageType
from totem.wire.errors import WireError
from totem.wire.header import check_header
from totem.wire.mcast import Mcast, decode_mcast, encode_mcast
from totem.wire.memb_join import MembJoin, decode_memb_join, encode_memb_join
from totem.wire.merge_detect import MergeDetect, decode_merge_detect, encode_merge_detect
from totem.wire.orf_token import OrfToken, decode_orf_token, encode_orf_token
from totem.wire.token_hold_cancel import (
    TokenHoldCancel,
    decode_token_hold_cancel,
    encode_token_hold_cancel,
)

__all__ = [
    "Message",
    "decode",
    "decode_construct",
    "encode",
    "encode_construct",
    "message_type",
    "peek_type",
    "set_join_cache_size",
]

Message: TypeAlias = OrfToken | Mcast | MergeDetect | MembJoin | CommitToken | TokenHoldCancel
"""Any decoded Totem datagram."""

_LITTLE_ENDIAN_V3 = b"\x70\xc0\x03"
"""Magic and version as every little-endian peer sends them (the fast path)."""

_DECODERS: tuple[Callable[[bytes, bool], Message], ...] = (
    decode_orf_token,
    decode_mcast,
    decode_merge_detect,
    decode_memb_join,
    decode_commit_token,
    decode_token_hold_cancel,
)

_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    OrfToken: encode_orf_token,
    Mcast: encode_mcast,
    MergeDetect: encode_merge_detect,
    MembJoin: encode_memb_join,
    CommitToken: encode_commit_token,
    TokenHoldCancel: encode_token_hold_cancel,
}

_TYPES: dict[type, MessageType] = {
    OrfToken: MessageType.ORF_TOKEN,
    Mcast: MessageType.MCAST,
    MergeDetect: MessageType.MEMB_MERGE_DETECT,
    MembJoin: MessageType.MEMB_JOIN,
    CommitToken: MessageType.MEMB_COMMIT_TOKEN,
    TokenHoldCancel: MessageType.TOKEN_HOLD_CANCEL,
}

_CONSTRUCT: dict[int, Any] = {
    MessageType.ORF_TOKEN: orf_token,
    MessageType.MCAST: mcast,
    MessageType.MEMB_MERGE_DETECT: merge_detect,
    MessageType.MEMB_JOIN: memb_join,
    MessageType.MEMB_COMMIT_TOKEN: commit_token,
    MessageType.TOKEN_HOLD_CANCEL: token_hold_cancel,
}


def peek_type(data: bytes) -> int:
    """The raw type byte of a datagram, without validating anything else.

    Raises ``WireError("short")`` if the datagram cannot hold a header.
    """
    if len(data) < HEADER_SIZE:
        raise WireError("short", f"{len(data)} bytes < header {HEADER_SIZE}")
    return data[3]


_JOIN_CACHE: dict[bytes, MembJoin] = {}
"""Decoded JOINs by their bytes: a JOIN is a multicast, so every node of a ring decodes
the same bytes (in the simulator, the very same object N times: N^3 JOIN deliveries in a
cold start of N nodes). A MembJoin is immutable, so sharing one value is invisible."""
_join_cache_max = 256
"""Entries kept, the oldest going first. A daemon decodes each JOIN once anyway (it runs one
node), so its cache stays small: a few hundred JOINs, tens of KiB however long it runs. The
simulator widens it with :func:`set_join_cache_size`."""


def set_join_cache_size(entries: int) -> None:
    """Keep up to ``entries`` decoded JOINs (the simulator: every JOIN of a 128-node cold
    start, 16,384, whose copies are delivered long after thousands more are sent)."""
    global _join_cache_max
    _join_cache_max = max(0, entries)
    while len(_JOIN_CACHE) > _join_cache_max:
        del _JOIN_CACHE[next(iter(_JOIN_CACHE))]


_MEMB_JOIN = int(MessageType.MEMB_JOIN)


def decode(data: bytes) -> Message:
    """Decode one datagram; raise :class:`WireError` if corosync would drop it."""
    if data[:3] == _LITTLE_ENDIAN_V3 and HEADER_SIZE <= len(data) <= UDP_RECEIVE_FRAME_SIZE_MAX:
        message_type = data[3]
        if message_type == _MEMB_JOIN and type(data) is bytes:
            join = _JOIN_CACHE.get(data)
            if join is None:
                join = decode_memb_join(data, False)
                if _join_cache_max:
                    if len(_JOIN_CACHE) >= _join_cache_max:
                        del _JOIN_CACHE[next(iter(_JOIN_CACHE))]
                    _JOIN_CACHE[data] = join
            return join
        if message_type <= MessageType.TOKEN_HOLD_CANCEL:
            return _DECODERS[message_type](data, False)
    message_type, byteswapped = check_header(data)
    return _DECODERS[message_type](data, byteswapped)


def encode(message: Message) -> bytes:
    """Encode one message (little-endian). Raises ``ValueError`` for values that
    do not fit the wire format."""
    return _ENCODERS[type(message)](message)


def message_type(message: Message) -> MessageType:
    """The wire type of a message value."""
    return _TYPES[type(message)]


def decode_construct(data: bytes) -> Message:
    """Reference decoder: the header rules, then the construct declaration of the
    type parses the fields (no per-type sanity rules; little-endian only)."""
    message_type, byteswapped = check_header(data)
    if byteswapped:
        raise ValueError("the construct declarations are little-endian")
    result: Message = _CONSTRUCT[message_type].parse_construct(data)
    return result


def encode_construct(message: Message) -> bytes:
    """Reference encoder through the construct declaration of the message type."""
    built: bytes = _CONSTRUCT[_TYPES[type(message)]].build_construct(message)
    return built
