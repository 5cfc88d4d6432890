"""A small pure-Python pcap reader for tests: the UDP/IPv4 datagrams of a capture.

Reads the classic pcap format (both byte orders, microsecond or nanosecond
timestamps) with link types Ethernet (1, with 802.1Q tags), raw IP (101, 228,
and 12 as some platforms number it), Linux cooked v1 (113) and v2 (276, what
``tcpdump -i any`` writes on current Linux). IP fragments and non-UDP/IPv4
frames are skipped.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

__all__ = ["UdpDatagram", "read_udp"]

_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_ETHERTYPE_IPV4 = 0x0800
_ETHERTYPE_VLAN = (0x8100, 0x88A8)


class UdpDatagram(NamedTuple):
    ts: float
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes


def _ip_packet(linktype: int, frame: bytes) -> bytes | None:
    """The IPv4 packet inside one link-layer frame, or None."""
    if linktype == 1:  # Ethernet
        offset, (ethertype,) = 14, struct.unpack_from(">H", frame, 12)
        while ethertype in _ETHERTYPE_VLAN:
            (ethertype,) = struct.unpack_from(">H", frame, offset + 2)
            offset += 4
        return frame[offset:] if ethertype == _ETHERTYPE_IPV4 else None
    if linktype in (12, 101, 228):  # raw IP / raw IPv4
        return frame
    if linktype == 113:  # Linux cooked v1: protocol at 14, header 16
        (protocol,) = struct.unpack_from(">H", frame, 14)
        return frame[16:] if protocol == _ETHERTYPE_IPV4 else None
    if linktype == 276:  # Linux cooked v2: protocol at 0, header 20
        (protocol,) = struct.unpack_from(">H", frame, 0)
        return frame[20:] if protocol == _ETHERTYPE_IPV4 else None
    raise ValueError(f"unsupported pcap link type {linktype}")


def read_udp(path: str | Path) -> Iterator[UdpDatagram]:
    """Yield ``(ts, src, sport, dst, dport, payload)`` for every UDP/IPv4 datagram."""
    data = Path(path).read_bytes()
    magic = data[:4]
    if magic not in _MAGICS:
        raise ValueError(f"{path}: not a pcap file (magic {magic.hex()})")
    order, unit = _MAGICS[magic]
    (linktype,) = struct.unpack_from(order + "I", data, 20)
    record = struct.Struct(order + "IIII")
    offset = 24
    while offset + record.size <= len(data):
        seconds, fraction, captured, _original = record.unpack_from(data, offset)
        offset += record.size
        frame = data[offset : offset + captured]
        offset += captured
        if len(frame) < captured:
            raise ValueError(f"{path}: truncated record")
        ip = _ip_packet(linktype, frame)
        if ip is None or len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP:
            continue
        (flags_fragment,) = struct.unpack_from(">H", ip, 6)
        if flags_fragment & 0x3FFF:  # more-fragments flag or a fragment offset
            continue
        header = (ip[0] & 0x0F) * 4
        (total,) = struct.unpack_from(">H", ip, 2)
        sport, dport, udp_length = struct.unpack_from(">HHH", ip, header)
        payload = ip[header + 8 : min(header + udp_length, total)]
        yield UdpDatagram(
            seconds + fraction * unit,
            socket.inet_ntoa(ip[12:16]),
            sport,
            socket.inet_ntoa(ip[16:20]),
            dport,
            bytes(payload),
        )
