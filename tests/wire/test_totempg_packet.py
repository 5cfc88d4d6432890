"""The totempg packet codec (ref 8): exact bytes, the exact-length rule."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from totem.wire import TotempgPacket, WireError, totempg_packet

packets = st.builds(
    TotempgPacket,
    st.integers(0, 255),
    st.integers(0, 255),
    st.lists(st.binary(max_size=40), max_size=8).map(tuple),
)


def test_exact_bytes() -> None:
    packet = TotempgPacket(1, 0, (b"abc", b"", b"de"))
    data = bytes.fromhex("0000 0000 01 00 0300 0300 0000 0200") + b"abcde"
    assert packet.encode() == data
    assert TotempgPacket.decode(data) == packet
    swapped = bytes.fromhex("0000 0000 01 00 0003 0003 0000 0002") + b"abcde"
    assert TotempgPacket.decode(swapped, byteswapped=True) == packet


@given(packets)
def test_round_trip_and_construct(packet: TotempgPacket) -> None:
    data = packet.encode()
    assert TotempgPacket.decode(data) == packet
    lengths = [len(m) for m in packet.messages]
    built = totempg_packet.FORMAT.build(
        {
            "fragmented": packet.fragmented,
            "continuation": packet.continuation,
            "lengths": lengths,
            "data": b"".join(packet.messages),
        }
    )
    assert built == data
    parsed = totempg_packet.FORMAT.parse(data)
    assert (parsed.fragmented, parsed.continuation, list(parsed.lengths)) == (
        packet.fragmented,
        packet.continuation,
        lengths,
    )


def test_version_and_type_not_checked() -> None:
    data = struct.pack("<hhBBHH", 7, -1, 0, 0, 1, 1) + b"x"
    assert TotempgPacket.decode(data) == TotempgPacket(0, 0, (b"x",))


def test_length_rules() -> None:
    good = TotempgPacket(0, 0, (b"abc", b"de")).encode()
    for size in range(8):
        with pytest.raises(WireError, match="short"):
            TotempgPacket.decode(good[:size])
    with pytest.raises(WireError, match="short"):
        TotempgPacket.decode(good[:11])  # the length array is cut
    with pytest.raises(WireError, match="bad_length"):
        TotempgPacket.decode(good[:-1])
    with pytest.raises(WireError, match="bad_length"):
        TotempgPacket.decode(good + b"!")
    assert TotempgPacket.decode(bytes(8)) == TotempgPacket(0, 0, ())


def test_encode_range() -> None:
    with pytest.raises(ValueError):
        TotempgPacket(256, 0, ()).encode()
    with pytest.raises(ValueError):
        TotempgPacket(0, 0, (bytes(65536),)).encode()
