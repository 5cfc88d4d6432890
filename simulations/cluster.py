"""The simulation engine: nodes on a virtual clock and a virtual network.

:class:`Simulation` owns one deterministic event queue. Three things happen in
it, each at a virtual instant, ties broken by the order they were scheduled:

* a datagram arrives at a node (``receive``);
* a node's timer is due (``on_deadline``): every node exposes one
  ``next_deadline()``; the engine keeps one pending wake-up per node and moves
  it only when the node wants an *earlier* one (as the asyncio driver does);
* a scheduled action runs (a traffic tick, the end of a pause, a probe, a TCP
  segment of :mod:`simulations.streams`).

Input that is not a datagram (a TCP connection's data, an API call) reaches a
node through :meth:`Simulation.process_input`, which honours pauses and the
node's own clock as datagrams do. Hosts that are not Totem nodes (the qnetd
arbiter) are endpoints of the network only; they drive themselves with
:meth:`Simulation.call_at`, and :attr:`Simulation.down_listeners` learn when a
node's process goes away (its kernel closes its sockets).

A node is driven as the daemon's driver drives it (``totem.node.contract``): a
datagram is received deferred (``receive(..., defer=True)``) and its protocol output
(a forwarded token) taken at once, then ``process_deferred`` delivers it; after each
input the node's outbox goes to the :class:`~simulations.network.Network`, its events
to the :class:`~simulations.checker.Checker` and the
:class:`~simulations.trace.TraceRecorder`, and its timer is re-armed. What a turn sends
leaves at the turn's virtual instant; the network draws the delays of its datagrams
when the turn ends, in the order they were sent (after the TCP segments a quorum
device sent meanwhile). Every datagram is a socket batch of its own unless
``socket_batches`` is on: then the datagrams that reach a node at one instant, one after
the other, are one batch with one deferred delivery, as the daemon reads what its socket
holds. That is a different schedule (a token behind data at the same instant is
forwarded before the data is delivered, so what the delivery makes a service send waits
for the next token), so the fault campaigns, whose runs must replay, keep it off.

The engine never reads a clock and never sleeps; a run is a pure function of the node
factory, the seed and the calls made on it.

Faults on nodes (links are the network's):

* ``pause``: the process is frozen (a GC or VM stall). Datagrams wait in its
  receive buffer (``rcvbuf`` bytes, overflow is dropped as the kernel does);
  at the end of the pause its due timers run first, then the buffered
  datagrams in arrival order, all at the resume instant.
* ``crash``: gone at once (SIGKILL); ``stop``: graceful leave (SIGTERM).
* ``restart``: a new process (incarnation) of the node id, built with the ring
  sequence the node persisted, or 0 when its state directory was lost. It
  never receives the loopback copies of its predecessor's last multicasts
  (they are delivered within microseconds; no real restart is that fast).
* ``set_clock``: the node's own clock jumps ahead and/or runs at another rate;
  the core only ever sees its local time. Totem must not depend on clocks
  agreeing, only on intervals.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from simulations.checker import Checker, Violation
from simulations.latency import DelaySampler
from simulations.network import Network
from simulations.nodes import DeviceVote, NodeFactory, NodeView, SimNode
from simulations.slot import NodeSlot
from simulations.trace import SimAction, TraceRecorder
from simulations.traffic import AppDelivered, Traffic, encode_app
from totem.srp.events import ConfigurationChange, Delivery, RingSeqChanged, StateChanged
from totem.srp.state import Datagram
from totem.sync import SyncCompleted, SyncStarted
from totem.wire.decode import set_join_cache_size
from totem.wire.mcast import safe_position

__all__ = [
    "BUDGET_CHECK_EVERY",
    "DEFAULT_RCVBUF",
    "FANOUT_MIN_PENDING",
    "AppDelivered",
    "BudgetExceeded",
    "NodeSlot",
    "Simulation",
    "Traffic",
    "ViolationReport",
]

DEFAULT_RCVBUF = 212992
"""Linux ``net.core.rmem_default``: what a paused process's socket can hold."""
_SKB_OVERHEAD = 256
"""Bytes the kernel charges per queued datagram beyond its payload (approximate)."""

JOIN_CACHE_ENTRIES = 16384
"""Decoded JOINs the simulator keeps at least (:func:`totem.wire.decode.set_join_cache_size`):
the 16,384 distinct JOINs of a 128-node cold start."""

