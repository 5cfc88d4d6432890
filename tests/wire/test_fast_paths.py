"""The hot-path constructors equal the plain ones: same values, same bytes."""

from __future__ import annotations

import pytest

from totem.ringid import RingId
from totem.wire import Mcast, decode, encode
from totem.wire.mcast import new_mcast
from totem.wire.totempg_packet import TotempgPacket, decode_fields


@pytest.mark.parametrize("encapsulated", [1, 2])
def test_new_mcast_is_mcast_and_its_encoding(encapsulated: int) -> None:
    ring = RingId(3, 0x1C)
    message, data = new_mcast(7, encapsulated, 0x1234, 99, ring, 1, b"\x00\x01payload")
    expected = Mcast(
        nodeid=7,
        target_nodeid=0,
        encapsulated=encapsulated,
        system_from=7,
        seq=0x1234,
        this_seqno=99,
        ring_id=ring,
        node_id=0,
        guarantee=1,
        payload=b"\x00\x01payload",
    )
    assert message == expected
    assert data == encode(expected)
    assert decode(data) == expected


def test_new_mcast_refuses_values_out_of_range() -> None:
    with pytest.raises(ValueError):
        new_mcast(7, 2, 1 << 32, 0, RingId(1, 4), 0, b"")


def test_decode_fields_matches_the_packet_decoder() -> None:
    packet = TotempgPacket(3, 2, (b"abc", b"", b"defg")).encode()
    assert decode_fields(packet) == (3, 2, [b"abc", b"", b"defg"])
    parsed = TotempgPacket.decode(packet)
    assert (parsed.fragmented, parsed.continuation, list(parsed.messages)) == decode_fields(packet)
