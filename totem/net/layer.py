"""SRP's view of the network: redundant rings plus crypto, as one sans-IO object.

The node stack and the simulator put a ``NetLayer`` between ``SrpCore`` and the
transports (one transport per ring)::

    for d in net.incoming(data, link, now): srp.receive(d, now)   # a datagram arrived
    for d in net.release_token(now):       srp.receive(d, now)   # then: a held token
    wire = net.outgoing(srp.outbox())      # Datagram(dest, sealed bytes, link)
    net.next_deadline(); for d in net.on_deadline(now): srp.receive(d, now)

Outgoing, :class:`~totem.net.rrp.RedundantRing` picks each datagram's ring and
:class:`~totem.net.crypto.DatagramCrypto` seals it; incoming, the datagram is
opened first (a forged, truncated or replayed one is dropped and counted before
RRP counts it for a ring), then RRP decides what SRP gets. With ``rrp_mode:
none`` and crypto ``none``/``none`` both halves are passthroughs and the wire is
exactly corosync 3.1.7's.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Any

from totem.net.crypto import CryptoDrop, DatagramCrypto
from totem.net.rrp import RedundantRing, RingStatus, RrpEvent
from totem.srp.core import SrpCore
from totem.srp.seqno import seq_lt
from totem.srp.state import Datagram, MembState
from totem.wire.constants import MAGIC, ORF_TOKEN_SIZE

__all__ = ["NetLayer", "msgs_missing_hook"]

_TOKEN_LE = struct.Struct("<13xIIxxxxxxxxIQ")
_TOKEN_BE = struct.Struct(">13xIIxxxxxxxxIQ")
"""ORF token: seq (13), token_seq (17), ring_id rep (29) and seq (33) (ref 4.1)."""


def msgs_missing_hook(srp: SrpCore) -> Callable[[bytes], bool]:
    """RRP's ``msgs_missing`` for ``srp``: is this ORF token new, of our ring, and does it
    count messages (``token.seq``) that SRP has not received yet (``my_aru``)?

    Only in OPERATIONAL: in RECOVERY the old ring's messages are sorted differently.
    """

    def msgs_missing(token: bytes) -> bool:
        if srp.state is not MembState.OPERATIONAL or len(token) < ORF_TOKEN_SIZE:
            return False
        layout = _TOKEN_LE if token[0] | token[1] << 8 == MAGIC else _TOKEN_BE
        seq, token_seq, rep, ring_seq = layout.unpack_from(token)
        ring = srp.ring.ring_id
        if rep != ring.rep or ring_seq != ring.seq or not seq_lt(srp.visit.my_token_seq, token_seq):
            return False
        return seq_lt(srp.order.my_aru, seq)

    return msgs_missing


class NetLayer:
    """One node's redundant rings and datagram crypto."""

    def __init__(self, rrp: RedundantRing, crypto: DatagramCrypto) -> None:
        self.rrp = rrp
        self.crypto = crypto

    @property
    def passthrough(self) -> bool:
        """``rrp_mode: none`` and no crypto: this layer changes nothing."""
        return not self.rrp.passive and not self.crypto.enabled

    @property
    def overhead(self) -> int:
        """Bytes crypto adds to each datagram: SRP's ``net_mtu`` must leave room for them."""
        return self.crypto.overhead

    def outgoing(self, datagrams: Iterable[Datagram]) -> list[Datagram]:
        """SRP's datagrams and this layer's own, each on its ring and sealed."""
        routed = self.rrp.assign(datagrams)
        routed.extend(self.rrp.outbox())
        crypto = self.crypto
        if not crypto.enabled:
            return routed
        return [Datagram(d.dest, crypto.seal(d.data), d.link) for d in routed]

    def start(self, now: float) -> None:
        """Nothing to start: RRP's timers begin with the traffic."""

    def incoming(
        self, data: bytes, link: int, now: float, source: str | None = None
    ) -> list[bytes]:
        """A datagram from ring ``link``: what SRP must receive now (maybe nothing).

        ``source`` is not needed: the transport filtered unlisted senders already."""
        try:
            plain = self.crypto.open(data, now)
        except CryptoDrop:
            return []
        return self.rrp.receive(plain, link, now)

    def release_token(self, now: float) -> list[bytes]:
        """After SRP took ``incoming``'s datagrams: a token RRP held for them, if due."""
        return self.rrp.release_token(now)

    def next_deadline(self) -> float | None:
        return self.rrp.next_deadline()

    def on_deadline(self, now: float) -> list[bytes]:
        """Run due timers; returns datagrams for SRP (a held token whose time is up)."""
        return self.rrp.on_deadline(now)

    def events(self) -> list[RrpEvent]:
        return self.rrp.events()

    def reconfigure(self, nodelist: Iterable[int]) -> None:
        """A reloaded nodelist: ring tests may travel one hop per listed node."""
        self.rrp.max_hops = max(1, len(list(nodelist)))

    def ring_reenable(self, link: int | None = None) -> list[int]:
        """``pycorosync-cfgtool -r``: put FAULTY rings back in use; returns them."""
        return self.rrp.ring_reenable(link)

    def ring_status(self) -> list[RingStatus]:
        return self.rrp.status()

    def status(self) -> dict[str, Any]:
        """A JSON-able snapshot: rings, RRP counters, crypto counters (no key material)."""
        return {
            "rrp_mode": self.rrp.settings.mode,
            "rings": [ring.as_dict() for ring in self.rrp.status()],
            "rrp": self.rrp.stats.as_dict(),
            "crypto": self.crypto.status(),
        }
