"""Replay the real tools' requests (strace of corosync 3.1.7, ``tests/fixtures/libqb``) on a
node of ours: every answer has the id and the exact size the real corosync sent.

The traces show each datagram's size and its first 64 bytes after the header, so requests
of up to 80 bytes are replayed exactly; larger ones (a cmap key, whose value length lies
further on) are left out. Iteration handles are the real corosync's, so our node answers
those with an error -- in a response of the same id and size, which is what is compared.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.ipc.fakes import FakeConn, header
from tests.ipc.layouts import FIXTURES
from tests.sync.fakebus import FakeBus
from totem.config import find_local_node, load
from totem.ipc.wire import REQUEST_HEADER
from totem.service import Service
from totem.services import QuorumService
from totem.services.cfg import CfgService
from totem.services.cfg_lib import LinkStatus, NodeStatus
from totem.services.cmap import CmapService
from totem.services.cpg import CpgService
from totem.services.cpg.lib import CpgLib
from votequorum.plugin import ConfiguredVotequorum
from votequorum.settings import VotequorumSettings

_ROW = re.compile(
    r"^(?P<op>writev|sendto|recvfrom)\s+fd\s*\d+\s+qb-(?P<svc>\w+)-(?P<chan>request|event-tx)\s+"
    r"ret=(?P<size>\d+)\s+id=(?P<id>-?\d+)\s*(?P<hex>[0-9a-f]*)$"
)
CONF = """\
totem {
    version: 2
    cluster_name: obscluster
    transport: udpu
}
nodelist {
    node {
        ring0_addr: 127.0.0.1
        nodeid: 1
        name: node1
    }
}
quorum {
    provider: corosync_votequorum
}
"""


class OneNode:
    def node_addresses(self, nodeid: int) -> Sequence[str] | None:
        return ["127.0.0.1"] if nodeid == 1 else None

    def node_status(self, nodeid: int) -> NodeStatus | None:
        link = LinkStatus(True, True, False, 1410, "127.0.0.1")
        return NodeStatus(nodeid, reachable=nodeid == 1, links=(link,))

    def ring_status(self) -> Sequence[tuple[str, str]]:
        return [("0 127.0.0.1", "OK")]


def exchanges(trace: str) -> list[tuple[str, bytes, int, int]]:
    """``(service, request, response id, response size)`` of each complete request."""
    rows = [m for line in (FIXTURES / trace).read_text().splitlines() if (m := _ROW.match(line))]
    out = []
    for index, row in enumerate(rows):
        if row["op"] == "recvfrom" or row["chan"] != "request":
            continue
        size = int(row["size"])
        body = bytes.fromhex(row["hex"])
        if size - 16 != len(body):
            continue  # longer than the trace shows
        answer = next(
            (r for r in rows[index + 1 :] if r["op"] == "recvfrom" and r["svc"] == row["svc"]
             and r["chan"] == "request"),
            None,
        )  # fmt: skip
        if answer is not None:
            request = REQUEST_HEADER.pack(int(row["id"]), size) + body
            out.append((row["svc"], request, int(answer["id"]), int(answer["size"])))
    return out


@pytest.fixture
def node(tmp_path: Path) -> dict[str, Service]:
    path = tmp_path / "corosync.conf"
    path.write_text(CONF)
    config = load(str(path))
    local = find_local_node(config, [], [], nodeid_override=1)
    cfg = CfgService()
    cfg.set_node_info(OneNode())
    services: list[Service] = [
        CmapService(config=config, local_node=local),
        cfg,
        CpgService(library=CpgLib),
        QuorumService(),
        ConfiguredVotequorum(VotequorumSettings.from_nodes([1]), {1: "node1"}),
    ]
    for service in services:
        service.bind(services)
    bus = FakeBus(lambda nid: services)
    bus.start([1])
    bus.run()
    bus.form_ring([1])
    bus.run()
    return {s.ipc_name: s for s in services if s.ipc_name}


@pytest.mark.parametrize("tool", ["quorumtool", "cfgtool", "cpgtool", "cmapctl"])
def test_answers_have_the_real_ids_and_sizes(tool: str, node: dict[str, Service]) -> None:
    replayed = exchanges(f"real-corosync-socket-mode-{tool}.txt")
    assert replayed
    conns: dict[str, FakeConn] = {}
    for service_name, request, want_id, want_size in replayed:
        service = node[service_name]
        conn = conns.get(service_name)
        if conn is None:
            conn = conns[service_name] = FakeConn()
            service.lib_init(conn)
        message_id = int.from_bytes(request[:4], "little", signed=True)
        service.lib_handlers()[message_id].handler(conn, request, 0.0)
        got = conn.take()
        assert header(got)[:2] == (want_id, want_size), (service_name, message_id)
        assert len(got) == want_size
