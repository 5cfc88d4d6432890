"""Replies a qnetd should not send, and how the client reacts (ref qnetd-protocol.md 5.2-5.3)."""

from __future__ import annotations

import struct

import pytest

from qnetd.protocol import (
    AskForVoteReply,
    HeuristicsChangeReply,
    InitReply,
    NodeList,
    NodeListReply,
    ServerError,
    SetOptionReply,
    StartTls,
    VoteInfo,
)
from qnetd.protocol.constants import (
    DecisionAlgorithm,
    Heuristics,
    KeepActivePartitionTieBreaker,
    NodeListType,
    TlsSupported,
    Vote,
)
from qnetd.protocol.header import encode_message
from qnetd.protocol.tlv import NodeInfo, opt_u8, opt_u32
from votequorum.qdevice.events import (
    ClientState,
    Close,
    Connect,
    Disconnected,
    DisconnectReason,
    Poll,
    Stopped,
)
from votequorum.qdevice.net_client import MAX_FATAL_BACKOFF

from .scripted import RING, Scripted


def disconnected(s: Scripted) -> Disconnected:
    events = [e for e in s.events if isinstance(e, Disconnected)]
    assert events, "no disconnection"
    return events[-1]


def test_preinit_reply_with_another_sequence_number() -> None:
    s = Scripted()
    s.begin()
    out = s.preinit_reply(seq=99)
    assert Close(DisconnectReason.REQUIRED_OPTION_MISSING) in out
    assert s.client.state == ClientState.RECONNECT_DELAY
    # corosync-qdevice would exit; we retry after connect_timeout, doubling
    assert disconnected(s).reconnect_at == pytest.approx(s.now + 8.0)
    assert any("would exit here, retrying in 8 s" in line for line in s.logs())


def test_fatal_reasons_back_off_exponentially_up_to_the_cap() -> None:
    s = Scripted()
    s.begin()
    delays = []
    for _ in range(8):
        s.init_reply(reply_error_code=12)  # in the wrong state: unexpected message
        d = disconnected(s)
        assert d.reason == DisconnectReason.UNEXPECTED_MSG
        assert d.reconnect_at is not None
        delays.append(round(d.reconnect_at - s.now, 3))
        out = s.advance(d.reconnect_at - s.now)
        assert any(isinstance(o, Connect) for o in out)
        s.client.connected(s.now)
        s.drain()
    assert delays == [8.0, 16.0, 32.0, 64.0, 128.0, 256.0, MAX_FATAL_BACKOFF, MAX_FATAL_BACKOFF]


@pytest.mark.parametrize(
    ("code", "reason", "retry"),
    [
        (17, DisconnectReason.SERVER_SENT_DUPLICATE_NODE_ID_ERROR, True),
        (15, DisconnectReason.SERVER_SENT_TIE_BREAKER_DIFFERS_FROM_OTHER_NODES_ERROR, True),
        (16, DisconnectReason.SERVER_SENT_ALGORITHM_DIFFERS_FROM_OTHER_NODES_ERROR, True),
        (12, DisconnectReason.SERVER_SENT_ERROR, False),
        (99, DisconnectReason.SERVER_SENT_ERROR, False),
    ],
)
def test_init_reply_errors(code: int, reason: DisconnectReason, retry: bool) -> None:
    s = Scripted()
    s.begin()
    s.preinit_reply()
    s.init_reply(reply_error_code=code)
    d = disconnected(s)
    assert d.reason == reason
    assert reason.try_reconnect is retry
    assert d.reconnect_at is not None
    delay = d.reconnect_at - s.now
    if retry:  # random 0 .. 0.9 x the cast-vote interval, as corosync-qdevice sleeps
        assert 0 <= delay < 4.5
    else:
        assert delay == pytest.approx(8.0)


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"server_maximum_request_size": 1000}, DisconnectReason.INCOMPATIBLE_MSG_SIZE),
        ({"server_maximum_reply_size": 1 << 25}, DisconnectReason.INCOMPATIBLE_MSG_SIZE),
        (
            {"supported_decision_algorithms": (DecisionAlgorithm.LMS,)},
            DisconnectReason.SERVER_DOESNT_SUPPORT_REQUIRED_ALGORITHM,
        ),
        ({"supported_messages": None}, DisconnectReason.REQUIRED_OPTION_MISSING),
        ({"supported_decision_algorithms": None}, DisconnectReason.REQUIRED_OPTION_MISSING),
        ({"seq_number": 1}, DisconnectReason.REQUIRED_OPTION_MISSING),
    ],
)
def test_init_reply_checks(kw: dict[str, object], reason: DisconnectReason) -> None:
    s = Scripted()
    s.begin()
    s.preinit_reply()
    s.init_reply(**kw)
    assert disconnected(s).reason == reason


