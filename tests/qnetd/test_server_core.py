"""The sans-IO server driven directly: INIT checks, error codes, TLS gate, timers, disconnects."""

from __future__ import annotations

import struct

import pytest

from qnetd.certnames import PeerCertificate
from qnetd.protocol import (
    AskForVote,
    AskForVoteReply,
    EchoRequest,
    HeuristicsChange,
    HeuristicsChangeReply,
    Init,
    InitReply,
    NodeInfo,
    NodeList,
    NodeListReply,
    NodeListType,
    Preinit,
    PreinitReply,
    ReplyErrorCode,
    RingId,
    ServerError,
    SetOption,
    SetOptionReply,
    StartTls,
    TieBreaker,
    TieBreakerMode,
    TlsSupported,
    Vote,
    VoteInfo,
    VoteInfoReply,
)
from qnetd.protocol.constants import DecisionAlgorithm, Heuristics
from qnetd.server import events
from qnetd.server.events import ClientDisconnected, Close, DisconnectReason
from qnetd.server.instance import QnetdServer
from qnetd.server.settings import AdvancedSettings, ServerConfig

from .harness import LOWEST, Harness

E = ReplyErrorCode
RING = RingId(1, 5)
FFSPLIT = DecisionAlgorithm.FFSPLIT


def err(code: ReplyErrorCode, seq: int | None = None) -> ServerError:
    return ServerError(code, seq)


def tlv(opt: int, value: bytes) -> bytes:
    return struct.pack(">HH", opt, len(value)) + value


def frame(msg_type: int, body: bytes) -> bytes:
    return struct.pack(">HI", msg_type, len(body)) + body


def init_reply(code: ReplyErrorCode, seq: int | None = 2, full: bool = True) -> InitReply:
    if full:
        return InitReply(code, 32768, 32768, seq)
    return InitReply(code, 32768, 32768, seq, None, None)


# ----------------------------------------------------------------------------- INIT


def preinited(h: Harness, conn: int = 1, cluster: bytes = b"c") -> None:
    assert h.connect(conn)
    assert h.send(conn, Preinit(cluster, 1)) == [
        (conn, PreinitReply(TlsSupported.UNSUPPORTED, True, 1))
    ]


def test_init_accepted() -> None:
    h = Harness.plain()
    preinited(h)
    assert h.send(1, Init(1, FFSPLIT, 8000, LOWEST, RING, 2)) == [(1, init_reply(E.NO_ERROR))]
    rec = h.server.client(1)
    assert rec is not None and rec.init_received and rec.heartbeat_interval == 8000
    assert h.server.events()[0] == events.ClientInitialized(1, b"c", 1)


def test_init_reply_lists_only_what_init_listed() -> None:
    h = Harness.plain()
    preinited(h)
    out = h.send(1, Init(1, FFSPLIT, 8000, LOWEST, RING, 2, None, None))
    assert out == [(1, init_reply(E.NO_ERROR, full=False))]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        # no PREINIT: 6 -- but without HEARTBEAT_INTERVAL the interval 0 overwrites it with 13
        (
            tlv(0, b"\0\0\0\2") + tlv(9, b"\0\0\0\1") + tlv(12, (8000).to_bytes(4, "big")),
            E.PREINIT_REQUIRED,
        ),
        (tlv(0, b"\0\0\0\2") + tlv(9, b"\0\0\0\1"), E.INVALID_HEARTBEAT_INTERVAL),
    ],
)
def test_init_without_preinit(body: bytes, code: ReplyErrorCode) -> None:
    h = Harness.plain()
    assert h.connect(1)
    assert h.raw(1, frame(3, body)) == [(1, init_reply(code, full=False))]


