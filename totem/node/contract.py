"""The node contract: what a driver calls on a node, and in which order.

Both drivers of a node -- the asyncio daemon (:class:`~totem.node.driver.NodeDriver`) and
the simulator (``simulations.cluster.Simulation``) -- drive a :class:`SansIoNode` (the
daemon's ``NodeStack``, the simulator's node and its quorum-device composite) through the
same *turn* after each input, so a simulated schedule exercises the daemon's own path:

1. a socket batch: for each datagram the socket holds, ``receive(data, now, link,
   defer=True)`` then ``outbox()`` onto the wire -- the protocol work (a forwarded token,
   answered retransmit requests) goes out before anything is delivered, as corosync
   delivers "after the token has been transmitted";
2. ``process_deferred(now)``: what those datagrams delivered reaches the services;
3. ``outbox()`` onto the wire, ``events()`` to the listeners (and the outbox again when a
   listener asked the node for more);
4. the one timer re-armed to ``next_deadline()``; when it fires, ``on_deadline(now)`` and
   steps 3-4 again.

Every other input (start, leave, an API call) is followed by steps 3-4. This is the core
contract of DESIGN.md plus deferred delivery.
"""

from __future__ import annotations

from typing import Protocol

from totem.node.events import NodeEvent
from totem.srp.state import Datagram

__all__ = ["SansIoNode"]


class SansIoNode(Protocol):
    """A node as its drivers see it (the module docstring gives the order of the calls)."""

    def start(self, now: float) -> None: ...

    def receive(
        self,
        data: bytes,
        now: float,
        link: int = 0,
        *,
        defer: bool = False,
        source: str | None = None,
    ) -> None:
        """A datagram from ring (link) ``link``; with ``defer`` only the protocol work is
        done now and the deliveries wait for :meth:`process_deferred`."""
        ...

    def process_deferred(self, now: float) -> None:
        """Deliver what the deferred ``receive`` calls of this batch left for the services."""
        ...

    def next_deadline(self) -> float | None: ...

    def on_deadline(self, now: float) -> None: ...

    def outbox(self) -> list[Datagram]: ...

    def events(self) -> list[NodeEvent]: ...

    def leave(self) -> None: ...
