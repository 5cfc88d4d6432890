"""Codec against the captured real session (qnetd-protocol.md section 3) and decoder quirks."""

from __future__ import annotations

import struct

import pytest

from qnetd.protocol import (
    DecodeErrorKind,
    EchoRequest,
    Init,
    InitReply,
    MessageDecodeError,
    MissingOptionError,
    MsgType,
    NodeInfo,
    NodeList,
    NodeListReply,
    NodeListType,
    NodeState,
    Preinit,
    PreinitReply,
    Quorate,
    RingId,
    ServerError,
    SetOption,
    SetOptionReply,
    TieBreaker,
    TieBreakerMode,
    TlsSupported,
    Vote,
    VoteInfo,
    VoteInfoReply,
    decode_message,
    echo_reply_for,
    parse_message,
)
from qnetd.protocol.constants import Heuristics, KeepActivePartitionTieBreaker
from qnetd.protocol.tlv import split_options

from .harness import Harness


def tlv(opt: int, hexval: str) -> bytes:
    value = bytes.fromhex(hexval.replace(" ", ""))
    return struct.pack(">HH", opt, len(value)) + value


def frame(msg_type: int, *tlvs: bytes) -> bytes:
    body = b"".join(tlvs)
    return struct.pack(">HI", msg_type, len(body)) + body


MSGS_0_17 = "".join(f"{i:04x}" for i in range(18))
OPTS_0_23 = "".join(f"{i:04x}" for i in range(24))
RING_1_5 = "00000001 0000000000000005"


def ni(*inner: bytes) -> bytes:
    return tlv(17, b"".join(inner).hex())


# The captured session, client and server side, as TLV lists (ref section 3).
C_PREINIT = frame(0, tlv(0, "00000001"), tlv(1, b"probe".hex()))
S_PREINIT_REPLY = frame(1, tlv(0, "00000001"), tlv(2, "00"), tlv(3, "01"))
C_INIT = frame(
    3,
    tlv(0, "00000002"),
    tlv(4, MSGS_0_17),
    tlv(5, OPTS_0_23),
    tlv(9, "00000001"),
    tlv(11, "0001"),
    tlv(12, "00001f40"),
    tlv(21, "01 00000000"),
    tlv(13, RING_1_5),
)
S_INIT_REPLY = frame(
    4,
    tlv(6, "0000"),
    tlv(4, MSGS_0_17),
    tlv(5, OPTS_0_23),
    tlv(0, "00000002"),
    tlv(7, "00008000"),
    tlv(8, "00008000"),
    tlv(10, "0000 0001 0002 0003"),
)
C_SET_OPTION = frame(6, tlv(0, "00000003"), tlv(23, "01"))
S_SET_OPTION_REPLY = frame(7, tlv(0, "00000003"), tlv(23, "01"))
C_CONFIG = frame(
    10, tlv(0, "00000004"), tlv(18, "00"), ni(tlv(9, "00000001")), ni(tlv(9, "00000002"))
)
C_MEMBERSHIP = frame(
    10, tlv(0, "00000005"), tlv(18, "02"), tlv(13, RING_1_5), ni(tlv(9, "00000001"))
)
C_QUORUM = frame(
    10, tlv(0, "00000006"), tlv(18, "03"), tlv(20, "00"), ni(tlv(9, "00000001"), tlv(16, "01"))
)
S_NLR_4 = frame(11, tlv(0, "00000004"), tlv(18, "00"), tlv(13, RING_1_5), tlv(19, "03"))
S_VOTE_INFO_ACK = frame(14, tlv(0, "00000001"), tlv(19, "01"), tlv(13, RING_1_5))
S_NLR_5 = frame(11, tlv(0, "00000005"), tlv(18, "02"), tlv(13, RING_1_5), tlv(19, "05"))
S_NLR_6 = frame(11, tlv(0, "00000006"), tlv(18, "03"), tlv(13, RING_1_5), tlv(19, "05"))
C_VOTE_INFO_REPLY = frame(15, tlv(0, "00000001"))
C_QUORUM_2 = frame(
    10, tlv(0, "00000007"), tlv(18, "03"), tlv(20, "01"), ni(tlv(9, "00000001"), tlv(16, "01"))
)
S_NLR_7 = frame(11, tlv(0, "00000007"), tlv(18, "03"), tlv(13, RING_1_5), tlv(19, "05"))
C_ECHO_1 = frame(8, tlv(0, "00000001"))
S_ECHO_1 = frame(9, tlv(0, "00000001"))

