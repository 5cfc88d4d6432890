"""One node's protocol stack, sans-IO: SRP, totempg, sync and the service engines.

This is what corosync's ``exec/main.c`` wires together, as one object with the
same driver contract as every core (DESIGN.md)::

    stack.start(now); stack.receive(data, now, link); stack.next_deadline()
    stack.on_deadline(now); stack.outbox(); stack.events(); stack.leave()

The asyncio daemon and the simulator both drive a ``NodeStack``; neither knows
what is inside. Upward data path (ref totem-wire.md 8-10):

    SRP Delivery (totempg packet) -> Reassembler -> group-framed messages
        group "a"    -> ExecDispatcher -> service.exec_deliver
        group "sync" -> SyncEngine

Downward, a service calls ``mcast(service_id, fn_id, body)``; the message is
group-framed and packed, and the packer is flushed into SRP when the token
arrives, exactly as totempg does. While a new ring is being synchronised SRP
sends only what services queue for the sync (``waiting_trans_ack``); when sync
completes, ``trans_ack`` releases the normal queue.

Between SRP and the network sits a link layer (:mod:`totem.linklayer`): for udp/udpu
an optional :class:`~totem.net.layer.NetLayer` (passive redundant rings and datagram
crypto), for knet a :class:`~totem.knet.layer.KnetLayer` (knet's links, heartbeat,
fragmentation and crypto). Received datagrams carry the ring or link they arrived on
(and the source address) and are opened and filtered there; outgoing ones get their
link and are sealed. SRP's ``net_mtu`` is lowered by the layer's overhead (NetLayer
crypto) so sealed datagrams still fit. Without a layer (or with ``rrp_mode: none`` and
no crypto) datagrams go straight to SRP. A cfg
RINGREENABLE (``pycorosync-cfgtool -r`` on any node) re-enables every FAULTY ring; a
configuration reload (cfg RELOAD_CONFIG, ``totem.node.reload``) calls ``reconfigure``.
"""

from __future__ import annotations

import dataclasses
import random
import struct
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from totem.linklayer import LinkLayer
from totem.node.events import NodeEvent
from totem.ringid import RingId
from totem.service import Service
from totem.services.cfg import CfgRingReenable
from totem.services.dispatch import EXEC_HEADER_SIZE, ExecDispatcher, encode_exec
from totem.srp.core import SrpCore
from totem.srp.events import (
    ConfigurationChange,
    ConfigurationKind,
    Delivery,
    LogLevel,
    LogRecord,
)
from totem.srp.settings import SrpSettings
from totem.srp.state import Datagram
from totem.sync import SyncCompleted, SyncEngine
from totem.totempg import Packer, Reassembler
from totem.wire import (
    GROUP_EXEC,
    GROUP_SYNC,
    WireError,
    decode_group_message,
)

__all__ = ["NodeStack", "StackCounters"]

_ONE_GROUP_LEN = struct.Struct("<HH")
_EXEC_HEADER = struct.Struct("<I4xi4x")
"""``qb_ipc_request_header``: id (``service_id << 16 | fn_id``), size (``encode_exec``)."""
_EXEC_LENGTHS = _ONE_GROUP_LEN.pack(1, len(GROUP_EXEC))
_EXEC_FRAME = _EXEC_LENGTHS + GROUP_EXEC
_EXEC_FRAME_SIZE = len(_EXEC_FRAME)
_SYNC_FRAME = _ONE_GROUP_LEN.pack(1, 4) + GROUP_SYNC


def _overrides(service: Service, method: str) -> bool:
    """Whether ``service`` has its own ``method`` (not the do-nothing one of ``Service``)."""
    return getattr(getattr(service, method), "__func__", None) is not getattr(Service, method)


@dataclass(slots=True)
class StackCounters:
    """Messages the stack itself dropped, by reason."""

    bad_packet: int = 0
    byteswapped: int = 0
    """Messages from big-endian peers: corosync's sync never byte-swaps, nor do we."""
    bad_group_frame: int = 0
    unknown_group: int = 0
    queued_packets: int = 0
    """Packets waiting for room in SRP's queue (backpressure)."""
    delivered: int = 0
    """Messages (exec and sync) delivered in agreed order to this node's services."""


