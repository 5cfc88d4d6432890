"""A tiny deterministic network of knet handles for core tests: explicit time, per-link
latency, cuts and an MTU, no sockets, no sleeps.

Host ``h`` has address ``10.0.<link>.<h>`` on each link. :meth:`Wire.run_until` moves
time forward, delivering packets and firing each handle's deadline in time order.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from totem.knet.crypto import CryptoConfig
from totem.knet.handle import KnetHandle
from totem.knet.link import LinkConfig


def address(host: int, link: int) -> str:
    return f"10.0.{link}.{host}"


@dataclass
class Wire:
    latency: float = 0.0001
    mtu: dict[int, int] = field(default_factory=dict)
    """Per link: IP packets above this vanish (a black hole); absent: no limit."""
    cut: set[tuple[int, int, int]] = field(default_factory=set)
    """(src, dst, link) directions that drop everything."""
    handles: dict[int, KnetHandle] = field(default_factory=dict)
    delivered: dict[int, list[bytes]] = field(default_factory=dict)
    sent: list[tuple[float, int, int, int, bytes]] = field(default_factory=list)
    """(time, src, dst, link, data) of every packet put on the wire."""
    now: float = 0.0
    _queue: list[tuple[float, int, int, int, int, bytes]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def add(
        self,
        host: int,
        peers: Iterable[int],
        links: Iterable[int] = (0,),
        *,
        ping_interval: int = 912,
        ping_timeout: int = 1825,
        pong_count: int = 2,
        priorities: dict[int, int] | None = None,
        policy: str = "passive",
        crypto: CryptoConfig | None = None,
        kernel_mtu: int = 1500,
        salt: Callable[[int], bytes] | None = None,
    ) -> KnetHandle:
        handle = KnetHandle(host, salt_source=salt or (lambda n: bytes(n)))
        if crypto is not None:
            handle.set_crypto(1, crypto)
            handle.use_crypto(1)
            handle.set_rx_clear(False)
        links = list(links)
        handle.add_host(host, policy)
        handle.set_link(host, LinkConfig(0, address(host, 0), address(host, 0), 5405))
        for peer in peers:
            handle.add_host(peer, policy)
            for link in links:
                handle.set_link(
                    peer,
                    LinkConfig(
                        link,
                        address(host, link),
                        address(peer, link),
                        5405 + link,
                        priority=(priorities or {}).get(link, 1),
                        ping_interval=ping_interval,
                        ping_timeout=ping_timeout,
                        pong_count=pong_count,
                        kernel_mtu=kernel_mtu,
                    ),
                )
        handle.events()
        self.handles[host] = handle
        self.delivered[host] = []
        handle.start(self.now)
        return handle

    def send(self, host: int, payload: bytes) -> bool:
        handle = self.handles[host]
        ok = handle.send(payload)
        self._flush(host)
        return ok

    def _flush(self, host: int) -> None:
        handle = self.handles[host]
        for datagram in handle.outbox():
            assert datagram.dest is not None
            self.sent.append((self.now, host, datagram.dest, datagram.link, datagram.data))
            if (host, datagram.dest, datagram.link) in self.cut:
                continue
            limit = self.mtu.get(datagram.link)
            if limit is not None and len(datagram.data) + 28 > limit:
                continue
            heapq.heappush(
                self._queue,
                (
                    self.now + self.latency,
                    next(self._seq),
                    host,
                    datagram.dest,
                    datagram.link,
                    datagram.data,
                ),
            )
        for _channel, payload in handle.take_local():
            self.delivered[host].append(payload)

    def run_until(self, end: float) -> None:
        while True:
            due: list[tuple[float, int]] = []
            if self._queue:
                due.append((self._queue[0][0], 0))
            for host, handle in self.handles.items():
                deadline = handle.next_deadline()
                if deadline is not None:
                    due.append((deadline, host))
            if not due:
                break
            at, who = min(due)
            if at > end:
                break
            self.now = max(self.now, at)
            if who == 0 and self._queue and self._queue[0][0] <= at:
                _at, _s, src, dst, link, data = heapq.heappop(self._queue)
                handle = self.handles.get(dst)
                if handle is None:
                    continue
                for _channel, payload in handle.receive(data, self.now, link, address(src, link)):
                    self.delivered[dst].append(payload)
                self._flush(dst)
            else:
                self.handles[who].on_deadline(self.now)
                self._flush(who)
        self.now = max(self.now, end)

    def packets(self, src: int, dst: int, kind: int, link: int | None = None) -> list[float]:
        """Times ``src`` sent ``dst`` a clear packet of type ``kind`` (on ``link``)."""
        return [
            at
            for at, s, d, lk, data in self.sent
            if s == src and d == dst and data[1] == kind and (link is None or lk == link)
        ]
