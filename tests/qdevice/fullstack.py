"""Whole pycorosync nodes with their qdevice clients and one qnetd, in the simulator.

Every node is what the daemon runs (the services of the ``pycorosync.services`` entry points,
:func:`totem.node.assemble.build_stack` from a parsed corosync.conf with a ``device`` section,
and a :class:`~votequorum.qdevice.net_client.QdeviceNetClient` bridged to its votequorum);
:class:`simulations.qdevice.QdeviceWorld` runs them with a qnetd host on the simulator's
virtual network and clock, and the simulator's checker watches quorum safety.
"""

from __future__ import annotations

from typing import Any

from simulations.cluster import Simulation
from simulations.network import QNETD_ID
from simulations.qdevice import QdeviceNode, QdeviceWorld
from simulations.trace import TraceRecorder
from totem.config import parse_text
from votequorum.status import VotequorumStatus


def corosync_conf(
    n: int,
    algorithm: str = "ffsplit",
    votes: int | None = 1,
    tie_breaker: str = "lowest",
    extra_quorum: str = "",
) -> str:
    nodes = "".join(
        f"    node {{\n        nodeid: {i}\n        name: node{i}\n"
        f"        ring0_addr: 10.0.0.{i}\n    }}\n"
        for i in range(1, n + 1)
    )
    votes_line = "" if votes is None else f"        votes: {votes}\n"
    return (
        "totem {\n    version: 2\n    cluster_name: fullstack\n    transport: udpu\n"
        "    token: 1000\n}\n"
        f"nodelist {{\n{nodes}}}\n"
        "quorum {\n    provider: corosync_votequorum\n"
        f"{extra_quorum}"
        "    device {\n        model: net\n"
        f"{votes_line}"
        "        net {\n            host: 10.0.0.100\n            tls: off\n"
        f"            algorithm: {algorithm}\n            tie_breaker: {tie_breaker}\n"
        "        }\n    }\n}\n"
    )


class FullStack:
    """Nodes 1..n of ``conf`` and a qnetd host, started; every event kept for inspection."""

    def __init__(self, conf: str, seed: int = 1, test_algorithm_enabled: bool = False) -> None:
        config = parse_text(conf)
        self.ids = [node.nodeid for node in config.nodes]
        self.world = QdeviceWorld(config, seed, test_algorithm_enabled=test_algorithm_enabled)
        self.sim = Simulation(
            self.ids,
            self.world.factory,
            seed=seed,
            recorder=TraceRecorder(keep_full=True),
            hosts=(QNETD_ID,),
        )
        self.world.attach(self.sim)
        self.world.qnetd.start()
        for node_id in self.ids:
            self.sim.start(node_id)

    def node(self, node_id: int) -> QdeviceNode:
        node = self.world.node(node_id)
        assert node is not None, f"node {node_id} is down"
        return node

    def status(self, node_id: int) -> VotequorumStatus:
        votequorum = self.node(node_id).votequorum
        assert votequorum is not None
        return votequorum.snapshot()

    def events(self, node_id: int) -> list[Any]:
        """Every event node ``node_id`` emitted, in order."""
        return [event for _, node, _, event in self.sim.recorder.full if node == node_id]

    def run_until(self, condition: Any, timeout: float) -> None:
        assert self.sim.run_for(timeout, condition), f"not reached in {timeout} s"