def test_init_reply_without_sizes_is_refused() -> None:
    s = Scripted()
    s.begin()
    s.preinit_reply()
    body = opt_u32(0, s.client.last_msg_seq_num) + struct.pack(">HHH", 6, 2, 0)
    s.feed(encode_message(4, body))
    assert disconnected(s).reason == DisconnectReason.REQUIRED_OPTION_MISSING


def test_connected_without_kap_support_sends_no_set_option() -> None:
    s = Scripted()
    s.begin()
    s.preinit_reply()
    s.init_reply(supported_options=tuple(range(23)))
    kinds = [type(m).__name__ for m in s.sent()]
    assert kinds == ["Preinit", "Init", "NodeList", "NodeList", "NodeList"]
    assert s.client.state == ClientState.CONNECTED


def test_kap_disabled_in_config_is_sent_as_disabled() -> None:
    s = Scripted(keep_active_partition_tie_breaker=False)
    s.connect()
    opt = s.sent()[2]
    assert opt.keep_active_partition_tie_breaker == KeepActivePartitionTieBreaker.DISABLED


def test_garbage_is_a_decode_error_and_the_client_reconnects() -> None:
    s = Scripted()
    s.connect()
    # a NODE_LIST_REPLY whose only option overruns the message
    s.feed(struct.pack(">HIHH", 11, 4, 0, 40))
    d = disconnected(s)
    assert d.reason == DisconnectReason.MSG_DECODE_ERROR
    assert d.reconnect_at is not None and d.reconnect_at - s.now < 4.5
    assert s.client.counters["decode_errors"] == 1
    assert s.client.counters["disconnect_msg_decode_error"] == 1
    # ffsplit: the vote is gone on disconnection
    assert s.client.cast_vote.vote == Vote.NACK


def test_zero_length_body_is_a_decode_error() -> None:
    s = Scripted()
    s.connect()
    s.feed(encode_message(9, b""))
    assert disconnected(s).reason == DisconnectReason.MSG_DECODE_ERROR


@pytest.mark.parametrize(
    "message",
    [
        NodeList(1, NodeListType.MEMBERSHIP),
        StartTls(3),
        SetOptionReply(3, None, None),  # accepted: only checks the state
    ],
)
def test_messages_a_server_never_sends(message: object) -> None:
    s = Scripted()
    s.connect()
    s.feed(message.encode())  # type: ignore[attr-defined]
    if isinstance(message, SetOptionReply):
        assert s.client.state == ClientState.CONNECTED
    else:
        assert disconnected(s).reason == DisconnectReason.UNEXPECTED_MSG


def test_vote_before_connected_is_unexpected() -> None:
    s = Scripted()
    s.begin()
    s.feed(VoteInfo(1, Vote.ACK, RING).encode())
    assert disconnected(s).reason == DisconnectReason.UNEXPECTED_MSG


def test_server_error_always_disconnects() -> None:
    s = Scripted()
    s.connect()
    s.feed(ServerError(9, 4).encode())
    assert disconnected(s).reason == DisconnectReason.SERVER_SENT_ERROR
    assert s.client.counters["server_errors"] == 1


@pytest.mark.parametrize(
    "raw",
    [
        encode_message(14, opt_u32(0, 1) + opt_u8(19, 1)),  # VOTE_INFO without ring id
        encode_message(11, opt_u32(0, 4) + opt_u8(19, 1)),  # NODE_LIST_REPLY: no type/ring
        encode_message(17, opt_u32(0, 4) + opt_u8(19, 1)),  # HEURISTICS_CHANGE_REPLY bare
        encode_message(13, opt_u8(19, 1)),  # ASK_FOR_VOTE_REPLY without seq
    ],
)
def test_votes_missing_options(raw: bytes) -> None:
    s = Scripted()
    s.connect()
    s.feed(raw)
    assert disconnected(s).reason == DisconnectReason.REQUIRED_OPTION_MISSING


def test_every_vote_message_drives_the_poll_timer() -> None:
    s = Scripted()
    s.connect()
    s.feed(NodeListReply(4, NodeListType.INITIAL_CONFIG, RING, Vote.ACK).encode())
    assert s.outputs[-1] == Poll(True, RING)
    s.feed(AskForVoteReply(9, Vote.NACK, RING).encode())
    assert s.outputs[-1] == Poll(False, RING)
    s.feed(HeuristicsChangeReply(10, Vote.ACK, RING, Heuristics.PASS).encode())
    assert s.outputs[-1] == Poll(True, RING)
    s.feed(NodeListReply(11, NodeListType.QUORUM, RING, Vote.NO_CHANGE).encode())
    assert s.outputs[-1] == Poll(True, RING)  # nothing new
    assert s.client.cast_vote.casting


