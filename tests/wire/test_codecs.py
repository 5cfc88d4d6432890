"""Round trips of every Totem message: struct fast path == construct declaration,
in both directions; peers of the other byte order; encapsulated MCAST."""

from __future__ import annotations

import struct
from dataclasses import replace

from hypothesis import given, settings

from tests.wire.strategies import mcasts, messages
from totem.ringid import RingId
from totem.wire import (
    ENCAPSULATED,
    CommitToken,
    Mcast,
    MembEntry,
    MembJoin,
    MergeDetect,
    Message,
    MessageType,
    OrfToken,
    RtrItem,
    TokenHoldCancel,
    WireError,
    decode,
    encode,
    message_type,
    peek_type,
)
from totem.wire.decode import decode_construct, encode_construct


@given(messages)
@settings(max_examples=300)
def test_round_trip_and_construct_agree(message: Message) -> None:
    data = encode(message)
    assert decode(data) == message
    assert encode_construct(message) == data
    assert decode_construct(data) == message
    assert peek_type(data) == message_type(message)
    assert data[:3] == b"\x70\xc0\x03"


def _hex(*fields: str) -> bytes:
    return bytes.fromhex("".join(fields))


def _swap32(value: int) -> int:
    return int.from_bytes(value.to_bytes(4, "big"), "little")


def _swap64(value: int) -> int:
    return int.from_bytes(value.to_bytes(8, "big"), "little")


def _big_endian(message: Message) -> bytes:
    """What a big-endian corosync would send (independent of the codec)."""

    def header(kind: MessageType, encapsulated: int = 0) -> bytes:
        return struct.pack(
            ">HBBBII", 0xC070, 3, kind, encapsulated, message.nodeid, message.target_nodeid
        )

    match message:
        case OrfToken():
            return (
                header(MessageType.ORF_TOKEN)
                + struct.pack(
                    ">IIIIIQIIii",
                    message.seq,
                    message.token_seq,
                    message.aru,
                    message.aru_addr,
                    message.ring_id.rep,
                    message.ring_id.seq,
                    message.backlog,
                    message.fcc,
                    message.retrans_flg,
                    len(message.rtr),
                )
                + b"".join(
                    struct.pack(">IQI", r.ring_id.rep, r.ring_id.seq, r.seq) for r in message.rtr
                )
            )
        case Mcast():
            return (
                header(MessageType.MCAST, message.encapsulated)
                + struct.pack(
                    ">IIiIQIi",
                    message.system_from,
                    message.seq,
                    message.this_seqno,
                    message.ring_id.rep,
                    message.ring_id.seq,
                    message.node_id,
                    message.guarantee,
                )
                + message.payload
            )
        case MergeDetect():
            return header(MessageType.MEMB_MERGE_DETECT) + struct.pack(
                ">IIQ", message.system_from, message.ring_id.rep, message.ring_id.seq
            )
        case MembJoin():
            nodes = message.proc_list + message.failed_list
            return header(MessageType.MEMB_JOIN) + struct.pack(
                f">IIIQ{len(nodes)}I",
                message.system_from,
                len(message.proc_list),
                len(message.failed_list),
                message.ring_seq,
                *nodes,
            )
        case CommitToken():
            return (
                header(MessageType.MEMB_COMMIT_TOKEN)
                + struct.pack(
                    f">IIQIii{len(message.addr)}I",
                    message.token_seq,
                    message.ring_id.rep,
                    message.ring_id.seq,
                    message.retrans_flg,
                    message.memb_index,
                    len(message.addr),
                    *message.addr,
                )
                + b"".join(
                    struct.pack(
                        ">IQIII",
                        e.ring_id.rep,
                        e.ring_id.seq,
                        e.aru,
                        e.high_delivered,
                        e.received_flg,
                    )
                    for e in message.memb_list
                )
            )
        case TokenHoldCancel():
            return header(MessageType.TOKEN_HOLD_CANCEL) + struct.pack(
                ">IQ", message.ring_id.rep, message.ring_id.seq
            )
    raise AssertionError(message)


def _as_corosync_reads_it(message: Message) -> Message:
    """A swapped peer's message as corosync converts it: everything, except the
    member entries of a commit token not filled in yet (rep 0), which stay raw."""
    if isinstance(message, Mcast):
        return replace(message, byteswapped=True)
    if isinstance(message, CommitToken):
        copy = message.copy()
        copy.memb_list = [
            e
            if e.ring_id.rep
            else MembEntry(
                RingId(0, _swap64(e.ring_id.seq)),
                _swap32(e.aru),
                _swap32(e.high_delivered),
                _swap32(e.received_flg),
            )
            for e in message.memb_list
        ]
        return copy
    return message


@given(messages)
@settings(max_examples=300)
def test_byteswapped_peer_is_decoded(message: Message) -> None:
    data = _big_endian(message)
    assert data[:2] == b"\xc0\x70"
    assert decode(data) == _as_corosync_reads_it(message)


