"""libknet 1.25 "onwire v1" packets, byte for byte (ref knet/README.md 1; ``libknet/onwire.h``).

Every packet starts with ``struct knet_header`` (6 bytes)::

    off size field
      0   1  kh_version   0x01
      1   1  kh_type      0x00 DATA, 0x81 PING, 0x82 PONG, 0x83 PMTUD, 0x84 PMTUD_REPLY
      2   2  kh_node      the *sender's* host id, big-endian
      4   2  pad          0 (knet 2.x turns byte 4 into kh_max_ver; 1.25 sends 0)

then the payload of its type:

* DATA (14-byte header, 1.2): u16 seq (big-endian), u8 compress model, u8 pad, u8 bcast,
  u8 frag_num, u8 frag_seq (0 when not fragmented, else 1..frag_num), i8 channel, then
  the application data (for corosync: a Totem message or a fragment of one).
* PING / PONG (26 bytes, 1.4): u8 link, the sender's ``struct timespec`` in *host* byte
  order (x86-64: ``<qq`` seconds, nanoseconds), u16 seq (big-endian), u8 timed. A PONG is
  the PING echoed with ``kh_type`` and ``kh_node`` rewritten.
* PMTUD / PMTUD_REPLY (1.5): u8 link, u16 probed on-wire size in *host* byte order
  (little-endian here; knet does not ``htons`` it), then zero fill up to the probe size.
  A reply echoes only the first 9 bytes.

The hot paths use the precompiled ``struct`` formats below; the construct declarations
(:data:`DATA_FORMAT`, :data:`PING_FORMAT`, :data:`PMTUD_FORMAT`, built on first use as in
:mod:`totem.wire.declare`) are the reference the tests hold them to.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Any, Final

from totem.knet.constants import (
    DATA_HEADER_SIZE,
    HEADER_SIZE,
    HEADER_VERSION,
    PING_SIZE,
    PMTUD_SIZE,
    TYPE_DATA,
    TYPE_PING,
    TYPE_PMTUD,
    TYPE_PMTUD_REPLY,
    TYPE_PONG,
)

__all__ = [
    "DATA_FORMAT",
    "PING_FORMAT",
    "PMTUD_FORMAT",
    "TYPE_NAMES",
    "DataPacket",
    "KnetWireError",
    "Packet",
    "PingPacket",
    "PmtudPacket",
    "data_packets",
    "decode",
    "encode_data_header",
    "encode_ping",
    "encode_pmtud",
    "pmtud_reply",
    "pong_for",
    "timespec",
    "timespec_seconds",
]

TYPE_NAMES: Final = {
    TYPE_DATA: "DATA",
    TYPE_PING: "PING",
    TYPE_PONG: "PONG",
    TYPE_PMTUD: "PMTUD",
    TYPE_PMTUD_REPLY: "PMTUD_REPLY",
}

_HEADER: Final = struct.Struct(">BBHBB")
_DATA: Final = struct.Struct(">BBHxxHBxBBBb")
"""version, type, node, (pad, pad), seq, compress, (pad1), bcast, frag_num, frag_seq, channel."""
_PING: Final = struct.Struct(">BBHxxB")
_PING_TIME: Final = struct.Struct("<qq")
_PING_TAIL: Final = struct.Struct(">HB")
_PMTUD_SIZE_FIELD: Final = struct.Struct("<H")
"""The probed size: host byte order (little-endian here), unlike every other field."""
_NODE: Final = struct.Struct(">H")
_NS: Final = 1_000_000_000


class KnetWireError(ValueError):
    """A packet knet would not accept; ``reason`` is a stable drop-counter key:
    ``short``, ``bad_version``, ``bad_type``."""

    reason: str

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DataPacket:
    """A DATA packet (one fragment of one application message)."""

    node: int
    seq: int
    payload: bytes
    compress: int = 0
    bcast: bool = True
    frag_num: int = 1
    frag_seq: int = 0
    channel: int = 0


@dataclass(frozen=True, slots=True)
class PingPacket:
    """A PING or a PONG (``pong`` True)."""

    node: int
    link: int
    ts_sec: int
    ts_nsec: int
    seq: int
    timed: bool = True
    pong: bool = False


@dataclass(frozen=True, slots=True)
class PmtudPacket:
    """A PMTUD probe (``size`` bytes on the wire counting IP/UDP) or its reply."""

    node: int
    link: int
    size: int
    length: int = PMTUD_SIZE
    """Length of the knet packet (before crypto): the probe's fill included."""
    reply: bool = False