def test_split_message_across_reads_and_two_in_one_read() -> None:
    s = Scripted()
    s.begin()
    s.preinit_reply()
    reply = InitReply(0, 32768, 32768, s.client.last_msg_seq_num).encode()
    vote = VoteInfo(1, Vote.ACK, RING).encode()
    s.feed(reply[:5])
    assert s.client.state == ClientState.WAITING_INIT_REPLY
    s.feed(reply[5:] + vote[:3])
    assert s.client.state == ClientState.CONNECTED
    s.feed(vote[3:])
    assert s.outputs[-2:][0] == Poll(True, RING)


def test_tls_required_by_client_against_a_server_without_tls() -> None:
    s = Scripted(tls=TlsSupported.REQUIRED)
    s.begin()
    s.preinit_reply(TlsSupported.UNSUPPORTED)
    assert disconnected(s).reason == DisconnectReason.INCOMPATIBLE_TLS


def test_stop_closes_and_never_reconnects() -> None:
    s = Scripted()
    s.connect()
    s.client.stop(s.now)
    out = s.drain()
    assert Close(DisconnectReason.LOCAL_SOCKET_CLOSED) in out
    assert Stopped(DisconnectReason.LOCAL_SOCKET_CLOSED) in s.events
    assert s.client.state == ClientState.STOPPED
    # the last poll took the vote away (ffsplit NACK); then nothing more happens
    assert Poll(False, RING) in out
    assert s.client.next_deadline() is None
    assert s.advance(60) == []


def test_poll_refused_by_votequorum_stops_the_client() -> None:
    s = Scripted()
    s.connect()
    s.client.poll_failed(s.now, "CS_ERR_NOT_EXIST")
    s.drain()
    assert Stopped(DisconnectReason.CANT_SCHEDULE_VOTING_TIMER) in s.events
    assert s.client.state == ClientState.STOPPED


def test_connect_timeout_covers_the_whole_handshake() -> None:
    s = Scripted()
    s.begin()
    s.preinit_reply()
    s.advance(7.9)
    assert s.client.state == ClientState.WAITING_INIT_REPLY
    s.advance(0.2)
    d = disconnected(s)
    assert d.reason == DisconnectReason.CANT_CONNECT_TO_THE_SERVER
    # got past TCP connect: random sleep before the next attempt
    assert d.reconnect_at is not None and 0 <= d.reconnect_at - s.now < 4.5


def test_refused_connection_retries_at_each_connect_timeout() -> None:
    s = Scripted()
    s.client.node_list_notify(RING, (1,), s.now)
    s.client.start(s.now)
    out = s.drain()
    for _ in range(3):
        assert any(isinstance(o, Connect) for o in out)
        s.client.connect_failed(s.now)
        s.drain()
        assert s.client.connect_failed_flag
        out = s.advance(8.0)
    assert [type(o).__name__ for o in s.outputs].count("Connect") == 4
    assert s.client.counters["connect_failures"] == 3


def test_config_reload_sends_a_changed_config_list() -> None:
    s = Scripted()
    s.connect()
    nodes = (NodeInfo(1), NodeInfo(2), NodeInfo(3, 4))
    s.client.config_node_list_changed(nodes, 7, s.now)
    s.drain()
    last = s.sent()[-1]
    assert last == NodeList(last.seq_number, NodeListType.CHANGED_CONFIG, nodes, config_version=7)
    assert s.client.config_nodes == nodes


def test_changes_while_disconnected_take_an_ack_away() -> None:
    s = Scripted()
    s.connect()
    s.feed(VoteInfo(1, Vote.ACK, RING).encode())
    assert s.outputs[-2] == Poll(True, RING)  # then the VOTE_INFO_REPLY
    s.client.send_failed(s.now)  # ffsplit NACKs on disconnection
    s.drain()
    assert s.client.cast_vote.vote == Vote.NACK
    s2 = Scripted(algorithm=DecisionAlgorithm.TWO_NODE_LMS)
    s2.connect()
    s2.feed(VoteInfo(1, Vote.ACK, RING).encode())
    s2.client.connection_lost(s2.now)
    s2.drain()
    assert s2.client.cast_vote.vote == Vote.ACK  # 2nodelms keeps its vote on disconnection...
    s2.client.quorum_notify(True, [], s2.now)  # ...until anything changes while disconnected
    s2.drain()
    assert s2.client.cast_vote.vote == Vote.NACK
    assert s2.outputs[-1] == Poll(False, RING)


def test_ffsplit_vote_count_checks_disconnect() -> None:
    s = Scripted()
    s.connect()
    s.client.expected_votes_notify(4, s.now, "50:50 split algorithm works only if ...")
    s.drain()
    assert s.client.disconnect_reason == (
        DisconnectReason.ALGO_VOTEQUORUM_EXPECTED_VOTES_NOTIFY_ERR
    )
    s2 = Scripted(algorithm=DecisionAlgorithm.LMS)
    s2.connect()
    s2.client.expected_votes_notify(4, s2.now, "ignored by lms")
    s2.drain()
    assert s2.client.state == ClientState.CONNECTED
