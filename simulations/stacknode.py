"""Full simulated nodes: the daemon's ``NodeStack`` with its service engines.

A :class:`StackNode` is what ``pycorosync`` runs on a host: SRP, totempg, the
sync protocol and the service engines the daemon loads for the configuration
(the ``pycorosync.services`` entry points, as ``totem.node.services.load_services``
finds them: cmap, cfg, cpg, quorum, votequorum, ...) and, when the
configuration asks for them, its redundant rings and datagram crypto, plus
one simulator-only service, :class:`SimAppService`, that plays the
application: it multicasts exec messages carrying :mod:`simulations.traffic`
payloads and reports every delivery.

The checker sees both levels: every SRP ``Delivery`` (the totempg packets of
sync, votequorum and the application, for ordering and virtual synchrony) and
every application message (for creation, FIFO and self-delivery). To keep
them in their true order relative to configuration changes, the stack is a
small subclass, :class:`ObservedStack`, that records each SRP delivery and the
application messages it produced at the moment ``NodeStack`` processes it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any

from simulations.nodes import NodeFactory, NodeView, SimNode, Votes
from simulations.traffic import AppDelivered
from totem.config import CorosyncConfig, NodeConfig
from totem.knet.layer import KnetLayer
from totem.net.layer import NetLayer
from totem.node.assemble import build_net, settings_from_config
from totem.node.services import ENTRY_POINT_GROUP
from totem.node.stack import NodeStack
from totem.service import Service, ServiceContext
from totem.srp.events import Delivery
from totem.srp.settings import SrpSettings
from totem.srp.state import Datagram

__all__ = [
    "SIM_SERVICE_ID",
    "ObservedStack",
    "SimAppService",
    "StackNode",
    "node_services",
    "stack_builder",
    "stack_factory",
]

SIM_SERVICE_ID = 0x7F00
"""The application service's id: far above corosync's own (0..~20)."""
_QUORUM_SERVICE_ID = 3
_VOTEQUORUM_SERVICE_ID = 5


class SimAppService(Service):
    """The simulated application: one exec function carrying opaque payloads."""

    service_id = SIM_SERVICE_ID
    name = "pycorosync-sim application"
    sync_participant = False

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[AppDelivered] = []

    @property
    def exec_function_count(self) -> int:
        return 1

    def exec_deliver(self, sender: int, fn_id: int, body: bytes, now: float) -> None:
        self.pending.append(AppDelivered(sender, body))

    def send(self, payload: bytes) -> None:
        """Multicast ``payload`` to every node in agreed order."""
        assert self.host is not None
        self.host.mcast(SIM_SERVICE_ID, 0, payload)

    def take(self) -> list[AppDelivered]:
        out, self.pending = self.pending, []
        return out


class ObservedStack(NodeStack):
    """``NodeStack`` that also reports SRP deliveries and application messages, in order."""

    def __init__(
        self,
        node_id: int,
        settings: SrpSettings,
        services: Sequence[Service],
        app: SimAppService,
        **kwargs: Any,
    ) -> None:
        super().__init__(node_id, settings, [*services, app], **kwargs)
        self.app = app

    def _deliver(self, delivery: Delivery, now: float) -> None:
        self._events.append(delivery)
        super()._deliver(delivery, now)
        if self.app.pending:
            self._events.extend(self.app.take())


class StackNode:
    """A full node as the simulator drives it."""

    __slots__ = ("_view", "app", "node_id", "quorum_service", "stack", "votequorum")

    def __init__(self, stack: ObservedStack) -> None:
        self.stack = stack
        self.app = stack.app
        self.node_id = stack.node_id
        self.votequorum: Any = next(
            (s for s in stack.services if s.service_id == _VOTEQUORUM_SERVICE_ID), None
        )
        self.quorum_service: Any = next(
            (s for s in stack.services if s.service_id == _QUORUM_SERVICE_ID), None
        )
        """vsf_quorum: the quorum view applications see (None: not loaded)."""
        self._view: NodeView | None = None
        """Cached between inputs: a node's view only changes when it processes one."""

    def start(self, now: float) -> None:
        self._view = None
        self.stack.start(now)

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
        self.stack.receive(data, now, link, defer=defer, source=source)

    def process_deferred(self, now: float) -> None:
        self._view = None
        self.stack.process_deferred(now)

    def next_deadline(self) -> float | None:
        return self.stack.next_deadline()

    def on_deadline(self, now: float) -> None:
        self._view = None
        self.stack.on_deadline(now)

    def outbox(self) -> list[Datagram]:
        return self.stack.outbox()

    def events(self) -> list[Any]:
        return self.stack.events()

    def leave(self) -> None:
        self._view = None
        self.stack.leave()

    def submit(self, payload: bytes, safe: bool) -> bool:
        """As corosync's IPC does (``corosync_sending_allowed``): refused (TRY_AGAIN) while
        sync runs or when the queues are full; SAFE is not offered by the stack."""
        stack = self.stack
        if safe or not stack.synced or not stack.send_ok(len(payload) + 32):
            return False
        self._view = None
        self.app.send(payload)
        return True

    def touched(self) -> None:
        self._view = None

    def view(self) -> NodeView:
        if self._view is None:
            self._view = self._make_view()
        return self._view

    def _make_view(self) -> NodeView:
        stack = self.stack
        srp = stack.srp
        quorum = self.quorum_service
        if quorum is None or quorum.view is None:
            quorate = None if quorum is None else quorum.quorate
            return NodeView(
                srp.state.name, srp.ring.ring_id, srp.members, quorate=quorate, synced=stack.synced
            )
        view = quorum.view
        return NodeView(
            srp.state.name,
            srp.ring.ring_id,
            srp.members,
            quorate=view.quorate,
            synced=stack.synced,
            quorum_ring=view.ring_id,
            quorum_members=view.members,
        )

    def votes(self) -> Votes | None:
        if self.votequorum is None:
            return None
        status = self.votequorum.snapshot()
        return Votes(status.expected_votes, status.total_votes, status.quorum)

    def counters(self) -> Mapping[str, int | float]:
        stack = self.stack
        stats = stack.srp.stats.as_dict()
        stats.pop("dropped", None)
        stats["queued_packets"] = stack.counters.queued_packets
        stats["bad_packet"] = stack.counters.bad_packet
        stats["new_queue"] = len(stack.srp.order.new_queue) + len(stack.srp.order.new_queue_trans)
        for key, value in stack.dispatcher.counters.items():
            stats[f"exec_{key}"] = value
        net = stack.net
        if isinstance(net, KnetLayer):
            handle = net.handle
            stats["knet_reachable"] = sum(
                1 for h in handle.hosts.values() if h.reachable and not h.loopback
            )
            stats["knet_data_mtu"] = handle.data_mtu
            stats["knet_links_down"] = sum(
                1 for link in handle.iter_links() if not link.loopback and not link.connected
            )
            stats["knet_dropped"] = sum(handle.drops.values())
            for reason in ("duplicate", "unreachable", "crypto_bad_hash", "not_for_us"):
                stats[f"knet_dropped_{reason}"] = handle.drops[reason]
            for reason, count in handle.drops.items():
                stats[f"knet_dropped_{reason}"] = count
        if isinstance(net, NetLayer) and net.rrp.passive:
            for ring, faulty in enumerate(net.rrp.faulty):
                stats[f"ring{ring}_faulty"] = int(faulty)
            for key, value in net.rrp.stats.as_dict().items():
                if isinstance(value, int | float):
                    stats[f"rrp_{key}"] = value
        return stats


