"""tests/pcap.py: the reference captures and synthetic files of every supported link type."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest

from tests.pcap import UdpDatagram, read_udp
from tests.wire.captures import CAPTURES, DECODED_CAPTURES, datagrams, decoded_lines


@pytest.mark.parametrize("name", DECODED_CAPTURES)
def test_reference_capture_matches_its_decode(name: str) -> None:
    grams = datagrams(name)
    lines = decoded_lines(name)
    assert len(grams) == len(lines)
    t0 = grams[0].ts
    for gram, line in zip(grams, lines, strict=True):
        assert f"{gram.ts - t0:.6f}" == line["ts"]
        assert (gram.src, gram.sport, gram.dst, gram.dport) == (
            line["src"],
            int(line["sport"]),
            line["dst"],
            int(line["dport"]),
        )
        assert len(gram.payload) == int(line["size"])


def test_all_captures_are_readable() -> None:
    assert [len(datagrams(name)) for name in CAPTURES] == [861, 873, 314]


def _ipv4_udp(payload: bytes, *, fragment: int = 0, protocol: int = 17) -> bytes:
    udp = struct.pack(">HHHH", 40000, 5405, 8 + len(payload), 0) + payload
    ip = struct.pack(
        ">BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        1,
        fragment,
        64,
        protocol,
        0,
        socket.inet_aton("127.0.0.1"),
        socket.inet_aton("127.0.0.2"),
    )
    return ip + udp


def _pcap(linktype: int, frames: list[bytes], *, order: str = "<", nano: bool = False) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)]
    for index, frame in enumerate(frames):
        out.append(struct.pack(order + "IIII", 100 + index, 500, len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


_ETH = bytes(12)
_SLL1 = bytes(14)
_SLL2_TAIL = bytes(18)


@pytest.mark.parametrize(
    ("linktype", "wrap"),
    [
        (1, lambda ip: _ETH + b"\x08\x00" + ip),
        (1, lambda ip: _ETH + b"\x81\x00\x00\x07\x08\x00" + ip),
        (101, lambda ip: ip),
        (228, lambda ip: ip),
        (113, lambda ip: _SLL1 + b"\x08\x00" + ip),
        (276, lambda ip: b"\x08\x00" + _SLL2_TAIL + ip),
    ],
)
@pytest.mark.parametrize(("order", "nano"), [("<", False), (">", False), ("<", True)])
def test_link_types_and_headers(
    tmp_path: Path, linktype: int, wrap: object, order: str, nano: bool
) -> None:
    assert callable(wrap)
    frames = [
        wrap(_ipv4_udp(b"first")),
        wrap(_ipv4_udp(b"fragment", fragment=0x2000)),  # more-fragments: skipped
        wrap(_ipv4_udp(b"tcp", protocol=6)),  # not UDP: skipped
        wrap(_ipv4_udp(b"second")),
    ]
    path = tmp_path / "x.pcap"
    path.write_bytes(_pcap(linktype, frames, order=order, nano=nano))
    got = list(read_udp(path))
    fraction = 500e-9 if nano else 500e-6
    assert got == [
        UdpDatagram(100 + fraction, "127.0.0.1", 40000, "127.0.0.2", 5405, b"first"),
        UdpDatagram(103 + fraction, "127.0.0.1", 40000, "127.0.0.2", 5405, b"second"),
    ]


def test_rejects_what_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(b"not a pcap file at all..")
    with pytest.raises(ValueError, match="not a pcap"):
        list(read_udp(path))
    path.write_bytes(_pcap(9, [b"\x00" * 30]))
    with pytest.raises(ValueError, match="link type 9"):
        list(read_udp(path))
    path.write_bytes(_pcap(101, [_ipv4_udp(b"abc")])[:-2])
    with pytest.raises(ValueError, match="truncated"):
        list(read_udp(path))
