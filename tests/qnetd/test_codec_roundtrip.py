"""Round trips of every message type and framing properties (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qnetd.protocol import (
    AskForVote,
    AskForVoteReply,
    EchoReply,
    EchoRequest,
    Frame,
    FrameReader,
    HeuristicsChange,
    HeuristicsChangeReply,
    Init,
    InitReply,
    Message,
    MessageDecodeError,
    NodeInfo,
    NodeList,
    NodeListReply,
    NodeListType,
    NodeState,
    Preinit,
    PreinitReply,
    Quorate,
    ReplyErrorCode,
    RingId,
    ServerError,
    SetOption,
    SetOptionReply,
    SkippedFrame,
    StartTls,
    TieBreaker,
    TieBreakerMode,
    TlsSupported,
    Vote,
    VoteInfo,
    VoteInfoReply,
    decode_message,
    parse_message,
)
from qnetd.protocol.constants import Heuristics, KeepActivePartitionTieBreaker

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)
opt_u32 = st.none() | u32
ring = st.builds(RingId, u32, u64)
tie_breaker = st.one_of(
    st.builds(TieBreaker, st.sampled_from([TieBreakerMode.LOWEST, TieBreakerMode.HIGHEST])),
    st.builds(TieBreaker, st.just(TieBreakerMode.NODE_ID), u32),
)
node_info = st.builds(
    NodeInfo,
    st.integers(1, 0xFFFFFFFF),
    st.sampled_from([0, 1, 7, 0xFFFFFFFF]),
    st.sampled_from(list(NodeState)),
)
nodes = st.lists(node_info, max_size=6).map(tuple)
u16_list = st.none() | st.lists(u16, min_size=1, max_size=30).map(tuple)
vote = st.sampled_from([v for v in Vote if v != Vote.UNDEFINED])
defined_heuristics = st.sampled_from([Heuristics.PASS, Heuristics.FAIL])
kap = st.none() | st.sampled_from(list(KeepActivePartitionTieBreaker))

messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(Preinit, st.binary(min_size=0, max_size=64), opt_u32),
    st.builds(PreinitReply, st.sampled_from(list(TlsSupported)), st.booleans(), opt_u32),
    st.builds(StartTls, u32),
    st.builds(Init, u32, u16, u32, tie_breaker, ring, opt_u32, u16_list, u16_list),
    st.builds(InitReply, u16, u32, u32, opt_u32, u16_list, u16_list, u16_list),
    st.builds(ServerError, u16, opt_u32),
    st.builds(SetOption, u32, st.none() | u32, kap),
    st.builds(SetOptionReply, u32, st.none() | u32, kap),
    st.builds(EchoRequest, u32),
    st.builds(EchoReply, u32),
    st.builds(
        NodeList,
        u32,
        st.sampled_from(list(NodeListType)),
        nodes,
        st.none() | ring,
        st.none() | u64,
        st.none() | st.sampled_from(list(Quorate)),
        st.sampled_from(list(Heuristics)),
    ),
    st.builds(NodeListReply, u32, st.sampled_from(list(NodeListType)), ring, vote),
    st.builds(AskForVote, u32),
    st.builds(AskForVoteReply, u32, vote, ring),
    st.builds(VoteInfo, u32, vote, ring),
    st.builds(VoteInfoReply, u32),
    st.builds(HeuristicsChange, u32, defined_heuristics),
    st.builds(HeuristicsChangeReply, u32, vote, ring, defined_heuristics),
)


@settings(max_examples=300)
@given(messages)
def test_every_message_round_trips(msg: Message) -> None:
    data = msg.encode()
    assert int.from_bytes(data[:2], "big") == msg.TYPE
    assert int.from_bytes(data[2:6], "big") == len(data) - 6
    assert parse_message(data) == msg
    assert parse_message(data).encode() == data


@settings(max_examples=100)
@given(st.lists(messages, min_size=1, max_size=8), st.data())
def test_frame_reader_reassembles_any_split(msgs: list[Message], data: st.DataObject) -> None:
    stream = b"".join(m.encode() for m in msgs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    reader = FrameReader(1 << 20)
    frames: list[Frame | SkippedFrame] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        frames += reader.feed(stream[prev:cut])
        prev = cut
    assert [f.raw for f in frames if isinstance(f, Frame)] == [m.encode() for m in msgs]
    assert reader.buffered == 0 and not reader.in_message


@settings(max_examples=100)
@given(st.binary(max_size=200))
def test_decoder_never_raises_anything_but_decode_errors(body: bytes) -> None:
    raw = b"\x00\x0a" + len(body).to_bytes(4, "big") + body
    try:
        decode_message(raw)
    except MessageDecodeError:
        pass


def test_skipped_messages_are_reported_when_fully_consumed() -> None:
    reader = FrameReader(64)
    big = b"\x00\x08" + (100).to_bytes(4, "big")
    assert reader.feed(big + b"x" * 50) == []
    assert reader.in_message
    out = reader.feed(b"x" * 50 + EchoRequest(3).encode())
    assert out[0] == SkippedFrame(8, 100, ReplyErrorCode.MESSAGE_TOO_LONG)
    assert isinstance(out[1], Frame) and out[1].raw == EchoRequest(3).encode()
    unknown = b"\x00\x12" + (2).to_bytes(4, "big") + b"ab"
    assert reader.feed(unknown) == [SkippedFrame(18, 2, ReplyErrorCode.UNSUPPORTED_MESSAGE)]
    # the limit includes the header: 58 bytes of body fit in 64, 59 do not
    ok = b"\x00\x08" + (58).to_bytes(4, "big") + b"\x00" * 58
    assert isinstance(reader.feed(ok)[0], Frame)
    too_long = b"\x00\x08" + (59).to_bytes(4, "big") + b"\x00" * 59
    assert isinstance(reader.feed(too_long)[0], SkippedFrame)


def test_frame_reader_stops_after_starttls() -> None:
    reader = FrameReader(1024)
    tls_bytes = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
    out = reader.feed(StartTls(2).encode() + tls_bytes, stop_after=2)
    assert len(out) == 1 and isinstance(out[0], Frame)
    assert reader.take_unparsed() == tls_bytes
