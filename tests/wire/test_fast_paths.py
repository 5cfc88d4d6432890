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


def test_mcast_position_and_safe_position_read_the_declared_layout() -> None:
    """The simulator's ordering probes agree with the full decoder, through encapsulation."""
    from totem.ringid import RingId
    from totem.wire.constants import ENCAPSULATED, NOT_ENCAPSULATED
    from totem.wire.mcast import mcast_position, new_mcast, safe_position

    old, new = RingId(3, 0x1_0000_0004), RingId(1, 0x1_0000_0008)
    _, agreed = new_mcast(3, NOT_ENCAPSULATED, 17, 5, old, 0, b"agreed")
    _, safe = new_mcast(3, NOT_ENCAPSULATED, 18, 6, old, 1, b"safe")
    _, wrapped = new_mcast(1, ENCAPSULATED, 2, 1, new, 0, safe)
    _, wrapped_agreed = new_mcast(1, ENCAPSULATED, 3, 2, new, 0, agreed)
    assert mcast_position(agreed) == (old, 17)
    assert mcast_position(wrapped, 45) == (old, 18)
    assert safe_position(agreed) is None
    assert safe_position(safe) == (old, 18)
    assert safe_position(wrapped) == (old, 18)
    assert safe_position(wrapped_agreed) is None
    assert safe_position(safe[:44]) is None


def test_decoded_joins_are_shared_and_the_cache_stays_bounded() -> None:
    import importlib

    from totem.wire import MembJoin

    decode_module = importlib.import_module(
        "totem.wire.decode"
    )  # the package's ``decode`` is the function

    def join(n: int) -> bytes:
        message = MembJoin(
            nodeid=1,
            target_nodeid=0,
            system_from=1,
            proc_list=(1, 2, 3),
            failed_list=(),
            ring_seq=n,
        )
        return encode(message)

    old = decode_module._join_cache_max
    try:
        decode_module.set_join_cache_size(4)
        first = decode(join(1))
        assert decode(bytes(join(1))) is first  # equal bytes: the same immutable value
        for n in range(2, 10):
            decoded = decode(join(n))
            assert isinstance(decoded, MembJoin) and decoded.ring_seq == n
        assert len(decode_module._JOIN_CACHE) == 4
        assert decode(join(1)) == first and decode(join(1)) is not first  # evicted, decoded anew
        decode_module.set_join_cache_size(0)
        assert not decode_module._JOIN_CACHE
        assert decode(join(2)) is not decode(join(2))
    finally:
        decode_module.set_join_cache_size(old)