Packet = DataPacket | PingPacket | PmtudPacket


@functools.cache
def _declare() -> dict[str, Any]:
    """The construct declarations, built on first use (see :mod:`totem.wire.declare`)."""
    from construct import Bytes, Const, GreedyBytes, Int8sb, Int8ub, Int16ub, Int16ul, Struct
    from construct import Int64sl as TimeField

    header = [
        "version" / Const(HEADER_VERSION, Int8ub),
        "type" / Int8ub,
        "node" / Int16ub,
        "pad" / Const(b"\0\0", Bytes(2)),
    ]
    return {
        "DATA_FORMAT": Struct(
            *header,
            "seq" / Int16ub,
            "compress" / Int8ub,
            "pad1" / Const(0, Int8ub),
            "bcast" / Int8ub,
            "frag_num" / Int8ub,
            "frag_seq" / Int8ub,
            "channel" / Int8sb,
            "payload" / GreedyBytes,
        ),
        "PING_FORMAT": Struct(
            *header,
            "link" / Int8ub,
            "ts_sec" / TimeField,
            "ts_nsec" / TimeField,
            "seq" / Int16ub,
            "timed" / Int8ub,
        ),
        "PMTUD_FORMAT": Struct(
            *header,
            "link" / Int8ub,
            "size" / Int16ul,
            "fill" / GreedyBytes,
        ),
    }


DATA_FORMAT: Any
PING_FORMAT: Any
PMTUD_FORMAT: Any


def __getattr__(name: str) -> Any:
    if name in ("DATA_FORMAT", "PING_FORMAT", "PMTUD_FORMAT"):
        return _declare()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ----------------------------------------------------------------------------------------
# time stamps
# ----------------------------------------------------------------------------------------
def timespec(now: float) -> tuple[int, int]:
    """``now`` (seconds) as the ``(tv_sec, tv_nsec)`` a ping carries."""
    ns = round(now * _NS)
    return ns // _NS, ns % _NS


def timespec_seconds(sec: int, nsec: int) -> float:
    """A ping's ``timespec`` as seconds."""
    return sec + nsec / _NS


# ----------------------------------------------------------------------------------------
# encoding
# ----------------------------------------------------------------------------------------
def encode_data_header(
    node: int,
    seq: int,
    *,
    compress: int = 0,
    bcast: bool = True,
    frag_num: int = 1,
    frag_seq: int = 0,
    channel: int = 0,
) -> bytes:
    """The 14-byte header of a DATA packet (the fragment's data follows it)."""
    return _DATA.pack(
        HEADER_VERSION,
        TYPE_DATA,
        node,
        seq,
        compress,
        1 if bcast else 0,
        frag_num,
        frag_seq,
        channel,
    )