def test_unfilled_commit_entry_of_swapped_peer_stays_raw() -> None:
    filled = MembEntry(RingId(1, 5), 7, 8, 1)
    unfilled = MembEntry(RingId(0, 0), 1, 0, 0)  # rep 0: corosync does not convert it
    token = CommitToken(2, 0, 1, RingId(1, 9), 0, 1, [1, 2], [filled, unfilled])
    decoded = decode(_big_endian(token))
    assert isinstance(decoded, CommitToken)
    assert decoded.memb_list == [filled, MembEntry(RingId(0, 0), 0x01000000, 0, 0)]


@given(mcasts, mcasts)
def test_encapsulated_mcast_carries_the_original(inner: Mcast, outer: Mcast) -> None:
    wrapped = Mcast(
        outer.nodeid,
        outer.target_nodeid,
        ENCAPSULATED,
        outer.system_from,
        outer.seq,
        outer.this_seqno,
        outer.ring_id,
        outer.node_id,
        outer.guarantee,
        encode(inner),
    )
    decoded = decode(encode(wrapped))
    assert isinstance(decoded, Mcast)
    assert decoded.inner() == inner
    # an original from a swapped peer inside our (little-endian) re-send
    swapped = replace(wrapped, payload=_big_endian(inner))
    assert swapped.inner() == _as_corosync_reads_it(inner)


def test_encapsulated_body_must_be_an_mcast() -> None:
    token = TokenHoldCancel(1, 0, RingId(1, 5))
    wrapped = Mcast(1, 0, ENCAPSULATED, 1, 1, 0, RingId(1, 9), 0, 0, encode(token))
    try:
        wrapped.inner()
    except WireError as exc:
        assert exc.reason == "not_mcast"
    else:
        raise AssertionError("accepted")
    short = Mcast(1, 0, ENCAPSULATED, 1, 1, 0, RingId(1, 9), 0, 0, b"\x70\xc0\x03\x01")
    try:
        short.inner()
    except WireError as exc:
        assert exc.reason == "short"
    else:
        raise AssertionError("accepted")


def test_known_bytes() -> None:
    """ref 4.3 example join and the initial ORF token of ref 4.1 (seen on the wire)."""
    join = _hex(
        "70c0 03 03 00 01000000 00000000",  # header: MEMB_JOIN from node 1
        "01000000 02000000 00000000",  # system_from 1, 2 proc, 0 failed
        "0500000000000000",  # ring_seq 5
        "01000000 02000000",  # proc [1, 2]
    )
    assert decode(join) == MembJoin(1, 0, 1, (1, 2), (), 5)
    assert encode(MembJoin(1, 0, 1, (1, 2), (), 5)) == join
    leave = MembJoin(0, 0, 2, (1,), (2,), 9)
    assert leave.is_leave and not decode(join).is_leave  # type: ignore[union-attr]
    initial = OrfToken(1, 0, 0, 0, 0xFFFFFFFF, 1, RingId(1, 9), 0, 0, 0, [])
    assert encode(initial) == _hex(
        "70c0 03 00 00",  # magic, version, type ORF_TOKEN, encapsulated
        "01000000 00000000",  # nodeid 1, target_nodeid 0
        "00000000 00000000",  # seq 0, token_seq 0
        "ffffffff 01000000",  # aru 0xffffffff, aru_addr 1
        "01000000 0900000000000000",  # ring 1.9
        "00000000 00000000",  # backlog, fcc
        "00000000 00000000",  # retrans_flg, rtr_list_entries
    )


def test_token_copy_is_independent() -> None:
    token = OrfToken(1, 0, 4, 9, 4, 0, RingId(1, 9), 0, 0, 0, [RtrItem(RingId(1, 9), 3)])
    copy = token.copy()
    copy.rtr.append(RtrItem(RingId(1, 9), 4))
    copy.token_seq += 1
    assert len(token.rtr) == 1 and token.token_seq == 9
    commit = CommitToken(
        1, 0, 1, RingId(1, 9), 0, 0, [1, 2], [MembEntry(RingId(0, 0), 0, 0, 0)] * 2
    )
    other = commit.copy()
    other.addr.append(3)
    assert commit.addr == [1, 2]


def test_encode_rejects_what_cannot_be_sent() -> None:
    ring = RingId(1, 9)
    bad: list[Message] = [
        OrfToken(1, 0, 0, 0, 0, 0, ring, 0, 0, 0, [RtrItem(ring, 1)] * 31),
        OrfToken(1 << 32, 0, 0, 0, 0, 0, ring, 0, 0, 0, []),
        Mcast(1, 0, 256, 1, 1, 0, ring, 0, 0, b""),
        MembJoin(1, 0, 1, tuple(range(385)), (), 1),
        MembJoin(1, 0, 1, (-1,), (), 1),
        MergeDetect(1, 0, 1, RingId(1, 1 << 64)),
        CommitToken(1, 0, 1, ring, 0, 0, [1, 2], []),
        CommitToken(1, 0, 1, ring, 0, 0, list(range(385)), [MembEntry(ring, 0, 0, 0)] * 385),
        CommitToken(1, 0, -1, ring, 0, 0, [], []),
        TokenHoldCancel(-1, 0, ring),
    ]
    for message in bad:
        try:
            encode(message)
        except ValueError:
            continue
        raise AssertionError(f"encoded {message!r}")
