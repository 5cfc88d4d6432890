"""libcfg's requests against the cfg engine: node facts, kill, reload, shutdown tracking."""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from tests.ipc.fakes import FakeConn, header
from tests.ipc.layouts import field as field_of
from tests.ipc.layouts import layout, pack
from totem.ipc.wire import CsError
from totem.ringid import RingId
from totem.services.cfg import CfgService, CfgShutdown
from totem.services.cfg_lib import LinkStatus, NodeStatus
from totem.srp.events import ConfigurationChange, ConfigurationKind, LogLevel

STATUS = "struct res_lib_cfg_nodestatusget_v1"


@dataclass
class Host:
    node_id: int = 2
    sent: list[tuple[int, int, bytes]] = field(default_factory=list)

    def mcast(self, service_id: int, fn_id: int, body: bytes) -> None:
        self.sent.append((service_id, fn_id, body))

    def log(self, level: LogLevel, subsys: str, message: str) -> None:
        pass


class Nodes:
    def node_addresses(self, nodeid: int) -> Sequence[str] | None:
        return {1: ["10.0.0.1"], 2: ["10.0.0.2", "fd00::2"]}.get(nodeid)

    def node_status(self, nodeid: int) -> NodeStatus | None:
        if nodeid == 9:
            return None
        link = LinkStatus(enabled=True, connected=True, mtu=1410, src_ipaddr=f"10.0.0.{nodeid}")
        return NodeStatus(nodeid, reachable=True, links=(link,))

    def ring_status(self) -> Sequence[tuple[str, str]]:
        return [("0 10.0.0.2", "OK")]


def engine() -> tuple[CfgService, Host]:
    cfg = CfgService()
    host = Host()
    cfg.attach(host)
    cfg.set_node_info(Nodes())
    cfg.confchg(
        ConfigurationChange(ConfigurationKind.REGULAR, RingId(1, 4), (1, 2), (), (1, 2)), 0.0
    )
    return cfg, host


def conn_of(cfg: CfgService) -> FakeConn:
    conn = FakeConn()
    cfg.lib_init(conn)
    return conn


def call(cfg: CfgService, conn: FakeConn, request: bytes, now: float = 0.0) -> bytes | None:
    message_id = int.from_bytes(request[:4], "little", signed=True)
    cfg.lib_handlers()[message_id].handler(conn, request, now)
    return conn.responses.pop() if conn.responses else None


def test_local_get_node_addrs_and_node_status() -> None:
    cfg, _ = engine()
    conn = conn_of(cfg)
    response = call(cfg, conn, pack("struct req_lib_cfg_local_get", 6))
    assert response is not None and header(response) == (12, 32, CsError.OK)
    assert field_of("struct res_lib_cfg_local_get", response, "local_nodeid") == 2
    response = call(cfg, conn, pack("struct req_lib_cfg_get_node_addrs", 5, nodeid=0))
    assert response is not None and header(response) == (11, 32 + 2 * 16, CsError.OK)
    assert field_of("struct res_lib_cfg_get_node_addrs", response, "family") == socket.AF_INET
    assert field_of("struct res_lib_cfg_get_node_addrs", response, "num_addrs") == 2
    at = layout("struct res_lib_cfg_get_node_addrs").offset("addrs")
    assert response[at : at + 16] == socket.inet_aton("10.0.0.2") + bytes(12)
    assert response[at + 16 : at + 32] == socket.inet_pton(socket.AF_INET6, "fd00::2")
    response = call(cfg, conn, pack("struct req_lib_cfg_get_node_addrs", 5, nodeid=7))
    assert response is not None and header(response) == (11, 32, CsError.ERR_NOT_EXIST)
    response = call(cfg, conn, pack("struct req_lib_cfg_nodestatusget", 9, nodeid=1, version=1))
    assert response is not None and header(response) == (16, 4200, CsError.OK)
    base = layout(STATUS).offset("node_status")
    version, nodeid, reachable = struct.unpack_from("<IIB", response, base)
    assert (version, nodeid, reachable) == (1, 1, 1)
    enabled, connected, _dyn, mtu = struct.unpack_from("<BBBxI", response, base + 16)
    assert (enabled, connected, mtu) == (1, 1, 1410)
    assert response[base + 24 : base + 33] == b"10.0.0.1\0"
    response = call(cfg, conn, pack("struct req_lib_cfg_nodestatusget", 9, nodeid=1, version=2))
    assert response is not None and header(response) == (16, 32, CsError.ERR_NOT_SUPPORTED)
    response = call(cfg, conn, pack("struct req_lib_cfg_nodestatusget", 9, nodeid=9, version=1))
    assert response is not None and header(response) == (16, 32, CsError.ERR_FAILED_OPERATION)
    response = call(cfg, conn, pack("struct req_lib_cfg_ringstatusget", 0))
    assert response is not None and header(response) == (0, 10272, CsError.OK)
    assert field_of("struct res_lib_cfg_ringstatusget", response, "interface_count") == 1
    name_at = layout("struct res_lib_cfg_ringstatusget").offset("interface_name")
    state_at = layout("struct res_lib_cfg_ringstatusget").offset("interface_status")
    assert response[name_at : name_at + 11] == b"0 10.0.0.2\0"
    assert response[state_at : state_at + 3] == b"OK\0"


