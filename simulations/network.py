"""The virtual network: one directed link per ordered pair of nodes.

A datagram a node puts in its outbox goes, for a unicast, over the link to its
destination and, for a multicast (``dest is None``), over the link to every
node of the nodelist *including the sender* (the sender's own copy goes over
the loopback, which no fault touches), as udpu does.

Each link ``src -> dst`` has:

* a :class:`~simulations.latency.Delay` distribution (default 200us±40us);
* FIFO delivery: jitter never makes a link overtake itself (arrival is at least
  the previous arrival on that link). Different links do overtake each other,
  so a multicast can arrive *after* a token sent later on another path, as on
  real clouds (ref anchors.md C4);
* a cut flag: symmetric partitions and one-way cuts (``partition``, ``oneway``);
* an MTU: larger datagrams vanish (an ICMP black hole, ref anchors.md C11);
* per message kind probabilities of loss, duplication and *reordering* (a
  delayed copy that leaves FIFO order, arriving ``extra`` seconds late).

With redundant rings (``rrp_mode: passive``) every ring is a network of its
own: one set of links per ring, each with its own faults, and a datagram
travels on the ring its sender's redundant-ring layer chose. With knet the
rings are knet's links (``ringX_addr``): every packet is a unicast on the link
the sender's knet layer chose, pings and PMTUd probes included, so a cut or a
lossy link is what knet's heartbeat sees and fails over from; a node's own
messages never reach the network (knet's loopback link).

*Hosts* are endpoints that are not Totem nodes, such as the qnetd arbiter
(:data:`QNETD_ID`): they have links to every node (and the same faults), but
Totem multicasts never reach them, and a partition that does not name a host
leaves it reachable from every group (a third site). Their traffic is TCP
(:mod:`simulations.streams`), which asks :meth:`Network.segment_arrival` when
a segment sent now would arrive, if at all.

Message kinds are read from the Totem header's type byte: ``token`` (ORF
token), ``mcast``, ``merge`` (merge detect), ``join``, ``commit`` (commit token),
``cancel`` (token hold cancel); anything else is ``other`` (which includes
every encrypted datagram: with crypto on, kinds cannot be told apart).

Nothing here reads a clock: the caller passes ``now`` and receives arrival
times through the ``schedule`` callback. Randomness comes from the seeded
``random.Random`` (fault coin flips) and the seeded delay sampler.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from simulations.latency import Delay, DelaySampler

__all__ = [
    "DEFAULT_DELAY",
    "KINDS",
    "LOOPBACK_DELAY",
    "QNETD_ID",
    "Link",
    "Network",
    "endpoint_name",
    "kind_index",
]

KINDS = ("token", "mcast", "merge", "join", "commit", "cancel", "other")
"""Message kinds in Totem type-code order, then everything else."""
_OTHER = len(KINDS) - 1

DEFAULT_DELAY = Delay(200e-6, 40e-6)
"""A virtualised LAN: 200 us one way, 40 us standard deviation."""
LOOPBACK_DELAY = 10e-6
"""A node's copy of its own multicast."""
QNETD_ID = -1
"""The endpoint id of the qnetd host (node ids are 1 and up; 0 is the simulator in traces)."""

Schedule = Callable[[float, int, int, bytes, int], None]
"""``schedule(at, src, dst, data, ring)``: hand a datagram to ``dst`` at time ``at``."""
Fanout = Callable[[int, bytes, int, list[tuple[float, int]]], None]
"""``fanout(src, data, ring, arrivals)``: a multicast's copies at once, as ``(at, dst)``
in the order ``schedule`` would have been called for them."""
Pairs = Iterable[tuple[int, int]]
Rings = Sequence[int] | None
"""Ring numbers a change applies to; None: every ring."""


def _totem_kind(data: bytes) -> int:
    return data[3] if len(data) > 3 and data[3] < _OTHER else _OTHER


def _knet_kind(data: bytes) -> int:
    """A clear knet DATA packet carrying a Totem message (or its first fragment): that
    message's kind; pings, pongs, PMTUd, later fragments and sealed packets: ``other``."""
    if len(data) > 17 and data[0] == 1 and data[1] == 0 and data[12] <= 1 and data[17] < _OTHER:
        return data[17]
    return _OTHER


def kind_index(name: str) -> int:
    """The index of a message kind name (``ValueError`` if unknown)."""
    return KINDS.index(name)


def endpoint_name(endpoint: int) -> str:
    """``node 3`` or ``qnetd``: how messages name an endpoint."""
    return "qnetd" if endpoint == QNETD_ID else f"node {endpoint}"


def _collector(into: list[tuple[float, int]]) -> Schedule:
    """A ``schedule`` that notes each copy's ``(at, dst)`` in ``into``."""
    collect = into.append

    def schedule(at: float, _src: int, dst: int, _data: bytes, _ring: int) -> None:
        collect((at, dst))

    return schedule


