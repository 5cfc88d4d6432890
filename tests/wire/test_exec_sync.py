"""Exec header, group framing and sync messages (ref 8, 9, 10): exact bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wire.captures import CAPTURES, datagrams
from tests.wire.strategies import ring_ids
from totem.ringid import RingId
from totem.wire import (
    GROUP_EXEC,
    GROUP_SYNC,
    ExecHeader,
    Mcast,
    SyncBarrier,
    SyncServiceBuild,
    TotempgPacket,
    WireError,
    decode,
    decode_group_message,
    decode_sync,
    encode,
    encode_group_message,
    exec_header,
    exec_id,
    fn_id,
    group,
    group_pieces,
    service_id,
    sync,
)

# ref 8 "Annotated capture": a 95-byte udpu datagram from node 1, one BARRIER for ring 1.5
ANNOTATED = bytes.fromhex(
    "".join(
        (
            "70c0 03 01 02",  # magic, version 3, MCAST, NOT_ENCAPSULATED
            "01000000 00000000",  # nodeid 1, target_nodeid 0
            "01000000 06000000 05000000",  # system_from 1, seq 6, this_seqno 5
            "01000000 0500000000000000",  # ring 1.5
            "00000000 00000000",  # node_id 0, guarantee 0
            "0000 0000 00 00 0100",  # totempg: version, type, fragmented, continuation, 1 message
            "2800",  # its length: 40
            "0100 0400 73796e63",  # 1 group, of 4 bytes: "sync"
            "00000000 00000000 20000000 00000000",  # header: id 0 (BARRIER), size 32
            "01000000 0500000000000000 00000000",  # ring 1.5, pad
        )
    )
)


def test_annotated_barrier_datagram_built_from_values() -> None:
    barrier = SyncBarrier(RingId(1, 5)).encode()
    packet = TotempgPacket(0, 0, (encode_group_message(GROUP_SYNC, barrier),)).encode()
    message = Mcast(1, 0, 2, 1, 6, 5, RingId(1, 5), 0, 0, packet)
    assert encode(message) == ANNOTATED
    assert decode(ANNOTATED) == message
    assert ANNOTATED in {gram.payload for gram in datagrams(CAPTURES[0])}


def test_exec_header() -> None:
    header = ExecHeader(exec_id(5, 0), 32)
    assert header.id == 0x50000 and header.service_id == 5 and header.fn_id == 0
    assert header.encode() == bytes.fromhex("00000500 00000000 20000000 00000000")
    assert (
        ExecHeader.decode(b"\x00\x00\x05\x00\xaa\xbb\xcc\xdd\x20\x00\x00\x00\xee\xee\xee\xee")
        == header
    )
    assert (
        ExecHeader.decode(bytes.fromhex("00050000 00000000 00000020 00000000"), byteswapped=True)
        == header
    )
    assert (service_id(0x20005), fn_id(0x20005)) == (2, 5)
    assert exec_header.FORMAT.build({"id": 0x10002, "size": 16}) == ExecHeader(0x10002, 16).encode()
    with pytest.raises(WireError, match="short"):
        ExecHeader.decode(bytes(15))
    with pytest.raises(ValueError):
        ExecHeader(1 << 31, 16).encode()


def test_group_framing() -> None:
    message = encode_group_message(GROUP_EXEC, b"payload")
    assert message == b"\x01\x00\x01\x00apayload"
    assert decode_group_message(message) == ((b"a",), b"payload")
    assert group_pieces(message) == (b"\x01\x00\x01\x00", b"a", b"payload")
    assert group_pieces(encode_group_message(GROUP_SYNC, b"")) == (
        b"\x01\x00\x04\x00",
        b"sync",
        b"",
    )
    two = b"\x02\x00\x01\x00\x04\x00async" + b"x"
    assert decode_group_message(two) == ((b"a", b"sync"), b"x")
    assert group_pieces(two) == (b"\x02\x00\x01\x00\x04\x00", b"a", b"sync", b"x")
    assert decode_group_message(b"\x00\x01\x00\x04sync!", byteswapped=True) == ((b"sync",), b"!")
    assert decode_group_message(b"\x00\x00") == ((), b"")
    for bad in (b"", b"\x01", b"\x02\x00\x01\x00", b"\x01\x00\x05\x00sync"):
        with pytest.raises(WireError, match="short"):
            decode_group_message(bad)
    with pytest.raises(ValueError):
        encode_group_message(b"", b"x")


@given(st.binary(min_size=1, max_size=20), st.binary(max_size=50))
def test_group_round_trip(group: bytes, payload: bytes) -> None:
    message = encode_group_message(group, payload)
    assert decode_group_message(message) == ((group,), payload)
    assert b"".join(group_pieces(message)) == message


def test_sync_layouts() -> None:
    build = SyncServiceBuild(RingId(1, 5), (0, 2, 3, 5)).encode()
    assert len(build) == 552
    assert build[:40] == bytes.fromhex(
        "01000000 00000000 28020000 00000000"  # id 1 (SERVICE_BUILD), size 552
        " 01000000 0500000000000000 00000000"  # ring 1.5, pad
        " 04000000 00000000"  # 4 entries, pad
    )
    assert build[40:56] == bytes.fromhex("00000000 02000000 03000000 05000000")
    assert build[56:] == bytes(552 - 56)
    assert len(SyncBarrier(RingId(1, 5)).encode()) == 32


@given(ring_ids, st.lists(st.integers(-(2**31), 2**31 - 1), max_size=128).map(tuple))
def test_sync_round_trip_and_construct(ring: RingId, services: tuple[int, ...]) -> None:
    build = SyncServiceBuild(ring, services)
    data = build.encode()
    assert decode_sync(data) == build == SyncServiceBuild.decode(data)
    ring_dict = {"rep": ring.rep, "seq": ring.seq}
    padded = list(services) + [0] * (128 - len(services))
    assert (
        sync.SERVICE_BUILD_FORMAT.build(
            {"ring_id": ring_dict, "services": services, "service_list": padded}
        )
        == data
    )
    parsed = sync.SERVICE_BUILD_FORMAT.parse(data)
    assert parsed.service_list[: parsed.service_list_entries] == list(services)
    barrier = SyncBarrier(ring)
    assert decode_sync(barrier.encode()) == barrier == SyncBarrier.decode(barrier.encode())
    assert sync.BARRIER_FORMAT.build({"ring_id": ring_dict}) == barrier.encode()
    assert sync.BARRIER_FORMAT.parse(barrier.encode()).ring_id.seq == ring.seq


def test_sync_pads_ignored_and_errors() -> None:
    noisy = bytearray(SyncBarrier(RingId(3, 7)).encode())
    noisy[4:8] = noisy[12:16] = noisy[28:32] = b"\xde\xad\xbe\xef"
    noisy[8:12] = b"\x99\x00\x00\x00"  # header size is not checked
    assert decode_sync(bytes(noisy) + b"trailing") == SyncBarrier(RingId(3, 7))
    build = bytearray(SyncServiceBuild(RingId(3, 7), (0, 5)).encode())
    build[48:52] = b"\x07\x00\x00\x00"  # an unused slot
    assert decode_sync(bytes(build)) == SyncServiceBuild(RingId(3, 7), (0, 5))
    with pytest.raises(WireError, match="short"):
        decode_sync(bytes(31))
    with pytest.raises(WireError, match="short"):
        decode_sync(bytes(build[:551]))
    with pytest.raises(WireError, match="bad_type"):
        decode_sync(b"\x02" + bytes(31))
    with pytest.raises(WireError, match="bad_type"):
        SyncBarrier.decode(bytes(build))
    with pytest.raises(WireError, match="bad_type"):
        SyncServiceBuild.decode(SyncBarrier(RingId(3, 7)).encode())
    for count in (129, -1):
        build[32:36] = count.to_bytes(4, "little", signed=True)
        with pytest.raises(WireError, match="bad_count"):
            decode_sync(bytes(build))
    with pytest.raises(ValueError):
        SyncServiceBuild(RingId(1, 1), tuple(range(129))).encode()


@given(st.integers(-(2**31), 2**31 - 1), st.integers(-(2**31), 2**31 - 1))
def test_exec_header_is_its_declaration(message_id: int, size: int) -> None:
    header = ExecHeader(message_id, size)
    data = header.encode()
    assert exec_header.FORMAT.build({"id": message_id, "size": size}) == data
    parsed = exec_header.FORMAT.parse(data)
    assert ExecHeader.decode(data) == header == ExecHeader(parsed.id, parsed.size)


@given(
    st.lists(st.binary(min_size=1, max_size=20), min_size=0, max_size=4),
    st.binary(max_size=50),
)
def test_group_framing_is_its_declaration(groups: list[bytes], payload: bytes) -> None:
    declared = group.FORMAT.build(
        {"lengths": [len(name) for name in groups], "names": groups, "payload": payload}
    )
    assert decode_group_message(declared) == (tuple(groups), payload)
    parsed = group.FORMAT.parse(declared)
    assert (tuple(parsed.names), parsed.payload) == (tuple(groups), payload)
    if len(groups) == 1:
        assert encode_group_message(groups[0], payload) == declared