RING = RingId(1, 5)
LOWEST = TieBreaker(TieBreakerMode.LOWEST)


def test_client_messages_encode_to_captured_bytes() -> None:
    assert Preinit(b"probe", 1).encode() == C_PREINIT
    assert Init(1, 1, 8000, LOWEST, RING, 2).encode() == C_INIT
    assert SetOption(3, None, KeepActivePartitionTieBreaker.ENABLED).encode() == C_SET_OPTION
    assert NodeList(4, NodeListType.INITIAL_CONFIG, (NodeInfo(1), NodeInfo(2))).encode() == C_CONFIG
    assert (
        NodeList(5, NodeListType.MEMBERSHIP, (NodeInfo(1),), ring_id=RING).encode() == C_MEMBERSHIP
    )
    assert (
        NodeList(
            6,
            NodeListType.QUORUM,
            (NodeInfo(1, node_state=NodeState.MEMBER),),
            quorate=Quorate.INQUORATE,
        ).encode()
        == C_QUORUM
    )
    assert VoteInfoReply(1).encode() == C_VOTE_INFO_REPLY
    assert EchoRequest(1).encode() == C_ECHO_1


def test_server_messages_encode_to_captured_bytes() -> None:
    assert PreinitReply(TlsSupported.UNSUPPORTED, True, 1).encode() == S_PREINIT_REPLY
    assert InitReply(0, 32768, 32768, 2).encode() == S_INIT_REPLY
    assert SetOptionReply(3, None, KeepActivePartitionTieBreaker.ENABLED).encode() == (
        S_SET_OPTION_REPLY
    )
    assert NodeListReply(4, NodeListType.INITIAL_CONFIG, RING, Vote.ASK_LATER).encode() == S_NLR_4
    assert VoteInfo(1, Vote.ACK, RING).encode() == S_VOTE_INFO_ACK
    assert echo_reply_for(C_ECHO_1) == S_ECHO_1


def test_captured_bytes_parse_back() -> None:
    assert parse_message(C_INIT) == Init(1, 1, 8000, LOWEST, RING, 2)
    assert parse_message(S_INIT_REPLY) == InitReply(0, 32768, 32768, 2)
    assert parse_message(C_QUORUM) == NodeList(
        6, NodeListType.QUORUM, (NodeInfo(1, 0, NodeState.MEMBER),), quorate=Quorate.INQUORATE
    )
    assert parse_message(S_VOTE_INFO_ACK) == VoteInfo(1, Vote.ACK, RING)


def test_captured_session_through_the_server_core() -> None:
    """Replaying the client side of the capture gives exactly the server side of it."""
    h = Harness.plain()
    assert h.connect(1)

    def replies(data: bytes) -> list[bytes]:
        h.server.receive(1, data, h.now)
        return [o.data for o in h.server.outbox()]  # type: ignore[union-attr]

    assert replies(C_PREINIT) == [S_PREINIT_REPLY]
    assert replies(C_INIT) == [S_INIT_REPLY]
    assert replies(C_SET_OPTION) == [S_SET_OPTION_REPLY]
    # The three lists are sent back to back; the VOTE_INFO produced while processing the
    # membership list is queued before that list's reply.
    assert replies(C_CONFIG + C_MEMBERSHIP + C_QUORUM) == [
        S_NLR_4,
        S_VOTE_INFO_ACK,
        S_NLR_5,
        S_NLR_6,
    ]
    assert replies(C_VOTE_INFO_REPLY) == []
    assert replies(C_QUORUM_2) == [S_NLR_7]
    assert replies(C_ECHO_1) == [S_ECHO_1]