def init_body(skip: int | None = None, **override: bytes) -> bytes:
    opts = {
        0: (2).to_bytes(4, "big"),
        9: (1).to_bytes(4, "big"),
        11: (1).to_bytes(2, "big"),
        12: (8000).to_bytes(4, "big"),
        21: b"\x01\0\0\0\0",
        13: struct.pack(">IQ", 1, 5),
    }
    for k, v in override.items():
        opts[int(k[1:])] = v
    return b"".join(tlv(k, v) for k, v in opts.items() if k != skip)


@pytest.mark.parametrize(
    ("skip", "override", "code"),
    [
        (9, {}, E.DOESNT_CONTAIN_REQUIRED_OPTION),
        (13, {}, E.DOESNT_CONTAIN_REQUIRED_OPTION),
        (12, {}, E.DOESNT_CONTAIN_REQUIRED_OPTION),
        (21, {}, E.DOESNT_CONTAIN_REQUIRED_OPTION),
        (11, {}, E.DOESNT_CONTAIN_REQUIRED_OPTION),
        (None, {"o12": (999).to_bytes(4, "big")}, E.INVALID_HEARTBEAT_INTERVAL),
        (None, {"o12": (120001).to_bytes(4, "big")}, E.INVALID_HEARTBEAT_INTERVAL),
        (None, {"o11": (4).to_bytes(2, "big")}, E.UNSUPPORTED_DECISION_ALGORITHM),
        (None, {"o12": (1000).to_bytes(4, "big")}, E.NO_ERROR),
        (None, {"o12": (120000).to_bytes(4, "big")}, E.NO_ERROR),
    ],
)
def test_init_checks(skip: int | None, override: dict[str, bytes], code: ReplyErrorCode) -> None:
    h = Harness.plain()
    preinited(h)
    out = h.raw(1, frame(3, init_body(skip, **override)))
    assert out == [(1, init_reply(code, full=False))]
    rec = h.server.client(1)
    assert rec is not None and rec.init_received == (code == E.NO_ERROR)


def test_init_later_error_overwrites_earlier() -> None:
    # missing node id (7) then an unsupported algorithm (12): 12 wins
    h = Harness.plain()
    preinited(h)
    out = h.raw(1, frame(3, init_body(9, o11=(7).to_bytes(2, "big"))))
    assert out == [(1, init_reply(E.UNSUPPORTED_DECISION_ALGORITHM, full=False))]


def test_cluster_consistency_checks() -> None:
    h = Harness.plain()
    h.join(1, b"c", 1)
    h.drain()
    preinited(h, 2)
    highest = TieBreaker(TieBreakerMode.HIGHEST)
    assert h.send(2, Init(2, FFSPLIT, 8000, highest, RING, 2)) == [
        (2, init_reply(E.TIE_BREAKER_DIFFERS_FROM_OTHER_NODES))
    ]
    assert h.send(2, Init(2, DecisionAlgorithm.LMS, 8000, LOWEST, RING, 3)) == [
        (2, init_reply(E.ALGORITHM_DIFFERS_FROM_OTHER_NODES, 3))
    ]
    assert h.send(2, Init(1, FFSPLIT, 8000, LOWEST, RING, 4)) == [
        (2, init_reply(E.DUPLICATE_NODE_ID, 4))
    ]
    assert h.send(2, Init(2, FFSPLIT, 8000, LOWEST, RING, 5)) == [(2, init_reply(E.NO_ERROR, 5))]
    # the same node id in another cluster is fine
    preinited(h, 3, b"other")
    assert h.send(3, Init(1, FFSPLIT, 8000, highest, RING, 2)) == [(3, init_reply(E.NO_ERROR))]
    # node-id tie-breakers must name the same node
    preinited(h, 4, b"nid")
    assert h.send(4, Init(1, 0, 8000, TieBreaker(TieBreakerMode.NODE_ID, 7), RING, 2))[0][1] == (
        init_reply(E.NO_ERROR)
    )
    preinited(h, 5, b"nid")
    assert h.send(5, Init(2, 0, 8000, TieBreaker(TieBreakerMode.NODE_ID, 8), RING, 2)) == [
        (5, init_reply(E.TIE_BREAKER_DIFFERS_FROM_OTHER_NODES))
    ]


