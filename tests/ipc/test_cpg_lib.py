"""libcpg over IPC: requests and callbacks byte-exact, on the fake total-order bus."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from tests.cpg.bus import Bus
from tests.ipc.fakes import FakeConn, header
from tests.ipc.layouts import field, layout, pack
from totem.ipc.wire import CsError
from totem.services.cpg import CPG_MAX_ATOMIC_MSGSIZE, CpgDeliver
from totem.services.cpg.lib import CpgLib

CONFCHG = "struct res_lib_cpg_confchg_callback"
DELIVER = "struct res_lib_cpg_deliver_callback"
PARTIAL = "struct res_lib_cpg_partial_deliver_callback"
TOTEM = "struct res_lib_cpg_totem_confchg_callback"


def call(lib: CpgLib, conn: FakeConn, request: bytes) -> bytes | None:
    message_id = int.from_bytes(request[:4], "little", signed=True)
    lib.handlers()[message_id].handler(conn, request, 0.0)
    return conn.responses.pop() if conn.responses else None


def setup(ids: tuple[int, ...] = (1, 2)) -> tuple[Bus, dict[int, CpgLib]]:
    bus = Bus(ids)
    bus.form(ids)
    libs = {nodeid: CpgLib(bus.nodes[nodeid].cpg) for nodeid in ids}
    return bus, libs


def joined(lib: CpgLib, group: bytes, pid: int, flags: int = 0) -> FakeConn:
    conn = FakeConn(pid=pid)
    lib.lib_init(conn)
    response = call(
        lib, conn, pack("struct req_lib_cpg_join", 0, group_name=group, pid=pid, flags=flags)
    )
    assert response is not None and header(response) == (0, 24, CsError.OK)
    return conn


def addresses(message: bytes, start: int, count: int) -> list[tuple[int, int, int]]:
    size = layout("mar_cpg_address_t").size
    return [struct.unpack_from("<I4xI4xI", message, start + i * size) for i in range(count)]


def test_join_confchg_and_deliver_are_corosyncs_layouts() -> None:
    bus, libs = setup()
    a = joined(libs[1], b"grp", 100, flags=1)
    bus.flush()
    confchg, totem = a.take_events()
    assert header(confchg) == (4, 184 + 24 * 2, CsError.OK)  # 1 member + 1 joined
    assert field(CONFCHG, confchg, "member_list_entries") == 1
    assert field(CONFCHG, confchg, "joined_list_entries") == 1
    assert field(CONFCHG, confchg, "left_list_entries") == 0
    at = layout(CONFCHG).offset("group_name")
    assert confchg[at : at + 4] == struct.pack("<I", 3) and confchg[at + 8 : at + 11] == b"grp"
    start = layout(CONFCHG).offset("member_list")
    assert addresses(confchg, start, 2) == [(1, 100, 0), (1, 100, 1)]  # member, joined (JOIN)
    # CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF: the totem membership follows
    assert header(totem) == (13, 48 + 4 * 2, CsError.OK)
    assert field(TOTEM, totem, "member_list_entries") == 2
    ring_at = layout(TOTEM).offset("ring_id")
    assert struct.unpack_from("<I4xQ", totem, ring_at) == (1, bus.rings[0].ring_id.seq)
    b = joined(libs[2], b"grp", 200)
    bus.flush()
    a.take_events()
    [confchg] = b.take_events()
    assert addresses(confchg, start, 3) == [(1, 100, 0), (2, 200, 0), (2, 200, 1)]
    mcast = pack("struct req_lib_cpg_mcast", 2, b"hello", guarantee=2, msglen=5)
    assert call(libs[2], b, mcast) is None  # asynchronous: no response
    bus.flush()
    for conn in (a, b):
        [deliver] = conn.take_events()
        assert header(deliver) == (5, 184 + 5, CsError.OK)
        assert (field(DELIVER, deliver, "nodeid"), field(DELIVER, deliver, "pid")) == (2, 200)
        assert field(DELIVER, deliver, "msglen") == 5
        assert deliver[layout(DELIVER).offset("message") :] == b"hello"


def test_requests_refused_as_corosync_refuses_them() -> None:
    bus, libs = setup()
    a = joined(libs[1], b"grp", 100)
    again = FakeConn(pid=100)
    libs[1].lib_init(again)
    response = call(libs[1], again, pack("struct req_lib_cpg_join", 0, group_name=b"grp", pid=100))
    assert response is not None and header(response) == (0, 24, CsError.ERR_EXIST)
    response = call(
        libs[1], again, pack("struct req_lib_cpg_join", 0, group_name=b"x" * 129, pid=5)
    )
    assert response is not None and header(response) == (0, 24, CsError.ERR_NAME_TOO_LONG)
    response = call(libs[1], a, pack("struct req_lib_cpg_leave", 1, group_name=b"grp", pid=100))
    assert response is not None and header(response) == (1, 24, CsError.ERR_BUSY)  # not delivered
    bus.flush()
    stranger = FakeConn()
    libs[1].lib_init(stranger)
    response = call(
        libs[1], stranger, pack("struct req_lib_cpg_leave", 1, group_name=b"grp", pid=1)
    )
    assert response is not None and header(response) == (1, 24, CsError.ERR_BAD_HANDLE)
    assert (
        call(libs[1], stranger, pack("struct req_lib_cpg_mcast", 2, b"x", guarantee=2, msglen=1))
        is None
    )
    partial = pack(
        "struct req_lib_cpg_partial_mcast", 12, b"ab", guarantee=2, msglen=4, fraglen=2, type=1
    )
    response = call(libs[1], stranger, partial)
    assert response is not None and header(response) == (18, 24, CsError.ERR_NOT_EXIST)


def test_membership_local_get_iteration_and_finalize() -> None:
    bus, libs = setup()
    a = joined(libs[1], b"one", 10)
    b = joined(libs[2], b"one", 20)
    joined(libs[2], b"two", 21)
    bus.flush()
    b.take_events()
    response = call(libs[1], a, pack("struct req_lib_cpg_membership_get", 3, group_name=b"one"))
    assert response is not None and header(response) == (3, 9248, CsError.OK)
    assert field("struct res_lib_cpg_membership_get", response, "member_count") == 2
    start = layout("struct res_lib_cpg_membership_get").offset("member_list")
    assert addresses(response, start, 2) == [(1, 10, 0), (2, 20, 0)]
    response = call(libs[1], a, pack("struct req_lib_cpg_local_get", 4))
    assert response is not None and header(response) == (7, 32, CsError.OK)
    assert field("struct res_lib_cpg_local_get", response, "local_nodeid") == 1
    response = call(libs[1], a, pack("struct req_lib_cpg_iterationinitialize", 5, iteration_type=3))
    assert response is not None and header(response) == (9, 32, CsError.OK)
    handle = field("struct res_lib_cpg_iterationinitialize", response, "iteration_handle", 8)
    rows = []
    while True:
        response = call(
            libs[1], a, pack("struct req_lib_cpg_iterationnext", 6, iteration_handle=handle)
        )
        assert response is not None and header(response)[:2] == (10, 168)
        if header(response)[2] == CsError.ERR_NO_SECTIONS:
            break
        at = layout("struct res_lib_cpg_iterationnext").offset("description")
        length = struct.unpack_from("<I", response, at)[0]
        rows.append(
            (response[at + 8 : at + 8 + length], *struct.unpack_from("<II", response, at + 136))
        )
    assert sorted(rows) == [(b"one", 1, 10), (b"one", 2, 20), (b"two", 2, 21)]
    response = call(
        libs[1], a, pack("struct req_lib_cpg_iterationfinalize", 7, iteration_handle=handle)
    )
    assert response is not None and header(response) == (11, 24, CsError.OK)
    response = call(
        libs[1], a, pack("struct req_lib_cpg_iterationfinalize", 7, iteration_handle=handle)
    )
    assert response is not None and header(response) == (11, 24, CsError.ERR_LIBRARY)
    response = call(libs[1], a, pack("struct req_lib_cpg_finalize", 8))
    assert response is not None and header(response) == (12, 24, CsError.OK)
    bus.flush()
    [confchg] = b.take_events()
    assert field(CONFCHG, confchg, "left_list_entries") == 1
    start = layout(CONFCHG).offset("member_list")
    assert addresses(confchg, start, 2) == [(2, 20, 0), (1, 10, 5)]  # member, left (PROCDOWN)


def test_large_messages_go_as_partial_mcast_and_partial_deliveries() -> None:
    bus, libs = setup()
    a = joined(libs[1], b"big", 1)
    b = joined(libs[2], b"big", 2)
    bus.flush()
    a.take_events()
    b.take_events()
    payload = os.urandom(CPG_MAX_ATOMIC_MSGSIZE + 1000)
    first, rest = payload[:CPG_MAX_ATOMIC_MSGSIZE], payload[CPG_MAX_ATOMIC_MSGSIZE:]
    for kind, fragment in ((1, first), (3, rest)):
        request = pack("struct req_lib_cpg_partial_mcast", 12, fragment, guarantee=2,
                       msglen=len(payload), fraglen=len(fragment), type=kind)  # fmt: skip
        response = call(libs[1], a, request)
        assert response is not None and header(response) == (18, 24, CsError.OK)
    bus.flush()
    parts = b.take_events()
    assert [header(p)[0] for p in parts] == [17, 17]
    assert [field(PARTIAL, p, "type") for p in parts] == [1, 3]
    assert all(field(PARTIAL, p, "msglen") == len(payload) for p in parts)
    at = layout(PARTIAL).offset("message")
    assert b"".join(p[at:] for p in parts) == payload
    assert header(parts[0])[1] == 200 + CPG_MAX_ATOMIC_MSGSIZE


def test_control_socket_handles_still_get_their_events() -> None:
    bus, libs = setup()
    bus.nodes[1].cpg.join("control-handle", b"grp", 55)
    ipc = joined(libs[1], b"grp", 56)
    bus.flush()
    bus.nodes[1].cpg.mcast("control-handle", b"grp", b"m")
    bus.flush()
    assert CpgDeliver("control-handle", b"grp", 1, 55, b"m") in bus.nodes[1].events
    assert any(header(e)[0] == 5 for e in ipc.take_events())


def test_zero_copy_buffer_from_the_shm_dir(tmp_path: Path) -> None:
    bus, libs = setup()
    lib = libs[1]
    lib.shm_dir = str(tmp_path)
    conn = joined(lib, b"zc", 9)
    bus.flush()
    conn.take_events()
    payload = b"zero-copy"
    size = 16 + 40 + len(payload)
    path = tmp_path / "corosync_zerocopy-abc"
    path.write_bytes(bytes(size))
    alloc = pack("struct qb_ipc_request_header", 9, struct.pack("<Q128s", size, str(path).encode()))
    response = call(lib, conn, alloc)
    assert response is not None and header(response) == (0, 24, CsError.OK)
    address = struct.unpack_from("<i4xQ", path.read_bytes())[1]
    request = struct.pack("<i4xi4xi4xI4xI4x", 2, 40 + len(payload), 0, 2, len(payload)) + payload
    with path.open("r+b") as handle:
        handle.seek(16)
        handle.write(request)
    execute = pack("struct qb_ipc_request_header", 11, struct.pack("<Q", address))
    response = call(lib, conn, execute)
    assert response is not None and header(response) == (2, 24, CsError.OK)
    bus.flush()
    [deliver] = conn.take_events()
    assert deliver[layout(DELIVER).offset("message") :] == payload
    free = pack("struct qb_ipc_request_header", 10, struct.pack("<QQ", size, address))
    assert call(lib, conn, free) is not None
    outside = pack("struct qb_ipc_request_header", 9, struct.pack("<Q128s", size, b"/etc/passwd"))
    response = call(lib, conn, outside)
    assert response is not None and header(response) == (0, 24, CsError.ERR_ACCESS)