def test_byte_at_a_time_delivery_gives_the_same_replies() -> None:
    h = Harness.plain()
    assert h.connect(1)
    out: list[bytes] = []
    for b in C_PREINIT + C_INIT + C_SET_OPTION + C_CONFIG + C_MEMBERSHIP + C_QUORUM:
        h.server.receive(1, bytes([b]), h.now)
        out += [o.data for o in h.server.outbox()]  # type: ignore[union-attr]
    assert out == [
        S_PREINIT_REPLY,
        S_INIT_REPLY,
        S_SET_OPTION_REPLY,
        S_NLR_4,
        S_VOTE_INFO_ACK,
        S_NLR_5,
        S_NLR_6,
    ]


# ----------------------------------------------------------------------- decoder quirks


def test_zero_option_message_is_a_decode_error() -> None:
    with pytest.raises(MessageDecodeError) as exc:
        decode_message(frame(8))
    assert exc.value.kind == DecodeErrorKind.INCONSISTENT
    assert exc.value.seq_number is None


def test_unknown_options_are_ignored() -> None:
    d = decode_message(frame(8, tlv(0, "00000007"), tlv(200, "deadbeef"), tlv(24, "")))
    assert d.seq_number == 7


@pytest.mark.parametrize("trailing", ["", "00", "0000", "000000"])
def test_trailing_bytes_shorter_than_an_option_header(trailing: str) -> None:
    data = frame(8, tlv(0, "00000007")) + bytes.fromhex(trailing)
    data = struct.pack(">HI", 8, len(data) - 6) + data[6:]
    if trailing:
        with pytest.raises(MessageDecodeError) as exc:
            decode_message(data)
        assert exc.value.kind == DecodeErrorKind.INCONSISTENT
        assert exc.value.seq_number == 7  # decoded before the walk reached the bad bytes
    else:
        assert decode_message(data).seq_number == 7


def test_option_running_past_the_end() -> None:
    body = tlv(0, "00000001") + struct.pack(">HH", 1, 10) + b"abc"
    with pytest.raises(MessageDecodeError) as exc:
        decode_message(struct.pack(">HI", 0, len(body)) + body)
    assert exc.value.kind == DecodeErrorKind.INCONSISTENT


def test_wrong_fixed_length_keeps_the_earlier_sequence_number() -> None:
    with pytest.raises(MessageDecodeError) as exc:
        decode_message(frame(3, tlv(0, "00000009"), tlv(9, "0001")))
    assert exc.value.kind == DecodeErrorKind.INVALID_LENGTH
    assert exc.value.seq_number == 9


@pytest.mark.parametrize(
    ("opt", "value"),
    [
        (2, "03"),  # TLS_SUPPORTED
        (16, "00"),  # NODE_STATE not set
        (16, "04"),
        (18, "04"),  # NODE_LIST_TYPE
        (19, "00"),  # VOTE undefined
        (19, "06"),
        (20, "02"),  # QUORATE
        (21, "00 00000000"),  # TIE_BREAKER mode 0
        (21, "04 00000000"),
        (22, "00"),  # HEURISTICS undefined is expressed by omission
        (22, "03"),
        (23, "02"),  # KAP
    ],
)
def test_enum_values_outside_their_set(opt: int, value: str) -> None:
    with pytest.raises(MessageDecodeError) as exc:
        decode_message(frame(10, tlv(0, "00000001"), tlv(opt, value)))
    assert exc.value.kind == DecodeErrorKind.INVALID_VALUE
    assert exc.value.seq_number == 1