def test_second_init_is_refused_without_changes() -> None:
    h = Harness.plain()
    h.join(1, b"c", 1)
    h.drain()
    assert h.send(1, Init(9, FFSPLIT, 8000, LOWEST, RING, 9)) == [
        (1, init_reply(E.DUPLICATE_NODE_ID, 9))
    ]
    rec = h.server.client(1)
    assert rec is not None and rec.node_id == 1
    assert [c.node_id for c in h.server.clusters.find_by_name(b"c").clients] == [1]  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- framing errors


def test_skipped_and_undecodable_messages_keep_the_connection() -> None:
    h = Harness.plain()
    preinited(h)
    # quirk: an unknown type without body is answered with error code 0
    assert h.raw(1, frame(18, b"")) == [(1, err(E.NO_ERROR))]
    assert h.raw(1, frame(18, b"x")) == [(1, err(E.UNSUPPORTED_MESSAGE))]
    assert h.raw(1, frame(0xFFFF, b"abc")) == [(1, err(E.UNSUPPORTED_MESSAGE))]
    assert h.raw(1, struct.pack(">HI", 8, 40000) + b"\0" * 40000) == [(1, err(E.MESSAGE_TOO_LONG))]
    assert h.raw(1, frame(8, b"")) == [(1, err(E.ERROR_DECODING_MSG))]
    assert h.raw(1, frame(8, tlv(0, b"\0\0\0\7") + tlv(9, b"\0"))) == [
        (1, err(E.ERROR_DECODING_MSG, 7))
    ]
    assert h.send(1, Preinit(b"c", 3)) == [(1, PreinitReply(TlsSupported.UNSUPPORTED, True, 3))]
    c = h.server.counters
    assert (c["skipped_messages"], c["decode_errors"], c["server_errors_sent"]) == (4, 2, 6)
    assert c["messages"] == 4  # two PREINITs and the two undecodable frames


@pytest.mark.parametrize("msg_type", [1, 4, 5, 7, 9, 11, 13, 14, 17], ids=lambda t: f"type{t}")
def test_replies_from_a_client_are_unexpected(msg_type: int) -> None:
    h = Harness.plain()
    assert h.connect(1)
    assert h.raw(1, frame(msg_type, tlv(0, b"\0\0\0\5"))) == [(1, err(E.UNEXPECTED_MESSAGE, 5))]


@pytest.mark.parametrize(
    "msg",
    [
        SetOption(5, 8000),
        EchoRequest(5),
        NodeList(5, NodeListType.INITIAL_CONFIG, (NodeInfo(1),)),
        AskForVote(5),
        VoteInfoReply(5),
        HeuristicsChange(5, Heuristics.PASS),
    ],
    ids=lambda m: type(m).__name__,
)
def test_requests_before_init(msg: object) -> None:
    h = Harness.plain()
    preinited(h)
    assert h.send(1, msg) == [(1, err(E.INIT_REQUIRED, 5))]  # type: ignore[arg-type]


def test_preinit_without_cluster_name() -> None:
    h = Harness.plain()
    assert h.connect(1)
    assert h.raw(1, frame(0, tlv(0, b"\0\0\0\1"))) == [
        (1, err(E.DOESNT_CONTAIN_REQUIRED_OPTION, 1))
    ]
    assert h.raw(1, frame(0, tlv(1, b"x"))) == [
        (1, PreinitReply(TlsSupported.UNSUPPORTED, True, None))
    ]