@dataclass(slots=True)
class Link:
    """One direction between two nodes."""

    delay: Delay = DEFAULT_DELAY
    cut: bool = False
    mtu: int = 0
    """0: no limit."""
    loss: tuple[float, ...] | None = None
    """Per kind, or None for a lossless link."""
    dup: tuple[float, ...] | None = None
    reorder: tuple[tuple[float, float], ...] | None = None
    """Per kind (probability, extra delay), or None."""
    last_arrival: float = 0.0

    @property
    def faulty(self) -> bool:
        return bool(self.mtu or self.loss or self.dup or self.reorder)


def _per_kind(
    current: tuple[float, ...] | None, value: float, kinds: Sequence[int] | None
) -> tuple[float, ...] | None:
    values = list(current) if current is not None else [0.0] * len(KINDS)
    for kind in kinds if kinds is not None else range(len(KINDS)):
        values[kind] = value
    return tuple(values) if any(values) else None


class Network:
    """Links between the nodes of a nodelist, per ring, and the counters of what they did."""

    def __init__(
        self,
        node_ids: Iterable[int],
        sampler: DelaySampler,
        rng: random.Random,
        schedule: Schedule,
        rings: int = 1,
        hosts: Iterable[int] = (),
        knet: bool = False,
        fanout: Fanout | None = None,
    ) -> None:
        self.ids: tuple[int, ...] = tuple(sorted(node_ids))
        self._fanout = fanout
        """Takes a multicast's copies in one call instead of one ``schedule`` call each."""
        self.knet = knet
        """Datagrams are knet packets: kinds are read from the Totem header inside DATA."""
        """The Totem nodes (multicast reaches each of them)."""
        self.hosts: tuple[int, ...] = tuple(sorted(set(hosts)))
        """Other endpoints (the qnetd host): links, no multicast."""
        if set(self.hosts) & set(self.ids):
            raise ValueError("a host id is also a node id")
        self.rings = rings
        self._sampler = sampler
        self._rng = rng
        self._schedule = schedule
        everyone = self.ids + self.hosts
        self._links: list[dict[int, dict[int, Link]]] = [
            {src: {dst: Link() for dst in everyone if dst != src} for src in everyone}
            for _ in range(rings)
        ]
        self._partition_cut: list[set[tuple[int, int]]] = [set() for _ in range(rings)]
        self._oneway_cut: list[set[tuple[int, int]]] = [set() for _ in range(rings)]
        self.counters: Counter[str] = Counter()
        """``sent``, ``delivered`` (scheduled), ``dropped_<reason>``, ``duplicated``,
        ``reordered``."""

    # ------------------------------------------------------------------------------------
    # configuration
    # ------------------------------------------------------------------------------------
    def _rings(self, rings: Rings) -> range | Sequence[int]:
        if rings is None:
            return range(self.rings)
        for ring in rings:
            if not 0 <= ring < self.rings:
                raise ValueError(f"ring {ring} does not exist (rings 0-{self.rings - 1})")
        return rings

    def _each(self, pairs: Pairs, rings: Rings) -> Iterable[Link]:
        chosen = self._rings(rings)
        listed = list(pairs)
        for ring in chosen:
            table = self._links[ring]
            for src, dst in listed:
                yield table[src][dst]

    def link(self, src: int, dst: int, ring: int = 0) -> Link:
        """The link ``src -> dst`` of ``ring``."""
        return self._links[ring][src][dst]

    def pairs(self) -> list[tuple[int, int]]:
        """Every directed pair of nodes (hosts excluded)."""
        return [(s, d) for s in self.ids for d in self.ids if s != d]

    def set_delay(self, pairs: Pairs, delay: Delay, rings: Rings = None) -> None:
        for link in self._each(pairs, rings):
            link.delay = delay

    def set_mtu(self, pairs: Pairs, mtu: int, rings: Rings = None) -> None:
        for link in self._each(pairs, rings):
            link.mtu = mtu

    def set_loss(
        self, pairs: Pairs, p: float, kinds: Sequence[int] | None = None, rings: Rings = None
    ) -> None:
        for link in self._each(pairs, rings):
            link.loss = _per_kind(link.loss, p, kinds)

    def set_dup(
        self, pairs: Pairs, p: float, kinds: Sequence[int] | None = None, rings: Rings = None
    ) -> None:
        for link in self._each(pairs, rings):
            link.dup = _per_kind(link.dup, p, kinds)

    def set_reorder(
        self,
        pairs: Pairs,
        p: float,
        extra: float,
        kinds: Sequence[int] | None = None,
        rings: Rings = None,
    ) -> None:
        for link in self._each(pairs, rings):
            values = list(link.reorder) if link.reorder is not None else [(0.0, 0.0)] * len(KINDS)
            for kind in kinds if kinds is not None else range(len(KINDS)):
                values[kind] = (p, extra)
            link.reorder = tuple(values) if any(v[0] for v in values) else None

    def partition(self, groups: Sequence[Iterable[int]], rings: Rings = None) -> None:
        """Only endpoints of the same group reach each other (replaces the previous
        partition); a host in no group reaches, and is reached by, everyone."""
        group_of: dict[int, int] = {}
        for index, group in enumerate(groups):
            for node in group:
                group_of[node] = index
        everyone = self.ids + tuple(h for h in self.hosts if h in group_of)
        cut = {
            (s, d)
            for s in everyone
            for d in everyone
            if s != d and group_of.get(s, -1) != group_of.get(d, -1)
        }
        for ring in self._rings(rings):
            self._partition_cut[ring] = set(cut)
        self._apply_cuts()

    def cut(self, pairs: Pairs, rings: Rings = None) -> None:
        """Cut these directions (one-way partitions accumulate until healed)."""
        listed = list(pairs)
        for ring in self._rings(rings):
            self._oneway_cut[ring].update(listed)
        self._apply_cuts()

    def heal(self, pairs: Pairs | None = None, rings: Rings = None) -> None:
        """Restore these directions, or every link (``None``), of these rings."""
        listed = None if pairs is None else list(pairs)
        for ring in self._rings(rings):
            if listed is None:
                self._partition_cut[ring].clear()
                self._oneway_cut[ring].clear()
            else:
                for pair in listed:
                    self._partition_cut[ring].discard(pair)
                    self._oneway_cut[ring].discard(pair)
        self._apply_cuts()

    def _apply_cuts(self) -> None:
        for ring, table in enumerate(self._links):
            blocked = self._partition_cut[ring] | self._oneway_cut[ring]
            for src, row in table.items():
                for dst, link in row.items():
                    link.cut = (src, dst) in blocked

    def reachable(self, src: int, dst: int, ring: int = 0) -> bool:
        """Whether ``src`` can currently send to ``dst`` on ``ring`` at all."""
        return src == dst or not self._links[ring][src][dst].cut

    def segment_arrival(self, src: int, dst: int, now: float) -> float | None:
        """When a TCP segment ``src`` sends now on ring 0 arrives at ``dst``; None if the
        link drops it (cut, or lost with the link's loss probability for ``other``).

        Duplication, reordering and the MTU do not apply: TCP hides them (it drops
        duplicates, reorders, and sizes its segments to the path).
        """
        counters = self.counters
        link = self._links[0][src][dst]
        counters["segments"] += 1
        if link.cut:
            counters["segments_dropped_cut"] += 1
            return None
        loss = link.loss
        if loss is not None and loss[_OTHER] and self._rng.random() < loss[_OTHER]:
            counters["segments_dropped_loss"] += 1
            return None
        return now + self._sampler.draw(link.delay)

    # ------------------------------------------------------------------------------------
    # the hot path
    # ------------------------------------------------------------------------------------
    def transmit(self, src: int, dest: int | None, data: bytes, now: float, ring: int = 0) -> None:
        """Send one datagram from ``src`` on ``ring`` (multicast when ``dest`` is None)."""
        counters = self.counters
        schedule = self._schedule
        draw = self._sampler.draw
        if ring >= self.rings:
            counters["dropped_no_ring"] += 1
            return
        row = self._links[ring][src]
        targets: Iterable[int]
        arrivals: list[tuple[float, int]] | None = None
        if dest is None:
            targets = self.ids
            if self._fanout is not None:
                arrivals = []
                schedule = _collector(arrivals)
        elif dest == src or dest in row:
            targets = (dest,)
        else:
            counters["dropped_unknown_dest"] += 1
            return
        kind = -1
        sent = delivered = 0
        for dst in targets:
            sent += 1
            if dst == src:
                schedule(now + LOOPBACK_DELAY, src, dst, data, ring)
                delivered += 1
                continue
            link = row[dst]
            if link.cut:
                counters["dropped_cut"] += 1
                continue
            if link.mtu or link.loss or link.dup or link.reorder:
                if kind < 0:
                    kind = _knet_kind(data) if self.knet else _totem_kind(data)
                if link.mtu and len(data) > link.mtu:
                    counters["dropped_mtu"] += 1
                    continue
                loss = link.loss
                if loss is not None and loss[kind] and self._rng.random() < loss[kind]:
                    counters["dropped_loss"] += 1
                    continue
                copies = 1
                dup = link.dup
                if dup is not None and dup[kind] and self._rng.random() < dup[kind]:
                    copies = 2
                    counters["duplicated"] += 1
                reorder = link.reorder
                for _ in range(copies):
                    if reorder is not None:
                        p, extra = reorder[kind]
                        if p and self._rng.random() < p:
                            counters["reordered"] += 1
                            delivered += 1
                            schedule(now + draw(link.delay) + extra, src, dst, data, ring)
                            continue
                    at = now + draw(link.delay)
                    if at < link.last_arrival:
                        at = link.last_arrival
                    link.last_arrival = at
                    delivered += 1
                    schedule(at, src, dst, data, ring)
                continue
            at = now + draw(link.delay)
            if at < link.last_arrival:
                at = link.last_arrival
            link.last_arrival = at
            delivered += 1
            schedule(at, src, dst, data, ring)
        if arrivals and self._fanout is not None:
            self._fanout(src, data, ring, arrivals)
        if sent:
            counters["sent"] += sent
        if delivered:
            counters["delivered"] += delivered
