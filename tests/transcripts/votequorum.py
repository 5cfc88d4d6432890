"""Transcripts of votequorum (``testdata/votequorum``): the quorum calculation and the
service deciding quorum on every configuration change, with each option.

Nodes run corosync's quorum service (3) and :class:`votequorum.service.VotequorumService`
(5) on the fake Totem of the sync tests (:class:`tests.sync.fakebus.FakeBus`: one agreed
order, EVS configuration changes, an explicit clock). Every message is printed once, when
delivered in the agreed order, decoded by :mod:`votequorum.wire` (exec group) or
:mod:`totem.wire.sync` (sync group); every event of the services and every NOTICE log line
is printed as it is drained. Commands::

    calc NODE:VOTES:EXPECTED[:dead|leaving] ... [two_node] [previous_quorum=N]
         [allow_decrease] [max_expected=N]        the pure calculation (votequorum.calc)
    nodes 1 2 3 [votes=(1:3,2:1)] [expected_votes=N] [two_node] [wait_for_all=0|1]
          [last_man_standing] [lms_window=MS] [auto_tie_breaker] [atb_node=lowest|highest|1,3]
                                                  the nodelist and the quorum {} options
    start 1 2 3                                   the nodes start, each in its own ring
    ring 1 2 3 [quiet|silent]                     a new ring of those nodes (Totem formed it)
    partition 1,2 3,4 [quiet]                     one new ring per group
    crash 3                                       the node stops without a word
    advance ms=N [quiet]                          time passes (the LMS window, timers)
    expected N on=NODE                            corosync-quorumtool -e N / pvecm expected N
    status [1 2 ...]                              each node's quorum figures and flags

``quiet`` prints no message, no sync event and only votequorum's own log lines: what is left
is the quorum decisions (``QuorumChanged``) and votequorum's other events; ``silent``
prints nothing.
"""

from __future__ import annotations

from typing import Any

from tests.sync.fakebus import FakeBus, FakeNode, Sent
from tests.transcripts import printers
from tests.transcripts.datadriven import Case
from tests.transcripts.interp import Interpreter, ms, node_ids
from totem.service import Service
from totem.services import QuorumService
from totem.services.quorum import QuorumView
from totem.srp.events import LogLevel
from totem.sync import SYNC_GROUP, SyncCompleted, SyncStarted
from totem.wire import ExecHeader, SyncBarrier, WireError, decode_sync
from votequorum.calc import NodeState, NodeVotes, calculate_quorum
from votequorum.events import (
    ExpectedVotesChanged,
    NodeListNotification,
    QuorumChanged,
    VotequorumError,
)
from votequorum.service import VotequorumService
from votequorum.settings import VotequorumSettings
from votequorum.wire import (
    VOTEQUORUM_SERVICE_ID,
    MalformedMessage,
    NodeFlags,
    NodeInfo,
    Reconfigure,
    decode_body,
)

__all__ = ["VotequorumInterpreter"]


def flags(value: int) -> str:
    names = [f.name for f in NodeFlags if f.name and value & f]
    return "|".join(n for n in names if n) or "0"


def message(sent: Sent) -> str:
    """One exec or sync message, as delivered."""
    if sent.group == SYNC_GROUP:
        try:
            sync = decode_sync(sent.payload)
        except WireError as err:
            return f"sync: undecodable ({err.reason})"
        if isinstance(sync, SyncBarrier):
            return f"sync BARRIER ring={sync.ring_id}"
        return f"sync SERVICE_BUILD ring={sync.ring_id} services={printers.ids(sync.service_list)}"
    header = ExecHeader.decode(sent.payload)
    body = sent.payload[16:]
    if header.service_id != VOTEQUORUM_SERVICE_ID:
        return f"exec service={header.service_id} fn={header.fn_id} ({len(sent.payload)}B)"
    try:
        vq = decode_body(header.fn_id, body)
    except MalformedMessage as err:
        return f"votequorum: malformed ({err})"
    size = f"({len(sent.payload)}B)"
    if isinstance(vq, NodeInfo):
        who = "qdevice" if vq.nodeid == 0 else str(vq.nodeid)
        return (
            f"NODEINFO node={who} votes={vq.votes} expected={vq.expected_votes} "
            f"flags={flags(vq.flags)} {size}"
        )
    if isinstance(vq, Reconfigure):
        return f"RECONFIGURE node={vq.nodeid} {vq.param.name}={vq.value} {size}"
    return f"{type(vq).__name__} {size}"


