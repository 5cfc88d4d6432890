"""The exec (service) message header (ref totem-wire.md section 9).

Every service message delivered in group ``"a"`` starts with libqb's
``struct qb_ipc_request_header``: ``i32 id`` and ``i32 size``, each
``aligned(8)``, so 16 bytes with 4 pad bytes after each field. ``id`` is
``SERVICE_ID_MAKE(service, fn) = service << 16 | fn``; ``size`` is the whole
message length including the header (corosync's ``main.c`` does not check it).
Sync messages (group ``"sync"``) use the same header with a plain ``id``.

Pad bytes are written as zeros and ignored on decode. A service decodes its
own header in the sender's byte order when the Totem layer reports a swapped
peer, hence the ``byteswapped`` flag.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Any, Final

from totem.wire.errors import WireError

__all__ = [
    "EXEC_HEADER_SIZE",
    "FORMAT",
    "ExecHeader",
    "exec_id",
    "fn_id",
    "service_id",
]

EXEC_HEADER_SIZE: Final = 16
"""``sizeof(struct qb_ipc_request_header)``."""

FORMAT: Any
"""Normative declaration of ``qb_ipc_request_header`` (little-endian)."""


@functools.cache
def _declare() -> dict[str, Any]:
    """This module's construct declarations, built on first use (``totem.wire.declare``)."""
    from construct import Int32sl, Padding, Struct

    FORMAT = Struct(
        "id" / Int32sl,
        Padding(4),
        "size" / Int32sl,
        Padding(4),
    )
    return {"FORMAT": FORMAT}


def __getattr__(name: str) -> Any:
    if name == "FORMAT":
        return _declare()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_FIXED = {False: struct.Struct("<i4xi4x"), True: struct.Struct(">i4xi4x")}


def exec_id(service: int, fn: int) -> int:
    """``SERVICE_ID_MAKE``: the header id of function ``fn`` of ``service``."""
    return (service << 16) | fn


def service_id(message_id: int) -> int:
    """The service of a header id (``id >> 16``)."""
    return message_id >> 16


def fn_id(message_id: int) -> int:
    """The function of a header id (``id & 0xffff``)."""
    return message_id & 0xFFFF


@dataclass(frozen=True, slots=True)
class ExecHeader:
    """``qb_ipc_request_header``."""

    id: int
    """``service << 16 | fn`` for services; the message number for sync."""
    size: int
    """Total message length, header included."""

    @property
    def service_id(self) -> int:
        return service_id(self.id)

    @property
    def fn_id(self) -> int:
        return fn_id(self.id)

    def encode(self) -> bytes:
        """The 16 header bytes (little-endian, zero padding)."""
        try:
            return _FIXED[False].pack(self.id, self.size)
        except struct.error as exc:
            raise ValueError(f"exec header field out of range: {exc}") from exc

    @classmethod
    def decode(cls, data: bytes, byteswapped: bool = False) -> ExecHeader:
        """Decode the header at the start of a service message."""
        if len(data) < EXEC_HEADER_SIZE:
            raise WireError("short", f"exec message of {len(data)} bytes < {EXEC_HEADER_SIZE}")
        message_id, size = _FIXED[byteswapped].unpack_from(data)
        return cls(message_id, size)
