"""The sync protocol run after every REGULAR configuration (ref totem-wire.md section 10).

After Totem installs a new ring, every node re-synchronises its service engines
before it provides service again. The protocol lives in totempg group ``"sync"``
and has two messages (ref 10, table): SERVICE_BUILD, which announces the ids of
the services a node synchronises, and BARRIER, which says "I am done with the
current round". Both carry the ring id of the configuration they belong to;
anything stamped with another ring is old and discarded.

Per REGULAR configuration with member list M (ref 10.2):

1. multicast SERVICE_BUILD with my service ids, then ``sync_init`` every local
   participant (with the transitional members that are still members);
2. on each SERVICE_BUILD, union the ids into my list (ids I do not run become
   dummy "Unknown External Service" rounds that still need a barrier); when
   every member of M has sent one, start the rounds in ascending id order;
3. a round calls the service's ``sync_process`` until it says it is done, then
   multicasts exactly one BARRIER;
4. when every member's BARRIER has been delivered the round's service is
   activated and the next round begins; after the last round the node logs
   ``Completed service synchronization, ready to provide service.``

Barriers carry no round number. Total order makes one barrier per round, sent
only after the previous round completed, sufficient; a barrier sent early is
absorbed by the current round and the next round then waits for ever -- as in
corosync, and the tests show it.

A configuration change while sync runs aborts it as ``exec/main.c`` does: the
saved ring id is zeroed (so late sync messages of that ring are discarded) and,
only if a service's ``sync_process`` was still pending, that service's
``sync_abort`` is called. The engine is sans-IO: it never blocks, and a
``sync_process`` that returns False is retried on ``on_deadline`` (corosync
retries it from its idle loop through ``schedwrk``).

Deliberate deviations, all for input a correct peer never sends: a SERVICE_BUILD
arriving after the build phase, and any sync message after completion, are
dropped and counted instead of re-entering the state machine (corosync would
re-sort its list mid-round or crash); messages whose byte layout is wrong are
dropped and counted; big-endian peers are not supported (corosync's sync never
byte-swaps either).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from totem.ringid import RingId
from totem.service import Service
from totem.srp.events import ConfigurationChange, ConfigurationKind, LogLevel
from totem.wire import GROUP_SYNC, SyncBarrier, SyncServiceBuild, WireError, decode_sync

__all__ = [
    "SYNC_GROUP",
    "SYNC_PROCESS_RETRY",
    "SyncAborted",
    "SyncCompleted",
    "SyncEngine",
    "SyncEvent",
    "SyncStarted",
    "SyncState",
]

SYNC_GROUP = GROUP_SYNC
"""The totempg group name of the sync protocol (ref 8)."""

SYNC_PROCESS_RETRY = 0.01
"""Seconds before a ``sync_process`` that returned False is called again."""

LogFn = Callable[[LogLevel, str, str], None]


# --- events ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SyncStarted:
    """A sync for ``ring_id`` began (SERVICE_BUILD sent)."""

    ring_id: RingId
    members: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SyncCompleted:
    """Every round passed its barrier: the node provides service on ``ring_id``."""

    ring_id: RingId


@dataclass(frozen=True, slots=True)
class SyncAborted:
    """A configuration change interrupted the sync of ``ring_id``."""

    ring_id: RingId


SyncEvent = SyncStarted | SyncCompleted | SyncAborted


class SyncState(enum.Enum):
    """``enum sync_state`` of exec/sync.c."""

    SERVICELIST_BUILD = "servicelist_build"
    PROCESS = "process"
    BARRIER = "barrier"


@dataclass(slots=True)
class _Round:
    service_id: int
    name: str
    service: Service | None  # None: a service some peer runs and we do not (dummy round)
    activated: bool = False


class SyncEngine:
    """One node's sync protocol state machine (exec/sync.c + the sync glue of exec/main.c).

    ``services`` are the node's service engines; those with ``sync_participant``
    take part, in ascending ``service_id`` order. ``send_sync`` queues a payload
    for agreed-order delivery to group ``"sync"``; the node must feed every
    delivered ``"sync"`` payload, including its own, to :meth:`deliver`.

    The node stack calls each service's ``confchg`` *before* :meth:`confchg`, as
    ``confchg_fn`` in exec/main.c does.
    """

    def __init__(
        self,
        node_id: int,
        services: Iterable[Service],
        send_sync: Callable[[bytes], None],
        log: LogFn | None = None,
    ) -> None:
        self.node_id = node_id
        self._send = send_sync
        self._log_fn = log
        participants: dict[int, Service] = {}
        for service in services:
            if service.sync_participant:
                if service.service_id in participants:
                    raise ValueError(f"two sync services with id {service.service_id}")
                participants[service.service_id] = service
        self._local = dict(sorted(participants.items()))
        self._state = SyncState.BARRIER
        self._ring_id: RingId | None = None
        self._members: tuple[int, ...] = ()
        self._trans_members: tuple[int, ...] = ()
        self._received: dict[int, bool] = {}
        self._rounds: list[_Round] = []
        self._idx = 0
        self._in_progress = False
        self._completed = False
        self._running = False
        self._retry_at: float | None = None
        self._events: list[SyncEvent] = []
        self.counters: dict[str, int] = {
            "malformed": 0,
            "old_ring": 0,
            "late_service_build": 0,
            "after_completion": 0,
            "barriers_sent": 0,
            "service_builds_sent": 0,
            "aborts": 0,
            "completions": 0,
        }

    # --- public state ----------------------------------------------------------------------
    @property
    def in_progress(self) -> bool:
        """True from a configuration change until sync completes (``sync_in_process``)."""
        return self._in_progress

    @property
    def state(self) -> SyncState:
        return self._state

    @property
    def ring_id(self) -> RingId | None:
        """The ring being (or last) synchronised; None after an abort."""
        return self._ring_id

    @property
    def service_list(self) -> tuple[int, ...]:
        """The ids of this sync's rounds, in processing order."""
        return tuple(r.service_id for r in self._rounds)

    @property
    def current_service(self) -> int | None:
        """The service id of the running round, None when not processing."""
        if not self._in_progress or self._state is SyncState.SERVICELIST_BUILD:
            return None
        if self._idx >= len(self._rounds):
            return None
        return self._rounds[self._idx].service_id

    def events(self) -> list[SyncEvent]:
        events, self._events = self._events, []
        return events

    def next_deadline(self) -> float | None:
        """When a pending ``sync_process`` is retried; None if nothing is pending."""
        return self._retry_at

    def on_deadline(self, now: float) -> None:
        """Retry the pending ``sync_process`` (corosync's schedwrk job)."""
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            self._run_process(now)

    # --- inputs ----------------------------------------------------------------------------
    def confchg(self, change: ConfigurationChange, now: float) -> None:
        """A TRANSITIONAL or REGULAR configuration from Totem, in EVS order."""
        if self._in_progress:
            self._abort()
        self._in_progress = True
        if change.kind is ConfigurationKind.TRANSITIONAL:
            self._trans_members = tuple(change.members)
        else:
            self._start(change.ring_id, tuple(change.members), now)

    def deliver(self, sender: int, payload: bytes, now: float) -> None:
        """A message of group ``"sync"`` in agreed order (our own included)."""
        try:
            message = decode_sync(payload)
        except WireError as exc:
            self.counters["malformed"] += 1
            self._log(LogLevel.DEBUG, "SYNC", f"dropping malformed sync message: {exc}")
            return
        is_barrier = isinstance(message, SyncBarrier)
        if self._ring_id is None or message.ring_id != self._ring_id:
            self.counters["old_ring"] += 1
            kind = "barrier" if is_barrier else "service build"
            self._log(LogLevel.DEBUG, "SYNC", f"{kind} for old ring - discarding")
            return
        if self._completed:
            self.counters["after_completion"] += 1
            return
        if isinstance(message, SyncBarrier):
            self._on_barrier(sender, now)
        else:
            self._on_service_build(sender, message.service_list, now)

    # --- the state machine -----------------------------------------------------------------
    def _start(self, ring_id: RingId, members: tuple[int, ...], now: float) -> None:
        self._ring_id = ring_id
        self._completed = False
        self._running = True
        self._state = SyncState.SERVICELIST_BUILD
        self._members = members
        self._received = dict.fromkeys(members, False)
        self._idx = 0
        self._rounds = [_Round(sid, svc.name, svc) for sid, svc in self._local.items()]
        self._send(SyncServiceBuild(ring_id, tuple(r.service_id for r in self._rounds)).encode())
        self.counters["service_builds_sent"] += 1
        self._events.append(SyncStarted(ring_id, members))
        self._log(LogLevel.DEBUG, "SYNC", "call init for locally known services")
        member_set = set(members)
        trans = tuple(n for n in self._trans_members if n in member_set)
        self._trans_members = trans
        for rnd in self._rounds:
            assert rnd.service is not None
            rnd.service.sync_init(trans, members, ring_id, now)

    def _on_service_build(self, sender: int, ids: Sequence[int], now: float) -> None:
        if self._state is not SyncState.SERVICELIST_BUILD:
            self.counters["late_service_build"] += 1
            self._log(LogLevel.DEBUG, "SYNC", f"late service build from node {sender} - ignoring")
            return
        known = {r.service_id for r in self._rounds}
        added = False
        for sid in ids:
            if sid not in known:
                known.add(sid)
                self._rounds.append(_Round(sid, f"Unknown External Service (id = {sid})", None))
                added = True
        if added:
            self._rounds.sort(key=lambda r: r.service_id)
        self._mark(sender)
        if all(self._received.values()):
            self._log(LogLevel.DEBUG, "SYNC", "enter sync process")
            self._process_enter(now)

    def _on_barrier(self, sender: int, now: float) -> None:
        # As in corosync the received flags are shared with the build phase.
        self._mark(sender)
        if not all(self._received.values()):
            return
        if self._idx >= len(self._rounds):  # pragma: no cover - guarded by _completed
            return
        rnd = self._rounds[self._idx]
        self._log(LogLevel.DEBUG, "SYNC", f"Committing synchronization for {rnd.name}")
        rnd.activated = True
        if rnd.service is not None:
            rnd.service.sync_activate(now)
        self._idx += 1
        if self._idx == len(self._rounds):
            self._complete()
        else:
            self._process_enter(now)

    def _mark(self, sender: int) -> None:
        if sender in self._received:
            self._received[sender] = True

    def _process_enter(self, now: float) -> None:
        self._state = SyncState.PROCESS
        if not self._rounds:
            self._state = SyncState.SERVICELIST_BUILD
            self._complete()
            return
        for node in self._received:
            self._received[node] = False
        self._run_process(now)

    def _run_process(self, now: float) -> None:
        if self._state is not SyncState.PROCESS or self._ring_id is None:
            return
        rnd = self._rounds[self._idx]
        done = True if rnd.service is None else rnd.service.sync_process(now)
        if not done:
            self._retry_at = now + SYNC_PROCESS_RETRY
            return
        self._state = SyncState.BARRIER
        self._send(SyncBarrier(self._ring_id).encode())
        self.counters["barriers_sent"] += 1

    def _complete(self) -> None:
        assert self._ring_id is not None
        self._in_progress = False
        self._completed = True
        self._running = False
        self._retry_at = None
        self.counters["completions"] += 1
        self._events.append(SyncCompleted(self._ring_id))
        self._log(
            LogLevel.NOTICE, "MAIN", "Completed service synchronization, ready to provide service."
        )

    def _abort(self) -> None:
        if self._state is SyncState.PROCESS and self._idx < len(self._rounds):
            svc = self._rounds[self._idx].service
            if svc is not None:
                svc.sync_abort()
        self._retry_at = None
        if self._running and self._ring_id is not None:
            self.counters["aborts"] += 1
            self._events.append(SyncAborted(self._ring_id))
        self._running = False
        self._ring_id = None

    def _log(self, level: LogLevel, subsys: str, message: str) -> None:
        if self._log_fn is not None:
            self._log_fn(level, subsys, message)
