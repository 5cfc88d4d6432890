"""Read exec messages out of a Totem pcap (ref totem-wire.md 1, 4.2, 8), for tests.

A classic pcap reader (Ethernet, Linux cooked v1/v2, raw IP) and the totempg
unpacking of ref 8: one copy of each MCAST by (ring, seq), in sequence order
per ring, messages unpacked and fragments joined per sender.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_LINK_OFFSET = {1: 14, 113: 16, 276: 20, 101: 0, 228: 0}


def udp_payloads(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    (linktype,) = struct.unpack_from(endian + "I", data, 20)
    skip = _LINK_OFFSET[linktype]
    offset = 24
    while offset + 16 <= len(data):
        caplen = struct.unpack_from(endian + "I", data, offset + 8)[0]
        packet = data[offset + 16 : offset + 16 + caplen]
        offset += 16 + caplen
        ip = packet[skip:]
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        yield ip[(ip[0] & 15) * 4 + 8 :]


@dataclass(frozen=True)
class TotemMessage:
    sender: int
    ring: tuple[int, int]
    seq: int
    group: bytes
    payload: bytes


def totem_messages(path: Path) -> list[TotemMessage]:
    packets: dict[tuple[int, int, int], bytes] = {}
    rings: list[tuple[int, int]] = []
    for datagram in udp_payloads(path):
        if len(datagram) < 45 or datagram[:2] != b"\x70\xc0" or datagram[3] != 1:
            continue
        seq = struct.unpack_from("<I", datagram, 17)[0]
        ring = struct.unpack_from("<IQ", datagram, 25)
        packets.setdefault((ring[0], ring[1], seq), datagram)
        if ring not in rings:
            rings.append(ring)
    out: list[TotemMessage] = []
    pending: dict[int, bytes] = {}
    for ring in rings:
        for key in sorted(k for k in packets if k[:2] == ring):
            datagram = packets[key]
            if datagram[4] == 1:  # encapsulated: a recovered copy
                continue
            sender = struct.unpack_from("<I", datagram, 5)[0]
            packet = datagram[45:]
            (count,) = struct.unpack_from("<H", packet, 6)
            lengths = struct.unpack_from(f"<{count}H", packet, 8)
            offset = 8 + 2 * count
            for index, length in enumerate(lengths):
                message = packet[offset : offset + length]
                offset += length
                if index == 0 and packet[5]:
                    message = pending.pop(sender, b"") + message
                if index == count - 1 and packet[4]:
                    pending[sender] = message
                    continue
                (ngroups,) = struct.unpack_from("<H", message)
                glens = struct.unpack_from(f"<{ngroups}H", message, 2)
                start = 2 + 2 * ngroups
                group = message[start : start + sum(glens)]
                out.append(TotemMessage(sender, ring, key[2], group, message[start + sum(glens) :]))
    return out