class TracedNode(FakeNode):
    """A fake node that prints its events and NOTICE logs as they happen."""

    def __init__(
        self, bus: FakeBus, node_id: int, services: Any, interp: VotequorumInterpreter
    ) -> None:
        self.interp = interp  # before the services attach: they log
        super().__init__(bus, node_id, services)

    def log(self, level: LogLevel, subsys: str, message: str) -> None:
        super().log(level, subsys, message)
        interp = self.interp
        if level > LogLevel.NOTICE or interp.silent or (interp.quiet and subsys != "VOTEQ"):
            return
        interp.out(f"{ms(self.bus.now)}  {self.node_id}: [{subsys}] {message}")

    def on_deadline(self, now: float) -> None:
        if not self.interp.silent:
            self.interp.out(f"{ms(now)}  {self.node_id}: timer expired")
        super().on_deadline(now)

    def drain(self) -> None:
        before_sync, before = len(self.sync_events), len(self.service_events)
        super().drain()
        for event in [*self.sync_events[before_sync:], *self.service_events[before:]]:
            self.interp.event(self.bus.now, self.node_id, event)


class TracedBus(FakeBus):
    """The fake Totem, printing each message when it is delivered."""

    interp: VotequorumInterpreter

    def start(self, node_ids: Any) -> list[FakeNode]:
        started: list[FakeNode] = []
        for nid in node_ids:
            node: FakeNode = TracedNode(self, nid, self.factory(nid), self.interp)
            self.nodes[nid] = node
            started.append(node)
        for each in started:
            self.form_ring([each.node_id])
        return started

    def step(self) -> bool:
        if self.queue and not self.interp.quiet:
            sent = self.queue[0]
            self.interp.out(f"{ms(self.now)}  {sent.sender} => {message(sent)}")
        return super().step()


