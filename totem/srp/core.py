"""The Totem Single Ring Protocol core, sans-IO (ref totem-wire.md sections 5, 6, 7).

``SrpCore`` is corosync 3.1.7's ``totemsrp`` as a plain object: datagrams and
time go in, datagrams and events come out.

    core.start(now)                      # the interface is up: enter GATHER
    core.receive(data, now)              # a datagram arrived (any Totem type)
    core.next_deadline() -> float | None # the earliest timer
    core.on_deadline(now)                # time reached it
    core.mcast(packet)                   # queue a totempg packet for ordering
    core.outbox() -> list[Datagram]      # what to send now
    core.events() -> list[SrpEvent]      # deliveries, configuration changes, logs

Membership (GATHER -> COMMIT) lives in ``totem.srp.membership``; RECOVERY and
the move to OPERATIONAL in ``totem.srp.recovery``; the ORF token's visit,
ordering, retransmission and delivery in ``totem.srp.ordering``. They are
mixins of this class, so that a reader can take one concern at a time, over
state kept in owned records (``totem.srp.records``: each record is written by
one of them only). What runs for each message and timer in each state is the
table of ``totem.srp.dispatch``; the state changes in one place, checked
against ``totem.srp.transitions`` (``testdata/srp/state_machine.txt`` prints
both).

A token visit can pause once the token is accepted (``pause_on_token``): the
layer above then queues what it has packed and calls ``resume_token(now)``, so
those messages go out on this visit (totempg's token callback, made explicit).

Multicast datagrams (``Datagram.dest is None``) must reach every node of the
nodelist *including the sender*: like corosync, the core learns its own JOIN
and MERGE_DETECT through the network. Unicast datagrams (the ORF token and the
commit token) go to one node id, possibly the sender itself (a singleton ring).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from totem.srp.dispatch import HANDLERS
from totem.srp.events import LogLevel, SrpEvent
from totem.srp.membership import MembershipMixin
from totem.srp.ordering import OrderingMixin
from totem.srp.recovery import RecoveryMixin
from totem.srp.settings import SrpSettings
from totem.srp.state import Datagram
from totem.srp.timers import Timer
from totem.srp.transitions import GatherReason
from totem.wire import (
    CommitToken,
    Mcast,
    MembJoin,
    MergeDetect,
    OrfToken,
    TokenHoldCancel,
    WireError,
    decode,
)

__all__ = ["AGREED", "SAFE", "Datagram", "SrpCore"]

AGREED = 0
"""Deliver in total order as soon as every earlier message is delivered."""
SAFE = 1
"""Deliver only once every member of the configuration is known to hold it."""


class SrpCore(MembershipMixin, RecoveryMixin, OrderingMixin):
    """One node's Totem SRP instance."""

    HANDLERS = HANDLERS

    # ------------------------------------------------------------------------------------
    # Driver API
    # ------------------------------------------------------------------------------------
    def start(self, now: float) -> None:
        """The interface is up (``main_iface_change_fn``, ref 6.6): load the ring seq, gather.

        The ring sequence starts one above the stored one, so a restarted node
        never reuses a singleton ring id.
        """
        if self.started:
            return
        self.started = True
        self.ring_start(now)
        self.timers.start(Timer.PAUSE, now + self.settings.token / 5000)
        self._log(
            LogLevel.DEBUG,
            f"Created or loaded sequence id {self.ring.ring_id} for this ring.",
        )
        self.gather_enter(now, GatherReason.INTERFACE_CHANGE)

    def receive(self, data: bytes, now: float) -> None:
        """A datagram arrived from a nodelist member. Malformed ones are dropped and counted."""
        if not self.started or self.leaving:
            self.stats.drop("not_started")
            return
        try:
            message = decode(data)
        except WireError as err:
            self.stats.drop(err.reason)
            return
        if self.nodelist is not None and not self._names_only_listed_nodes(message):
            self.stats.drop("unknown_node")
            return
        handler = self.handlers.messages.get(type(message))
        if handler is not None:
            handler(self, message, data, now)

    def leave(self) -> None:
        """Graceful shutdown: multicast the LEAVE join (ref 7). The core then goes quiet."""
        if self.started and not self.leaving:
            self.leave_message_send()
            self.leaving = True
            for timer in Timer:
                self.timers.cancel(timer)

    def reconfigure(
        self, settings: SrpSettings | None = None, nodelist: Iterable[int] | None = None
    ) -> None:
        """A configuration reload (cfg RELOAD_CONFIG): new timers, a new nodelist.

        Timers take effect when they are next armed, as in corosync, whose totemsrp reads
        the shared ``totem_config`` every time it starts a timer; a running timer keeps
        its deadline. ``net_mtu`` cannot change at run time (queued packets are sized by
        it), so the current one is kept.

        A node added to the nodelist may appear in messages at once. A node removed
        while it is still a member (or being considered in a membership round) stays
        accepted until a regular configuration forms without it: the other members
        keep naming it in their JOINs (``proc_list``/``failed_list``) until then, and
        dropping those would stall the very gather that removes it.
        """
        if settings is not None:
            self.settings = dataclasses.replace(settings, net_mtu=self.settings.net_mtu)
        if nodelist is None or self.nodelist is None:
            return
        configured = frozenset(nodelist)
        involved = {
            *self.ring.memb_list,
            *self.ring.new_memb_list,
            *self.ring.proc_list,
            *self.ring.failed_list,
        }
        retired = (self.nodelist - configured) & involved
        self.retired_nodes = frozenset(retired)
        self.nodelist = configured | self.retired_nodes

    def _names_only_listed_nodes(self, message: object) -> bool:
        """Every node id the message names is in the nodelist (0 where "nobody" is allowed).

        corosync accepts any node id from a listed address; a node id outside the
        nodelist can never be a member (no token can reach it), so such a datagram
        is either garbage or hostile and would only force a needless GATHER.
        """
        listed = self.nodelist
        assert listed is not None
        if isinstance(message, Mcast):
            return message.nodeid in listed and message.system_from in listed
        if isinstance(message, OrfToken):
            return message.nodeid in listed and (message.aru_addr in listed or not message.aru_addr)
        if isinstance(message, MembJoin):
            return (
                message.system_from in listed
                and (message.nodeid in listed or message.nodeid == 0)
                and listed.issuperset(message.proc_list)
                and listed.issuperset(message.failed_list)
            )
        if isinstance(message, MergeDetect):
            return message.nodeid in listed and message.system_from in listed
        if isinstance(message, CommitToken):
            return message.nodeid in listed and all(n in listed for n in message.addr)
        if isinstance(message, TokenHoldCancel):
            return message.nodeid in listed
        return True

    def next_deadline(self) -> float | None:
        """The earliest time at which ``on_deadline`` must run."""
        return self.timers.next_deadline()

    def on_deadline(self, now: float) -> None:
        """Run every timer due at or before ``now``, earliest first."""
        while True:
            timer = self.timers.pop_expired(now)
            if timer is None:
                return
            self._fire(timer, now)

    def outbox(self) -> list[Datagram]:
        """Drain the datagrams to send."""
        out, self._out = self._out, []
        return out

    def events(self) -> list[SrpEvent]:
        """Drain the events."""
        out, self._events = self._events, []
        return out

    @property
    def members(self) -> tuple[int, ...]:
        """The current regular membership (sorted node ids)."""
        return tuple(self.ring.memb_list)

    # ------------------------------------------------------------------------------------
    # Timers
    # ------------------------------------------------------------------------------------
    def _fire(self, timer: Timer, now: float) -> None:
        handler = self.handlers.timers[timer]
        if handler is not None:
            handler(self, now)
