"""Quorum devices in the simulator: a qnetd host and a qdevice-net client on every node.

This is how a cluster with ``quorum { device { model: net ... } }`` runs in the
simulator (qdevice tie-breaks), with the very cores the daemons run
and the plaintext protocol (TLS off):

* :class:`QdeviceNode` is a full node (:class:`~simulations.stacknode.StackNode`)
  plus what the daemon's qdevice agent adds (``votequorum.qdevice.agent``): a
  :class:`~votequorum.qdevice.net_client.QdeviceNetClient` configured from the
  node's corosync.conf and a :class:`~votequorum.qdevice.bridge.VotequorumBridge`
  to its votequorum. The node's events feed the bridge, the client's polls go
  to votequorum, its connection goes over a simulated TCP stream
  (:mod:`simulations.streams`) to the qnetd host. Client and node are one
  process: they pause, crash and restart together, and the client runs on the
  node's clock.
* :class:`~simulations.qnetdhost.QnetdHost` is the arbiter's host on the
  network (endpoint :data:`~simulations.network.QNETD_ID`).
* :class:`QdeviceWorld` wires them into a :class:`~simulations.cluster.Simulation`.

The network model applies to the qnetd host like to any node (latency, loss,
cuts, partitions that name it); a TCP stream that cannot get through stalls,
so the processes' own timers decide: the client's echo timeout (2 x the
heartbeat of 0.8 x ``quorum.device.timeout``) and qnetd's dead peer detection
(1.5 x the heartbeat).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from qnetd.server.settings import ServerConfig
from simulations.network import QNETD_ID
from simulations.nodes import DeviceVote, NodeFactory, SimNode
from simulations.qnetdhost import QnetdHost
from simulations.stacknode import ObservedStack, StackNode, stack_builder
from simulations.streams import StreamEvent, StreamNetwork
from totem.config import CorosyncConfig
from votequorum.events import QuorumChanged
from votequorum.qdevice.bridge import VOTEQUORUM_EVENTS, BridgeState, VotequorumBridge
from votequorum.qdevice.events import (
    ClientState,
    Close,
    Connect,
    HeuristicsResult,
    Output,
    Poll,
    RunHeuristics,
    Send,
    StartTls,
    Stopped,
)
from votequorum.qdevice.net_client import QdeviceNetClient
from votequorum.qdevice.settings import settings_from_config as qdevice_settings
from votequorum.status import InfoFlags

if TYPE_CHECKING:
    from simulations.cluster import Simulation

__all__ = [
    "QdeviceNode",
    "QdeviceWorld",
]

_MAX_PUMP = 64
"""Rounds of node events <-> client outputs after one input (a loop would be a bug)."""
_CAST_VOTE = InfoFlags.QDEVICE_CAST_VOTE.value


# ----------------------------------------------------------------------------------------
# the node side
# ----------------------------------------------------------------------------------------
class QdeviceNode(StackNode):
    """A full node with the qdevice-net client the daemon runs beside votequorum."""

    __slots__ = (
        "_counted",
        "_now",
        "_pending",
        "_touched",
        "autostart",
        "bridge",
        "client",
        "conn",
        "incarnation",
        "streams",
    )

    def __init__(
        self,
        stack: ObservedStack,
        client: QdeviceNetClient,
        streams: StreamNetwork,
        incarnation: int,
        *,
        autostart: bool = True,
    ) -> None:
        super().__init__(stack)
        if self.votequorum is None:
            raise ValueError("a quorum device needs votequorum (quorum.provider)")
        self.client = client
        self.bridge = VotequorumBridge(self.votequorum, client)
        self.streams = streams
        self.incarnation = incarnation
        self.autostart = autostart
        """Start the device with the node, as the daemon does (vq mode starts it on demand)."""
        self.conn: int | None = None
        """The client's current connection (or connection attempt)."""
        self._pending: list[Any] = []
        self._now = 0.0
        self._counted = False
        """The device vote counted by the last quorum view (or since)."""
        self._touched = False
        """Called from outside (an API call) since the last pump."""

    # -- the driver contract ------------------------------------------------------------
    def start(self, now: float) -> None:
        self._view = None
        self._now = now
        if self.autostart:
            self.bridge.start(now)  # the agent registers the device before the ring forms
        self.stack.start(now)
        self._pump(now)

    def receive(
        self,
        data: bytes,
        now: float,
        link: int = 0,
        *,
        defer: bool = False,
        source: str | None = None,
    ) -> None:
        self._view = None
        self._now = now
        self.stack.receive(data, now, link, defer=defer, source=source)
        if not defer:
            self._pump(now)

    def process_deferred(self, now: float) -> None:
        """The stack delivers; the node's events then reach the device (the agent follows
        the node's events as the daemon dispatches them). An input that gave the node no
        event, after no outside call (:meth:`touched`), touched neither votequorum nor the
        client: there is nothing to pump."""
        self._view = None
        self._now = now
        stack = self.stack
        stack.process_deferred(now)
        events = stack.events()
        if events or self._touched:
            self._pump(now, events)

    def touched(self) -> None:
        self._view = None
        self._touched = True

    def next_deadline(self) -> float | None:
        mine = self.stack.next_deadline()
        theirs = self.client.next_deadline()
        if theirs is not None and (mine is None or theirs < mine):
            return theirs
        return mine

    def on_deadline(self, now: float) -> None:
        self._view = None
        self._now = now
        pumped = False
        due = self.stack.next_deadline()
        if due is not None and due <= now:
            self.stack.on_deadline(now)
            self._pump(now)
            pumped = True
        due = self.client.next_deadline()
        if due is not None and due <= now:
            self.client.on_deadline(now)
            self._pump(now)
        elif not pumped:
            self._pump(now)  # a pump after a pump that left nothing to do would find nothing

    def events(self) -> list[Any]:
        out, self._pending = self._pending, []
        return out

    def leave(self) -> None:
        """Graceful shutdown: the agent stops (unregisters the device), then Totem leaves."""
        self._view = None
        self.device_stop(self._now)
        super().leave()

    # -- the device ---------------------------------------------------------------------
    def device_start(self, now: float) -> None:
        """Register the device with votequorum; the client connects once it is accepted."""
        self._now = now
        if self.bridge.state in (BridgeState.STOPPED, BridgeState.FAILED):
            self.bridge = VotequorumBridge(self.votequorum, self.client)
        self.bridge.start(now)
        self._pump(now)

    def device_stop(self, now: float) -> None:
        """Disconnect from qnetd and unregister the device (the agent's ``stop``)."""
        if self.bridge.state in (BridgeState.REGISTERING, BridgeState.REGISTERED):
            self.bridge.stop(now)
            self._pump(now)

    def stream_event(self, conn_id: int, event: StreamEvent, data: bytes, now: float) -> None:
        """Something happened on a connection of this process (see :mod:`simulations.streams`)."""
        self._view = None
        self._now = now
        if conn_id != self.conn:
            return  # a connection the client already closed
        client = self.client
        if event is StreamEvent.CONNECTED:
            client.connected(now)
        elif event is StreamEvent.DATA:
            client.receive(data, now)
        elif event is StreamEvent.REFUSED:
            self.conn = None
            self.streams.close(conn_id, self.node_id)
            client.connect_failed(now)
        elif event in (StreamEvent.EOF, StreamEvent.RESET):
            # the driver closes its socket, then tells the client
            self.conn = None
            self.streams.close(conn_id, self.node_id)
            client.connection_lost(now, error=event is StreamEvent.RESET)
        self._pump(now)

    # -- plumbing -----------------------------------------------------------------------
    def _pump(self, now: float, first: list[Any] | None = None) -> None:
        """Node events to the bridge, client outputs carried out, until both are quiet
        (``first``: the node's events, already taken)."""
        stack, bridge, client, pending = self.stack, self.bridge, self.client, self._pending
        self._touched = False
        for _ in range(_MAX_PUMP):
            if first is not None:
                events, first = first, None
            else:
                events = stack.events()
            for event in events:
                if isinstance(event, VOTEQUORUM_EVENTS):  # what the agent follows
                    bridge.on_event(event, now)
                pending.append(event)
                if type(event) is QuorumChanged:
                    pending.append(self._device_vote(event))
            busy = bool(events)
            outputs = client.outbox()
            if outputs:
                rest = bridge.execute(outputs, now)
                busy = busy or len(rest) != len(outputs)
                for output in rest:
                    busy = self._carry_out(output, now) or busy
            for event in client.events():
                pending.append(event)
                if isinstance(event, Stopped) and bridge.state == BridgeState.REGISTERED:
                    bridge.stop(now)  # corosync-qdevice exits: the device leaves votequorum
                    busy = True
            pending.extend(bridge.log_records())
            if not busy:
                if self._counted and not self._casting():
                    # a NACK, a lost connection, an unregistered device: votequorum stops
                    # counting the vote now, its quorum view only once it recalculates
                    self._counted = False
                    pending.append(DeviceVote(counted=False))
                return
        raise RuntimeError(f"node {self.node_id}: qdevice client and votequorum do not settle")

    def _device_vote(self, change: QuorumChanged) -> DeviceVote:
        """Whether the quorum view just published counts, and needs, the device's votes."""
        assert self.votequorum is not None
        counted = self._casting()
        self._counted = counted
        votes = self.votequorum.snapshot().qdevice_votes
        needed = counted and change.quorate and change.total_votes - votes < change.quorum
        return DeviceVote(counted=counted, needed=needed)

    def _casting(self) -> bool:
        """votequorum counts the device vote in its quorum (CAST_VOTE, as corosync's
        ``calculate_quorum`` tests it)."""
        assert self.votequorum is not None
        mine = self.votequorum.getinfo(0)
        return mine is not None and bool(int(mine.flags) & _CAST_VOTE)

    def _carry_out(self, output: Output, now: float) -> bool:
        """What the agent's driver does with one client output; True if the client was fed."""
        streams = self.streams
        if isinstance(output, Connect):
            if self.conn is not None:
                streams.close(self.conn, self.node_id)
            self.conn = streams.connect(self.node_id, self.incarnation, QNETD_ID)
        elif isinstance(output, Send):
            if self.conn is not None and not streams.send(self.conn, self.node_id, output.data):
                self.client.send_failed(now)
                return True
        elif isinstance(output, Close):
            if self.conn is not None:
                streams.close(self.conn, self.node_id)
                self.conn = None
        elif isinstance(output, StartTls):
            self.client.tls_failed(now, "TLS is not simulated (tls: off)", local=True)
            return True
        elif isinstance(output, RunHeuristics):
            self.client.heuristics_result(output.seq, HeuristicsResult.PASS, now)
            return True
        elif isinstance(output, Poll):  # pragma: no cover - the bridge takes them all
            pass
        return False

    # -- inspection ---------------------------------------------------------------------
    @property
    def device_voting(self) -> bool:
        """votequorum counts this node's device vote: ALIVE and CAST_VOTE (quorumtool's A,V)."""
        assert self.votequorum is not None
        flags: InfoFlags = self.votequorum.snapshot().flags
        wanted = InfoFlags.QDEVICE_ALIVE | InfoFlags.QDEVICE_CAST_VOTE
        return bool(flags & wanted == wanted)

    @property
    def device_connected(self) -> bool:
        """The client is connected to qnetd (past INIT: votes flow)."""
        return self.client.state == ClientState.CONNECTED

    def counters(self) -> Mapping[str, int | float]:
        stats = dict(super().counters())
        assert self.votequorum is not None
        status = self.votequorum.snapshot()
        stats["expected_votes"] = status.expected_votes
        stats["total_votes"] = status.total_votes
        stats["quorum"] = status.quorum
        stats["qdevice_connected"] = int(self.device_connected)
        stats["qdevice_voting"] = int(self.device_voting)
        for key, value in self.client.counters.items():
            stats[f"qdevice_{key}"] = value
        return stats