def test_node_list_required_options() -> None:
    h = Harness.plain()
    h.join(1, b"c", 1)
    h.drain()
    assert h.raw(1, frame(10, tlv(0, b"\0\0\0\x09"))) == [
        (1, err(E.DOESNT_CONTAIN_REQUIRED_OPTION, 9))
    ]
    assert h.raw(1, frame(10, tlv(18, b"\0"))) == [(1, err(E.DOESNT_CONTAIN_REQUIRED_OPTION))]
    assert h.raw(1, frame(10, tlv(0, b"\0\0\0\x0a") + tlv(18, b"\2"))) == [
        (1, err(E.DOESNT_CONTAIN_REQUIRED_OPTION, 10))
    ]
    assert h.raw(1, frame(10, tlv(0, b"\0\0\0\x0b") + tlv(18, b"\3"))) == [
        (1, err(E.DOESNT_CONTAIN_REQUIRED_OPTION, 11))
    ]
    assert h.raw(1, frame(16, tlv(0, b"\0\0\0\x0c"))) == [
        (1, err(E.DOESNT_CONTAIN_REQUIRED_OPTION, 12))
    ]


def test_set_option() -> None:
    h = Harness.plain()
    h.join(1, b"c", 1, kap=None)
    h.drain()
    assert h.send(1, SetOption(3, 999)) == [(1, err(E.INVALID_HEARTBEAT_INTERVAL, 3))]
    assert h.send(1, SetOption(4, 2000)) == [(1, SetOptionReply(4, 2000))]
    rec = h.server.client(1)
    assert rec is not None and rec.heartbeat_interval == 2000
    assert not rec.keep_active_partition_tie_breaker
    # the DPD interval follows: 1.5 x 2000 ms from now
    assert h.server.next_deadline() == pytest.approx(h.now + 3.0)


def test_echo_reply_copies_the_request_bytes() -> None:
    h = Harness.plain()
    h.join(1, b"c", 1)
    h.drain()
    request = frame(8, tlv(0, b"\0\0\0\1") + tlv(200, b"\xde\xad"))
    h.server.receive(1, request, h.now)
    out = h.server.outbox()
    assert out == [events.Send(1, b"\x00\x09" + request[2:])]


def test_ask_for_vote_per_algorithm() -> None:
    h = Harness.plain()
    h.join(1, b"f", 1)
    h.join(2, b"t", 1, algorithm=DecisionAlgorithm.TEST)
    h.join(3, b"2", 1, algorithm=DecisionAlgorithm.TWO_NODE_LMS)
    h.drain()
    assert h.send(1, AskForVote(9)) == [(1, err(E.UNSUPPORTED_DECISION_ALGORITHM_MESSAGE, 9))]
    assert h.send(2, AskForVote(9)) == [(2, AskForVoteReply(9, Vote.ACK, RING))]
    assert h.send(3, AskForVote(9)) == [(3, AskForVoteReply(9, Vote.ASK_LATER, RING))]


def test_heuristics_change_is_stored_after_the_algorithm() -> None:
    h = Harness.plain()
    h.join(1, b"c", 1)
    h.drain()
    assert h.send(1, HeuristicsChange(5, Heuristics.FAIL)) == [
        (1, HeuristicsChangeReply(5, Vote.ASK_LATER, RING, Heuristics.FAIL))
    ]
    rec = h.server.client(1)
    assert rec is not None
    assert rec.last_regular_heuristics == rec.last_heuristics == Heuristics.FAIL
    assert rec.last_sent_vote == Vote.ASK_LATER


def test_algorithm_error_stores_nothing() -> None:
    h = Harness.plain()
    h.join(1, b"c", 1)
    h.drain()
    assert h.config(1, 2, 3) == [(1, err(E.INVALID_CONFIG_NODE_LIST, 4))]
    rec = h.server.client(1)
    assert rec is not None and not rec.configuration_node_list
    assert h.membership(1, RingId(1, 6), 2) == [(1, err(E.INVALID_MEMBERSHIP_NODE_LIST, 5))]
    assert rec.last_ring_id == RING
    assert h.config(1) == [(1, err(E.INVALID_CONFIG_NODE_LIST, 6))]


# ----------------------------------------------------------------------------- TLS gate


