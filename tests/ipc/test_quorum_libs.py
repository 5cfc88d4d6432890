"""libquorum and libvotequorum requests against three nodes of the fake bus, byte-exact.

Requests are built, and responses and events read, at the offsets gcc gives for corosync
3.1.7's structs (``tests/fixtures/libqb/offsets.txt``); sizes are corosync's exactly.
"""

from __future__ import annotations

from tests.ipc.fakes import FakeConn, header
from tests.ipc.layouts import field, layout, pack
from tests.sync.fakebus import FakeBus
from totem.ipc.wire import CsError
from totem.ringid import RingId
from totem.service import Service
from totem.services import QuorumService
from votequorum.plugin import ConfiguredVotequorum
from votequorum.settings import VotequorumSettings

Q_V1_QN = "struct res_lib_quorum_v1_quorum_notification"
Q_V0_QN = "struct res_lib_quorum_notification"
Q_V1_NL = "struct res_lib_quorum_v1_nodelist_notification"
VQ_QN = "struct res_lib_votequorum_quorum_notification"
VQ_NL = "struct res_lib_votequorum_nodelist_notification"
VQ_INFO = "struct res_lib_votequorum_getinfo"


def cluster(n: int = 3) -> FakeBus:
    settings = VotequorumSettings.from_nodes(list(range(1, n + 1)))

    def factory(nid: int) -> list[Service]:
        services: list[Service] = [
            QuorumService(),
            ConfiguredVotequorum(settings, {i: f"n{i}" for i in range(1, 9)}),
        ]
        for service in services:
            service.bind(services)
        return services

    bus = FakeBus(factory)
    bus.start(range(1, n + 1))
    bus.run()
    bus.form_ring(range(1, n + 1))
    bus.run()
    return bus


def call(service: Service, conn: FakeConn, request: bytes, now: float = 0.0) -> bytes:
    message_id = int.from_bytes(request[:4], "little", signed=True)
    service.lib_handlers()[message_id].handler(conn, request, now)
    return conn.take()


def u32s(data: bytes, offset: int, count: int) -> list[int]:
    return [
        int.from_bytes(data[offset + 4 * i : offset + 4 * i + 4], "little") for i in range(count)
    ]


def test_quorum_getquorate_gettype_and_model() -> None:
    bus = cluster()
    quorum = bus.nodes[1].service(3)
    conn = FakeConn()
    quorum.lib_init(conn)
    response = call(quorum, conn, pack("struct qb_ipc_request_header", 0))
    assert header(response) == (0, 32, CsError.OK)
    assert field("struct res_lib_quorum_getquorate", response, "quorate") == 1
    response = call(quorum, conn, pack("struct qb_ipc_request_header", 3))
    assert header(response) == (4, 32, CsError.OK)
    assert field("struct res_lib_quorum_gettype", response, "quorum_type") == 1
    response = call(quorum, conn, pack("struct req_lib_quorum_model_gettype", 4, model=7))
    assert header(response) == (5, 32, CsError.ERR_INVALID_PARAM)
    response = call(quorum, conn, pack("struct req_lib_quorum_model_gettype", 4, model=1))
    assert header(response) == (5, 32, CsError.OK)


def test_quorum_trackstart_v0_sends_the_view_then_changes() -> None:
    bus = cluster()
    quorum = bus.nodes[1].service(3)
    conn = FakeConn()
    quorum.lib_init(conn)
    response = call(quorum, conn, pack("struct req_lib_quorum_trackstart", 1, track_flags=3))
    assert header(response) == (1, 24, CsError.OK)
    [event] = conn.take_events()  # V0: no node-list notification
    assert header(event) == (3, 48 + 4 * 3, CsError.OK)
    assert field(Q_V0_QN, event, "quorate") == 1
    ring = bus.nodes[1].ring
    assert field(Q_V0_QN, event, "ring_seq", 8) == ring.seq
    assert field(Q_V0_QN, event, "view_list_entries") == 3
    assert u32s(event, layout(Q_V0_QN).offset("view_list"), 3) == [1, 2, 3]
    # a second TRACKSTART still sends the state, then refuses
    response = call(quorum, conn, pack("struct req_lib_quorum_trackstart", 1, track_flags=2))
    assert header(response) == (1, 24, CsError.ERR_EXIST)
    assert len(conn.take_events()) == 1
    bus.crash(3)
    bus.form_ring([1, 2])
    bus.run()
    [event] = conn.take_events()
    assert u32s(event, layout(Q_V0_QN).offset("view_list"), 2) == [1, 2]
    assert header(event)[1] == 48 + 8
    response = call(quorum, conn, pack("struct qb_ipc_request_header", 2))
    assert header(response) == (2, 24, CsError.OK)