class _NodeSockets:
    """The streams' view of one node id: events go to its process through the simulation."""

    __slots__ = ("node_id", "sim")

    def __init__(self, sim: Simulation, node_id: int) -> None:
        self.sim = sim
        self.node_id = node_id

    def stream_event(self, incarnation: int, conn_id: int, event: StreamEvent, data: bytes) -> bool:
        def act(node: SimNode, now: float) -> None:
            if isinstance(node, QdeviceNode):
                node.stream_event(conn_id, event, data, now)

        return self.sim.process_input(self.node_id, incarnation, act)

    def listening(self) -> int | None:
        return None


# ----------------------------------------------------------------------------------------
# wiring
# ----------------------------------------------------------------------------------------
class QdeviceWorld:
    """A qnetd host and qdevice nodes for ``config``, attached to one simulation.

    ::

        world = QdeviceWorld(config, seed)
        sim = Simulation(ids, world.factory, seed=seed, hosts=(QNETD_ID,))
        world.attach(sim)
        world.qnetd.start()

    ``config`` must configure ``quorum.device`` (model net); its settings are
    checked at once, as corosync-qdevice checks them at start
    (``QdeviceSettingsError``). ``autostart=False`` leaves each node's device
    unregistered until :meth:`QdeviceNode.device_start` (vq's ``qdevice on``).
    """

    def __init__(
        self,
        config: CorosyncConfig,
        seed: int = 0,
        *,
        autostart: bool = True,
        test_algorithm_enabled: bool = False,
        server_config: ServerConfig | None = None,
    ) -> None:
        self.config = config
        self.seed = seed
        self.autostart = autostart
        self.test_algorithm_enabled = test_algorithm_enabled
        self.server_config = server_config
        self._settings = {
            node.nodeid: qdevice_settings(
                config, node.nodeid, test_algorithm_enabled=test_algorithm_enabled
            )
            for node in config.nodes
        }
        self._sim: Simulation | None = None
        self._streams: StreamNetwork | None = None
        self._qnetd: QnetdHost | None = None

    @property
    def sim(self) -> Simulation:
        if self._sim is None:
            raise RuntimeError("QdeviceWorld.attach(sim) has not been called")
        return self._sim

    @property
    def streams(self) -> StreamNetwork:
        if self._streams is None:
            raise RuntimeError("QdeviceWorld.attach(sim) has not been called")
        return self._streams

    @property
    def qnetd(self) -> QnetdHost:
        if self._qnetd is None:
            raise RuntimeError("QdeviceWorld.attach(sim) has not been called")
        return self._qnetd

    def attach(self, sim: Simulation) -> None:
        """Wire the streams and the qnetd host into ``sim`` (built with ``hosts=(QNETD_ID,)``)."""
        if QNETD_ID not in sim.network.hosts:
            raise ValueError("the simulation's network has no qnetd host (hosts=(QNETD_ID,))")
        self._sim = sim
        streams = StreamNetwork(sim.network, sim)
        self._streams = streams
        for node_id in sim.slots:
            streams.register(node_id, _NodeSockets(sim, node_id))
        self._qnetd = QnetdHost(sim, streams, self.server_config)
        sim.down_listeners.append(streams.endpoint_down)

    @property
    def factory(self) -> NodeFactory:
        """Full nodes with their qdevice clients (usable once attached)."""
        build_stack = stack_builder(self.config, self.seed)
        seed = self.seed

        def build(node_id: int, stored_ring_seq: int) -> SimNode:
            incarnation = self.sim.slots[node_id].incarnation
            stack = build_stack(node_id, stored_ring_seq)
            client = QdeviceNetClient(
                self._settings[node_id],
                rng=random.Random(f"{seed}:{node_id}:{incarnation}:qdevice"),
            )
            return QdeviceNode(stack, client, self.streams, incarnation, autostart=self.autostart)

        return build

    def node(self, node_id: int) -> QdeviceNode | None:
        """The running process of ``node_id``, None if it is down."""
        node = self.sim.slots[node_id].node
        return node if isinstance(node, QdeviceNode) else None

    def poke(self, node_id: int, action: Callable[[QdeviceNode, float], None]) -> bool:
        """Run ``action(node, local_now)`` on the node's process as an input; False if down."""

        def act(node: SimNode, now: float) -> None:
            if isinstance(node, QdeviceNode):
                action(node, now)

        slot = self.sim.slots[node_id]
        return self.sim.process_input(node_id, slot.incarnation, act)