def test_killnode_of_a_member_is_sent_of_a_stranger_refused() -> None:
    cfg, host = engine()
    conn = conn_of(cfg)
    reason = b"fence"
    raw = struct.pack("<H", len(reason)) + reason
    request = pack("struct req_lib_cfg_killnode", 2, nodeid=1, reason=raw)
    response = call(cfg, conn, request)
    assert response is not None and header(response) == (8, 24, CsError.OK)
    assert host.sent[-1][:2] == (1, 1) and struct.unpack_from("<I", host.sent[-1][2])[0] == 1
    request = pack("struct req_lib_cfg_killnode", 2, nodeid=5, reason=raw)
    response = call(cfg, conn, request)
    assert response is not None and header(response) == (8, 24, CsError.ERR_NOT_EXIST)


def test_tryshutdown_asks_trackers_and_any_no_refuses() -> None:
    cfg, host = engine()
    pacemaker, other, tool = conn_of(cfg), conn_of(cfg), conn_of(cfg)
    for tracker in (pacemaker, other):
        response = call(cfg, tracker, pack("struct req_lib_cfg_trackstart", 10, track_flags=0))
        assert response is not None and header(response) == (2, 24, CsError.OK)
    assert call(cfg, tool, pack("struct req_lib_cfg_tryshutdown", 3, flags=0), now=10.0) is None
    for tracker in (pacemaker, other):
        [event] = tracker.take_events()
        assert header(event) == (10, 32, CsError.OK)
        assert field_of("struct res_lib_cfg_testshutdown", event, "flags") == 0
    assert cfg.next_deadline() == 15.0
    response = call(cfg, pacemaker, pack("struct req_lib_cfg_replytoshutdown", 4, response=0))
    assert response is not None and header(response) == (13, 24, CsError.OK)
    assert tool.responses == []
    call(cfg, other, pack("struct req_lib_cfg_replytoshutdown", 4, response=1))
    assert header(tool.take()) == (9, 24, CsError.ERR_BUSY)
    assert not any(fn == 2 for _, fn, _ in host.sent)  # no SHUTDOWN announced
    response = call(cfg, other, pack("struct req_lib_cfg_replytoshutdown", 4, response=1))
    assert response is not None and header(response) == (13, 24, CsError.ERR_ACCESS)


def test_tryshutdown_all_yes_announces_and_a_leaving_tracker_counts_as_yes() -> None:
    cfg, host = engine()
    tracker, leaver, tool = conn_of(cfg), conn_of(cfg), conn_of(cfg)
    for conn in (tracker, leaver):
        call(cfg, conn, pack("struct req_lib_cfg_trackstart", 10, track_flags=0))
    call(cfg, tool, pack("struct req_lib_cfg_tryshutdown", 3, flags=0), now=1.0)
    call(cfg, tracker, pack("struct req_lib_cfg_replytoshutdown", 4, response=1))
    cfg.lib_exit(leaver)
    assert header(tool.take()) == (9, 24, CsError.OK)
    assert host.sent[-1][:2] == (1, 2)  # exec SHUTDOWN
    cfg.exec_deliver(2, 2, b"", 2.0)
    assert cfg.events()[-1] == CfgShutdown(2, True)


def test_tryshutdown_timeout_counts_the_undecided_as_no() -> None:
    cfg, _ = engine()
    tracker, tool = conn_of(cfg), conn_of(cfg)
    call(cfg, tracker, pack("struct req_lib_cfg_trackstart", 10, track_flags=0))
    call(cfg, tool, pack("struct req_lib_cfg_tryshutdown", 3, flags=0), now=1.0)
    tracker.take_events()
    cfg.on_deadline(6.0)
    assert header(tool.take()) == (9, 24, CsError.ERR_BUSY)
    [event] = tracker.take_events()
    assert header(event) == (10, 32, CsError.ERR_TIMEOUT)
    assert cfg.next_deadline() is None


def test_tryshutdown_regardless_and_immediate() -> None:
    cfg, host = engine()
    tracker, tool = conn_of(cfg), conn_of(cfg)
    call(cfg, tracker, pack("struct req_lib_cfg_trackstart", 10, track_flags=0))
    call(cfg, tool, pack("struct req_lib_cfg_tryshutdown", 3, flags=1), now=1.0)
    second = conn_of(cfg)
    response = call(cfg, second, pack("struct req_lib_cfg_tryshutdown", 3, flags=0), now=1.0)
    assert response is not None and header(response) == (9, 24, CsError.ERR_EXIST)
    call(cfg, tracker, pack("struct req_lib_cfg_replytoshutdown", 4, response=0))
    assert header(tool.take()) == (9, 24, CsError.OK)  # REGARDLESS
    before = len(host.sent)
    response = call(cfg, second, pack("struct req_lib_cfg_tryshutdown", 3, flags=2))
    assert response is not None and header(response) == (9, 24, CsError.OK)
    assert host.sent[before][:2] == (1, 2)


def test_reload_is_answered_when_the_node_applied_it() -> None:
    cfg, host = engine()
    conn = conn_of(cfg)
    assert call(cfg, conn, pack("struct req_lib_cfg_reload_config", 7)) is None
    service_id, fn, body = host.sent[-1]
    assert (service_id, fn) == (1, 3)
    cfg.exec_deliver(2, 3, body, 1.0)
    [requested] = [e for e in cfg.events() if type(e).__name__ == "CfgReloadRequested"]
    assert requested.local
    assert cfg.reload_finished(requested.conn, CsError.ERR_INVALID_PARAM)
    assert header(conn.take()) == (14, 24, CsError.ERR_INVALID_PARAM)
    assert not cfg.reload_finished(5, CsError.OK)  # a control-socket reload: not ours