def test_quorum_v1_notifications_carry_ring_id_and_joined_left() -> None:
    bus = cluster()
    quorum = bus.nodes[1].service(3)
    conn = FakeConn()
    quorum.lib_init(conn)
    call(quorum, conn, pack("struct req_lib_quorum_model_gettype", 4, model=1))
    call(quorum, conn, pack("struct req_lib_quorum_trackstart", 1, track_flags=2))
    nodelist, notification = conn.take_events()
    assert header(nodelist) == (7, 64 + 4 * 3, CsError.OK)
    assert (
        field(Q_V1_NL, nodelist, "joined_list_entries"),
        field(Q_V1_NL, nodelist, "left_list_entries"),
    ) == (0, 0)
    assert header(notification) == (6, 56 + 4 * 3, CsError.OK)
    ring_at = layout(Q_V1_QN).offset("ring_id")
    ring = bus.nodes[1].ring
    assert int.from_bytes(notification[ring_at : ring_at + 4], "little") == ring.rep
    assert int.from_bytes(notification[ring_at + 8 : ring_at + 16], "little") == ring.seq
    bus.crash(3)
    new_ring = bus.form_ring([1, 2])
    bus.run()
    events = conn.take_events()
    nodelists = [e for e in events if header(e)[0] == 7]
    assert len(nodelists) == 1
    nl = nodelists[0]
    assert field(Q_V1_NL, nl, "member_list_entries") == 2
    assert field(Q_V1_NL, nl, "left_list_entries") == 1
    assert u32s(nl, layout(Q_V1_NL).offset("member_list"), 3) == [1, 2, 3]  # members, then left
    assert header(nl)[1] == 64 + 4 * 3
    at = layout(Q_V1_NL).offset("ring_id")
    assert int.from_bytes(nl[at + 8 : at + 16], "little") == new_ring.seq


def test_votequorum_getinfo_is_320_bytes_with_the_figures() -> None:
    bus = cluster()
    vq = bus.nodes[2].service(5)
    conn = FakeConn()
    vq.lib_init(conn)
    response = call(vq, conn, pack("struct req_lib_votequorum_getinfo", 0, nodeid=0))
    assert header(response) == (1, 320, CsError.OK)
    assert layout(VQ_INFO).size == 320
    figures = {
        name: field(VQ_INFO, response, name)
        for name in ("nodeid", "state", "votes", "expected_votes", "highest_expected",
                     "total_votes", "quorum", "flags", "qdevice_votes")
    }  # fmt: skip
    assert figures == {
        "nodeid": 2, "state": 1, "votes": 1, "expected_votes": 3, "highest_expected": 3,
        "total_votes": 3, "quorum": 2, "flags": 2, "qdevice_votes": 0,
    }  # fmt: skip
    response = call(vq, conn, pack("struct req_lib_votequorum_getinfo", 0, nodeid=9))
    assert header(response) == (1, 320, CsError.ERR_NOT_EXIST)


def test_votequorum_trackstart_events_carry_the_context() -> None:
    bus = cluster()
    vq = bus.nodes[1].service(5)
    conn = FakeConn()
    vq.lib_init(conn)
    request = pack("struct req_lib_votequorum_trackstart", 3, context=0xDEADBEEF01, track_flags=3)
    assert header(call(vq, conn, request)) == (0, 24, CsError.OK)
    nodelist, quorum = conn.take_events()
    assert header(nodelist) == (5, 56 + 4 * 3, CsError.OK)
    assert field(VQ_NL, nodelist, "context", 8) == 0xDEADBEEF01
    assert u32s(nodelist, layout(VQ_NL).offset("node_list"), 3) == [1, 2, 3]
    assert header(quorum) == (3, 48 + 8 * 3, CsError.OK)
    assert field(VQ_QN, quorum, "quorate") == 1
    assert field(VQ_QN, quorum, "node_list_entries") == 3
    at = layout(VQ_QN).offset("node_list")
    assert u32s(quorum, at, 6) == [1, 1, 2, 1, 3, 1]  # {nodeid, state MEMBER}
    assert header(call(vq, conn, request)) == (0, 24, CsError.ERR_EXIST)
    conn.take_events()
    vq.set_expected_votes(4)
    bus.run()
    expected = [e for e in conn.take_events() if header(e)[0] == 4]
    assert expected and header(expected[-1]) == (4, 40, CsError.OK)
    assert (
        field(
            "struct res_lib_votequorum_expectedvotes_notification", expected[-1], "expected_votes"
        )
        == 4
    )
    assert header(call(vq, conn, pack("struct qb_ipc_request_header", 4))) == (0, 24, CsError.OK)
    assert header(call(vq, conn, pack("struct qb_ipc_request_header", 4))) == (
        0,
        24,
        CsError.ERR_NOT_EXIST,
    )


