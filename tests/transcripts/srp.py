"""Transcripts of the Totem SRP core (``testdata/srp``): membership, ordering, recovery.

Nodes run :class:`totem.srp.core.SrpCore` on the in-memory network of the SRP tests
(:class:`tests.srp.harness.Network`: a fixed latency, multicast to every node of the
nodelist sender included, unicast tokens), with explicit virtual time. Every datagram put on
the wire is printed once, when sent, decoded by :mod:`totem.wire`; every event a core emits
is printed when it is drained. Commands::

    nodes 1 2 3 [token=MS consensus=MS hold=MS ...]   the nodelist and the timers (ms)
    log-level notice|info|debug                       which log records are printed
    start [1 2 ...] [hex]                              the interface comes up (all if none)
    run ms=N [quiet|silent]                            run N ms of virtual time
    run-until operational=(1,2) [members=(1,2)] [quiet|silent]
                                                       run until those nodes share a ring
    mcast NODE TEXT... [guarantee=safe]                the application multicasts each TEXT
    crash NODE | leave NODE                            SIGKILL / graceful shutdown
    partition 1,2 3 | heal                             cut the network into groups / mend it
    drop from=N to=N type=TYPE [count=N] [skip=N]      lose datagrams by rule (after skip=N)
    undrop                                             lose no more
    status                                             each node's state, ring and counters
    state-machine                                      gather reasons, legal transitions and
                                                       each state's handlers (no network)

``quiet`` prints events only (no datagrams), ``silent`` nothing, ``hex`` the bytes too. A
lost multicast is printed with the node ids that did not get it (``lost=3``), a lost unicast
with ``-x``. Token hops that change nothing but ``token_seq`` and a node re-sending the same
datagram on the same timer are counted on one line instead of printed again.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, replace
from typing import Any

from tests.srp.harness import Network
from tests.transcripts import printers
from tests.transcripts.datadriven import Case
from tests.transcripts.interp import Interpreter, hexdump, ms, node_ids
from totem.ringid import RingId
from totem.srp.core import AGREED, SAFE
from totem.srp.dispatch import describe
from totem.srp.events import (
    ConfigurationChange,
    Delivery,
    LogLevel,
    LogRecord,
    RingSeqChanged,
    SrpEvent,
    StateChanged,
)
from totem.srp.settings import SrpSettings
from totem.srp.state import MembState
from totem.srp.timers import Timer
from totem.wire import MessageType, OrfToken, decode, peek_type

__all__ = ["SrpInterpreter"]

_TYPES = {t.name: int(t) for t in MessageType}


@dataclass
class DropRule:
    """Lose datagrams of ``kind`` from ``src`` to ``dest`` (0: any), ``count`` times (0: always)."""

    src: int
    dest: int
    kind: int | None
    count: int
    skip: int = 0
    """Let this many matching datagrams through first."""

    def __call__(self, src: int, dest: int, data: bytes) -> bool:
        if (self.src and src != self.src) or (self.dest and dest != self.dest):
            return False
        if self.kind is not None and peek_type(data) != self.kind:
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        if self.count < 0:
            return False
        if self.count > 0:
            self.count -= 1
            if self.count == 0:
                self.count = -1  # spent
        return True


@dataclass
class _Hops:
    """Token hops that changed nothing but ``token_seq``, each passing on the last one."""

    token: OrfToken
    count: int
    token_seq: int
    dest: int
    at: float


@dataclass
class _Repeat:
    """A node sending the same datagram again (on the same timer), not printed again."""

    key: tuple[str, str]
    count: int
    at: float


class TracedNetwork(Network):
    """The SRP test network, printing each datagram when sent and each event when drained."""

    def __init__(self, ids: list[int], settings: SrpSettings, interp: SrpInterpreter) -> None:
        super().__init__(ids, settings)
        self.interp = interp

    def _pump(self, node_id: int) -> None:
        core = self.nodes.get(node_id)
        if core is None:
            return
        interp = self.interp
        for event in core.events():
            self.logs[node_id].events.append(event)
            if isinstance(event, RingSeqChanged):
                self.ring_seq_store[node_id] = event.seq
            interp.event(self.now, node_id, event)
        for datagram in core.outbox():
            dests = self.ids if datagram.dest is None else [datagram.dest]
            lost: list[int] = []
            for dest in dests:
                self.sent += 1
                if (node_id, dest) in self.cut or any(
                    rule(node_id, dest, datagram.data) for rule in self.drop_rules
                ):
                    lost.append(dest)
                    continue
                when = self.now + self.latency
                heapq.heappush(
                    self._queue, (when, next(self._counter), node_id, dest, datagram.data)
                )
            interp.datagram(self.now, node_id, datagram.dest, datagram.data, lost)

    def step(self) -> bool:
        # name the timers about to fire, for the line that says why a node acted
        next_packet = self._queue[0][0] if self._queue else None
        due = [(d, n) for n, core in self.nodes.items() if (d := core.next_deadline()) is not None]
        self.interp.cause = None
        if due and (next_packet is None or min(due)[0] < next_packet):
            at, node_id = min(due)
            core = self.nodes[node_id]
            fired = [
                t.name
                for t in Timer
                if (d := core.timers.due_at(t)) is not None and d <= max(self.now, at)
            ]
            if fired != ["PAUSE"]:
                self.interp.cause = (node_id, f"{node_id}: timer {'+'.join(fired)} expired")
        return super().step()


class SrpInterpreter(Interpreter):
    """Commands of ``testdata/srp`` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.net: TracedNetwork | None = None
        self.level = LogLevel.NOTICE
        self.quiet = False
        self.silent = False
        self.hex = False
        """Print every datagram's bytes under its line (``start hex``)."""
        self.cause: tuple[int, str] | None = None
        """The timer that made a node act: printed before that node's first line."""
        self._hops: dict[RingId, _Hops] = {}
        """Per ring, a rotation of alike token hops being counted."""
        self._repeats: dict[int, _Repeat] = {}
        """Per node, the last datagram it printed (with its timer) and how often it recurred."""

    def finish(self) -> None:
        self._flush()

    # -- printing --------------------------------------------------------------------------
    def _line(self, now: float, node: int, text: str) -> None:
        if self.cause is not None and self.cause[0] == node:
            self.out(f"{ms(now)}  {self.cause[1]}")
            self.cause = None
        self.out(f"{ms(now)}  {text}")

    def datagram(
        self, now: float, src: int, dest: int | None, data: bytes, lost: list[int]
    ) -> None:
        if self.quiet:
            return
        cause = self.cause[1] if self.cause is not None and self.cause[0] == src else ""
        to = "*" if dest is None else str(dest)
        arrow = "-x" if dest is not None and lost else "->"
        tail = f" lost={printers.ids(lost)}" if dest is None and lost else ""
        text = f"{src} {arrow} {to}  {printers.totem(data)}{tail}"
        token = decode(data) if peek_type(data) == MessageType.ORF_TOKEN else None
        if isinstance(token, OrfToken) and not lost and not cause:
            key = replace(token, token_seq=0, nodeid=0, target_nodeid=0)
            hops = self._hops.get(token.ring_id)
            if (
                hops is not None
                and hops.token == key
                and hops.dest == src
                and hops.token_seq + 1 == token.token_seq
            ):
                hops.count += 1
                hops.token_seq, hops.dest, hops.at = token.token_seq, dest or 0, now
                return
            self._flush()
            self._hops[token.ring_id] = _Hops(key, 0, token.token_seq, dest or 0, now)
            self._repeats.pop(src, None)
        else:
            repeat = self._repeats.get(src)
            if repeat is not None and repeat.key == (cause, text):
                repeat.count += 1
                repeat.at = now
                self.cause = None
                return
            self._flush()
            self._repeats[src] = _Repeat((cause, text), 0, now)
        self._line(now, src, text)
        if self.hex:
            for row in hexdump(data):
                self.out(f"{'':11}{row}")

    def _flush(self) -> None:
        """Print what was being counted: token rotations, then repeated sends, by time."""
        pending: list[tuple[float, str]] = []
        for ring_id, hops in self._hops.items():
            if hops.count:
                pending.append(
                    (
                        hops.at,
                        f"... {hops.count} more hops alike on {ring_id}, "
                        f"up to token_seq={hops.token_seq} (to {hops.dest})",
                    )
                )
        self._hops.clear()
        for src, repeat in self._repeats.items():
            if repeat.count:
                times = "time" if repeat.count == 1 else "times"
                pending.append((repeat.at, f"... {src} sent that {repeat.count} more {times}"))
                repeat.count = 0
        for at, text in sorted(pending):
            self.out(f"{ms(at)}  {text}")

    def event(self, now: float, node: int, event: SrpEvent) -> None:
        if self.silent:
            return
        if isinstance(event, LogRecord):
            if event.level > self.level:
                return
            text = f"[{event.subsys}] {event.message}"
        elif isinstance(event, StateChanged):
            text = f"{event.old} -> {event.new} ({event.reason})"
        elif isinstance(event, ConfigurationChange):
            text = (
                f"{event.kind.name} ring={event.ring_id} members={printers.ids(event.members)} "
                f"left={printers.ids(event.left)} joined={printers.ids(event.joined)}"
            )
        elif isinstance(event, Delivery):
            text = (
                f"deliver from={event.sender} ring={event.ring_id} seq={event.seq} "
                f"{printers.text(event.payload)}"
            )
        else:
            text = f"ring_seq {event.seq:x} to store"
        self._flush()
        self._line(now, node, f"{node}: {text}")

    @property
    def network(self) -> TracedNetwork:
        if self.net is None:
            raise ValueError("no nodes yet: say `nodes 1 2 3` first")
        return self.net

    # -- commands --------------------------------------------------------------------------
    def cmd_nodes(self, case: Case) -> None:
        timers: dict[str, Any] = {a.key: int(a.vals[0]) for a in case.args if a.vals}
        settings = replace(SrpSettings(), **timers)
        self.net = TracedNetwork(node_ids(" ".join(case.positional())), settings, self)
        self.out(
            f"nodelist {printers.ids(self.net.ids)}: token={settings.token} "
            f"consensus={settings.consensus} join={settings.join} hold={settings.hold} "
            f"token_retransmit={settings.token_retransmit} merge={settings.merge}"
        )

    def cmd_log_level(self, case: Case) -> None:
        self.level = LogLevel[case.positional()[0].upper()]

    def cmd_start(self, case: Case) -> None:
        self.hex = case.has("hex")
        try:
            self.network.start(*self.node_words(case))
        finally:
            self.hex = False

    def _running(self, case: Case) -> None:
        self.quiet = case.has("quiet") or case.has("silent")
        self.silent = case.has("silent")

    def cmd_run(self, case: Case) -> None:
        self._running(case)
        try:
            self.network.run_for(self.int_arg(case, "ms") / 1000)
        finally:
            self.quiet = self.silent = False
        self.cause = None

    def cmd_run_until(self, case: Case) -> None:
        net = self.network
        ids = self.ids_arg(case, "operational")
        members = self.ids_arg(case, "members") or ids
        self._running(case)
        try:
            took = net.run_until(lambda: net.operational(ids, members), timeout=60.0)
        finally:
            self.quiet = self.silent = False
        self.cause = None
        self.out(f"{ms(net.now)}  operational: {printers.ids(ids)} on ring {net.ring_of(ids[0])}")
        self.out(f"          (took {took * 1000:.1f} ms)")

    def cmd_mcast(self, case: Case) -> None:
        words = case.positional()
        node, payloads = int(words[0]), words[1:]
        safe = case.get("guarantee", "agreed") == "safe"
        net = self.network
        core = net.nodes[node]
        for payload in payloads:
            if not core.mcast(payload.encode(), SAFE if safe else AGREED):
                raise case.fail("the new-message queue is full")
            kind = "safe" if safe else "agreed"
            self.out(f"{ms(net.now)}  {node}: queued {payload!r} ({kind}) for the token")
        core.signal_new_message()
        net._pump(node)

    def cmd_crash(self, case: Case) -> None:
        for node in node_ids(" ".join(case.positional())):
            self.network.crash(node)

    def cmd_leave(self, case: Case) -> None:
        for node in node_ids(" ".join(case.positional())):
            self.network.leave(node)

    def cmd_partition(self, case: Case) -> None:
        groups = [node_ids(g) for g in case.positional()]
        self.network.partition(*groups)
        self.out("partition " + " | ".join(printers.ids(g) for g in groups))

    def cmd_heal(self, case: Case) -> None:
        self.network.heal()

    def cmd_drop(self, case: Case) -> None:
        kind = case.get("type")
        rule = DropRule(
            self.int_arg(case, "from", 0),
            self.int_arg(case, "to", 0),
            _TYPES[kind.upper()] if kind else None,
            self.int_arg(case, "count", 0),
            self.int_arg(case, "skip", 0),
        )
        self.network.drop_rules.append(rule)

    def cmd_undrop(self, case: Case) -> None:
        self.network.drop_rules.clear()

    def cmd_state_machine(self, case: Case) -> None:
        """The membership state machine as data (``totem.srp.dispatch.describe``)."""
        for line in describe():
            self.out(line)

    def cmd_status(self, case: Case) -> None:
        net = self.network
        for node_id in net.ids:
            core = net.nodes.get(node_id)
            if core is None:
                self.out(f"{node_id}: down")
                continue
            state = core.state.name if isinstance(core.state, MembState) else str(core.state)
            self.out(
                f"{node_id}: {state} ring={core.ring.ring_id} members={printers.ids(core.members)} "
                f"aru={core.order.my_aru} high_seq_received={core.order.my_high_seq_received} "
                f"high_delivered={core.order.my_high_delivered}"
            )
