"""What corosync 3.1.7's ``totemknet.c`` puts between SRP and libknet, sans-IO
(ref knet/README.md 1.3, 3).

Totem over knet carries exactly the udpu payloads; the only change is the Totem header's
``target_nodeid`` (offset 9, u32 in host order): ``ucast_sendmsg`` sets it to the
destination (ORF and commit tokens), ``mcast_sendmsg`` to 0 (joins, merge detects,
MCASTs, token hold cancels). corosync's knet destination filter reads it back: 0 is a
broadcast to every reachable host, anything else a unicast to that host id, and on
receive a unicast for another host is dropped ("Packet is not for us"). Totem uses one
knet channel (0); the local node reaches itself over knet's loopback link.

:class:`KnetLayer` has the duck-typed contract of :class:`totem.net.layer.NetLayer`, so
the node stack, the daemon and the simulator drive it the same way::

    layer.start(now)
    for d in layer.incoming(data, link, now, source): srp.receive(d, now)
    wire = layer.outgoing(srp.outbox())      # Datagram(host, sealed knet packet, link)
    layer.next_deadline(); for d in layer.on_deadline(now): srp.receive(d, now)

Self-delivery is asynchronous, as in corosync (knet writes the message to the datafd
the main loop polls later): a message to ourselves makes :meth:`next_deadline` due at
once and comes back from :meth:`on_deadline`. SRP's own MCASTs are not looped back:
SRP stored them when it sent them and discards the copy (the udpu transport skips it
too). Data is fragmented by knet to its data MTU, so SRP keeps corosync's knet
``net_mtu`` of 65536 (Totem's "Maximum network MTU 65446"); no crypto overhead is
taken from it.

Link statistics for status tools and cmap (``stats.knet.nodeN.linkM.*``):
:meth:`link_status`, :meth:`handle_stats`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any, Final

from totem.knet.events import KnetEvent
from totem.knet.handle import KnetHandle
from totem.knet.link import LinkStatus
from totem.knet.snapshot import handle_status
from totem.srp.state import Datagram

__all__ = ["TOTEM_CHANNEL", "KnetLayer", "set_target_nodeid", "target_nodeid", "totem_filter"]

TOTEM_CHANNEL: Final = 0
_TARGET: Final = struct.Struct("<I")
_TARGET_AT: Final = 9
_HEADER_SIZE: Final = 13
_MCAST: Final = 1


def target_nodeid(message: bytes) -> int:
    """The Totem header's ``target_nodeid`` (0 for a message too short to have one)."""
    if len(message) < _HEADER_SIZE:
        return 0
    value: int = _TARGET.unpack_from(message, _TARGET_AT)[0]
    return value


def set_target_nodeid(message: bytes, target: int) -> bytes:
    """``message`` with ``target_nodeid`` set (``ucast_sendmsg``/``mcast_sendmsg``)."""
    if len(message) < _HEADER_SIZE:
        return message
    field = _TARGET.pack(target)
    if message[_TARGET_AT:_HEADER_SIZE] == field:
        return message
    return message[:_TARGET_AT] + field + message[_HEADER_SIZE:]


def totem_filter(payload: bytes, tx: bool, source: int) -> tuple[bool, tuple[int, ...]]:
    """``dst_host_filter_callback_fn``: broadcast for target 0, else that host (the u32
    target is truncated to a 16-bit knet host id, as the C assignment does)."""
    target = target_nodeid(payload)
    if target:
        return False, (target & 0xFFFF,)
    return True, ()


class KnetLayer:
    """SRP's view of knet: Totem messages in and out, knet packets on the wire."""

    passthrough = False
    overhead = 0
    """knet fragments: SRP's ``net_mtu`` needs no room for crypto."""

    def __init__(self, handle: KnetHandle) -> None:
        self.handle = handle
        handle.dst_filter = totem_filter
        self.node_id = handle.host_id

    # ------------------------------------------------------------------------------------
    # the link-layer contract of the node stack
    # ------------------------------------------------------------------------------------
    def start(self, now: float) -> None:
        self.handle.start(now)

    def outgoing(self, datagrams: Iterable[Datagram]) -> list[Datagram]:
        """SRP's datagrams as knet packets: each Totem message gets its ``target_nodeid``
        and goes to knet; what knet sends (data, and pongs and probes it owes) comes back."""
        handle = self.handle
        for datagram in datagrams:
            dest = datagram.dest
            data = set_target_nodeid(datagram.data, 0 if dest is None else dest)
            loopback = not (dest is None and len(data) > 3 and data[3] == _MCAST)
            handle.send(data, TOTEM_CHANNEL, loopback=loopback)
        return handle.outbox()

    def incoming(
        self, data: bytes, link: int, now: float, source: str | None = None
    ) -> list[bytes]:
        """A datagram from local link ``link`` (from address ``source``): the Totem
        messages it completes."""
        delivered = self.handle.receive(data, now, link, source)
        if not delivered:
            return []
        return [payload for channel, payload in delivered if channel == TOTEM_CHANNEL]

    def release_token(self, now: float) -> list[bytes]:
        return []

    def next_deadline(self) -> float | None:
        handle = self.handle
        if handle.local_pending:
            return handle.now
        return handle.next_deadline()

    def on_deadline(self, now: float) -> list[bytes]:
        """Run due timers; returns the messages this node sent itself (loopback)."""
        handle = self.handle
        handle.on_deadline(now)
        local = handle.take_local()
        if not local:
            return []
        return [payload for channel, payload in local if channel == TOTEM_CHANNEL]

    def events(self) -> list[KnetEvent]:
        return self.handle.events()

    def ring_reenable(self, link: int | None = None) -> list[int]:
        """Nothing to re-enable: knet links recover by themselves."""
        return []

    def reconfigure(self, nodelist: Iterable[int]) -> None:
        """Kept for the contract: knet's hosts follow the nodelist through the daemon's
        reload (``totem.knet.setup.apply_reload``)."""

    # ------------------------------------------------------------------------------------
    # status (cfgtool, cmap stats.knet.*)
    # ------------------------------------------------------------------------------------
    def link_status(self, host_id: int, link_id: int) -> LinkStatus | None:
        """``knet_link_get_status`` of one host's link (None if not configured)."""
        return self.handle.link_status(host_id, link_id)

    def handle_stats(self) -> dict[str, int]:
        """``knet_handle_get_stats`` (``stats.knet.handle.*``)."""
        return self.handle.stats.get_stats()

    def status(self) -> dict[str, Any]:
        return {"knet": handle_status(self.handle)}
