"""Several ``SrpCore``s behind ``NetLayer``s on two virtual rings, on a virtual clock.

Each node is SRP + passive RRP + datagram crypto, wired exactly as the node stack
wires them. Every ring (link) is its own network with its own latency; tests take
a whole ring down (``ring_down``), cut one node off one ring, drop datagrams by
predicate, capture sealed datagrams and inject them again later. Multicasts reach
every node of the nodelist on that ring, the sender included (as udpu does).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from totem.net.crypto import DatagramCrypto
from totem.net.layer import NetLayer, msgs_missing_hook
from totem.net.rrp import RedundantRing, RingFaulty, RingRecovered, RrpSettings
from totem.srp.core import SrpCore
from totem.srp.events import ConfigurationChange, ConfigurationKind, Delivery, LogRecord
from totem.srp.settings import SrpSettings
from totem.srp.state import MembState

KEY = bytes(range(256))
"""The cluster's authkey in these tests (256 bytes, as corosync-keygen writes)."""

DropRule = Callable[[int, int, int, bytes], bool]
"""(source, destination, link, sealed bytes) -> drop it?"""


@dataclass
class Log:
    """Everything one node emitted, in order."""

    events: list[Any] = field(default_factory=list)

    def deliveries(self) -> list[Delivery]:
        return [e for e in self.events if isinstance(e, Delivery)]

    def payloads(self) -> list[bytes]:
        return [d.payload for d in self.deliveries()]

    def configurations(self) -> list[ConfigurationChange]:
        return [e for e in self.events if isinstance(e, ConfigurationChange)]

    def regular(self) -> list[ConfigurationChange]:
        return [c for c in self.configurations() if c.kind is ConfigurationKind.REGULAR]

    def faults(self) -> list[RingFaulty]:
        return [e for e in self.events if isinstance(e, RingFaulty)]

    def recoveries(self) -> list[RingRecovered]:
        return [e for e in self.events if isinstance(e, RingRecovered)]

    def lines(self) -> list[str]:
        return [e.message for e in self.events if isinstance(e, LogRecord)]


@dataclass
class Node:
    srp: SrpCore
    net: NetLayer