def tls_harness(mode: TlsSupported, cert_required: bool = True, available: bool = True) -> Harness:
    return Harness(
        QnetdServer(
            ServerConfig(
                tls_supported=mode, tls_client_cert_required=cert_required, tls_available=available
            )
        )
    )


def test_starttls_hands_over_following_bytes() -> None:
    h = tls_harness(TlsSupported.SUPPORTED)
    assert h.connect(1)
    hello = b"\x16\x03\x01\x00\x05hello"
    out = h.raw(1, Preinit(b"c", 1).encode() + StartTls(2).encode() + hello)
    assert out == [
        (1, PreinitReply(TlsSupported.SUPPORTED, True, 1)),
        (1, events.StartTls(1, hello)),
    ]
    # nothing is parsed until the driver reports the handshake
    assert h.raw(1, Init(1, FFSPLIT, 8000, LOWEST, RING, 3).encode()) == []
    h.server.tls_established(1, PeerCertificate(("c",)), h.now)
    assert h.send(1, Init(1, FFSPLIT, 8000, LOWEST, RING, 3)) == [(1, init_reply(E.NO_ERROR, 3))]
    rec = h.server.client(1)
    assert rec is not None and rec.tls_started and rec.tls_peer_certificate_verified


def test_starttls_needs_preinit() -> None:
    h = tls_harness(TlsSupported.SUPPORTED)
    assert h.connect(1)
    assert h.send(1, StartTls(1)) == [(1, err(E.PREINIT_REQUIRED, 1))]


def test_starttls_without_server_certificate_drops_the_client() -> None:
    h = Harness.plain()
    preinited(h)
    assert h.send(1, StartTls(2)) == [(1, Close(1, DisconnectReason.TLS_UNAVAILABLE))]


def test_tls_required_error_keeps_the_connection() -> None:
    h = tls_harness(TlsSupported.REQUIRED)
    assert h.connect(1)
    h.send(1, Preinit(b"c", 1))
    assert h.send(1, Init(1, FFSPLIT, 8000, LOWEST, RING, 2)) == [(1, err(E.TLS_REQUIRED, 2))]
    assert h.send(1, EchoRequest(3)) == [(1, err(E.TLS_REQUIRED, 3))]
    assert h.server.client(1) is not None


@pytest.mark.parametrize(
    ("cert", "reason"),
    [
        (None, DisconnectReason.NO_CLIENT_CERTIFICATE),
        (PeerCertificate(("other",)), DisconnectReason.CERTIFICATE_NAME_MISMATCH),
        (PeerCertificate(("c",), ("other",)), DisconnectReason.CERTIFICATE_NAME_MISMATCH),
    ],
)
def test_client_certificate_must_name_the_cluster(
    cert: PeerCertificate | None, reason: DisconnectReason
) -> None:
    h = tls_harness(TlsSupported.REQUIRED)
    assert h.connect(1)
    h.send(1, Preinit(b"c", 1), StartTls(2))
    h.server.tls_established(1, cert, h.now)
    assert h.send(1, Init(1, FFSPLIT, 8000, LOWEST, RING, 3)) == [(1, Close(1, reason))]
    assert h.server.client(1) is None


def test_supported_mode_checks_certificates_only_under_tls() -> None:
    h = tls_harness(TlsSupported.SUPPORTED)
    assert h.connect(1)
    h.send(1, Preinit(b"c", 1))
    assert h.send(1, Init(1, FFSPLIT, 8000, LOWEST, RING, 2)) == [(1, init_reply(E.NO_ERROR))]


def test_client_certificate_not_required() -> None:
    h = tls_harness(TlsSupported.REQUIRED, cert_required=False)
    assert h.connect(1)
    assert h.send(1, Preinit(b"c", 1), StartTls(2))[0] == (
        1,
        PreinitReply(TlsSupported.REQUIRED, False, 1),
    )
    h.server.tls_established(1, None, h.now)
    assert h.send(1, Init(1, FFSPLIT, 8000, LOWEST, RING, 3)) == [(1, init_reply(E.NO_ERROR, 3))]


