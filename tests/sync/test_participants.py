"""Exec dispatch and the cmap / quorum / votequorum sync participants (ref 9, 10.3, 10.4)."""

from __future__ import annotations

import struct

import pytest

from tests.sync.fakebus import FakeBus, Sent
from totem.ringid import RingId
from totem.service import Service
from totem.services import (
    EXEC_GROUP,
    CmapService,
    ConfigVersionMismatch,
    ExecDispatcher,
    ExecHeader,
    QuorumService,
    encode_exec,
)
from totem.services.cmap import decode_config_version_mcast, encode_config_version_mcast
from totem.services.quorum import view_list_lines
from totem.srp.events import LogLevel
from totem.sync import SYNC_GROUP
from votequorum.service import VotequorumService
from votequorum.settings import VotequorumSettings


class Cpg(Service):
    """cpg (id 2) hosting no groups: it only needs its barrier (ref 10.4)."""

    service_id = 2
    name = "corosync cluster closed process group service v1.01"
    sync_participant = True

    @property
    def exec_function_count(self) -> int:
        return 7


def stack(config_version: int = 0, nodes: tuple[int, ...] = (1, 2, 3)):  # type: ignore[no-untyped-def]
    def factory(nid: int) -> list[Service]:
        quorum = QuorumService()
        vq = VotequorumService(VotequorumSettings.from_nodes(list(nodes)), quorum.set_quorum)
        return [CmapService(config_version), Cpg(), quorum, vq]

    return factory


def describe(sent: Sent) -> str:
    if sent.group == SYNC_GROUP:
        (msg_id,) = struct.unpack_from("<i", sent.payload)
        return "SERVICE_BUILD" if msg_id == 1 else "BARRIER"
    header = ExecHeader.decode(sent.payload)
    if header.service_id == 0:
        return f"CMAP MCAST {len(sent.payload)}"
    if header.service_id == 5 and header.fn_id == 0:
        (nodeid,) = struct.unpack_from("<I", sent.payload, 16)
        return f"VQ NODEINFO {nodeid}"
    return f"{header.service_id}.{header.fn_id}"


def test_exact_message_sequence_of_a_node() -> None:
    """ref 10.3: what one node sends in a new two-node ring, in order."""
    bus = FakeBus(stack(nodes=(1, 2)))
    bus.start([1, 2])
    first = bus.sent_by(1)
    # exec-init NODEINFO(self) goes out first, in the singleton ring; it carries FIRST
    assert describe(first[0]) == "VQ NODEINFO 1"
    assert struct.unpack_from("<IIII", first[0].payload, 16) == (1, 1, 2, 8)
    bus.run()
    ring = bus.form_ring([1, 2])
    bus.run()
    sent = bus.sent_by(1, ring)
    assert [describe(s) for s in sent] == [
        "SERVICE_BUILD",
        "CMAP MCAST 336",
        "BARRIER",
        "BARRIER",
        "BARRIER",
        "VQ NODEINFO 1",
        "VQ NODEINFO 0",
        "BARRIER",
    ]
    (entries,) = struct.unpack_from("<i", sent[0].payload, 32)
    assert struct.unpack_from(f"<{entries}i", sent[0].payload, 40) == (0, 2, 3, 5)
    # NODEINFO(self): FIRST cleared, not yet quorate (the 2-node ring activates later)
    assert struct.unpack_from("<IIII", sent[5].payload, 16) == (1, 1, 2, 0)
    assert struct.unpack_from("<IIII", sent[6].payload, 16) == (0, 0, 0, 0)


def test_cmap_item_layout() -> None:
    body = encode_config_version_mcast(0, 7)
    msg = encode_exec(0, 0, body)
    assert len(msg) == 336
    assert struct.unpack_from("<i4xi4x", msg) == (0, 336)
    assert msg[16] == 0 and msg[24] == 1  # reason SYNC, one item
    assert struct.unpack_from("<H", msg, 48) == (20,)
    assert msg[56 : 56 + 20] == b"totem.config_version"
    assert msg[48 + 264] == 8  # UINT64
    assert struct.unpack_from("<QQ", msg, 48 + 272) == (8, 7)
    assert decode_config_version_mcast(body) == (0, 7)
    assert len(encode_config_version_mcast(0, None)) == 32 + 280
    assert decode_config_version_mcast(encode_config_version_mcast(1, None)) == (1, 0)


@pytest.mark.parametrize("cut", [0, 10, 31, 40, 300, 319])
def test_cmap_truncated_messages_are_counted(cut: int) -> None:
    bus = FakeBus(stack())
    bus.start([1])
    bus.run()
    body = encode_config_version_mcast(0, 5)[:cut]
    bus.inject(1, EXEC_GROUP, encode_exec(0, 0, body))
    bus.run()
    assert bus.nodes[1].service(0).counters["malformed"] == 1


