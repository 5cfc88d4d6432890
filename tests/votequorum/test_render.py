"""corosync-quorumtool output, byte for byte against the recorded samples (ref 11.4)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from tests.fixtures import SAMPLES, SEED
from tests.sync.fakebus import FakeBus
from totem.ringid import RingId
from totem.service import Service
from totem.services import QuorumService
from votequorum.calc import NodeState
from votequorum.render import format_ctime, render_nodes, render_status, status_json
from votequorum.service import VotequorumService
from votequorum.settings import NodelistEntry, QdeviceSettings, VotequorumSettings
from votequorum.status import InfoFlags, NodeStatus, VotequorumStatus

CS = {1: "cs1", 2: "cs2", 3: "cs3"}


def transcript_block(path: Path, command: str) -> str:
    """The output printed after ``$ <command>`` in a sample transcript."""
    lines = path.read_text().split("\n")
    start = lines.index(f"$ {command}") + 1
    end = start
    while end < len(lines) and not lines[end].startswith("$ "):
        end += 1
    block = lines[start:end]
    if block and block[-1] == "":
        block = block[:-1]
    return "\n".join(block) + "\n"


def sample_date(text: str) -> datetime:
    m = re.search(r"^Date:\s+(.*)$", text, re.M)
    assert m
    return datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")


def service_bus(settings: VotequorumSettings, nodes: list[int]) -> FakeBus:
    def factory(nid: int) -> list[Service]:
        quorum = QuorumService()
        return [quorum, VotequorumService(settings, quorum.set_quorum)]

    bus = FakeBus(factory)
    bus.start(nodes)
    bus.run()
    return bus


def snapshot(bus: FakeBus, nid: int) -> VotequorumStatus:
    svc = bus.nodes[nid].service(5)
    assert isinstance(svc, VotequorumService)
    return svc.snapshot()


def test_ctime_format() -> None:
    assert format_ctime(datetime(2026, 11, 5, 5, 9, 3)) == "Thu Nov  5 05:09:03 2026"


def test_three_node_udpu_status_and_list() -> None:
    path = SAMPLES / "realcluster-udpu-3node.txt"
    expected_s = transcript_block(path, "realcluster.sh exec 1 corosync-quorumtool -s")
    expected_l = transcript_block(path, "realcluster.sh exec 1 corosync-quorumtool -l")
    bus = service_bus(VotequorumSettings.from_nodes([1, 2, 3]), [1, 2, 3])
    bus.form_ring([1, 2, 3], RingId(1, 0xD))
    bus.run()
    snap = snapshot(bus, 1)
    assert render_status(snap, CS, date=sample_date(expected_s)) == expected_s
    assert render_nodes(snap, CS) == expected_l


def qdevice_cluster() -> FakeBus:
    settings = VotequorumSettings(
        nodelist=(NodelistEntry(1, name="cs1"), NodelistEntry(2, name="cs2")),
        device=QdeviceSettings("net"),
    )
    bus = service_bus(settings, [1, 2])
    ring = bus.form_ring([1, 2], RingId(1, 9))
    bus.run()
    for nid in (1, 2):
        svc = bus.nodes[nid].service(5)
        svc.qdevice_register("Qdevice")
        bus.run()
        svc.qdevice_poll("Qdevice", True, ring, bus.now)
        bus.run()
    return bus


def test_qdevice_two_node_healthy() -> None:
    path = SAMPLES / "qdevice-2node-healthy.txt"
    expected = transcript_block(path, "realcluster.sh exec 1 corosync-quorumtool -s")
    bus = qdevice_cluster()
    assert render_status(snapshot(bus, 1), CS, date=sample_date(expected)) == expected


def test_qdevice_two_node_after_kill() -> None:
    path = SAMPLES / "qdevice-2node-after-kill-cs1.txt"
    expected = transcript_block(path, "realcluster.sh exec 2 corosync-quorumtool -s")
    bus = qdevice_cluster()
    bus.crash(1)
    ring = bus.form_ring([2], RingId(2, 0xD))
    bus.nodes[2].service(5).qdevice_poll("Qdevice", True, ring, bus.now)
    bus.advance(bus.now + 0.1)
    assert render_status(snapshot(bus, 2), CS, date=sample_date(expected)) == expected


def test_pvecm_status_seed_in_hex_layout() -> None:
    """The seed's second ``pvecm status`` (corosync 2.x era, ``-H`` node ids).

    The web page replaced spaces by U+00A0, the ``---`` underlines by ``~~~`` and
    dropped trailing blanks; corosync 2.x printed the ring id as one decimal
    number where 3.x prints ``rep.seq``. Everything else is the same layout.
    """
    text = SEED.read_text().replace("\u00a0", " ")
    lines = [line[1:] if line.startswith("+") else line for line in text.split("\n")]
    start = next(
        i + 2
        for i, line in enumerate(lines)
        if line.strip() == "hp1# pvecm status" and lines[i + 2] == "Quorum information"
    )
    end = lines.index("----", start)
    seed = [line.replace("~", "-").rstrip() for line in lines[start:end]]
    status = VotequorumStatus(
        node_id=1,
        ring_id=RingId(1, 1992),
        quorate=True,
        members=(1, 2, 3),
        expected_votes=3,
        highest_expected=3,
        total_votes=3,
        quorum=3,
        flags=InfoFlags.QUORATE,
        qdevice_name="",
        qdevice_votes=0,
        nodes=tuple(
            NodeStatus(n, NodeState.MEMBER, 1, 3, InfoFlags.QUORATE, 3, 3) for n in (1, 2, 3)
        ),
    )
    names = {1: "192.168.15.90", 2: "192.168.15.91", 3: "192.168.15.92"}
    ours = render_status(status, names, date=datetime(2015, 4, 20, 12, 44, 28), nodeid_format="hex")
    ours_lines = [line.rstrip() for line in ours.rstrip("\n").split("\n")]
    assert ours_lines[6] == "Ring ID:          1.7c8"
    assert seed[6] == "Ring ID:          1992"
    assert ours_lines[:6] + ours_lines[7:] == seed[:6] + seed[7:]


def test_inquorate_status_and_unknown_node() -> None:
    bus = service_bus(VotequorumSettings.from_nodes([1, 2, 3]), [1])
    snap = snapshot(bus, 1)
    fake = VotequorumStatus(
        **{**{f: getattr(snap, f) for f in snap.__dataclass_fields__}, "members": (1, 4)}
    )
    out = render_status(fake, {1: "a"}, date=datetime(2026, 1, 2, 3, 4, 5))
    assert "Quorum:           2 Activity blocked\n" in out
    assert "Flags:            \n" in out
    assert out.endswith(
        "Unable to get node 4 info\n\nMembership information\n----------------------\n"
        "    Nodeid      Votes Name\n         1          1 a (local)\n         4          0 \n"
    )


def test_machine_parsable_and_sorting() -> None:
    bus = service_bus(VotequorumSettings.from_nodes([1, 2, 3]), [1, 2, 3])
    bus.form_ring([3, 1, 2])
    bus.run()
    snap = snapshot(bus, 2)
    out = render_nodes(snap, {1: "zeta", 2: "alpha", 3: "mid"}, machine_parsable=True, sort="name")
    assert out.split("\n")[4:7] == [
        "         2          1         NR alpha (local)",
        "         3          1         NR mid",
        "         1          1         NR zeta",
    ]


def test_qdevice_not_casting_shows_its_votes() -> None:
    bus = qdevice_cluster()
    bus.nodes[1].service(5).qdevice_poll("Qdevice", False, bus.nodes[1].ring, bus.now)
    bus.run()
    out = render_nodes(snapshot(bus, 1), CS)
    assert out.split("\n")[-2] == "         0          0            Qdevice (votes 1)"
    assert "   A,NV,NMW cs1 (local)" in out


def test_json_form() -> None:
    bus = qdevice_cluster()
    assert status_json(snapshot(bus, 1), CS) == {
        "node_id": 1,
        "ring_id": "1.9",
        "quorate": True,
        "expected_votes": 3,
        "highest_expected": 3,
        "total_votes": 3,
        "quorum": 2,
        "flags": ["Quorate", "Qdevice"],
        "members": [
            {"node_id": 1, "votes": 1, "name": "cs1"},
            {"node_id": 2, "votes": 1, "name": "cs2"},
        ],
    }