BUDGET_CHECK_EVERY = 4096
"""Events between two calls of :attr:`Simulation.budget_check`."""
FANOUT_MIN_PENDING = 1024
"""Pending events from which a multicast's copies wait as one heap entry
(:meth:`Simulation._schedule_fanout`); below it they are pushed one by one, which costs
less in a small heap. Either way the events run in the same order."""

_T = TypeVar("_T")
_DELIVER = 0
_LOOPBACK = 1
_TIMER = 2
_CALL = 3


class BudgetExceeded(Exception):
    """The run used up its budget (events, or what :attr:`Simulation.budget_check` says)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ViolationReport:
    """A violation with the trace entries around it, captured when it happened."""

    violation: Violation
    excerpt: tuple[str, ...]


@dataclass(slots=True)
class _Fanout:
    """A multicast's copies in ``(at, seq)`` order; ``next``: the first not yet in the heap."""

    entries: list[tuple[float, int, int, Any, Any, Any, _Fanout | None]]
    next: int = 1


class Simulation:
    """Nodes, network, clock, checker: the whole simulated cluster."""

    def __init__(
        self,
        node_ids: Iterable[int],
        factory: NodeFactory,
        *,
        seed: int = 0,
        checker: Checker | None = None,
        recorder: TraceRecorder | None = None,
        rcvbuf: int = DEFAULT_RCVBUF,
        rings: int = 1,
        hosts: Iterable[int] = (),
        knet: bool = False,
        socket_batches: bool = False,
    ) -> None:
        ids = sorted(set(node_ids))
        if not ids:
            raise ValueError("a cluster needs at least one node")
        # Every simulated node decodes the same JOIN bytes: keep them all decoded once
        # (a cold start of N nodes multicasts N^2 distinct JOINs).
        set_join_cache_size(max(JOIN_CACHE_ENTRIES, len(ids) ** 2))
        self.seed = seed
        self.factory = factory
        self.now = 0.0
        self.rng = random.Random(seed)
        self.sampler = DelaySampler(seed)
        self.network = Network(
            ids,
            self.sampler,
            self.rng,
            self._schedule_datagram,
            rings,
            hosts=hosts,
            knet=knet,
            fanout=self._schedule_fanout,
        )
        self.checker = checker if checker is not None else Checker()
        self.recorder = recorder if recorder is not None else TraceRecorder()
        self.rcvbuf = rcvbuf
        self.slots: dict[int, NodeSlot] = {i: NodeSlot(i) for i in ids}
        self.ring_seq_store: dict[int, int] = dict.fromkeys(ids, 0)
        """What each node persisted (``ringid_<nodeid>``)."""
        self.reports: list[ViolationReport] = []
        self.events_processed = 0
        self.dropped_down = 0
        self.dropped_rcvbuf = 0
        self.membership_epoch = 0
        """Bumped whenever a node's membership or quorum view may have changed."""
        self.track_safe = False
        self.socket_batches = socket_batches
        """Datagrams that reach a node at one instant, one after the other, are one socket
        batch (one deferred delivery); off: every datagram is a batch of its own."""
        self.down_listeners: list[Callable[[int, int], None]] = []
        """Called with (node id, incarnation) when a process crashes or stops."""
        self.max_events: int | None = None
        """Raise :class:`BudgetExceeded` once this many events have been processed."""
        self.budget_check: Callable[[], str | None] | None = None
        """Called every :data:`BUDGET_CHECK_EVERY` events; a reason stops the run
        (:class:`BudgetExceeded`). The runner's wall-time budget: the engine itself reads
        no clock."""
        self._heap: list[tuple[float, int, int, Any, Any, Any, _Fanout | None]] = []
        """Pending events ``(at, seq, kind, a, b, c, fanout)``, popped in ``(at, seq)``
        order (every ``seq`` is unique). A multicast's copies are one :class:`_Fanout`, of
        which only the earliest pending copy is in the heap (see
        :meth:`_schedule_fanout`)."""
        self._fanned = 0
        """Copies waiting in a :class:`_Fanout` behind the one in the heap."""
        self._seq = itertools.count()
        self._traffic_generation = itertools.count(1)

    # ------------------------------------------------------------------------------------
    # scheduling
    # ------------------------------------------------------------------------------------
    def _schedule_datagram(self, at: float, src: int, dst: int, data: bytes, ring: int) -> None:
        if src == dst:
            # a node's copy of its own multicast: only the process that sent it gets it
            entry = (ring, self.slots[src].incarnation)
            heapq.heappush(self._heap, (at, next(self._seq), _LOOPBACK, entry, dst, data, None))
        else:
            heapq.heappush(self._heap, (at, next(self._seq), _DELIVER, ring, dst, data, None))

    def _schedule_fanout(
        self, src: int, data: bytes, ring: int, arrivals: list[tuple[float, int]]
    ) -> None:
        """A multicast's copies: each gets its sequence number in the order given, as
        one :meth:`_schedule_datagram` call each would, and once the queue is long
        (:data:`FANOUT_MIN_PENDING`) they join the heap one at a time, earliest first, each
        when the one before it is popped. The heap then holds one entry per multicast in flight
        instead of one per copy (a cold start of N nodes has about N^3 copies in flight,
        and popping a heap of millions of entries was the simulator's largest cost);
        the order of events is the same, since it is the order of ``(at, seq)``."""
        heap = self._heap
        seq = self._seq
        if len(heap) < FANOUT_MIN_PENDING or len(arrivals) == 1:
            push = heapq.heappush
            for at, dst in arrivals:
                if dst == src:
                    entry = (ring, self.slots[src].incarnation)
                    push(heap, (at, next(seq), _LOOPBACK, entry, dst, data, None))
                else:
                    push(heap, (at, next(seq), _DELIVER, ring, dst, data, None))
            return
        fanout = _Fanout([])
        entries = fanout.entries
        for at, dst in arrivals:
            if dst == src:
                entry = (ring, self.slots[src].incarnation)
                entries.append((at, next(seq), _LOOPBACK, entry, dst, data, fanout))
            else:
                entries.append((at, next(seq), _DELIVER, ring, dst, data, fanout))
        entries.sort()
        self._fanned += len(entries) - 1
        heapq.heappush(heap, entries[0])

    def _fanout_next(self, fanout: _Fanout) -> None:
        """The copy of ``fanout`` in the heap was popped: put its next one there."""
        entries = fanout.entries
        index = fanout.next
        if index < len(entries):
            fanout.next = index + 1
            self._fanned -= 1
            heapq.heappush(self._heap, entries[index])

    @property
    def pending(self) -> int:
        """Events waiting in the queue."""
        return len(self._heap) + self._fanned

    def call_at(self, at: float, action: Callable[[], None]) -> None:
        """Run ``action`` at virtual time ``at`` (not before now)."""
        at = max(at, self.now)
        heapq.heappush(self._heap, (at, next(self._seq), _CALL, action, None, None, None))

    def _arm(self, slot: NodeSlot, node: SimNode) -> None:
        """Keep one pending wake-up per node, moved only to an earlier deadline (as the
        daemon's driver re-arms its timer); :meth:`_service` has a copy of this."""
        deadline = node.next_deadline()
        if deadline is None:
            return
        if slot.clock_rate != 1.0 or slot.clock_offset:
            deadline = (deadline - slot.clock_offset) / slot.clock_rate
        if deadline < self.now:
            deadline = self.now
        if slot.armed is None or deadline < slot.armed:
            slot.armed = deadline
            heapq.heappush(
                self._heap,
                (deadline, next(self._seq), _TIMER, slot, slot.incarnation, deadline, None),
            )

    def _local(self, slot: NodeSlot) -> float:
        local = slot.clock_offset + slot.clock_rate * self.now
        if local < slot.local_last:
            local = slot.local_last
        slot.local_last = local
        return local

    # ------------------------------------------------------------------------------------
    # running
    # ------------------------------------------------------------------------------------
    def run_until(
        self,
        end: float,
        stop: Callable[[], bool] | None = None,
    ) -> bool:
        """Advance to virtual time ``end``; with ``stop``, return True as soon as it holds.

        ``stop`` is evaluated when some node's membership or quorum view may have
        changed (see :attr:`membership_epoch`) and after scheduled actions.
        """
        heap = self._heap
        pop = heapq.heappop
        slots = self.slots
        checked_epoch = -1
        if stop is not None and stop():
            return True
        next_budget = self._next_budget()
        while heap and heap[0][0] <= end:
            at, _, kind, a, b, c, fanout = pop(heap)
            if fanout is not None:
                self._fanout_next(fanout)
            self.now = at
            self.events_processed += 1
            if self.events_processed >= next_budget:
                self._check_budget()
                next_budget = self._next_budget()
            if kind < _TIMER:
                slot = slots[b]
                node = slot.node
                if node is None:
                    self.dropped_down += 1
                    continue
                if kind == _LOOPBACK:
                    if a[1] != slot.incarnation:
                        self.dropped_down += 1
                        continue
                    a = a[0]
                if slot.paused:
                    size = len(c) + _SKB_OVERHEAD
                    if slot.buffer_bytes + size > self.rcvbuf:
                        self.dropped_rcvbuf += 1
                    else:
                        slot.buffer.append((c, a))
                        slot.buffer_bytes += size
                    continue
                if self.track_safe and c[3] == 1:
                    self._note_safe(b, c)
                local = (
                    at if slot.clock_rate == 1.0 and not slot.clock_offset else self._local(slot)
                )
                node.receive(c, local, a, defer=True)
                sent = node.outbox()
                if self.socket_batches:
                    self._rest_of_batch(slot, node, at, local, sent)
                node.process_deferred(local)
                self._service(slot, node, sent)
            elif kind == _TIMER:
                slot = a
                if slot.incarnation != b or slot.node is None:
                    continue
                if slot.armed == c:
                    slot.armed = None
                if slot.paused:
                    continue
                self._fire_timers(slot, slot.node)
            else:
                a()
                self.membership_epoch += 1
            if stop is not None and checked_epoch != self.membership_epoch:
                checked_epoch = self.membership_epoch
                if stop():
                    return True
        if end > self.now:
            self.now = end
        return stop() if stop is not None else False

    def _next_budget(self) -> int:
        """The event count at which the budget is next checked."""
        processed = self.events_processed
        due = processed + BUDGET_CHECK_EVERY - processed % BUDGET_CHECK_EVERY
        if self.max_events is not None and self.max_events < due:
            return self.max_events
        return due

    def _check_budget(self) -> None:
        if self.max_events is not None and self.events_processed >= self.max_events:
            raise BudgetExceeded(
                f"{self.events_processed} events processed by t={self.now:.6f}s "
                f"(budget {self.max_events}), {self.pending} pending"
            )
        if self.budget_check is not None:
            reason = self.budget_check()
            if reason is not None:
                raise BudgetExceeded(
                    f"{reason} at t={self.now:.6f}s after {self.events_processed} events, "
                    f"{self.pending} pending"
                )

    def run_for(self, seconds: float, stop: Callable[[], bool] | None = None) -> bool:
        """Advance by ``seconds`` of virtual time (see :meth:`run_until`)."""
        return self.run_until(self.now + seconds, stop)

    def _fire_timers(self, slot: NodeSlot, node: SimNode) -> None:
        deadline = node.next_deadline()
        if deadline is None:
            return
        if slot.clock_rate == 1.0 and not slot.clock_offset:
            if deadline <= self.now:
                node.on_deadline(self.now)
                self._service(slot, node)
            else:
                self._arm(slot, node)
            return
        due = (deadline - slot.clock_offset) / slot.clock_rate
        if due <= self.now:
            node.on_deadline(max(self._local(slot), deadline))
            slot.local_last = max(slot.local_last, deadline)
            self._service(slot, node)
        else:
            self._arm(slot, node)

    def _note_safe(self, node_id: int, data: bytes) -> None:
        """Tell the checker ``node_id`` holds a SAFE message (direct or encapsulated)."""
        position = safe_position(data)
        if position is not None:
            self.checker.safe_held(node_id, *position)

    def _rest_of_batch(
        self, slot: NodeSlot, node: SimNode, at: float, local: float, sent: list[Datagram]
    ) -> None:
        """With :attr:`socket_batches`: the other datagrams that reach the node at this
        same instant, next in the queue, join the batch (received deferred, each one's
        protocol output taken at once into ``sent``)."""
        heap = self._heap
        node_id = slot.node_id
        while heap and heap[0][0] == at and heap[0][2] < _TIMER and heap[0][4] == node_id:
            _, _, kind, ring, _, data, fanout = heapq.heappop(heap)
            if fanout is not None:
                self._fanout_next(fanout)
            self.events_processed += 1
            if kind == _LOOPBACK:
                if ring[1] != slot.incarnation:
                    self.dropped_down += 1
                    continue
                ring = ring[0]
            if self.track_safe and data[3] == 1:
                self._note_safe(node_id, data)
            node.receive(data, local, ring, defer=True)
            sent.extend(node.outbox())

    def _transmit(self, node_id: int, datagrams: list[Datagram]) -> None:
        """Put a node's datagrams on the network."""
        transmit = self.network.transmit
        now = self.now
        track_safe = self.track_safe
        for datagram in datagrams:
            data = datagram.data
            if track_safe and data[3] == 1:
                self._note_safe(node_id, data)
            transmit(node_id, datagram.dest, data, now, datagram.link)

    def _service(self, slot: NodeSlot, node: SimNode, sent: list[Datagram] | None = None) -> None:
        """The end of an input's turn (``totem.node.contract``): send the outbox, observe
        the events, re-arm the timer. ``sent``: what the node's deferred ``receive`` calls
        already gave out in this turn; it leaves first."""
        node_id = slot.node_id
        if sent:
            self._transmit(node_id, sent)
        out = node.outbox()
        if out:
            self._transmit(node_id, out)
        events = node.events()
        if events:
            self._observe(slot, events)
        if slot.node is not node:
            return
        # _arm, inline: this runs after every input
        deadline = node.next_deadline()
        if deadline is None:
            return
        if slot.clock_rate != 1.0 or slot.clock_offset:
            deadline = (deadline - slot.clock_offset) / slot.clock_rate
        if deadline < self.now:
            deadline = self.now
        armed = slot.armed
        if armed is None or deadline < armed:
            slot.armed = deadline
            heapq.heappush(
                self._heap,
                (deadline, next(self._seq), _TIMER, slot, slot.incarnation, deadline, None),
            )

    def _observe(self, slot: NodeSlot, events: list[Any]) -> None:
        checker = self.checker
        record = self.recorder.record
        now = self.now
        node_id = slot.node_id
        incarnation = slot.incarnation
        before = len(checker.violations)
        for event in events:
            kind = type(event)
            if kind is Delivery:
                is_app = checker.delivered(
                    node_id,
                    incarnation,
                    event.sender,
                    event.ring_id,
                    event.seq,
                    event.payload,
                    now,
                )
                if is_app:
                    slot.app_delivered += 1
            elif kind is ConfigurationChange:
                checker.configuration(node_id, incarnation, event, now)
                self.membership_epoch += 1
            elif kind is StateChanged:
                self.membership_epoch += 1
                if event.new == "GATHER":
                    checker.gather_entered(node_id, incarnation, now)
            elif kind is RingSeqChanged:
                self.ring_seq_store[node_id] = event.seq
            elif kind is DeviceVote:
                checker.device_vote(node_id, incarnation, event.counted, event.needed, now)
            elif kind is SyncStarted:
                checker.sync_started(node_id, now)
            elif kind is SyncCompleted:
                checker.sync_completed(node_id, now)
            elif kind is AppDelivered:
                checker.app_delivered(node_id, incarnation, event.sender, event.payload, now)
                slot.app_delivered += 1
            elif hasattr(event, "quorate") and hasattr(event, "members"):
                checker.quorum(node_id, incarnation, bool(event.quorate), event.members, now)
                self.membership_epoch += 1
            record(now, node_id, incarnation, event)
        if len(checker.violations) != before:
            self._capture(before)

    def report_violation(self, invariant: str, nodes: tuple[int, ...], message: str) -> None:
        """An invariant checked outside the checker (the filesystem layer) is broken."""
        before = len(self.checker.violations)
        self.checker._violate(invariant, self.now, nodes, message)
        self._capture(before)

    def _capture(self, before: int) -> None:
        for violation in self.checker.violations[before:]:
            excerpt = self.recorder.excerpt(violation.nodes, violation.time)
            self.reports.append(ViolationReport(violation, tuple(excerpt)))

    def note(self, text: str, line: int = 0, node: int = 0) -> None:
        """Record a simulator action in the trace."""
        slot = self.slots.get(node)
        self.recorder.record(
            self.now, node, slot.incarnation if slot is not None else 0, SimAction(text, line)
        )

    # ------------------------------------------------------------------------------------
    # node life cycle
    # ------------------------------------------------------------------------------------
    def start(self, node_id: int, *, keep_state: bool = True) -> None:
        """Start a process for ``node_id`` (a first start or a restart after crash/stop)."""
        slot = self.slots[node_id]
        if slot.node is not None:
            return
        if not keep_state:
            self.ring_seq_store[node_id] = 0
        slot.incarnation += 1
        slot.app_sent = slot.app_refused = slot.app_delivered = 0
        slot.paused = False
        slot.buffer.clear()
        slot.buffer_bytes = 0
        slot.deferred.clear()
        slot.armed = None
        node = self.factory(node_id, self.ring_seq_store[node_id])
        slot.node = node
        self.checker.node_up(node_id, slot.incarnation, self.now, fresh=not keep_state)
        node.start(self._local(slot))
        self._service(slot, node)
        if slot.traffic is not None:
            self._schedule_traffic(slot, slot.traffic)

    def crash(self, node_id: int) -> None:
        """Kill the process at once: no leave message, in-flight datagrams to it are lost."""
        slot = self.slots[node_id]
        if slot.node is None:
            return
        self._down(slot)

    def stop(self, node_id: int) -> None:
        """Graceful shutdown: the node multicasts its LEAVE, then stops."""
        slot = self.slots[node_id]
        node = slot.node
        if node is None:
            return
        node.leave()
        self._service(slot, node)
        self._down(slot)

    def _down(self, slot: NodeSlot) -> None:
        slot.node = None
        slot.paused = False
        slot.buffer.clear()
        slot.buffer_bytes = 0
        slot.deferred.clear()
        slot.armed = None
        self.checker.node_down(slot.node_id, slot.incarnation, self.now)
        self.membership_epoch += 1
        for listener in self.down_listeners:
            listener(slot.node_id, slot.incarnation)

    def pause(self, node_id: int, duration: float) -> None:
        """Freeze the process for ``duration`` seconds (extends a pause in progress)."""
        slot = self.slots[node_id]
        if slot.node is None:
            return
        slot.paused = True
        self.checker.node_paused(node_id, self.now)
        slot.pause_generation += 1
        generation = slot.pause_generation
        incarnation = slot.incarnation

        def resume() -> None:
            if slot.pause_generation == generation and slot.incarnation == incarnation:
                self._resume(slot)

        self.call_at(self.now + duration, resume)

    def _resume(self, slot: NodeSlot) -> None:
        node = slot.node
        slot.paused = False
        self.checker.node_resumed(slot.node_id, self.now)
        if node is None:
            return
        self.note("resume", node=slot.node_id)
        self._fire_timers(slot, node)
        while slot.buffer and slot.node is node and not slot.paused:
            local = self._local(slot)
            # the socket's backlog: one batch with socket_batches, else one datagram a turn
            sent: list[Datagram] = []
            for _ in range(len(slot.buffer) if self.socket_batches else 1):
                data, ring = slot.buffer.popleft()
                slot.buffer_bytes -= len(data) + _SKB_OVERHEAD
                if self.track_safe and data[3] == 1:
                    self._note_safe(slot.node_id, data)
                node.receive(data, local, ring, defer=True)
                sent.extend(node.outbox())
            node.process_deferred(local)
            self._service(slot, node, sent)
        while slot.deferred and slot.node is node and not slot.paused:
            action = slot.deferred.pop(0)
            action(node, self._local(slot))
            node.touched()
            if slot.node is node:
                self._service(slot, node)

    def set_clock(self, node_id: int, jump: float = 0.0, rate: float = 1.0) -> None:
        """From now on the node's clock runs at ``rate`` after jumping ``jump`` seconds ahead.

        Before the node starts this only sets where its clock begins (invisible to a
        correct core, which only measures intervals); on a running node a jump makes
        every timer that falls within it due at once, as a stepped clock would.
        """
        if rate <= 0 or jump < 0:
            raise ValueError("a clock rate must be positive and a jump forward")
        slot = self.slots[node_id]
        local = slot.clock_offset + slot.clock_rate * self.now
        slot.clock_offset = local + jump - rate * self.now
        slot.clock_rate = rate
        slot.armed = None
        if slot.node is not None and not slot.paused:
            self._arm(slot, slot.node)

    # ------------------------------------------------------------------------------------
    # application traffic
    # ------------------------------------------------------------------------------------
    def send(self, node_id: int, count: int = 1, size: int = 100, safe: bool = False) -> int:
        """Submit ``count`` application messages on ``node_id`` now; returns the number accepted."""
        slot = self.slots[node_id]
        node = slot.node
        if node is None or slot.paused:
            slot.app_refused += count
            return 0
        if safe:
            self.track_safe = True
        accepted = 0
        for _ in range(count):
            counter = slot.app_sent + 1
            payload = encode_app(node_id, slot.incarnation, counter, size, safe)
            if not node.submit(payload, safe):
                slot.app_refused += count - accepted
                break
            slot.app_sent = counter
            self.checker.app_sent(node_id, slot.incarnation, counter, self.now)
            accepted += 1
        self._service(slot, node)
        return accepted

    def set_traffic(self, node_id: int, traffic: Traffic | None) -> None:
        """Send at a steady (or Poisson) rate from now on; None or rate 0 stops."""
        slot = self.slots[node_id]
        if traffic is None or traffic.rate <= 0:
            slot.traffic = None
            return
        traffic.generation = next(self._traffic_generation)
        if traffic.safe:
            self.track_safe = True
        slot.traffic = traffic
        if slot.node is not None:
            self._schedule_traffic(slot, traffic)

    def _schedule_traffic(self, slot: NodeSlot, traffic: Traffic) -> None:
        incarnation = slot.incarnation
        generation = traffic.generation

        def tick() -> None:
            if slot.traffic is not traffic or traffic.generation != generation:
                return
            if slot.incarnation != incarnation or slot.node is None:
                return
            if slot.paused:
                slot.app_refused += 1
            else:
                self.send(slot.node_id, 1, traffic.size, traffic.safe)
            self.call_at(self.now + self._interval(traffic), tick)

        self.call_at(self.now + self._interval(traffic), tick)

    def _interval(self, traffic: Traffic) -> float:
        if traffic.poisson:
            return self.rng.expovariate(traffic.rate)
        return 1.0 / traffic.rate

    def poke(self, node_id: int, action: Callable[[], _T]) -> _T:
        """Run ``action`` (an API call on the node, e.g. a qdevice poll) now, then flush the
        node's output as the driver does after any input. Raises if the node is down."""
        slot = self.slots[node_id]
        node = slot.node
        if node is None:
            raise ValueError(f"node {node_id} is down")
        try:
            return action()
        finally:
            node.touched()
            if slot.node is node:
                self._service(slot, node)

    def process_input(
        self, node_id: int, incarnation: int, action: Callable[[SimNode, float], None]
    ) -> bool:
        """Hand input other than a datagram to one process of ``node_id``: run
        ``action(node, local_now)``, then flush the node's output as after a datagram.

        A paused process gets it when it resumes (the kernel holds it meanwhile).
        Returns False, doing nothing, when that process (``incarnation``) is gone.
        """
        slot = self.slots[node_id]
        node = slot.node
        if node is None or slot.incarnation != incarnation:
            return False
        if slot.paused:
            slot.deferred.append(action)
            return True
        action(node, self._local(slot))
        node.touched()
        if slot.node is node:
            self._service(slot, node)
        self.membership_epoch += 1
        return True

    # ------------------------------------------------------------------------------------
    # inspection
    # ------------------------------------------------------------------------------------
    def view(self, node_id: int) -> NodeView | None:
        """The node's current view, None if it is down."""
        node = self.slots[node_id].node
        return node.view() if node is not None else None

    def alive(self) -> list[int]:
        """Node ids with a running process."""
        return [i for i, slot in self.slots.items() if slot.node is not None]

    def counters(self, node_id: int) -> Mapping[str, int | float]:
        """The node's protocol counters plus the simulator's per-node ones."""
        slot = self.slots[node_id]
        out: dict[str, int | float] = {}
        if slot.node is not None:
            out.update(slot.node.counters())
        out["app_sent"] = slot.app_sent
        out["app_refused"] = slot.app_refused
        out["app_delivered"] = slot.app_delivered
        return out
