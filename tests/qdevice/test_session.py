"""Full sessions of the sans-IO qdevice-net client against the in-process QnetdServer."""

from __future__ import annotations

import struct

from qnetd.protocol import (
    EchoReply,
    EchoRequest,
    Init,
    NodeList,
    NodeListReply,
    Preinit,
    SetOption,
    VoteInfo,
    VoteInfoReply,
)
from qnetd.protocol.constants import (
    DecisionAlgorithm,
    KeepActivePartitionTieBreaker,
    MsgType,
    NodeListType,
    Quorate,
    TieBreakerMode,
    Vote,
)
from qnetd.protocol.tlv import NodeInfo, RingId, TieBreaker
from votequorum.qdevice.events import (
    ClientState,
    Close,
    Connect,
    Disconnected,
    DisconnectReason,
    Poll,
    Send,
    StateChanged,
)
from votequorum.qdevice.requests import QuorumNode

from .world import CLUSTER, World

RING = RingId(1, 5)


def tlv(opt: int, value: bytes) -> bytes:
    return struct.pack(">HH", opt, len(value)) + value


def u8(opt: int, v: int) -> bytes:
    return tlv(opt, bytes([v]))


def u32(opt: int, v: int) -> bytes:
    return tlv(opt, struct.pack(">I", v))


def frame(msg_type: int, *options: bytes) -> bytes:
    body = b"".join(options)
    return struct.pack(">HI", msg_type, len(body)) + body


def test_first_session_bytes_match_the_captured_real_client() -> None:
    """ref qnetd-protocol.md section 3: node 1 of a 2-node nodelist, alone in ring (1, 5)."""
    world = World()
    world.add(1)
    world.start(1, RING, (1,))
    world.run_for(0.1)
    sent = [o.data for o in world.nodes[1].outputs if isinstance(o, Send)]
    all_msgs = struct.pack(">18H", *range(18))
    all_opts = struct.pack(">24H", *range(24))
    assert sent[:6] == [
        frame(0, u32(0, 1), tlv(1, CLUSTER.encode())),
        frame(
            3,
            u32(0, 2),
            tlv(4, all_msgs),
            tlv(5, all_opts),
            u32(9, 1),
            tlv(11, b"\x00\x01"),
            u32(12, 8000),
            tlv(21, b"\x01\x00\x00\x00\x00"),
            tlv(13, struct.pack(">IQ", 1, 5)),
        ),
        frame(6, u32(0, 3), u8(23, 1)),
        frame(10, u32(0, 4), u8(18, 0), tlv(17, u32(9, 1)), tlv(17, u32(9, 2))),
        frame(10, u32(0, 5), u8(18, 2), tlv(13, struct.pack(">IQ", 1, 5)), tlv(17, u32(9, 1))),
        frame(10, u32(0, 6), u8(18, 3), u8(20, 0), tlv(17, u32(9, 1) + u8(16, 1))),
    ]
    node = world.nodes[1]
    # ffsplit: 1 of 2 with the lowest node id -> VOTE_INFO ACK, answered, polled with cast vote
    assert node.client.state == ClientState.CONNECTED
    assert node.polls == [Poll(True, RING)]
    assert VoteInfoReply(1) in node.sent
    assert node.client.cast_vote.casting


def test_messages_and_state_changes_of_a_session() -> None:
    world = World()
    world.add(1)
    world.start(1, RING, (1,))
    world.run_for(0.1)
    node = world.nodes[1]
    assert node.sent[:7] == [
        Preinit(CLUSTER.encode(), 1),
        Init(1, DecisionAlgorithm.FFSPLIT, 8000, TieBreaker(TieBreakerMode.LOWEST), RING, 2),
        SetOption(3, None, KeepActivePartitionTieBreaker.ENABLED),
        NodeList(4, NodeListType.INITIAL_CONFIG, (NodeInfo(1), NodeInfo(2))),
        NodeList(5, NodeListType.MEMBERSHIP, (NodeInfo(1),), ring_id=RING),
        NodeList(6, NodeListType.QUORUM, (NodeInfo(1, node_state=1),), quorate=Quorate.INQUORATE),
        VoteInfoReply(1),
    ]
    states = [e.state for e in node.events if isinstance(e, StateChanged)]
    assert states == [
        ClientState.WAITING_CONNECT,
        ClientState.WAITING_PREINIT_REPLY,
        ClientState.WAITING_INIT_REPLY,
        ClientState.CONNECTED,
    ]
    assert [o for o in node.outputs if isinstance(o, Connect)] == [Connect("qnetd.example", 5403)]


