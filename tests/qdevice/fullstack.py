"""Whole pycorosync nodes with their qdevice clients and one qnetd, without sockets.

Every node is what the daemon runs: the services of the ``pycorosync.services`` entry points
and :func:`totem.node.assemble.build_stack` from a parsed corosync.conf with a ``device``
section, plus a :class:`~votequorum.qdevice.net_client.QdeviceNetClient` bridged to its
votequorum. Totem datagrams travel on a virtual network that tests can partition; the qdevice
connections go to the in-process :class:`~qnetd.server.instance.QnetdServer` of
:class:`~tests.qdevice.world.World`, which every node reaches whatever the partition.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from qnetd.server.instance import QnetdServer
from totem.config import CorosyncConfig, parse_text
from totem.node.assemble import build_stack
from totem.node.services import ServiceContext, load_services
from totem.node.stack import NodeStack
from votequorum.qdevice.bridge import VotequorumBridge
from votequorum.qdevice.net_client import QdeviceNetClient
from votequorum.qdevice.settings import settings_from_config
from votequorum.service import QuorumChanged, VotequorumService

from .world import Node, World, plain_server


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


class FullStack(World):
    """Nodes 1..n of ``conf`` on a virtual network, plus qnetd."""

    def __init__(
        self,
        conf: str,
        server: QnetdServer | None = None,
        latency: float = 0.0005,
        seed: int = 1,
        test_algorithm_enabled: bool = False,
    ) -> None:
        super().__init__(server or plain_server(), latency=latency)
        self.config: CorosyncConfig = parse_text(conf)
        self.ids = [node.nodeid for node in self.config.nodes]
        self.stacks: dict[int, NodeStack] = {}
        self.votequorum: dict[int, VotequorumService] = {}
        self.node_events: dict[int, list[Any]] = {i: [] for i in self.ids}
        self.cut: set[tuple[int, int]] = set()
        self.views_changed = False
        """Some votequorum reported a new quorum view (QuorumChanged) since last cleared."""
        self.seed = seed
        self.test_algorithm_enabled = test_algorithm_enabled

    # ------------------------------------------------------------------ nodes

    def boot(self, *ids: int) -> None:
        for node_id in ids or tuple(self.ids):
            local = self.config.node_by_id(node_id)
            assert local is not None
            services = load_services(ServiceContext(self.config, local))
            stack = build_stack(self.config, local, services)
            vq = next(s for s in services if isinstance(s, VotequorumService))
            client = QdeviceNetClient(
                settings_from_config(
                    self.config, node_id, test_algorithm_enabled=self.test_algorithm_enabled
                ),
                rng=random.Random(self.seed * 1000 + node_id),
            )
            bridge = VotequorumBridge(vq, client)
            self.nodes[node_id] = Node(client, bridge=bridge)
            self.stacks[node_id] = stack
            self.votequorum[node_id] = vq
            bridge.start(self.now)
            self.pump(node_id)
            stack.start(self.now)
            self.pump_stack(node_id)

    def crash(self, node_id: int) -> None:
        """SIGKILL: the node vanishes, the kernel closes its qnetd connection."""
        node = self.nodes.pop(node_id)
        del self.stacks[node_id]
        del self.votequorum[node_id]
        if node.conn_id is not None:
            self.server.connection_lost(node.conn_id, self.now)
            self._pump_server()

    def partition(self, *groups: Iterable[int]) -> None:
        sets = [set(g) for g in groups]
        self.cut = {
            (a, b) for a in self.ids for b in self.ids if not any(a in g and b in g for g in sets)
        }

    def heal(self) -> None:
        self.cut = set()

    # ------------------------------------------------------------------ pumping

    def after_polls(self, node_id: int) -> None:
        self.pump_stack(node_id)

    def pump_stack(self, node_id: int) -> None:
        stack = self.stacks.get(node_id)
        if stack is None:
            return
        for datagram in stack.outbox():
            dests = self.ids if datagram.dest is None else [datagram.dest]
            for dest in dests:
                if (node_id, dest) in self.cut:
                    continue
                self.at(self.latency, lambda d=dest, data=datagram.data: self._datagram(d, data))
        events = stack.events()
        node = self.nodes.get(node_id)
        for event in events:
            self.node_events[node_id].append(event)
            if isinstance(event, QuorumChanged):
                self.views_changed = True
            if node is not None:
                node.bridge.on_event(event, self.now)
        if node is not None:
            self.pump(node_id)  # polls made meanwhile pump the stack again (after_polls)

    def _datagram(self, dest: int, data: bytes) -> None:
        stack = self.stacks.get(dest)
        if stack is None:
            return
        stack.receive(data, self.now)
        self.pump_stack(dest)

    def deadlines(self) -> list[tuple[float, Callable[[], None]]]:
        out = super().deadlines()
        for node_id, stack in self.stacks.items():
            d = stack.next_deadline()
            if d is not None:
                out.append((d, lambda n=node_id: self._stack_deadline(n)))
        return out

    def _stack_deadline(self, node_id: int) -> None:
        self.stacks[node_id].on_deadline(self.now)
        self.pump_stack(node_id)

    # ------------------------------------------------------------------ views

    def quorate(self, node_id: int) -> bool:
        return self.votequorum[node_id].snapshot().quorate

    def total_votes(self, node_id: int) -> int:
        return self.votequorum[node_id].snapshot().total_votes

    def members(self, node_id: int) -> tuple[int, ...]:
        return self.votequorum[node_id].snapshot().members

    def settled(self, groups: list[set[int]]) -> bool:
        """Every live node sees exactly its group as members, synced."""
        for group in groups:
            for node_id in group:
                if node_id not in self.stacks:
                    continue
                live = {n for n in group if n in self.stacks}
                if set(self.members(node_id)) != live or not self.stacks[node_id].synced:
                    return False
        return True