def node_services(context: ServiceContext) -> list[Service]:
    """The service engines the daemon would load for ``context`` (its entry points).

    An entry point that cannot be loaded (a development install whose metadata
    is ahead of the code on ``sys.path``) is skipped and named in
    :data:`SKIPPED_SERVICES` instead of failing every simulation.
    """
    services: list[Service] = []
    for factory in _service_factories():
        service = factory(context)
        if service is not None:
            services.append(service)
    services.sort(key=lambda service: service.service_id)
    return services


SKIPPED_SERVICES: dict[str, str] = {}
"""Service entry points that could not be loaded, with the reason."""

_FACTORIES: list[Callable[[ServiceContext], Service | None]] = []
_FACTORIES_FOUND = False


def _service_factories() -> list[Callable[[ServiceContext], Service | None]]:
    """The loaded entry points of the service group, looked up once per process (the
    metadata scan cost a few ms per simulated node start)."""
    global _FACTORIES_FOUND
    if not _FACTORIES_FOUND:
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                _FACTORIES.append(entry_point.load())
            except (ImportError, AttributeError) as exc:
                SKIPPED_SERVICES[entry_point.name] = str(exc)
        _FACTORIES_FOUND = True
    return _FACTORIES


def stack_builder(config: CorosyncConfig, seed: int = 0) -> Callable[[int, int], ObservedStack]:
    """``build(node_id, stored_ring_seq)``: the daemon's node stack of ``config`` for that
    node, with its service engines, redundant rings and crypto, and the simulated
    application; each node's RNG derives from ``seed``."""
    settings = settings_from_config(config)
    nodelist = [node.nodeid for node in config.nodes]
    by_id: dict[int, NodeConfig] = {node.nodeid: node for node in config.nodes}
    knet = config.totem.transport == "knet"
    layered = knet or len(config.links) > 1 or config.totem.crypto_enabled

    boots: dict[int, int] = {}

    def build(node_id: int, stored_ring_seq: int) -> ObservedStack:
        local = by_id[node_id]
        services = node_services(ServiceContext(config, local))
        rng = random.Random(f"{seed}:{node_id}:{stored_ring_seq}")
        # The crypto boot epoch grows across restarts, as the daemon's (clock based) does,
        # and comes from the seed: a run is a function of its seed, crypto on or off.
        boot = boots[node_id] = boots.get(node_id, 0) + 1
        epoch = boot << 16 | random.Random(f"{seed}:{node_id}:{boot}:epoch").getrandbits(16)
        return ObservedStack(
            node_id,
            settings,
            services,
            SimAppService(),
            stored_ring_seq=stored_ring_seq,
            rng=rng,
            nodelist=nodelist,
            net=(
                build_net(
                    config,
                    local,
                    salt_source=random.Random(f"{seed}:{node_id}:salt").randbytes,
                    epoch=epoch,
                )
                if layered
                else None
            ),
        )

    return build


def stack_factory(config: CorosyncConfig, seed: int = 0) -> NodeFactory:
    """Full nodes of ``config``, with the daemon's service engines for each."""
    build_stack = stack_builder(config, seed)

    def build(node_id: int, stored_ring_seq: int) -> SimNode:
        return StackNode(build_stack(node_id, stored_ring_seq))

    return build