class VotequorumInterpreter(Interpreter):
    """Commands of ``testdata/votequorum`` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.bus: TracedBus | None = None
        self.quiet = False
        self.silent = False

    def event(self, now: float, node: int, event: object) -> None:
        if self.silent:
            return
        if isinstance(event, QuorumChanged):
            text = (
                f"quorum: {'QUORATE' if event.quorate else 'not quorate'} ring={event.ring_id} "
                f"members={printers.ids(event.members)} quorum={event.quorum} "
                f"total_votes={event.total_votes} expected_votes={event.expected_votes}"
            )
        elif isinstance(event, QuorumView | NodeListNotification):
            return  # the quorum service's copies of what QuorumChanged and the logs say
        elif isinstance(event, SyncStarted | SyncCompleted) and self.quiet:
            return
        elif isinstance(event, SyncStarted):
            text = f"sync started ring={event.ring_id} members={printers.ids(event.members)}"
        elif isinstance(event, SyncCompleted):
            text = f"sync completed ring={event.ring_id}"
        elif isinstance(event, ExpectedVotesChanged):
            text = f"expected votes now {event.expected_votes}"
        else:
            text = repr(event)
        self.out(f"{ms(now)}  {node}: {text}")

    @property
    def net(self) -> TracedBus:
        if self.bus is None:
            raise ValueError("no nodes yet: say `nodes 1 2 3` first")
        return self.bus

    def _quiet(self, case: Case) -> None:
        self.quiet = case.has("quiet") or case.has("silent")
        self.silent = case.has("silent")

    def finish(self) -> None:
        self.quiet = self.silent = False

    # -- commands --------------------------------------------------------------------------
    def cmd_calc(self, case: Case) -> None:
        nodes = []
        for spec in case.positional():
            if ":" not in spec:
                continue
            parts = spec.split(":")
            state = NodeState[parts[3].upper()] if len(parts) > 3 else NodeState.MEMBER
            nodes.append(NodeVotes(int(parts[0]), int(parts[1]), int(parts[2]), state))
        figures = calculate_quorum(
            nodes,
            previous_quorum=self.int_arg(case, "previous_quorum", 0),
            allow_decrease=case.has("allow_decrease"),
            max_expected=self.int_arg(case, "max_expected", 0),
            two_node=case.has("two_node"),
        )
        self.out(
            f"quorum={figures.quorum} total_votes={figures.total_votes} "
            f"highest_expected={figures.highest_expected} quorate="
            f"{'yes' if figures.quorum <= figures.total_votes else 'no'}"
        )

    def cmd_nodes(self, case: Case) -> None:
        ids = self.node_words(case)
        votes = dict.fromkeys(ids, 1)
        for spec in case.vals("votes"):
            node, _, count = spec.partition(":")
            votes[int(node)] = int(count)
        options: dict[str, object] = {}
        if case.has("expected_votes"):
            options["expected_votes"] = self.int_arg(case, "expected_votes")
        if case.has("two_node"):
            options["two_node"] = True
        if case.has("wait_for_all"):
            options["wait_for_all"] = case.get("wait_for_all") != "0"
        if case.has("last_man_standing"):
            options["last_man_standing"] = True
        if case.has("lms_window"):
            options["last_man_standing_window_ms"] = self.int_arg(case, "lms_window")
        if case.has("auto_tie_breaker"):
            options["auto_tie_breaker"] = True
        if case.has("atb_node"):
            options["auto_tie_breaker_node"] = " ".join(case.vals("atb_node"))
        settings = VotequorumSettings.from_nodes(votes, **options)

        def factory(nid: int) -> list[Service]:
            quorum = QuorumService()
            return [quorum, VotequorumService(settings, quorum.set_quorum)]

        bus = TracedBus(factory)
        bus.interp = self
        self.bus = bus
        shown = " ".join(f"{k}={v}" for k, v in options.items())
        self.out(
            "nodelist "
            + " ".join(f"{n}:{v}" for n, v in votes.items())
            + " (node:votes)"
            + (f"; {shown}" if shown else "")
        )

    def cmd_start(self, case: Case) -> None:
        self._quiet(case)
        bus = self.net
        bus.start(self.node_words(case))
        bus.run()

    def _form(self, members: list[int]) -> None:
        """Totem delivers a new ring: the header line goes before what the nodes did."""
        bus = self.net
        mark = len(self._lines)
        ring = bus.form_ring(members)
        self._lines.insert(mark, f"{ms(bus.now)}  ring {ring} members={printers.ids(members)}")

    def cmd_ring(self, case: Case) -> None:
        self._quiet(case)
        self._form(self.node_words(case))
        self.net.run()

    def cmd_partition(self, case: Case) -> None:
        self._quiet(case)
        for group in case.positional():
            if group.replace(",", "").isdigit():
                self._form(node_ids(group))
        self.net.run()

    def cmd_crash(self, case: Case) -> None:
        for node in self.node_words(case):
            self.net.crash(node)

    def cmd_advance(self, case: Case) -> None:
        self._quiet(case)
        bus = self.net
        bus.advance(bus.now + self.int_arg(case, "ms") / 1000)

    def cmd_expected(self, case: Case) -> None:
        bus = self.net
        node = self.int_arg(case, "on")
        service = bus.nodes[node].service(VOTEQUORUM_SERVICE_ID)
        assert isinstance(service, VotequorumService)
        try:
            service.set_expected_votes(int(case.positional()[0]))
        except VotequorumError as err:
            self.out(f"{node}: refused: {err}")
            return
        bus.run()

    def cmd_status(self, case: Case) -> None:
        bus = self.net
        wanted = self.node_words(case) or sorted(bus.nodes)
        for node in wanted:
            if node not in bus.nodes:
                self.out(f"{node}: down")
                continue
            service = bus.nodes[node].service(VOTEQUORUM_SERVICE_ID)
            assert isinstance(service, VotequorumService)
            snap = service.snapshot()
            self.out(
                f"{node}: {'quorate' if snap.quorate else 'NOT quorate'} "
                f"members={printers.ids(snap.members)} expected={snap.expected_votes} "
                f"highest={snap.highest_expected} total={snap.total_votes} "
                f"quorum={snap.quorum} flags={' '.join(snap.flag_words) or '-'}"
            )