def data_packets(
    node: int,
    seq: int,
    payload: bytes,
    data_mtu: int,
    compress: int = 0,
    bcast: bool = True,
    channel: int = 0,
) -> list[bytes]:
    """One message as DATA packets: ``ceil(len / data_mtu)`` fragments sharing ``seq``,
    numbered 1..n (0 when there is only one), each ``data_mtu`` bytes but the last
    (``threads_tx.c``: the first carries the message's start, the others raw continuation)."""
    count = -(-len(payload) // data_mtu)
    if count <= 1:
        return [
            encode_data_header(node, seq, compress=compress, bcast=bcast, channel=channel) + payload
        ]
    return [
        encode_data_header(
            node,
            seq,
            compress=compress,
            bcast=bcast,
            frag_num=count,
            frag_seq=index + 1,
            channel=channel,
        )
        + payload[index * data_mtu : (index + 1) * data_mtu]
        for index in range(count)
    ]


def encode_ping(node: int, link: int, now: float, seq: int, *, timed: bool = True) -> bytes:
    """A 26-byte PING from ``node`` on its ``link``, time-stamped ``now``."""
    sec, nsec = timespec(now)
    return (
        _PING.pack(HEADER_VERSION, TYPE_PING, node, link)
        + _PING_TIME.pack(sec, nsec)
        + _PING_TAIL.pack(seq, 1 if timed else 0)
    )


def pong_for(ping: bytes | memoryview, node: int) -> bytes:
    """The PONG answering ``ping``: its first 26 bytes with the type and node rewritten
    (``threads_rx.c``, case PING: the pinger needs its time stamp back unchanged)."""
    return bytes((ping[0], TYPE_PONG)) + _NODE.pack(node) + ping[4:PING_SIZE]


def encode_pmtud(node: int, link: int, size: int, length: int) -> bytes:
    """A PMTUD probe of ``length`` bytes (before crypto) announcing on-wire ``size``."""
    head = (
        bytes((HEADER_VERSION, TYPE_PMTUD))
        + _NODE.pack(node)
        + bytes((0, 0, link))
        + _PMTUD_SIZE_FIELD.pack(size)
    )
    return head + bytes(max(0, length - PMTUD_SIZE))


def pmtud_reply(probe: bytes | memoryview, node: int) -> bytes:
    """The 9-byte PMTUD_REPLY to ``probe``: its first 9 bytes, type and node rewritten."""
    return bytes((probe[0], TYPE_PMTUD_REPLY)) + _NODE.pack(node) + probe[4:PMTUD_SIZE]


# ----------------------------------------------------------------------------------------
# decoding
# ----------------------------------------------------------------------------------------
def decode(data: bytes) -> Packet:
    """Any knet packet (clear text) as a dataclass; :class:`KnetWireError` if knet would drop
    it before looking at its payload (too short, another version, an unknown type)."""
    if len(data) < HEADER_SIZE + 1:
        raise KnetWireError("short", f"{len(data)} bytes")
    version, kind, node, _pad1, _pad2 = _HEADER.unpack_from(data)
    if version != HEADER_VERSION:
        raise KnetWireError("bad_version", str(version))
    if kind == TYPE_DATA:
        if len(data) < DATA_HEADER_SIZE:
            raise KnetWireError("short", f"DATA of {len(data)} bytes")
        _v, _t, _n, seq, compress, bcast, frag_num, frag_seq, channel = _DATA.unpack_from(data)
        return DataPacket(
            node,
            seq,
            data[DATA_HEADER_SIZE:],
            compress=compress,
            bcast=bool(bcast),
            frag_num=frag_num,
            frag_seq=frag_seq,
            channel=channel,
        )
    if kind in (TYPE_PING, TYPE_PONG):
        if len(data) < PING_SIZE:
            raise KnetWireError("short", f"{TYPE_NAMES[kind]} of {len(data)} bytes")
        sec, nsec = _PING_TIME.unpack_from(data, 7)
        seq, timed = _PING_TAIL.unpack_from(data, 23)
        return PingPacket(node, data[6], sec, nsec, seq, bool(timed), kind == TYPE_PONG)
    if kind in (TYPE_PMTUD, TYPE_PMTUD_REPLY):
        if len(data) < PMTUD_SIZE:
            raise KnetWireError("short", f"{TYPE_NAMES[kind]} of {len(data)} bytes")
        (size,) = _PMTUD_SIZE_FIELD.unpack_from(data, 7)
        return PmtudPacket(node, data[6], size, len(data), kind == TYPE_PMTUD_REPLY)
    raise KnetWireError("bad_type", f"{kind:#04x}")
