"""Exact bytes of the seven CPG exec messages (layouts of corosync 3.1.7 ``exec/cpg.c``).

Expected bytes are written out field by field from the C layouts (every member
``aligned(8)``, little-endian), not produced by the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cpg.pcaputil import totem_messages
from tests.fixtures import PCAP
from totem.services.cpg.wire import (
    DOWNLIST_OLD_SIZE,
    DOWNLIST_SIZE,
    JOINLIST_ENTRY_SIZE,
    JOINLIST_HEADER_SIZE,
    MCAST_HEADER_SIZE,
    PARTIAL_MCAST_HEADER_SIZE,
    PROCJOIN_SIZE,
    CpgFn,
    Downlist,
    DownlistOld,
    JoinList,
    JoinListEntry,
    MalformedCpgMessage,
    Mcast,
    PartialMcast,
    PartialType,
    ProcJoin,
    decode,
    exec_message,
)

REF_PCAPS = PCAP
FIXTURE = json.loads((Path(__file__).parent / "data" / "real_cpg_3.1.7.json").read_text())


def u32(value: int) -> bytes:
    return value.to_bytes(4, "little")


def u64(value: int) -> bytes:
    return value.to_bytes(8, "little")


def pad(count: int) -> bytes:
    return bytes(count)


def header(fn: int, size: int) -> bytes:
    """qb_ipc_request_header: i32 id@0, pad, i32 size@8, pad."""
    return u32(2 << 16 | fn) + pad(4) + u32(size) + pad(4)


def name(group: bytes) -> bytes:
    """mar_cpg_name_t: u32 length@0, pad, char value[128]@8."""
    return u32(len(group)) + pad(4) + group + pad(128 - len(group))


def test_sizes_of_the_fixed_layouts() -> None:
    assert PROCJOIN_SIZE == 168
    assert JOINLIST_HEADER_SIZE == 24
    assert JOINLIST_ENTRY_SIZE == 144
    assert MCAST_HEADER_SIZE == 184
    assert PARTIAL_MCAST_HEADER_SIZE == 200
    assert DOWNLIST_OLD_SIZE == 1560
    assert DOWNLIST_SIZE == 1568


def test_procjoin_bytes() -> None:
    message = exec_message(CpgFn.PROCJOIN, ProcJoin(b"crmd", 4660, 1).encode())
    expected = header(0, 168) + name(b"crmd") + u32(4660) + pad(4) + u32(1) + pad(4)
    assert message == expected
    assert len(message) == 168


def test_procleave_bytes() -> None:
    message = exec_message(CpgFn.PROCLEAVE, ProcJoin(b"g", 7, 5).encode())
    assert message == header(1, 168) + name(b"g") + u32(7) + pad(4) + u32(5) + pad(4)


def test_joinlist_bytes() -> None:
    joinlist = JoinList((JoinListEntry(100, b"a"), JoinListEntry(200, b"bb")))
    message = exec_message(CpgFn.JOINLIST, joinlist.encode())
    # qb_ipc_response_header: id@0, size@8, error@16 (the node writes id and size)
    expected = (
        header(2, 24 + 2 * 144)
        + u32(0)
        + pad(4)
        + u32(100)
        + pad(4)
        + name(b"a")
        + u32(200)
        + pad(4)
        + name(b"bb")
    )
    assert message == expected


def test_mcast_bytes() -> None:
    mcast = Mcast(b"grp", pid=99, payload=b"hello", source_nodeid=3, source_conn=0)
    message = exec_message(CpgFn.MCAST, mcast.encode())
    expected = (
        header(3, 184 + 5)
        + name(b"grp")
        + u32(5)  # msglen
        + pad(4)
        + u32(99)  # pid
        + pad(4)
        + u32(3)  # source.nodeid
        + pad(4)
        + u64(0)  # source.conn
        + b"hello"
    )
    assert message == expected


def test_downlist_old_bytes() -> None:
    message = exec_message(CpgFn.DOWNLIST_OLD, DownlistOld((4, 9)).encode())
    assert message == header(4, 1560) + u32(2) + pad(4) + u32(4) + u32(9) + pad(382 * 4)


def test_downlist_bytes() -> None:
    message = exec_message(CpgFn.DOWNLIST, Downlist(3, (2,)).encode())
    expected = header(5, 1568) + u32(3) + pad(4) + u32(1) + pad(4) + u32(2) + pad(383 * 4)
    assert message == expected


def test_partial_mcast_bytes() -> None:
    partial = PartialMcast(b"g", 10, 42, PartialType.CONTINUED, b"abcd", source_nodeid=2)
    message = exec_message(CpgFn.PARTIAL_MCAST, partial.encode())
    expected = (
        header(6, 200 + 4)
        + name(b"g")
        + u32(10)  # msglen
        + pad(4)
        + u32(4)  # fraglen
        + pad(4)
        + u32(42)  # pid
        + pad(4)
        + u32(2)  # type CONTINUED
        + pad(4)
        + u32(2)  # source.nodeid
        + pad(4)
        + u64(0)
        + b"abcd"
    )
    assert message == expected


def captured(ring: str, seq: int) -> bytes:
    item = next(i for i in FIXTURE["stream"] if (i["ring"], i["seq"]) == (ring, seq))
    raw = bytes.fromhex(item["hex"])
    return raw + bytes(item["length"] - len(raw))


def test_downlist_equals_the_captured_one() -> None:
    # node 2's DOWNLIST after node 3 crashed (real corosync 3.1.7, no stale entries)
    real = captured("1.11", 6)
    assert len(real) == 1568
    assert exec_message(CpgFn.DOWNLIST, Downlist(3, (3,)).encode()) == real
    assert decode(CpgFn.DOWNLIST, real[16:]) == Downlist(3, (3,))


def test_captured_procjoin_and_joinlist_equal_ours_except_stack_garbage() -> None:
    real = captured("1.d", 23)  # probe C joins "g"
    pid = FIXTURE["probes"]["C"]["pid"]
    ours = exec_message(CpgFn.PROCJOIN, ProcJoin(b"g", pid, 1).encode())
    garbage = {i for i in range(len(real)) if real[i] != ours[i]}
    assert garbage <= set(range(20, 24))  # the pad after mar_cpg_name_t.length
    real_joinlist = captured("1.11", 7)
    entries = (
        JoinListEntry(FIXTURE["probes"]["B"]["pid"], b"g"),
        JoinListEntry(FIXTURE["probes"]["E"]["pid"], b"h"),
    )
    ours = exec_message(CpgFn.JOINLIST, JoinList(entries).encode())
    garbage = {i for i in range(len(real_joinlist)) if real_joinlist[i] != ours[i]}
    assert garbage <= set(range(36, 40)) | set(range(180, 184))  # name pads of both entries


def test_every_cpg_message_of_the_reference_captures_decodes() -> None:
    seen = []
    for pcap in sorted(REF_PCAPS.glob("*.pcap")):
        for message in totem_messages(pcap):
            if message.group != b"a" or message.payload[2:4] != b"\x02\x00":
                continue
            fn = message.payload[0]
            size = int.from_bytes(message.payload[8:12], "little")
            assert size == len(message.payload) == 1568
            downlist = decode(fn, message.payload[16:])
            assert isinstance(downlist, Downlist)
            seen.append((pcap.name, message.sender, downlist))
    assert len(seen) == 19
    # a real node's static downlist buffer keeps node ids past left_nodes from earlier rounds
    assert ("totem-wire-udpu-2real-1python.pcap", 1, Downlist(2, ())) in seen
    assert ("udpu-3node-join-steady-fail.pcap", 2, Downlist(3, (3,))) in seen


# --- malformed input ---------------------------------------------------------------------------
GOOD = {
    CpgFn.PROCJOIN: ProcJoin(b"g", 1, 1).encode(),
    CpgFn.PROCLEAVE: ProcJoin(b"g", 1, 2).encode(),
    CpgFn.JOINLIST: JoinList((JoinListEntry(1, b"g"),)).encode(),
    CpgFn.MCAST: Mcast(b"g", 1, b"xyz").encode(),
    CpgFn.DOWNLIST_OLD: DownlistOld(()).encode(),
    CpgFn.DOWNLIST: Downlist(0, ()).encode(),
    CpgFn.PARTIAL_MCAST: PartialMcast(b"g", 3, 1, PartialType.FIRST, b"x").encode(),
}


@pytest.mark.parametrize("fn", list(CpgFn))
def test_truncated_and_extended_bodies_are_malformed(fn: CpgFn) -> None:
    body = GOOD[fn]
    assert decode(fn, body) is not None
    with pytest.raises(MalformedCpgMessage):
        decode(fn, body[:-1])
    if fn is not CpgFn.JOINLIST:
        with pytest.raises(MalformedCpgMessage):
            decode(fn, body + b"\0")
    with pytest.raises(MalformedCpgMessage):
        decode(fn, b"")


def test_field_checks() -> None:
    too_long = bytearray(GOOD[CpgFn.PROCJOIN])
    too_long[0] = 129  # mar_cpg_name_t.length
    with pytest.raises(MalformedCpgMessage, match="group name length"):
        decode(CpgFn.PROCJOIN, bytes(too_long))
    bad_left = bytearray(GOOD[CpgFn.DOWNLIST])
    bad_left[8:12] = u32(385)
    with pytest.raises(MalformedCpgMessage, match="left_nodes"):
        decode(CpgFn.DOWNLIST, bytes(bad_left))
    bad_type = bytearray(GOOD[CpgFn.PARTIAL_MCAST])
    bad_type[160:164] = u32(4)
    with pytest.raises(MalformedCpgMessage, match="type"):
        decode(CpgFn.PARTIAL_MCAST, bytes(bad_type))
    short_msg = bytearray(GOOD[CpgFn.PARTIAL_MCAST])
    short_msg[136:140] = u32(0)  # msglen < fraglen
    with pytest.raises(MalformedCpgMessage, match="msglen"):
        decode(CpgFn.PARTIAL_MCAST, bytes(short_msg))
    with pytest.raises(MalformedCpgMessage, match="unknown"):
        decode(7, b"")


def test_pads_are_ignored_on_receive() -> None:
    body = bytearray(GOOD[CpgFn.MCAST])
    for offset in (4, 140, 148, 156):  # pads after length, msglen, pid, source.nodeid
        body[offset : offset + 4] = b"\xde\xad\xbe\xef"
    assert decode(CpgFn.MCAST, bytes(body)) == Mcast(b"g", 1, b"xyz")


def test_encoders_refuse_values_that_do_not_fit() -> None:
    with pytest.raises(ValueError):
        ProcJoin(b"x" * 129, 1, 1).encode()
    with pytest.raises(ValueError):
        ProcJoin(b"g", 1 << 32, 1).encode()
    with pytest.raises(ValueError):
        Downlist(0, tuple(range(385))).encode()


names = st.binary(max_size=128)
u32s = st.integers(0, 2**32 - 1)
messages = st.one_of(
    st.builds(ProcJoin, names, u32s, u32s),
    st.builds(JoinList, st.lists(st.builds(JoinListEntry, u32s, names), max_size=4).map(tuple)),
    st.builds(Mcast, names, u32s, st.binary(max_size=64), u32s, st.integers(0, 2**64 - 1)),
    st.builds(
        lambda g, p, t, f, extra, n: PartialMcast(g, len(f) + extra, p, t, f, n),
        names,
        u32s,
        st.sampled_from(list(PartialType)),
        st.binary(max_size=64),
        st.integers(0, 1000),
        u32s,
    ),
    st.builds(DownlistOld, st.lists(u32s, max_size=384).map(tuple)),
    st.builds(Downlist, u32s, st.lists(u32s, max_size=384).map(tuple)),
)
FN_OF = {
    ProcJoin: CpgFn.PROCJOIN,
    JoinList: CpgFn.JOINLIST,
    Mcast: CpgFn.MCAST,
    PartialMcast: CpgFn.PARTIAL_MCAST,
    DownlistOld: CpgFn.DOWNLIST_OLD,
    Downlist: CpgFn.DOWNLIST,
}


@settings(max_examples=150)
@given(messages)
def test_roundtrip(message: object) -> None:
    body = message.encode()  # type: ignore[attr-defined]
    assert decode(FN_OF[type(message)], body) == message


@settings(max_examples=300)
@given(st.sampled_from(list(CpgFn)), st.binary(max_size=2000))
def test_random_bodies_only_ever_raise_malformed(fn: CpgFn, body: bytes) -> None:
    try:
        decode(fn, body)
    except MalformedCpgMessage:
        pass


@settings(max_examples=200)
@given(st.sampled_from(list(CpgFn)), st.data())
def test_mutated_good_bodies_only_ever_raise_malformed(fn: CpgFn, data: st.DataObject) -> None:
    body = bytearray(GOOD[fn])
    for _ in range(data.draw(st.integers(1, 8))):
        index = data.draw(st.integers(0, len(body) - 1))
        body[index] = data.draw(st.integers(0, 255))
    try:
        decode(fn, bytes(body))
    except MalformedCpgMessage:
        pass