def test_votequorum_setexpected_refusal_is_invalid_param() -> None:
    bus = cluster()
    vq = bus.nodes[1].service(5)
    conn = FakeConn()
    vq.lib_init(conn)
    response = call(vq, conn, pack("struct req_lib_votequorum_setexpected", 1, expected_votes=1))
    assert header(response) == (0, 24, CsError.ERR_INVALID_PARAM)
    response = call(vq, conn, pack("struct req_lib_votequorum_setvotes", 2, votes=1, nodeid=77))
    assert header(response) == (0, 24, CsError.ERR_NAME_NOT_FOUND)


def test_votequorum_qdevice_register_is_answered_when_delivered_then_polls() -> None:
    bus = cluster(2)
    vq = bus.nodes[1].service(5)
    conn = FakeConn()
    vq.lib_init(conn)
    name = b"Qdevice"
    register = pack("struct req_lib_votequorum_qdevice_register", 5, name=name)
    vq.lib_handlers()[5].handler(conn, register, 0.0)
    assert conn.responses == []  # waits for the cluster
    bus.run()
    assert header(conn.take()) == (0, 24, CsError.OK)
    master = pack("struct req_lib_votequorum_qdevice_master_wins", 9, name=name, allow=0)
    assert header(call(vq, conn, master)) == (0, 24, CsError.OK)
    ring = bus.nodes[1].ring
    poll = pack("struct req_lib_votequorum_qdevice_poll", 8, name=name, cast_vote=1,
                ring_id=(ring.rep, ring.seq))  # fmt: skip
    assert header(call(vq, conn, poll, now=1.0)) == (0, 24, CsError.OK)
    stale = pack("struct req_lib_votequorum_qdevice_poll", 8, name=name, cast_vote=1,
                 ring_id=(ring.rep, ring.seq + 4))  # fmt: skip
    assert header(call(vq, conn, stale, now=1.0)) == (0, 24, CsError.ERR_MESSAGE_ERROR)
    other = pack("struct req_lib_votequorum_qdevice_poll", 8, name=b"Other", cast_vote=1,
                 ring_id=(ring.rep, ring.seq))  # fmt: skip
    assert header(call(vq, conn, other, now=1.0)) == (0, 24, CsError.ERR_INVALID_PARAM)
    bus.run()
    info = call(vq, conn, pack("struct req_lib_votequorum_getinfo", 0, nodeid=0))
    flags = field(VQ_INFO, info, "flags")
    assert flags & (64 | 128 | 256) == 64 | 128 | 256  # registered, alive, cast vote
    name_at = layout(VQ_INFO).offset("qdevice_name")
    assert info[name_at : name_at + 8] == b"Qdevice\0"
    unregister = pack("struct req_lib_votequorum_qdevice_unregister", 6, name=name)
    assert header(call(vq, conn, unregister)) == (0, 24, CsError.OK)
    assert header(call(vq, conn, unregister)) == (0, 24, CsError.ERR_NOT_EXIST)


def test_quorum_ring_id_before_any_report_is_zero() -> None:
    quorum = QuorumService()
    conn = FakeConn()
    quorum.lib_init(conn)
    quorum.lib_handlers()[4].handler(
        conn, pack("struct req_lib_quorum_model_gettype", 4, model=1), 0.0
    )
    conn.take()
    quorum.lib_handlers()[1].handler(
        conn, pack("struct req_lib_quorum_trackstart", 1, track_flags=1), 0.0
    )
    nodelist, notification = conn.take_events()
    assert header(nodelist) == (7, 64, CsError.OK)
    assert header(notification) == (6, 56, CsError.OK)
    assert RingId(0, 0) == RingId(field(Q_V1_QN, notification, "ring_id"), 0)