# ----------------------------------------------------------------------------- timers


def test_dead_peer_detection() -> None:
    h = Harness.plain()
    assert h.connect(1)
    assert h.server.next_deadline() == pytest.approx(h.now + 180.0)  # 1.5 x 120 s before INIT
    h.join(2, b"c", 1)
    h.drain()
    assert h.advance(11.9) == []
    h.send(2, EchoRequest(1))  # any complete message re-arms
    assert h.advance(11.9) == []
    # a skipped message does not re-arm
    h.raw(2, frame(99, b""))
    assert h.advance(0.2) == [(2, Close(2, DisconnectReason.DPD_TIMEOUT))]
    assert h.advance(168.0) == [(1, Close(1, DisconnectReason.DPD_TIMEOUT))]
    assert h.server.connections == {}


def test_dpd_disabled_and_coefficient() -> None:
    h = Harness.plain(advanced=AdvancedSettings(dpd_enabled=False))
    h.join(1, b"c", 1)
    assert h.server.next_deadline() is None
    h = Harness.plain(advanced=AdvancedSettings(dpd_interval_coefficient=3.0))
    h.join(1, b"c", 1, heartbeat=1000)
    assert h.server.next_deadline() == pytest.approx(h.now + 3.0)
    # coefficient x heartbeat above the 5 h timer limit is refused like an invalid heartbeat
    h = Harness.plain(advanced=AdvancedSettings(dpd_interval_coefficient=1000.0))
    assert not h.connect(1)  # 1000 x 120 s does not even fit at accept


def test_max_clients() -> None:
    h = Harness.plain(max_clients=2)
    assert h.connect(1) and h.connect(2)
    assert not h.connect(3)
    h.server.connection_lost(1, h.now)
    assert h.connect(4)


# ----------------------------------------------------------------------------- disconnects


def split_two_nodes(h: Harness) -> None:
    for conn in (1, 2):
        h.join(conn, b"c", conn)
        h.config(conn, 1, 2)
        h.membership(conn, RING, 1, 2)
    h.drain()


def test_ffsplit_disconnect_gives_the_vote_to_the_survivor() -> None:
    h = Harness.plain()
    split_two_nodes(h)
    # split: each node sees only itself; node 2 is NACKed first, node 1 ACKed after the reply.
    # Replies carry the ring id stored after processing (the new one).
    assert h.membership(1, RingId(1, 6), 1) == [
        (1, NodeListReply(6, NodeListType.MEMBERSHIP, RingId(1, 6), Vote.WAIT_FOR_REPLY))
    ]
    out = h.membership(2, RingId(2, 6), 2)
    assert out == [
        (2, VoteInfo(2, Vote.NACK, RingId(2, 6))),
        (2, NodeListReply(6, NodeListType.MEMBERSHIP, RingId(2, 6), Vote.NO_CHANGE)),
    ]
    assert h.send(2, VoteInfoReply(2)) == [(1, VoteInfo(3, Vote.ACK, RingId(1, 6)))]
    h.send(1, VoteInfoReply(3))
    # node 1 dies: node 2 alone is a 50:50 partition with an active client -> ACK
    h.server.connection_lost(1, h.now)
    assert h.drain() == [(2, VoteInfo(3, Vote.ACK, RingId(2, 6)))]
    ev = [e for e in h.server.events() if isinstance(e, events.ClientDisconnected)]
    assert ev == [
        events.ClientDisconnected(1, "127.0.0.1:40001", b"c", 1, DisconnectReason.CLIENT_CLOSED)
    ]