def test_no_connection_before_registration_and_first_ring() -> None:
    world = World()
    node = world.add(1)
    node.client.start(world.now)
    world.pump(1)
    assert node.outputs == [] and node.client.state == ClientState.STOPPED
    node.client.node_list_notify(RING, (1,), world.now)
    world.pump(1)
    assert isinstance(node.outputs[0], Connect)


def test_two_nodes_both_get_ack_and_quorum_list_follows_quorum() -> None:
    world = World()
    world.add(1)
    world.add(2)
    ring = RingId(1, 8)
    world.start(1, ring, (1, 2))
    world.start(2, ring, (1, 2))
    world.run_for(0.5)
    for n in (1, 2):
        node = world.nodes[n]
        assert node.polls[-1] == Poll(True, ring), n
    # votequorum became quorate: a QUORUM node list goes out with QUORATE
    client = world.nodes[1].client
    client.quorum_notify(True, [QuorumNode(1, 1), QuorumNode(2, 1), QuorumNode(0, 1)], world.now)
    world.pump(1)
    last = world.nodes[1].sent[-1]
    assert last == NodeList(
        last.seq_number,
        NodeListType.QUORUM,
        (NodeInfo(1, node_state=1), NodeInfo(2, node_state=1)),
        quorate=Quorate.QUORATE,
    )
    world.run_for(0.1)
    assert world.nodes[1].received == [] or True
    assert world.nodes[1].client.cast_vote.vote == Vote.ACK


def test_heartbeats_every_interval_with_their_own_counter() -> None:
    world = World()
    world.add(1)
    world.start(1, RING, (1,))
    world.run_for(0.1)
    t0 = world.now
    world.run_for(8.0 * 3 + 0.5)
    echoes = [m for m in world.nodes[1].sent if isinstance(m, EchoRequest)]
    assert echoes == [EchoRequest(1), EchoRequest(2), EchoRequest(3)]
    assert world.nodes[1].client.state == ClientState.CONNECTED
    assert world.nodes[1].client.last_echo_reply_at is not None
    assert world.nodes[1].client.last_echo_reply_at > t0 + 23.8


def test_a_silent_server_is_dropped_after_two_heartbeats_and_the_vote_lost() -> None:
    world = World()
    node = world.add(1)
    world.start(1, RING, (1,))
    world.run_for(0.1)
    connected_at = world.now
    world.silent = True
    world.run_until(lambda: node.client.state != ClientState.CONNECTED, timeout=30)
    # echo 1 at +8 s unanswered, noticed at +16 s
    assert 15.9 < world.now - connected_at < 16.2
    assert node.client.disconnect_reason == DisconnectReason.ALGO_ECHO_REPLY_NOT_RECEIVED_ERR
    # ffsplit votes NACK on disconnection: the poll timer now polls without the vote
    assert node.polls[-1] == Poll(False, RING)
    disc = [e for e in node.events if isinstance(e, Disconnected)][-1]
    assert disc.reconnect_at is not None
    assert 0 <= disc.reconnect_at - world.now < 4.5
    assert any(isinstance(o, Close) for o in node.outputs)