class NodeStack:
    """SRP + totempg + sync + services for one node. Also the services' ``ServiceHost``."""

    def __init__(
        self,
        node_id: int,
        settings: SrpSettings,
        services: Sequence[Service],
        *,
        stored_ring_seq: int = 0,
        rng: random.Random | None = None,
        nodelist: Iterable[int] | None = None,
        net: LinkLayer | None = None,
    ) -> None:
        self._node_id = node_id
        self.net = net
        self._direct = net is None or net.passthrough
        """No RRP and no crypto: datagrams go straight to and from SRP."""
        if net is not None and net.overhead:
            settings = dataclasses.replace(settings, net_mtu=settings.net_mtu - net.overhead)
        self.settings = settings
        self.srp = SrpCore(
            node_id, settings, stored_ring_seq=stored_ring_seq, rng=rng, nodelist=nodelist
        )
        self.srp.pause_on_token = True
        """Each valid token stops SRP's visit until ``_token_turn`` queued the packed
        messages (totempg's token callback) and resumed it."""
        self._packers = (Packer(settings.max_packet_payload), Packer(settings.max_packet_payload))
        """totempg's two send contexts: the normal one, and the one used from a REGULAR
        configuration until sync completes. A message half sent when the ring changed
        keeps its tail in the normal context, so the sync messages never follow it in a
        packet marked as its continuation (which receivers, on their transitional
        assembly list, would throw away: the sync would never complete)."""
        self.reassembler = Reassembler()
        self.reassembler_trans = Reassembler()
        """totempg's second assembly list: used from a REGULAR configuration until sync
        completes, so half-assembled old-ring messages never mix with sync traffic."""
        self._trans_assembly = False
        self.services = list(services)
        self._event_services = tuple(s for s in self.services if _overrides(s, "events"))
        """The services that may have events (the others keep ``Service.events``)."""
        self._timer_services = tuple(s for s in self.services if _overrides(s, "next_deadline"))
        """The services that may want a timer (the others keep ``Service.next_deadline``)."""
        self.counters = StackCounters()
        self._events: list[NodeEvent] = []
        self._unsent_by_context: tuple[deque[bytes], deque[bytes]] = (deque(), deque())
        self.tx_counts: defaultdict[int, int] = defaultdict(int)
        """Exec messages queued per header id (``service_id << 16 | fn_id``)."""
        self._now = 0.0
        for service in self.services:
            service.attach(self)
        for service in self.services:
            service.bind(self.services)
        self.dispatcher = ExecDispatcher(self.services, log=self.log)
        self.sync = SyncEngine(node_id, self.services, self._send_sync, log=self.log)
        self.ring_id: RingId | None = None
        self.members: tuple[int, ...] = ()
        self.synced = False

    # ------------------------------------------------------------------------------------
    # ServiceHost
    # ------------------------------------------------------------------------------------
    @property
    def node_id(self) -> int:
        return self._node_id

    def mcast(self, service_id: int, fn_id: int, body: bytes) -> None:
        """Queue an exec message of a service for agreed-order delivery to every node."""
        # the hot send path of every service message: _queue_group without its indirection
        self.packer.add_pieces((_EXEC_LENGTHS, GROUP_EXEC, encode_exec(service_id, fn_id, body)))
        self.tx_counts[service_id << 16 | fn_id] += 1
        self.srp.signal_new_message()

    def mcast_after_sync(self, service_id: int, fn_id: int, body: bytes) -> None:
        """``mcast`` of a local client's message that a sync must not let overtake what was
        queued before the configuration change (a libcpg multicast that raced past the IPC
        flow-control flag): it waits in the normal send context, goes out after
        ``trans_ack``, where corosync's IPC would have held it back until then."""
        self._packers[0].add_pieces(
            (_EXEC_LENGTHS, GROUP_EXEC, encode_exec(service_id, fn_id, body))
        )
        self.tx_counts[service_id << 16 | fn_id] += 1
        self.srp.signal_new_message()

    def mcast_many(self, service_id: int, fn_id: int, bodies: Iterable[bytes]) -> None:
        """``mcast`` of several exec messages of one function, in order (the bulk path of
        a CPG client's frame of messages): the same packets, one call."""
        if not 0 <= service_id <= 0xFFFF or not 0 <= fn_id <= 0xFFFF:
            raise ValueError(f"service id {service_id} / fn id {fn_id} out of range")
        ident = service_id << 16 | fn_id
        pack = _EXEC_HEADER.pack
        messages = [pack(ident, EXEC_HEADER_SIZE + len(body)) + body for body in bodies]
        self.packer.add_each((_EXEC_LENGTHS, GROUP_EXEC), messages)
        self.tx_counts[ident] += len(messages)
        self.srp.signal_new_message()

    def log(self, level: LogLevel, subsys: str, message: str) -> None:
        """A log line from a service or the sync engine."""
        self._events.append(LogRecord(level, subsys, message))

    @property
    def packer(self) -> Packer:
        """The packer of the active send context (totempg_set_context)."""
        return self._packers[1 if self._trans_assembly else 0]

    @property
    def _unsent(self) -> deque[bytes]:
        return self._unsent_by_context[1 if self._trans_assembly else 0]

    def _send_sync(self, payload: bytes) -> None:
        self._queue_group(GROUP_SYNC, payload)

    def _queue_group(self, group: bytes, payload: bytes) -> None:
        # the pieces corosync's group layer hands to totempg: lengths, name, payload
        self.packer.add_pieces((_ONE_GROUP_LEN.pack(1, len(group)), group, payload))
        self.srp.signal_new_message()

    def queue_used(self) -> float:
        """How full the send path is, 0..1 and over (totempg's ``q_level_precent_used``):
        SRP's queue, the packets waiting for room in it and the packer's pending bytes."""
        limit = self.srp.settings.queue_limit
        used = (
            limit
            - self.srp.avail()
            + len(self._unsent)
            + self.packer.pending_bytes // self.packer.max_payload
        )
        return used / limit

    def send_ok(self, size: int) -> bool:
        """Whether a message of ``size`` bytes can be queued without overrunning SRP."""
        packets = (self.packer.pending_bytes + size) // self.packer.max_payload + 1
        return packets + len(self._unsent) < self.srp.avail()

    def _flush_packer(self) -> None:
        """Token arrived: move packed messages into SRP's queue (totempg's token callback)."""
        self._unsent.extend(self.packer.flush())
        while self._unsent and self.srp.mcast(self._unsent[0]):
            self._unsent.popleft()
        self.counters.queued_packets = len(self._unsent)

    def _token_turn(self, now: float) -> None:
        """SRP accepted a token and paused its visit: queue what is packed, then let the
        visit multicast it and forward the token."""
        self._flush_packer()
        self.srp.resume_token(now)

    def _srp_receive(self, data: bytes, now: float) -> None:
        """``srp.receive``, finishing the visit of a token it accepted."""
        srp = self.srp
        srp.receive(data, now)
        if srp.visit.pending is not None:
            self._token_turn(now)

    # ------------------------------------------------------------------------------------
    # Driver API
    # ------------------------------------------------------------------------------------
    def start(self, now: float) -> None:
        """Bring the node up: SRP gathers."""
        self._now = now
        if self.net is not None:
            self.net.start(now)
        self.srp.start(now)
        self._process(now)

    def receive(
        self,
        data: bytes,
        now: float,
        link: int = 0,
        *,
        defer: bool = False,
        source: str | None = None,
    ) -> None:
        """A datagram from the network, received on ring (link) ``link`` from address
        ``source`` (None: the network cannot lie, as in the simulator).

        With ``defer`` only the protocol work is done now (SRP stores the message,
        forwards a token, answers retransmit requests: ``outbox()`` has it); what SRP
        delivered waits for ``process_deferred``. A driver defers while datagrams are
        queued in its socket, so a token behind a burst of data is forwarded before
        the burst is delivered to the services -- as corosync delivers "after token
        has been transmitted to improve performance". The order of deliveries and
        configuration changes is unchanged.
        """
        self._now = now
        srp = self.srp
        if self._direct:
            srp.receive(data, now)
            if srp.visit.pending is not None:
                self._token_turn(now)
        else:
            net = self.net
            assert net is not None
            for datagram in net.incoming(data, link, now, source):
                self._srp_receive(datagram, now)
            for datagram in net.release_token(now):
                self._srp_receive(datagram, now)
        if not defer:
            self._process(now)

    def process_deferred(self, now: float) -> None:
        """Deliver what deferred ``receive`` calls left for the services.

        When they left SRP nothing to report (a token that delivered nothing, a JOIN)
        there is nothing to do here: the services were not called, and what else may be
        pending (the link layer's events) is collected by the ``events()`` call that
        follows in the driver's turn, in the same order (``totem.node.contract``).
        """
        self._now = now
        events = self.srp.events()
        if events:
            self._process_events(events, now)

    def next_deadline(self) -> float | None:
        """The earliest deadline of SRP, the net layer, sync and every service."""
        best = self.srp.next_deadline()
        if self.net is not None:
            candidate = self.net.next_deadline()
            if candidate is not None and (best is None or candidate < best):
                best = candidate
        candidate = self.sync.next_deadline()
        if candidate is not None and (best is None or candidate < best):
            best = candidate
        for service in self._timer_services:
            candidate = service.next_deadline()
            if candidate is not None and (best is None or candidate < best):
                best = candidate
        return best

    def on_deadline(self, now: float) -> None:
        """Run every due timer."""
        self._now = now
        if self.net is not None:
            for datagram in self.net.on_deadline(now):
                self._srp_receive(datagram, now)
        self.srp.on_deadline(now)
        self._process(now)
        due = self.sync.next_deadline()
        if due is not None and due <= now:
            self.sync.on_deadline(now)
        for service in self._timer_services:
            due = service.next_deadline()
            if due is not None and due <= now:
                service.on_deadline(now)
        self._process(now)

    def outbox(self) -> list[Datagram]:
        """Datagrams to send now, each with its ring (``link``) and sealed."""
        out = self.srp.outbox()
        if self._direct:
            return out
        assert self.net is not None
        return self.net.outgoing(out)

    def reconfigure(self, settings: SrpSettings, nodelist: Iterable[int]) -> None:
        """A configuration reload (``totem.node.reload``): SRP's timers and nodelist filter.

        ``settings`` are the new effective timers; ``net_mtu`` keeps its start-up value
        (it cannot change at run time). ``nodelist`` is every node id of the new nodelist;
        the redundant-ring test messages may travel one hop per listed node.
        """
        settings = dataclasses.replace(settings, net_mtu=self.settings.net_mtu)
        self.settings = settings
        listed = list(nodelist)
        self.srp.reconfigure(settings, listed)
        if self.net is not None:
            self.net.reconfigure(listed)

    def ring_reenable(self, link: int | None = None) -> list[int]:
        """Put FAULTY redundant rings back in use (all if ``link`` is None); returns them."""
        if self.net is None:
            return []
        return self.net.ring_reenable(link)

    def events(self) -> list[NodeEvent]:
        """Drain everything that happened: SRP events (configuration changes, logs,
        ring seq to persist), sync events and the services' events."""
        self._collect()
        out, self._events = self._events, []
        return out

    def leave(self) -> None:
        """Graceful shutdown: multicast the LEAVE message."""
        self.srp.leave()

    # ------------------------------------------------------------------------------------
    # Upward processing
    # ------------------------------------------------------------------------------------
    def _process(self, now: float) -> None:
        self._process_events(self.srp.events(), now)

    def _process_events(self, events: list[Any], now: float) -> None:
        for event in events:
            if isinstance(event, Delivery):
                self._deliver(event, now)
                # A packet can complete sync: switch assemblies before the next packet
                # (corosync's trans_ack callback runs inside that delivery), never at
                # the end of the batch, or a sender's fragments straddle both lists.
                self._collect_sync()
            elif isinstance(event, ConfigurationChange):
                self._events.append(event)
                self._confchg(event, now)
            else:
                self._events.append(event)
        self._collect()

    def _deliver(self, delivery: Delivery, now: float) -> None:
        reassembler = self.reassembler_trans if self._trans_assembly else self.reassembler
        try:
            messages = reassembler.deliver(delivery.sender, delivery.payload, delivery.byteswapped)
        except WireError:
            self.counters.bad_packet += 1
            return
        if delivery.byteswapped and messages:
            self.counters.byteswapped += len(messages)
            return
        self.counters.delivered += len(messages)
        deliver_exec, sync = self.dispatcher.deliver_at, self.sync
        sender = delivery.sender
        for message in messages:
            # corosync always sends exactly one group: test the two framings directly
            if message.startswith(_EXEC_FRAME):
                deliver_exec(sender, message, _EXEC_FRAME_SIZE, now)
                continue
            if message.startswith(_SYNC_FRAME):
                sync.deliver(delivery.sender, message[8:], now)
                continue
            try:
                groups, payload = decode_group_message(message)
            except WireError:
                self.counters.bad_group_frame += 1
                continue
            if GROUP_EXEC in groups:
                self.dispatcher.deliver(delivery.sender, payload, now)
            elif GROUP_SYNC in groups:
                self.sync.deliver(delivery.sender, payload, now)
            else:
                self.counters.unknown_group += 1

    def _confchg(self, change: ConfigurationChange, now: float) -> None:
        if change.kind is ConfigurationKind.TRANSITIONAL:
            for node in change.left:
                self.reassembler.forget(node)
                self.reassembler_trans.forget(node)
        else:
            self.ring_id = change.ring_id
            self.members = change.members
            self.synced = False
            self._trans_assembly = True
        for service in self.services:
            service.confchg(change, now)
        self.sync.confchg(change, now)

    def _collect_sync(self) -> None:
        events = self.sync.events()
        if not events:
            return
        for event in events:
            if isinstance(event, SyncCompleted):
                self.synced = True
                self._trans_assembly = False
                # what the normal context still stages (the tail of a message of the old
                # ring) goes first, then anything the sync context still holds
                normal = self._unsent_by_context[0]
                normal.extend(self._packers[0].flush())
                normal.extend(self._unsent_by_context[1])
                self._unsent_by_context[1].clear()
                normal.extend(self._packers[1].flush())
                self.srp.trans_ack()
                if normal:
                    self.srp.signal_new_message()
                for service in self.services:
                    service.sync_completed(self._now)
            self._events.append(event)

    def _collect(self) -> None:
        self._collect_sync()
        for service in self._event_services:
            events = service.events()
            if events:
                for event in events:
                    if isinstance(event, CfgRingReenable):
                        self.ring_reenable()
                    self._events.append(event)
        if self.net is not None:
            self._events.extend(self.net.events())

    # ------------------------------------------------------------------------------------
    # Status
    # ------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """A JSON-able snapshot of the node (cfgtool, quorumtool, tests)."""
        srp = self.srp
        return {
            "node_id": self._node_id,
            "state": srp.state.name,
            "ring_id": str(srp.ring.ring_id),
            "members": list(srp.members),
            "synced": self.synced,
            "stats": srp.stats.as_dict(),
            "stack": {
                "bad_packet": self.counters.bad_packet,
                "byteswapped": self.counters.byteswapped,
                "bad_group_frame": self.counters.bad_group_frame,
                "unknown_group": self.counters.unknown_group,
                "queued_packets": self.counters.queued_packets,
                "delivered": self.counters.delivered,
                "queued": sum(self.tx_counts.values()),
            },
            "services": {s.name: s.status() for s in self.services},
            **self._net_status(),
        }

    def _net_status(self) -> dict[str, Any]:
        if self.net is None:
            return {"faulty_rings": [], "rings": [], "rrp_mode": "none"}
        net = self.net.status()
        if "knet" in net:
            return {"faulty_rings": [], "rings": [], "rrp_mode": "none", "knet": net["knet"]}
        return {
            "faulty_rings": [r["ring"] for r in net["rings"] if r["faulty"]],
            "rings": net["rings"],
            "rrp_mode": net["rrp_mode"],
            "rrp": net["rrp"],
            "crypto": net["crypto"],
        }