def test_shutdown_disconnects_without_redecision() -> None:
    h = Harness.plain()
    split_two_nodes(h)
    h.server.shutdown(h.now)
    assert h.drain() == [
        (1, Close(1, DisconnectReason.SERVER_SHUTDOWN)),
        (2, Close(2, DisconnectReason.SERVER_SHUTDOWN)),
    ]
    assert len(h.server.clusters) == 0
    assert not h.connect(3)


def test_output_to_a_closed_client_is_withdrawn() -> None:
    h = tls_harness(TlsSupported.REQUIRED)
    assert h.connect(1)
    h.server.receive(1, Preinit(b"c", 1).encode(), h.now)
    h.server.disconnect(1, DisconnectReason.SEND_BUFFER_FULL, h.now)
    assert h.server.outbox() == [Close(1, DisconnectReason.SEND_BUFFER_FULL)]


def test_lms_timer_pushes_the_vote() -> None:
    lms = DecisionAlgorithm.LMS
    h = Harness.plain()
    for conn in (1, 2):
        h.join(conn, b"c", conn, algorithm=lms, kap=None)
        h.config(conn, 1, 2)
    h.drain()
    assert h.membership(1, RING, 1, 2)[-1][1].vote == Vote.ACK  # type: ignore[attr-defined]
    assert h.membership(2, RING, 1, 2)[-1][1].vote == Vote.ACK  # type: ignore[attr-defined]
    # split: node 1 reports ring (1,6) {1}; node 2 still stored in the old ring with it
    out = h.membership(1, RingId(1, 6), 1)
    assert out == [
        (1, NodeListReply(5, NodeListType.MEMBERSHIP, RingId(1, 6), Vote.WAIT_FOR_REPLY))
    ]
    assert h.server.next_deadline() == pytest.approx(h.now + 2.0)  # heartbeat / 4
    assert h.advance(2.0) == []  # still waiting: re-armed
    out = h.membership(2, RingId(2, 6), 2)  # node 2 catches up
    assert out == [
        (2, NodeListReply(5, NodeListType.MEMBERSHIP, RingId(2, 6), Vote.WAIT_FOR_REPLY))
    ]
    # timers run with the stored ring ids now (1,6) and (2,6): 2 partitions, equal scores and
    # sizes -> lowest node id: node 1 ACK, node 2 NACK, pushed as VOTE_INFO with their own
    # counters
    out = h.advance(2.0)
    assert sorted(out, key=lambda o: o[0]) == [
        (1, VoteInfo(1, Vote.ACK, RingId(1, 6))),
        (2, VoteInfo(1, Vote.NACK, RingId(2, 6))),
    ]
    assert h.advance(5.0) == []  # decided: no more timers (DPD is 12 s)


def test_reply_longer_than_the_send_limit_drops_the_client() -> None:
    h = Harness.plain(advanced=AdvancedSettings(max_client_send_size=64))
    preinited(h)
    assert h.send(1, Init(1, FFSPLIT, 8000, LOWEST, RING, 2)) == [
        (1, Close(1, DisconnectReason.REPLY_TOO_LONG))
    ]


def test_scheduled_disconnections_are_processed_in_accept_order() -> None:
    h = Harness.plain()
    for conn_id in (7, 3, 5):  # accept order 7, 3, 5
        assert h.connect(conn_id)
    server = h.server
    server.schedule_disconnect(server.connections[5], DisconnectReason.SEND_BUFFER_FULL)
    server.schedule_disconnect(server.connections[7], DisconnectReason.DPD_TIMEOUT)
    server.disconnect(3, DisconnectReason.IO_ERROR, h.now)
    gone = [(e.conn_id, e.reason) for e in server.events() if isinstance(e, ClientDisconnected)]
    assert gone == [
        (7, DisconnectReason.DPD_TIMEOUT),
        (3, DisconnectReason.IO_ERROR),
        (5, DisconnectReason.SEND_BUFFER_FULL),
    ]
    assert server.connections == {}
    assert [o.conn_id for o in server.outbox() if isinstance(o, Close)] == [7, 3, 5]
