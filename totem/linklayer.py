"""What sits between SRP and the sockets: the contract of a link layer.

Two implementations, chosen by ``totem.transport`` in corosync.conf:

* :class:`totem.net.layer.NetLayer` for udp/udpu: 2.x-style passive redundant rings and
  our datagram crypto (with ``rrp_mode: none`` and no crypto, a passthrough);
* :class:`totem.knet.layer.KnetLayer` for knet (corosync 3's default): libknet 1.25's
  links, heartbeat, PMTUd, fragmentation, crypto and compression.

The node stack (:class:`totem.node.stack.NodeStack`) drives either the same way::

    layer.start(now)
    for d in layer.incoming(data, link, now, source): srp.receive(d, now)
    for d in layer.release_token(now): srp.receive(d, now)
    wire = layer.outgoing(srp.outbox())         # Datagram(dest, bytes, link)
    layer.next_deadline(); for d in layer.on_deadline(now): srp.receive(d, now)
    layer.events(); layer.status()

``source`` is the address a datagram came from (the socket's view), or None where the
network cannot lie (the simulator).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from totem.srp.state import Datagram

__all__ = ["LinkLayer"]


class LinkLayer(Protocol):
    """SRP's view of the network (see module docstring)."""

    @property
    def passthrough(self) -> bool:
        """True when the layer changes nothing: datagrams may bypass it."""
        ...

    @property
    def overhead(self) -> int:
        """Bytes it adds to each of SRP's datagrams (SRP's ``net_mtu`` leaves room)."""
        ...

    def start(self, now: float) -> None: ...

    def outgoing(self, datagrams: Iterable[Datagram]) -> list[Datagram]: ...

    def incoming(
        self, data: bytes, link: int, now: float, source: str | None = None
    ) -> list[bytes]: ...

    def release_token(self, now: float) -> list[bytes]: ...

    def next_deadline(self) -> float | None: ...

    def on_deadline(self, now: float) -> list[bytes]: ...

    def events(self) -> Sequence[Any]: ...

    def ring_reenable(self, link: int | None = None) -> list[int]: ...

    def reconfigure(self, nodelist: Iterable[int]) -> None: ...

    def status(self) -> dict[str, Any]: ...