def test_config_version_mismatch_is_reported_not_exited() -> None:
    def factory(nid: int) -> list[Service]:
        return [CmapService(config_version=5 if nid == 1 else 7)]

    bus = FakeBus(factory)
    bus.start([1, 2])
    bus.run()
    bus.form_ring([1, 2])
    bus.run()
    node1, node2 = bus.nodes[1], bus.nodes[2]
    assert node1.service(0).member_config_versions == {1: 5, 2: 7}
    assert ConfigVersionMismatch(received=7, mine=5) in node1.service_events
    assert node1.messages(LogLevel.ERROR, "CMAP") == [
        "Received config version (7) is different than my config version (5)! Exiting"
    ]
    assert not [e for e in node2.service_events if isinstance(e, ConfigVersionMismatch)]
    # Only the first sync with a transitional list checks.
    bus.form_ring([1, 2])
    bus.run()
    assert node1.messages(LogLevel.DEBUG, "CMAP")[-1] == "Not first sync -> no action"


def test_config_version_zero_never_checks() -> None:
    def factory(nid: int) -> list[Service]:
        return [CmapService(config_version=0 if nid == 1 else 9)]

    bus = FakeBus(factory)
    bus.start([1, 2])
    bus.run()
    bus.form_ring([1, 2])
    bus.run()
    assert (
        bus.nodes[1].messages(LogLevel.DEBUG, "CMAP")[-1] == "My config version is 0 -> no action"
    )


def test_quorum_log_lines() -> None:
    bus = FakeBus(stack())
    bus.start([1, 2, 3])
    bus.run()
    bus.form_ring([1, 2, 3])
    bus.run()
    bus.crash(3)
    bus.form_ring([1, 2])
    bus.run()
    notices = bus.nodes[1].messages(LogLevel.NOTICE, "QUORUM")
    assert notices == [
        "Using quorum provider corosync_votequorum",
        "Sync members[1]: 1",
        "Sync joined[1]: 1",
        "Members[1]: 1",
        "Sync members[3]: 1 2 3",
        "Sync joined[2]: 2 3",
        "This node is within the primary component and will provide service.",
        "Members[3]: 1 2 3",
        "Sync members[2]: 1 2",
        "Sync left[1]: 3",
        "Members[2]: 1 2",
    ]
    quorum = bus.nodes[1].service(3)
    assert quorum.quorate
    assert quorum.view.members == (1, 2)


def test_long_view_lists_are_continued() -> None:
    nodes = list(range(1000, 1020))
    lines = view_list_lines("Members", nodes)
    assert all(len(line.split(":", 1)[1]) <= 64 for line in lines)
    assert lines[0] == "Members[20]: 1000 1001 1002 1003 1004 1005 1006 1007 1008 1009 1010 1011\\"
    assert lines[1] == "Members[20]: 1012 1013 1014 1015 1016 1017 1018 1019"


def test_quorum_service_without_provider_is_always_quorate() -> None:
    assert QuorumService(provider=None).quorate


class Echo(Service):
    service_id = 9
    name = "echo"

    def __init__(self) -> None:
        super().__init__()
        self.got: list[tuple[int, int, bytes]] = []

    @property
    def exec_function_count(self) -> int:
        return 2

    def exec_deliver(self, sender: int, fn_id: int, body: bytes, now: float) -> None:
        self.got.append((sender, fn_id, body))


def test_exec_dispatch_routes_and_counts() -> None:
    echo = Echo()
    logs: list[tuple[LogLevel, str, str]] = []
    dispatcher = ExecDispatcher([echo], log=lambda *a: logs.append(a))
    msg = encode_exec(9, 1, b"hello")
    assert msg[:16] == struct.pack("<I4xi4x", 9 << 16 | 1, 21)
    assert dispatcher.deliver(4, msg, 0.0)
    assert echo.got == [(4, 1, b"hello")]
    assert not dispatcher.deliver(4, encode_exec(9, 2, b""), 0.0)
    assert logs == [
        (LogLevel.WARNING, "MAIN", "discarded unknown message 2 for service 9 (max id 2)")
    ]
    assert not dispatcher.deliver(4, encode_exec(8, 0, b""), 0.0)
    assert not dispatcher.deliver(4, msg[:15], 0.0)
    assert not dispatcher.deliver(4, msg[:-1], 0.0)  # size field disagrees
    assert not dispatcher.deliver(4, msg + b"x", 0.0)
    assert dispatcher.counters == {
        "delivered": 1,
        "malformed": 3,
        "unknown_service": 1,
        "unknown_function": 1,
    }
    assert dispatcher.rx == {(9, 1): 1}
    assert ExecHeader.decode(msg) == ExecHeader(9 << 16 | 1, 21)
    with pytest.raises(ValueError):
        encode_exec(1 << 16, 0, b"")


def test_ring_id_of_sync_is_the_new_ring() -> None:
    bus = FakeBus(stack())
    bus.start([1, 2])
    bus.run()
    ring = bus.form_ring([1, 2], RingId(1, 0x5F))
    bus.run()
    vq = bus.nodes[2].service(5)
    assert vq.snapshot().ring_id == ring
