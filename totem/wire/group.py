"""totempg group framing of one message (ref totem-wire.md section 8, "Each message").

``totempg_groups_mcast_joined`` prefixes every message with the groups it is
for: ``u16 ngroups``, ``u16 len[ngroups]``, the names concatenated (no NUL),
then the payload. corosync itself uses exactly two groups, always alone:
``"a"`` (service/exec messages) and ``"sync"`` (the sync protocol). A receiver
of a swapped peer swaps the u16 counts (``group_endian_convert``). :data:`FORMAT` declares
the layout (construct, built on first use); the codec below is held to it by the tests.
"""

from __future__ import annotations

import functools
import struct
from typing import Any, Final

from totem.wire.errors import WireError

__all__ = [
    "FORMAT",
    "GROUP_EXEC",
    "GROUP_SYNC",
    "decode_group_message",
    "encode_group_message",
    "group_pieces",
]

GROUP_EXEC: Final = b"a"
"""``corosync_group`` of ``exec/main.c``: service (exec) messages."""
GROUP_SYNC: Final = b"sync"
"""``sync_group`` of ``exec/sync.c``: sync protocol messages."""

FORMAT: Any
"""Normative declaration of a group-framed message (little-endian, as we send it)."""


@functools.cache
def _declare() -> dict[str, Any]:
    """This module's construct declarations, built on first use (``totem.wire.declare``)."""
    from construct import Array, Bytes, GreedyBytes, Int16ul, Rebuild, Struct, len_, this

    FORMAT = Struct(
        "ngroups" / Rebuild(Int16ul, len_(this.lengths)),
        "lengths" / Array(this.ngroups, Int16ul),
        "names" / Array(this.ngroups, Bytes(lambda ctx: ctx.lengths[ctx._index])),
        "payload" / GreedyBytes,
    )
    return {"FORMAT": FORMAT}


def __getattr__(name: str) -> Any:
    if name == "FORMAT":
        return _declare()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_ONE_GROUP = struct.Struct("<HH")


def encode_group_message(group: bytes, payload: bytes) -> bytes:
    """Frame ``payload`` for one group (what corosync multicasts as one message)."""
    if not 0 < len(group) <= 0xFFFF:
        raise ValueError(f"group name of {len(group)} bytes")
    return _ONE_GROUP.pack(1, len(group)) + group + payload


def group_pieces(message: bytes) -> tuple[bytes, ...]:
    """Split a group-framed message into the pieces (iovecs) corosync hands to
    totempg for it: the length array, each group name, then the payload.

    Packet boundaries depend on these pieces (``totem.totempg.Packer``).
    Raises :class:`WireError` if ``message`` is not group-framed.
    """
    names, _payload = decode_group_message(message)
    header = 2 + 2 * len(names)
    pieces = [message[:header]]
    offset = header
    for name in names:
        pieces.append(message[offset : offset + len(name)])
        offset += len(name)
    pieces.append(message[offset:])
    return tuple(pieces)


def decode_group_message(data: bytes, byteswapped: bool = False) -> tuple[tuple[bytes, ...], bytes]:
    """Split a delivered message into its group names and its payload."""
    size = len(data)
    if size < 2:
        raise WireError("short", f"group message of {size} bytes")
    order = ">" if byteswapped else "<"
    (count,) = struct.unpack_from(order + "H", data)
    header = 2 + 2 * count
    if size < header:
        raise WireError("short", f"group message of {size} bytes cannot hold {count} groups")
    lengths = struct.unpack_from(f"{order}{count}H", data, 2)
    end = header + sum(lengths)
    if size < end:
        raise WireError("short", f"group message of {size} bytes cannot hold its group names")
    names: list[bytes] = []
    offset = header
    for length in lengths:
        names.append(bytes(data[offset : offset + length]))
        offset += length
    return tuple(names), bytes(data[end:])