def test_unchecked_values_decode() -> None:
    d = decode_message(frame(3, tlv(11, "0063"), tlv(6, "ffff"), tlv(3, "07")))
    assert d.decision_algorithm == 99
    assert d.reply_error_code == 0xFFFF
    assert d.tls_client_cert_required == 7


def test_node_info_nested_rules() -> None:
    ok = decode_message(
        frame(
            10,
            tlv(0, "00000001"),
            ni(tlv(9, "00000003"), tlv(15, "00000002"), tlv(16, "02"), tlv(99, "ff")),
            ni(tlv(9, "00000004")),
            ni(tlv(9, "00000003")),
        )
    )
    assert ok.nodes == (NodeInfo(3, 2, NodeState.DEAD), NodeInfo(4), NodeInfo(3))
    with pytest.raises(MessageDecodeError) as exc:
        decode_message(frame(10, tlv(0, "00000001"), ni(tlv(15, "00000002"))))
    assert exc.value.kind == DecodeErrorKind.INVALID_VALUE  # no node id
    with pytest.raises(MessageDecodeError) as exc:
        decode_message(frame(10, tlv(0, "00000001"), tlv(17, "")))
    assert exc.value.kind == DecodeErrorKind.INCONSISTENT  # empty nested list


def test_last_occurrence_wins_except_node_info() -> None:
    d = decode_message(frame(10, tlv(0, "00000001"), tlv(0, "00000002"), tlv(18, "02")))
    assert d.seq_number == 2


def test_tie_breaker_node_id_only_in_node_id_mode() -> None:
    d = decode_message(frame(3, tlv(21, "01 00000005")))
    assert d.tie_breaker == TieBreaker(TieBreakerMode.LOWEST, 0)
    assert d.tie_breaker is not None and d.tie_breaker.node_id == 0
    d = decode_message(frame(3, tlv(21, "03 00000005")))
    assert d.tie_breaker == TieBreaker(TieBreakerMode.NODE_ID, 5)
    assert TieBreaker(TieBreakerMode.NODE_ID, 5) != TieBreaker(TieBreakerMode.NODE_ID, 6)
    assert TieBreaker(TieBreakerMode.HIGHEST, 5) == TieBreaker(TieBreakerMode.HIGHEST, 6)


def test_odd_u16_array_is_invalid_length() -> None:
    with pytest.raises(MessageDecodeError) as exc:
        decode_message(frame(3, tlv(4, "000100")))
    assert exc.value.kind == DecodeErrorKind.INVALID_LENGTH


def test_typed_messages_report_missing_options() -> None:
    with pytest.raises(MissingOptionError) as exc:
        parse_message(frame(14, tlv(0, "00000001"), tlv(19, "01")))
    assert exc.value.msg_type == MsgType.VOTE_INFO
    with pytest.raises(MissingOptionError):
        parse_message(frame(16, tlv(0, "00000001")))  # heuristics change without heuristics


def test_split_options_stops_at_end() -> None:
    data = tlv(0, "00000001") + tlv(1, "")
    assert split_options(data, 0, len(data)) == [(0, 4, 4), (1, 12, 0)]


def test_server_error_layout() -> None:
    assert ServerError(9).encode() == frame(5, tlv(6, "0009"))
    assert ServerError(7, 3).encode() == frame(5, tlv(0, "00000003"), tlv(6, "0007"))


def test_heuristics_omitted_when_undefined() -> None:
    nl = NodeList(1, NodeListType.MEMBERSHIP, (NodeInfo(1),), RING, heuristics=Heuristics.UNDEFINED)
    assert nl.encode() == frame(
        10, tlv(0, "00000001"), tlv(18, "02"), tlv(13, RING_1_5), ni(tlv(9, "00000001"))
    )
    assert parse_message(nl.encode()) == nl
    nl2 = NodeList(1, NodeListType.MEMBERSHIP, (NodeInfo(1),), RING, heuristics=Heuristics.PASS)
    assert nl2.encode().endswith(tlv(22, "01"))
