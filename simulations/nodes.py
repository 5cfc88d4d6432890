"""The node objects the simulator drives, and the factories that build them.

The simulator runs the very cores the daemon runs (DESIGN.md). A *node
factory* is a callable ``factory(node_id, stored_ring_seq) -> SimNode``; the
simulator calls it at every start and restart, passing the ring sequence the
node persisted (``RingSeqChanged``), or 0 for a node restarted without its
state directory.

:class:`SimNode` is the daemon's node contract, :class:`~totem.node.contract.SansIoNode`
(``start``, ``receive`` with deferred delivery and ``process_deferred``,
``next_deadline``, ``on_deadline``, ``outbox``, ``events``, ``leave``), which the
simulator drives in the daemon's order, plus what an experimenter needs on top:
``submit`` an application message, a ``view`` of the node's membership (and quorum
when the node runs votequorum) and its ``counters``.

:class:`SrpNode` wraps a bare :class:`~totem.srp.core.SrpCore`: application
messages are SRP packets, delivered as ``Delivery`` events.

:class:`~simulations.stacknode.StackNode` is the full node the daemon runs
(``NodeStack``: SRP + totempg + sync + service engines, votequorum's status as
the quorum view); the simulator drives both the same way.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from totem.node.contract import SansIoNode
from totem.ringid import RingId
from totem.srp.core import SAFE, SrpCore
from totem.srp.settings import SrpSettings
from totem.srp.state import Datagram, MembState

__all__ = [
    "DeviceVote",
    "NodeFactory",
    "NodeView",
    "SimNode",
    "SrpNode",
    "Votes",
    "srp_factory",
]


@dataclass(frozen=True, slots=True)
class NodeView:
    """What an operator would see on one node at one instant."""

    state: str
    """Membership state: ``OPERATIONAL``, ``GATHER``, ``COMMIT``, ``RECOVERY``."""
    ring_id: RingId
    members: tuple[int, ...]
    """The current regular membership."""
    quorate: bool | None = None
    """The quorum service's view (may the node provide service?); None without a provider."""
    synced: bool | None = None
    """Whether the sync protocol completed on the current ring (None: no sync layer)."""
    quorum_ring: RingId | None = None
    """Ring of the quorum view (the last synchronised ring)."""
    quorum_members: tuple[int, ...] | None = None

    @property
    def operational(self) -> bool:
        """On a ring and, where there is a sync layer, done synchronising: providing service."""
        return self.state == "OPERATIONAL" and self.synced is not False


@dataclass(frozen=True, slots=True)
class DeviceVote:
    """A node's own quorum-device vote, as its votequorum counts it (a simulator event).

    After a quorum view: ``counted`` (the view counts the device's votes) and ``needed``
    (the view is quorate only with them). Later ``counted=False`` alone: the node stopped
    counting the device vote (a NACK, a lost connection) while its published quorum view
    may still count it, until votequorum recalculates (see the checker's quorum-safety).
    """

    counted: bool
    needed: bool = False


@dataclass(frozen=True, slots=True)
class Votes:
    """votequorum's figures on one node (what ``corosync-quorumtool -s`` prints)."""

    expected_votes: int
    total_votes: int
    quorum: int


class SimNode(SansIoNode, Protocol):
    """A node as the simulator drives it: the daemon's node contract
    (:class:`~totem.node.contract.SansIoNode`, driven in the same order) and what an
    experimenter needs on top."""

    node_id: int

    def submit(self, payload: bytes, safe: bool) -> bool:
        """Queue an application message for total-order delivery; False if refused."""
        ...

    def view(self) -> NodeView: ...

    def votes(self) -> Votes | None:
        """votequorum's figures, None when the node runs no votequorum."""
        ...

    def touched(self) -> None:
        """Something outside the driver contract (an API call) may have changed the node."""
        ...

    def counters(self) -> Mapping[str, int | float]: ...


NodeFactory = Callable[[int, int], SimNode]
"""``factory(node_id, stored_ring_seq)``: a fresh, not yet started node."""


class SrpNode:
    """A bare SRP ring member: the simulator's application sits right on Totem."""

    __slots__ = ("core", "node_id")

    def __init__(self, core: SrpCore) -> None:
        self.core = core
        self.node_id = core.node_id

    # The driver contract, delegated.
    def start(self, now: float) -> None:
        self.core.start(now)

    def receive(
        self,
        data: bytes,
        now: float,
        link: int = 0,
        *,
        defer: bool = False,
        source: str | None = None,
    ) -> None:
        self.core.receive(data, now)

    def process_deferred(self, now: float) -> None:
        """Nothing to do: a bare core's deliveries are its events, drained by ``events``."""

    def next_deadline(self) -> float | None:
        return self.core.timers.next_deadline()

    def on_deadline(self, now: float) -> None:
        self.core.on_deadline(now)

    def outbox(self) -> list[Datagram]:
        return self.core.outbox()

    def events(self) -> list[Any]:
        return list(self.core.events())

    def leave(self) -> None:
        self.core.leave()

    def submit(self, payload: bytes, safe: bool) -> bool:
        core = self.core
        if not core.mcast(payload, SAFE if safe else 0):
            return False
        core.signal_new_message()
        return True

    def view(self) -> NodeView:
        core = self.core
        return NodeView(core.state.name, core.ring.ring_id, core.members)

    def votes(self) -> Votes | None:
        return None

    def touched(self) -> None:
        pass

    def counters(self) -> Mapping[str, int | float]:
        stats = self.core.stats.as_dict()
        stats.pop("dropped", None)
        stats["new_queue"] = len(self.core.order.new_queue) + len(self.core.order.new_queue_trans)
        return stats

    @property
    def operational(self) -> bool:
        return self.core.state is MembState.OPERATIONAL


def srp_factory(
    settings: SrpSettings, seed: int = 0, nodelist: Iterable[int] | None = None
) -> NodeFactory:
    """A factory of :class:`SrpNode` with ``settings``; each node's RNG derives from ``seed``."""
    listed = None if nodelist is None else tuple(nodelist)

    def build(node_id: int, stored_ring_seq: int) -> SimNode:
        rng = random.Random(f"{seed}:{node_id}:{stored_ring_seq}")
        core = SrpCore(node_id, settings, stored_ring_seq=stored_ring_seq, rng=rng, nodelist=listed)
        return SrpNode(core)

    return build
