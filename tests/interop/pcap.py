"""Read the UDP datagrams of a `Cluster.capture` pcap (``ref/real-corosync.md`` §6).

The capture runs ``tcpdump -i any`` in the bridge namespace, so the link type is LINUX_SLL2
(276): a 20-byte cooked header carrying the interface index, then the IPv4 packet.  Only what
interop tests need is decoded: IPv4/UDP addresses, ports and payload.  Other frames (ARP,
fragments, other link types' records) are skipped and counted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LINKTYPE_LINUX_SLL2", "PcapError", "UdpFrame", "read_udp_frames"]

LINKTYPE_LINUX_SLL2 = 276
_SLL2 = struct.Struct(">HHIHBB8s")
_ETH_P_IP = 0x0800


class PcapError(ValueError):
    """Not a pcap file this reader understands."""


@dataclass(frozen=True, slots=True)
class UdpFrame:
    """One UDP datagram as it entered the bridge."""

    time: float
    ifindex: int
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes


def _ip(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def read_udp_frames(path: Path) -> tuple[list[UdpFrame], int]:
    """All IPv4/UDP datagrams of ``path`` in capture order, and the number of records skipped."""
    data = Path(path).read_bytes()
    if len(data) < 24:
        raise PcapError(f"{path}: too short for a pcap header")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise PcapError(f"{path}: not a pcap file (magic {magic.hex()})")
    nanos = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    if linktype != LINKTYPE_LINUX_SLL2:
        raise PcapError(
            f"{path}: link type {linktype}, expected LINUX_SLL2 ({LINKTYPE_LINUX_SLL2})"
        )
    record = struct.Struct(endian + "IIII")
    frames: list[UdpFrame] = []
    skipped = 0
    off = 24
    while off + record.size <= len(data):
        sec, frac, caplen, _ = record.unpack_from(data, off)
        off += record.size
        pkt = data[off : off + caplen]
        off += caplen
        frame = _decode(pkt, sec + frac / (1e9 if nanos else 1e6))
        if frame is None:
            skipped += 1
        else:
            frames.append(frame)
    return frames, skipped


def _decode(pkt: bytes, when: float) -> UdpFrame | None:
    if len(pkt) < _SLL2.size + 20:
        return None
    proto, _, ifindex, _, _, _, _ = _SLL2.unpack_from(pkt)
    ip = pkt[_SLL2.size :]
    if proto != _ETH_P_IP or ip[0] >> 4 != 4 or ip[9] != 17:
        return None
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack_from(">H", ip, 2)[0]
    flags_frag = struct.unpack_from(">H", ip, 6)[0]
    if flags_frag & 0x3FFF or len(ip) < ihl + 8:  # a fragment, or truncated
        return None
    sport, dport, ulen = struct.unpack_from(">HHH", ip, ihl)
    end = min(ihl + ulen, total, len(ip))
    return UdpFrame(
        time=when,
        ifindex=ifindex,
        src=_ip(ip[12:16]),
        sport=sport,
        dst=_ip(ip[16:20]),
        dport=dport,
        payload=bytes(ip[ihl + 8 : end]),
    )