def test_reconnect_after_server_restart_gets_the_vote_back() -> None:
    world = World()
    node = world.add(1)
    world.start(1, RING, (1,))
    world.run_for(0.1)
    assert node.last_cast() is True
    world.kill_connection(1)
    assert node.last_cast() is False
    world.down = True
    world.run_for(20)
    assert node.client.state == ClientState.WAITING_CONNECT
    assert node.client.connect_failed_flag
    # refused connections are retried every connect_timeout (8 s)
    connects = [o for o in node.outputs if isinstance(o, Connect)]
    assert len(connects) == 4  # the first, then retries at ~+0..4.5, +8, +16
    world.down = False
    world.run_until(lambda: node.client.state == ClientState.CONNECTED, timeout=10)
    world.run_for(0.1)
    assert node.last_cast() is True
    # PREINIT of the new connection repeats the last used sequence number
    preinits = [m for m in node.sent if isinstance(m, Preinit)]
    assert preinits[0].seq_number == 1
    before = node.sent[: node.sent.index(preinits[1])]
    numbered = [m.seq_number for m in before if isinstance(m, Init | SetOption | NodeList)]
    assert preinits[1].seq_number == numbered[-1] == 6
    assert all(p.seq_number == 6 for p in preinits[1:])


def test_votes_for_an_old_ring_id_change_nothing() -> None:
    world = World()
    node = world.add(1)
    world.start(1, RING, (1,))
    world.run_for(0.1)
    conn = node.conn_id
    assert conn is not None
    polls = len(node.polls)
    world.to_client(conn, VoteInfo(7, Vote.NACK, RingId(1, 1)).encode())
    assert len(node.polls) == polls
    assert node.client.cast_vote.vote == Vote.ACK
    assert node.sent[-1] == VoteInfoReply(7)
    # the same vote for the current ring is obeyed
    world.to_client(conn, VoteInfo(8, Vote.NACK, RING).encode())
    assert node.polls[-1] == Poll(False, RING)


def test_membership_change_pauses_polls_until_the_new_list_is_sent() -> None:
    world = World()
    node = world.add(1)
    world.start(1, RING, (1,))
    world.run_for(0.1)
    new_ring = RingId(1, 9)
    client = node.client
    client.node_list_notify(new_ring, (1, 2), world.now)
    world.pump(1)
    # heuristics off: the membership list is sent at once, then the timer waits for the vote
    assert node.sent[-1] == NodeList(
        node.sent[-1].seq_number,
        NodeListType.MEMBERSHIP,
        (NodeInfo(1), NodeInfo(2)),
        ring_id=new_ring,
    )
    assert not client.cast_vote.running
    assert client.vq_poll_ring_id == new_ring


def test_echo_reply_with_wrong_sequence_disconnects() -> None:
    world = World()
    node = world.add(1)
    world.start(1, RING, (1,))
    world.run_for(0.1)
    assert node.conn_id is not None
    world.to_client(node.conn_id, EchoReply(99).encode())
    assert node.client.disconnect_reason == DisconnectReason.ALGO_ECHO_REPLY_RECEIVED_ERR


def test_unknown_type_and_oversized_messages_end_the_connection() -> None:
    world = World()
    node = world.add(1)
    world.start(1, RING, (1,))
    world.run_for(0.1)
    assert node.conn_id is not None
    world.to_client(node.conn_id, struct.pack(">HI", 77, 0))
    assert node.client.disconnect_reason == DisconnectReason.UNSUPPORTED_MSG
    world.run_until(lambda: node.client.state == ClientState.CONNECTED)
    assert node.conn_id is not None
    world.to_client(node.conn_id, struct.pack(">HI", MsgType.VOTE_INFO, 40000))
    assert node.client.disconnect_reason == DisconnectReason.CANT_READ_MESSAGE


def test_node_list_reply_for_each_list_type() -> None:
    world = World()
    node = world.add(1)
    world.start(1, RING, (1,))
    world.run_for(0.1)
    assert node.conn_id is not None
    world.to_client(node.conn_id, NodeListReply(50, NodeListType.QUORUM, RING, Vote.NACK).encode())
    assert node.polls[-1] == Poll(False, RING)
    world.to_client(
        node.conn_id, NodeListReply(51, NodeListType.MEMBERSHIP, RING, Vote.ASK_LATER).encode()
    )
    assert not node.client.cast_vote.running