class RingNetwork:
    """Nodes ``ids`` on ``len(latency)`` rings; none started until ``start``."""

    def __init__(
        self,
        ids: Iterable[int],
        *,
        settings: SrpSettings | None = None,
        rrp: RrpSettings | None = None,
        cipher: str = "aes256",
        hash: str = "sha256",
        keys: dict[int, bytes] | None = None,
        latency: Sequence[float] = (0.0001, 0.00013),
        hold_tokens: bool = False,
    ) -> None:
        self.ids = sorted(ids)
        self.settings = settings or SrpSettings()
        self.rrp = rrp or RrpSettings(mode="passive", interface_count=len(latency))
        self.cipher = cipher
        self.hash = hash
        self.keys = keys or {}
        self.latency = tuple(latency)
        self.hold_tokens = hold_tokens
        self.now = 0.0
        self.nodes: dict[int, Node] = {}
        self.logs: dict[int, Log] = {i: Log() for i in self.ids}
        self.ring_seq: dict[int, int] = dict.fromkeys(self.ids, 0)
        self.down: set[int] = set()
        """Rings that carry nothing at all."""
        self.cut: set[tuple[int, int]] = set()
        """(node, ring): that node's interface on that ring is unplugged."""
        self.drop_rules: list[DropRule] = []
        self.mangle: Callable[[int, int, int, bytes], bytes] | None = None
        """Rewrites datagrams in flight (corruption)."""
        self.capture: list[tuple[int, int, int, bytes]] = []
        """Every datagram put on a wire: (source, destination, link, sealed bytes)."""
        self.capturing = False
        self.sent = [0] * len(self.latency)
        self._queue: list[tuple[float, int, int, int, int, bytes]] = []
        self._seq = itertools.count()
        self._epochs = itertools.count(1 << 40, 1 << 20)

    # -- topology ------------------------------------------------------------------------
    def make_node(self, node_id: int) -> Node:
        srp = SrpCore(node_id, self.settings, stored_ring_seq=self.ring_seq[node_id])
        rings = RedundantRing(
            node_id,
            self.rrp,
            interfaces=[f"10.{link}.0.{node_id}" for link in range(self.rrp.interface_count)],
            nodelist_size=len(self.ids),
        )
        if self.hold_tokens:
            rings.msgs_missing = msgs_missing_hook(srp)
        crypto = DatagramCrypto(
            self.cipher,
            self.hash,
            self.keys.get(node_id, KEY),
            node_id=node_id,
            epoch=next(self._epochs),
        )
        return Node(srp, NetLayer(rings, crypto))

    def start(self, *ids: int) -> None:
        for node_id in ids or tuple(self.ids):
            node = self.nodes[node_id] = self.make_node(node_id)
            node.srp.start(self.now)
            self._pump(node_id)

    def crash(self, node_id: int) -> None:
        del self.nodes[node_id]

    def ring_down(self, link: int) -> None:
        self.down.add(link)

    def ring_up(self, link: int) -> None:
        self.down.discard(link)

    # -- running -------------------------------------------------------------------------
    def _pump(self, node_id: int) -> None:
        node = self.nodes.get(node_id)
        if node is None:
            return
        for datagram in node.net.outgoing(node.srp.outbox()):
            link = datagram.link
            dests = self.ids if datagram.dest is None else [datagram.dest]
            for dest in dests:
                self.sent[link] += 1
                if self.capturing:
                    self.capture.append((node_id, dest, link, datagram.data))
                unplugged = (node_id, link) in self.cut or (dest, link) in self.cut
                if (link in self.down or unplugged) and node_id != dest:
                    continue  # a node still reaches itself over its own interface
                if any(rule(node_id, dest, link, datagram.data) for rule in self.drop_rules):
                    continue
                data = datagram.data
                if self.mangle is not None:
                    data = self.mangle(node_id, dest, link, data)
                when = self.now + self.latency[link]
                heapq.heappush(self._queue, (when, next(self._seq), node_id, dest, link, data))
        log = self.logs[node_id]
        for event in node.srp.events():
            log.events.append(event)
            if isinstance(event, ConfigurationChange):
                self.ring_seq[node_id] = max(self.ring_seq[node_id], event.ring_id.seq)
        log.events.extend(node.net.events())

    def inject(self, dest: int, link: int, data: bytes) -> None:
        """Put ``data`` on ``link`` towards ``dest`` (a replay, a forgery)."""
        heapq.heappush(
            self._queue, (self.now + self.latency[link], next(self._seq), 0, dest, link, data)
        )

    def _deadline(self, node: Node) -> float | None:
        a, b = node.srp.next_deadline(), node.net.next_deadline()
        if a is None:
            return b
        if b is None:
            return a
        return min(a, b)

    def step(self) -> bool:
        next_packet = self._queue[0][0] if self._queue else None
        timers = [
            (due, node_id)
            for node_id, node in self.nodes.items()
            if (due := self._deadline(node)) is not None
        ]
        next_timer = min(timers) if timers else None
        if next_packet is None and next_timer is None:
            return False
        if next_timer is not None and (next_packet is None or next_timer[0] < next_packet):
            self.now = max(self.now, next_timer[0])
            node_id = next_timer[1]
            node = self.nodes[node_id]
            node.srp.on_deadline(self.now)
            for data in node.net.on_deadline(self.now):
                node.srp.receive(data, self.now)
            self._pump(node_id)
            return True
        when, _, _src, dest, link, data = heapq.heappop(self._queue)
        self.now = max(self.now, when)
        target = self.nodes.get(dest)
        if target is not None:
            for plain in target.net.incoming(data, link, self.now):
                target.srp.receive(plain, self.now)
            for plain in target.net.release_token(self.now):
                target.srp.receive(plain, self.now)
            self._pump(dest)
        return True

    def run_for(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            next_packet = self._queue[0][0] if self._queue else None
            timers = [d for n in self.nodes.values() if (d := self._deadline(n)) is not None]
            nxt = min([t for t in [next_packet, *timers] if t is not None], default=None)
            if nxt is None or nxt > end:
                break
            self.step()
        self.now = end

    def run_until(self, predicate: Callable[[], bool], timeout: float = 60.0) -> float:
        start = self.now
        while not predicate():
            if self.now - start > timeout or not self.step():
                raise AssertionError(f"condition not reached within {timeout}s of virtual time")
        return self.now - start

    # -- application ---------------------------------------------------------------------
    def mcast(self, node_id: int, payload: bytes) -> None:
        srp = self.nodes[node_id].srp
        assert srp.mcast(payload)
        srp.signal_new_message()
        self._pump(node_id)

    def traffic(self, seconds: float, every: float, tag: str) -> list[bytes]:
        """Every node multicasts one numbered message each ``every`` seconds; returns them."""
        sent: list[bytes] = []
        end = self.now + seconds
        n = 0
        while self.now < end:
            for node_id in sorted(self.nodes):
                payload = f"{tag}:{node_id}:{n}".encode()
                self.mcast(node_id, payload)
                sent.append(payload)
            n += 1
            self.run_for(every)
        return sent

    # -- inspection ----------------------------------------------------------------------
    def operational(self, ids: Iterable[int], members: Iterable[int] | None = None) -> bool:
        ids = list(ids)
        want = tuple(sorted(members if members is not None else ids))
        rings = set()
        for node_id in ids:
            node = self.nodes.get(node_id)
            if node is None or node.srp.state is not MembState.OPERATIONAL:
                return False
            if node.srp.members != want:
                return False
            rings.add(node.srp.ring.ring_id)
        return len(rings) == 1

    def faulty(self, node_id: int) -> list[bool]:
        return list(self.nodes[node_id].net.rrp.faulty)
