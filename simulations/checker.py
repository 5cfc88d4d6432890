"""The safety checker: extended virtual synchrony, membership and quorum invariants.

Run on every simulation (ref anchors.md E2). It is *online*:
the simulator feeds it what happens, as it happens, and it keeps only compact
state (digests, counters, the per-configuration set of who holds each SAFE
message), so a long run of a large ring does not keep its whole history.

Inputs, with the virtual time of each:

* ``node_up`` / ``node_down``: a process (one *incarnation* of a node id) starts
  or stops. A restarted node is a new process; nothing is promised across.
* ``app_sent``: an application message was accepted by a node (identity in
  :mod:`simulations.traffic`).
* ``safe_held``: a node holds a SAFE message (it sent it, or received it
  directly or encapsulated in recovery).
* ``delivered``: a node delivered an ordered message: its sender, the ring it
  was ordered on, its sequence number there, its payload.
* ``configuration``: a TRANSITIONAL or REGULAR configuration change.
* ``quorum``: a node's quorum view (quorate, and the members it counts).

Invariants (the names appear in every :class:`Violation`):

``agreed-order``
    Within a ring a process delivers sequence numbers in increasing order, only
    messages of its current configuration, and every process that delivers
    ring R's sequence S delivers the same message.
``no-duplicates``
    No process delivers a message twice.
``no-creation``
    Every delivered application message was sent, by the node it claims, intact;
    every ordered message comes from a member of its configuration.
``fifo``
    A sender's messages are delivered in the order it sent them.
``self-delivery``
    A process delivers each of its own messages before it installs the next
    configuration (and never skips one of its own).
``transitional-before-regular``
    Each REGULAR configuration is announced right after a TRANSITIONAL one of
    the same ring; the transitional members are survivors of the previous
    configuration that go on into the new one, the process among them.
``virtual-synchrony``
    Processes that move together from configuration C to C' delivered the same
    messages in C (regular part) and the same in the transitional part, and saw
    the same transitional membership.
``safe-delivery``
    A SAFE message is delivered in its regular configuration only once every
    member of that configuration holds it.
``membership-agreement``
    Every process that installs ring R installs it with the same members, and
    ring ids only grow on a process. A ring id is unique only while its
    representative keeps its ring id file: after a restart without it (``restart N
    fresh``) the rings of the earlier life are set apart, each checked on its own,
    and a process of the earlier ring that delivers a message of a process it never
    shared that ring with breaks ``agreed-order``.
``membership-liveness``
    A bound, not a safety property: no process enters GATHER more than
    :data:`GATHER_RATE_LIMIT` times within one second of virtual time. Each entry
    multicasts a JOIN; a protocol that answers JOINs with JOINs storms (and never
    forms a ring) long before it reaches it, while a healthy one enters GATHER at
    most a few times per received set and per ``join``/``consensus`` timeout.
``quorum-safety``
    Never two quorate processes whose memberships are disjoint (two quorate
    partitions), with one allowance that corosync 3.1.7 and its qdevice need: a
    quorum view that is quorate only with the node's own quorum-device vote is not
    compared once the node has stopped counting that vote (qnetd's NACK, a lost
    connection), until its next quorum view. corosync's votequorum applies such a
    change to its flags at once but recalculates quorum only when the NODEINFO it
    sends is delivered, or at the next sync (``message_handler_req_lib_votequorum_
    qdevice_poll``), and qnetd's ffsplit gives the vote to the other partition once
    every NACK is answered, which the client does as soon as it applied the vote
    (``qdevice_net_msg_received_vote_info``): a partition whose ring is broken shows
    quorate until its new ring is synchronised, while the other one holds the vote.
    ``allow_split_brain`` (two_node, which relies on fencing as corosync
    documents) allows exactly what two_node grants: disjoint quorate partitions of
    at most two nodes each (votequorum sets quorum to 1 when a two_node partition
    has no more than 2 members). A quorum device has no such exception: corosync
    refuses two_node next to one.
    Likewise a paused process's quorate view that holds only with its device vote is
    not compared while it is paused: it runs nothing, so it can neither act on the
    view nor hear that qnetd moved the vote (``lms`` does not wait for it), and
    corosync's votequorum keeps counting the vote until a poll timer that does not
    run while paused. Resumed, it is compared again until it withdraws the vote.
    And such a view is not compared while its node synchronises a newer ring:
    ``votequorum_sync_init`` keeps the last ring's quorate state and device vote and
    holds the sync until the device polls with the new ring (or ``sync_timeout``),
    while the sync delivers nothing to the node's applications; qnetd's ``lms`` may
    meanwhile give the vote to another partition without waiting for this one, whose
    own reply can be WAIT_FOR_REPLY (corosync-qdevice then stops polling). The view
    is compared again from the node's next quorum view, after the sync.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from simulations.checkrecords import (
    Crossing,
    Epoch,
    ProcessKey,
    ProcessRecord,
    RetiredRing,
    Violation,
)
from simulations.traffic import AppMessage, decode_app
from totem.ringid import RingId
from totem.srp.events import ConfigurationChange, ConfigurationKind

__all__ = ["GATHER_RATE_LIMIT", "INVARIANTS", "Checker", "Violation"]

INVARIANTS = (
    "agreed-order",
    "no-duplicates",
    "no-creation",
    "fifo",
    "self-delivery",
    "transitional-before-regular",
    "virtual-synchrony",
    "safe-delivery",
    "membership-agreement",
    "membership-liveness",
    "quorum-safety",
)

_MAX_VIOLATIONS = 200
GATHER_RATE_LIMIT = 1000
"""GATHER entries one process may make within one virtual second (``membership-liveness``)."""


class Checker:
    """Online invariant checker; read ``violations`` at any time."""

    def __init__(self, *, allow_split_brain: bool = False, app_only: bool = True) -> None:
        self.allow_split_brain = allow_split_brain
        """Do not report disjoint quorate partitions of at most two nodes each (two_node: 1,
        which relies on fencing)."""
        self.app_only = app_only
        """Every ordered payload must be a simulator application message (bare SRP rings)."""
        self.violations: list[Violation] = []
        self.deliveries = 0
        self.configurations = 0
        self.suppressed = 0
        """Violations not recorded because the same kind was already reported."""
        self._procs: dict[ProcessKey, ProcessRecord] = {}
        self._current: dict[int, ProcessRecord] = {}
        self._order: dict[tuple[RingId, int], tuple[int, int, int]] = {}
        self._ring_members: dict[RingId, tuple[int, ...]] = {}
        self._crossings: dict[tuple[RingId, RingId], Crossing] = {}
        self._safe: dict[tuple[RingId, int], set[int]] = {}
        self._sent: dict[ProcessKey, int] = {}
        self._ordered_on: dict[ProcessKey, dict[RingId, int]] = {}
        self._left_with: dict[ProcessKey, dict[RingId, int]] = {}
        self._lives: dict[int, int] = {}
        """Fresh restarts of each node: lives of its ring id file (:class:`RetiredRing`)."""
        self._earlier: dict[tuple[int, int], frozenset[ProcessKey]] = {}
        """Per (representative, life): the processes that existed before that life began."""
        self._quorate: dict[int, frozenset[int]] = {}
        self._reported: set[tuple[str, str, tuple[int, ...]]] = set()
        self._needs_device: dict[int, bool] = {}
        """Nodes whose quorate view holds only with their device vote."""
        self._withdrawn: set[int] = set()
        """Nodes whose quorate view counts a device vote they no longer count."""
        self._paused: set[int] = set()
        """Nodes whose process is paused: it runs nothing, so it can neither act on its
        quorum view nor hear that qnetd moved the device vote."""
        self._syncing: set[int] = set()
        """Nodes between a new ring's configuration and the end of its sync: votequorum
        keeps the quorate state and device vote of the last ring until the sync ends."""
        self.stale_views_excused = 0
        """Partition pairs not reported because of a withdrawn device vote."""
        self.gather_rate_limit = GATHER_RATE_LIMIT
        self.max_gather_rate = 0
        """The most GATHER entries any process made within one of its one-second windows."""

    @property
    def ok(self) -> bool:
        """No invariant was violated."""
        return not self.violations

    # ------------------------------------------------------------------------------------
    # reporting
    # ------------------------------------------------------------------------------------
    def _violate(
        self, invariant: str, now: float, nodes: Iterable[int], message: str, tag: str = ""
    ) -> None:
        """Record a violation, once per (invariant, ``tag``, nodes): floods stay readable."""
        involved = tuple(sorted(set(nodes)))
        key = (invariant, tag, involved)
        if key in self._reported or len(self.violations) >= _MAX_VIOLATIONS:
            self.suppressed += 1
            return
        self._reported.add(key)
        self.violations.append(Violation(invariant, now, involved, message))

    # ------------------------------------------------------------------------------------
    # processes
    # ------------------------------------------------------------------------------------
    def node_up(self, node: int, incarnation: int, now: float, *, fresh: bool = False) -> None:
        """A process starts (first start or restart); ``fresh``: without its persisted
        state (the ring sequence file)."""
        proc = ProcessRecord(node, incarnation)
        self._procs[(node, incarnation)] = proc
        self._current[node] = proc
        self._sent.setdefault((node, incarnation), 0)
        if fresh:
            self._retire_rings_of(node)

    def _retire_rings_of(self, rep: int) -> None:
        """Set apart every ring whose representative is ``rep``: a new life of its file.

        A ring id is the representative's node id and a sequence number the node keeps in
        its ``ringid_<nodeid>`` file and raises above every sequence number it sees in a
        JOIN (corosync's ``memb_ring_id_create_or_load``/``memb_ring_id_store``). A node
        restarted without that file counts from the start again and, out of reach of
        every node that knows a higher number, forms ring ids it formed before: ring-
        scoped invariants (one member list per ring id, one message per ring and seq)
        then hold per life of the file. The rings of the earlier life are renamed to a
        :class:`RetiredRing`, in the checker's records and for every live process that
        knew them: such a process may still be in one (paused, or cut off while the
        restarted node formed the same id again with others) and go on reporting it, and
        what it reports stays with the earlier ring.
        """
        life = self._lives[rep] = self._lives.get(rep, 0) + 1
        # the processes that can have sent on a ring of the earlier life (not the new one)
        restarted = self._current.get(rep)
        self._earlier[(rep, life)] = frozenset(
            key for key, proc in self._procs.items() if proc is not restarted
        )

        def retired(ring: RingId) -> RingId:
            if ring.rep == rep and type(ring) is RingId:
                return RetiredRing(ring.rep, ring.seq, life)
            return ring

        for proc in self._current.values():
            for known in (proc.regular, proc.last_ring, *proc.aliases.values()):
                if known is not None and retired(known) is not known:
                    proc.aliases[known] = retired(known)
            if proc.regular is not None:
                proc.regular = retired(proc.regular)
            if proc.last_ring is not None:
                proc.last_ring = retired(proc.last_ring)
            if proc.transitional is not None:
                ring = retired(proc.transitional.ring_id)
                proc.aliases.setdefault(proc.transitional.ring_id, ring)
                proc.transitional = dataclasses.replace(proc.transitional, ring_id=ring)
        self._ring_members = {retired(r): m for r, m in self._ring_members.items()}
        self._order = {(retired(r), q): v for (r, q), v in self._order.items()}
        self._safe = {(retired(r), q): v for (r, q), v in self._safe.items()}
        self._crossings = {(retired(a), retired(b)): v for (a, b), v in self._crossings.items()}
        for table in (self._ordered_on, self._left_with):
            for key, rings in table.items():
                table[key] = {retired(r): n for r, n in rings.items()}

    def node_down(self, node: int, incarnation: int, now: float) -> None:
        """A process stops (crash or graceful leave)."""
        proc = self._procs.get((node, incarnation))
        if proc is not None:
            proc.alive = False
        if proc is not None and self._current.get(node) is proc:
            del self._current[node]
        self._quorate.pop(node, None)
        self._withdrawn.discard(node)
        self._needs_device.pop(node, None)
        self._paused.discard(node)
        self._syncing.discard(node)

    def _proc(self, node: int, incarnation: int) -> ProcessRecord:
        proc = self._procs.get((node, incarnation))
        if proc is None:
            self.node_up(node, incarnation, 0.0)
            proc = self._procs[(node, incarnation)]
        return proc

    # ------------------------------------------------------------------------------------
    # traffic
    # ------------------------------------------------------------------------------------
    def app_sent(self, node: int, incarnation: int, counter: int, now: float) -> None:
        """Message ``counter`` of this process was accepted for ordering."""
        key = (node, incarnation)
        if counter > self._sent.get(key, 0):
            self._sent[key] = counter

    def safe_held(self, node: int, ring: RingId, seq: int) -> None:
        """``node`` holds the SAFE message ``ring``/``seq``."""
        proc = self._current.get(node)
        if proc is not None and proc.aliases:
            ring = proc.aliases.get(ring, ring)
        holders = self._safe.get((ring, seq))
        if holders is None:
            self._safe[(ring, seq)] = {node}
        else:
            holders.add(node)

    def gather_entered(self, node: int, incarnation: int, now: float) -> None:
        """A process entered GATHER (and so multicast a JOIN)."""
        proc = self._proc(node, incarnation)
        if now - proc.gather_window >= 1.0:
            proc.gather_window = now
            proc.gather_count = 0
        proc.gather_count += 1
        count = proc.gather_count
        if count > self.max_gather_rate:
            self.max_gather_rate = count
        if count > self.gather_rate_limit:
            self._violate(
                "membership-liveness",
                now,
                [node],
                f"node {node} entered GATHER {count} times within one second "
                f"(since t={proc.gather_window:.6f}s): a JOIN storm",
            )

    # ------------------------------------------------------------------------------------
    # configurations
    # ------------------------------------------------------------------------------------
    def configuration(
        self, node: int, incarnation: int, change: ConfigurationChange, now: float
    ) -> None:
        """A configuration change delivered by a process."""
        self.configurations += 1
        proc = self._proc(node, incarnation)
        if proc.aliases and change.ring_id in proc.aliases:
            change = dataclasses.replace(change, ring_id=proc.aliases[change.ring_id])
        if change.kind is ConfigurationKind.TRANSITIONAL:
            self._transitional(proc, change, now)
        else:
            self._regular(proc, change, now)

    def _transitional(self, proc: ProcessRecord, change: ConfigurationChange, now: float) -> None:
        node = proc.node
        if proc.transitional is not None:
            self._violate(
                "transitional-before-regular",
                now,
                [node],
                f"node {node} announced a second TRANSITIONAL configuration ({change.ring_id}) "
                f"before the REGULAR one of {proc.transitional.ring_id}",
                "second",
            )
        proc.transitional = change
        proc.trans_epoch = Epoch()
        if proc.regular is None:
            return
        members = set(change.members)
        if node not in members:
            self._violate(
                "transitional-before-regular",
                now,
                [node],
                f"node {node} is not in its own transitional configuration "
                f"{_ids(change.members)} of ring {change.ring_id}",
                "self",
            )
        outsiders = members.difference(proc.regular_members)
        if outsiders:
            self._violate(
                "transitional-before-regular",
                now,
                [node, *outsiders],
                f"node {node}'s transitional configuration of ring {change.ring_id} lists "
                f"{_ids(outsiders)}, who were not in its configuration {proc.regular}",
                "outsiders",
            )

    def _regular(self, proc: ProcessRecord, change: ConfigurationChange, now: float) -> None:
        node = proc.node
        ring = change.ring_id
        trans = proc.transitional
        if trans is None:
            self._violate(
                "transitional-before-regular",
                now,
                [node],
                f"node {node} installed REGULAR configuration {ring} without a TRANSITIONAL one",
                "missing",
            )
            trans_members: tuple[int, ...] = ()
        else:
            trans_members = trans.members
            if trans.ring_id != ring:
                self._violate(
                    "transitional-before-regular",
                    now,
                    [node],
                    f"node {node}'s TRANSITIONAL configuration names ring {trans.ring_id} "
                    f"but the REGULAR one that follows is {ring}",
                    "ring",
                )
            missing = set(trans_members).difference(change.members)
            if missing:
                self._violate(
                    "transitional-before-regular",
                    now,
                    [node, *missing],
                    f"node {node}: transitional members {_ids(missing)} are not in the new "
                    f"configuration {ring} {_ids(change.members)}",
                    "gone",
                )
        if node not in change.members:
            self._violate(
                "membership-agreement",
                now,
                [node],
                f"node {node} installed configuration {ring} {_ids(change.members)} without itself",
                "self",
            )
        known = self._ring_members.get(ring)
        if known is None:
            self._ring_members[ring] = change.members
        elif known != change.members:
            self._violate(
                "membership-agreement",
                now,
                [node],
                f"node {node} installed ring {ring} with members {_ids(change.members)}, "
                f"others with {_ids(known)}",
                "members",
            )
        old = proc.regular
        if old is not None and ring.seq <= old.seq:
            self._violate(
                "membership-agreement",
                now,
                [node],
                f"node {node} went from ring {old} to ring {ring}: ring ids must grow",
                "grow",
            )
        if old is not None:
            self._crossed(proc, old, ring, trans_members, now)
            self._leave_ring(proc, old, now)
        proc.regular = ring
        proc.regular_members = change.members
        proc.transitional = None
        proc.regular_epoch = Epoch()
        proc.trans_epoch = Epoch()

    def _crossed(
        self,
        proc: ProcessRecord,
        old: RingId,
        new: RingId,
        trans_members: tuple[int, ...],
        now: float,
    ) -> None:
        """Virtual synchrony: compare with the first process that made the same move."""
        key = (old, new)
        mine = Crossing(proc.node, trans_members, proc.regular_epoch, proc.trans_epoch)
        first = self._crossings.get(key)
        if first is None:
            self._crossings[key] = mine
            return
        pair = [first.node, proc.node]
        where = f"moving from {old} to {new}"
        if first.trans_members != trans_members:
            self._violate(
                "virtual-synchrony",
                now,
                pair,
                f"nodes {first.node} and {proc.node} {where} saw different transitional "
                f"memberships {_ids(first.trans_members)} and {_ids(trans_members)}",
                "members",
            )
        for phase, a, b in (
            ("in the regular configuration", first.regular, mine.regular),
            ("in the transitional configuration", first.trans, mine.trans),
        ):
            if (a.count, a.digest) != (b.count, b.digest):
                self._violate(
                    "virtual-synchrony",
                    now,
                    pair,
                    f"nodes {first.node} and {proc.node} {where} delivered different messages "
                    f"{phase} {old}: {a.describe()} vs {b.describe()}",
                    phase,
                )

    def _leave_ring(self, proc: ProcessRecord, old: RingId, now: float) -> None:
        """Self-delivery: everything of mine ordered on ``old`` must be delivered by now."""
        key = (proc.node, proc.incarnation)
        ordered = self._ordered_on.get(key, {}).get(old, 0)
        if ordered > proc.own_high:
            self._violate(
                "self-delivery",
                now,
                [proc.node],
                f"node {proc.node} left configuration {old} without delivering its own "
                f"message #{ordered} that others delivered there (it delivered up to "
                f"#{proc.own_high})",
            )
        self._left_with.setdefault(key, {})[old] = proc.own_high

    # ------------------------------------------------------------------------------------
    # deliveries
    # ------------------------------------------------------------------------------------
    def delivered(
        self,
        node: int,
        incarnation: int,
        sender: int,
        ring: RingId,
        seq: int,
        payload: bytes,
        now: float,
    ) -> bool:
        """An ordered delivery by a process; True if it carried an application message."""
        self.deliveries += 1
        proc = self._proc(node, incarnation)
        if proc.aliases:
            ring = proc.aliases.get(ring, ring)
        regular = proc.regular
        if regular is None or ring != regular:
            self._violate(
                "agreed-order",
                now,
                [node],
                f"node {node} delivered {ring}/{seq:x} from {sender} while its configuration "
                f"is {regular}",
            )
        elif proc.last_ring == ring and seq <= proc.last_seq:
            if seq == proc.last_seq:
                self._violate(
                    "no-duplicates",
                    now,
                    [node],
                    f"node {node} delivered {ring}/{seq:x} twice in a row",
                )
            else:
                self._violate(
                    "agreed-order",
                    now,
                    [node],
                    f"node {node} delivered {ring}/{seq:x} after {ring}/{proc.last_seq:x}",
                )
        proc.last_ring = ring
        proc.last_seq = seq

        identity = (hash(payload), len(payload), sender)
        seen = self._order.get((ring, seq))
        if seen is None:
            self._order[(ring, seq)] = (*identity[:2], node)
        elif seen[:2] != identity[:2]:
            self._violate(
                "agreed-order",
                now,
                [seen[2], node],
                f"nodes {seen[2]} and {node} delivered different messages as {ring}/{seq:x}",
            )

        members = self._ring_members.get(ring)
        if members is not None and sender not in members:
            self._violate(
                "no-creation",
                now,
                [node, sender],
                f"node {node} delivered {ring}/{seq:x} from {sender}, not a member of "
                f"{ring} {_ids(members)}",
            )

        if proc.transitional is None:
            proc.regular_epoch.add(ring, seq)
            holders = self._safe.get((ring, seq))
            if holders is not None and members is not None:
                lacking = [m for m in members if m not in holders]
                if lacking:
                    self._violate(
                        "safe-delivery",
                        now,
                        [node, *lacking],
                        f"node {node} delivered SAFE message {ring}/{seq:x} while "
                        f"{_ids(lacking)} of its configuration did not hold it",
                    )
        else:
            proc.trans_epoch.add(ring, seq)

        message = decode_app(payload)
        if message is None:
            if self.app_only:
                self._violate(
                    "no-creation",
                    now,
                    [node],
                    f"node {node} delivered {ring}/{seq:x} ({len(payload)} bytes from "
                    f"{sender}) that no simulated application sent",
                )
            return False
        self._app(proc, sender, message, ring, now)
        return True

    def app_delivered(
        self, node: int, incarnation: int, sender: int, payload: bytes, now: float
    ) -> None:
        """An application message delivered above Totem (by a service).

        It belongs to the ordered message this process delivered last (the
        totempg packet that carried it), so it was ordered on that ring.
        """
        proc = self._proc(node, incarnation)
        ring = proc.last_ring or proc.regular
        message = decode_app(payload)
        if message is None:
            self._violate(
                "no-creation",
                now,
                [node],
                f"node {node} delivered {len(payload)} bytes from {sender} that no simulated "
                "application sent",
            )
            return
        if ring is None:
            self._violate(
                "agreed-order",
                now,
                [node],
                f"node {node} delivered an application message before any configuration",
            )
            return
        self._app(proc, sender, message, ring, now)

    def _app(
        self, proc: ProcessRecord, sender: int, message: AppMessage, ring: RingId, now: float
    ) -> None:
        node = proc.node
        origin = (message.sender, message.incarnation)
        counter = message.counter
        label = f"message #{counter} of node {message.sender} (incarnation {message.incarnation})"
        if message.sender != sender:
            self._violate(
                "no-creation",
                now,
                [node, sender, message.sender],
                f"node {node} delivered {label} as sent by node {sender}",
            )
            return
        if not message.intact:
            self._violate(
                "no-creation", now, [node, sender], f"node {node} delivered {label} corrupted"
            )
            return
        if counter < 1 or counter > self._sent.get(origin, 0):
            self._violate(
                "no-creation",
                now,
                [node, sender],
                f"node {node} delivered {label}, which was never sent",
            )
            return
        if isinstance(ring, RetiredRing) and origin not in self._earlier[(ring.rep, ring.life)]:
            self._violate(
                "agreed-order",
                now,
                [node, sender],
                f"node {node} delivered {label} in ring {ring}, which that process was never in:"
                " a message of the ring that reused its id",
            )
            return

        last = proc.fifo.get(origin, 0)
        if counter <= last:
            gaps = proc.gaps.get(origin)
            if gaps and _take_gap(gaps, counter):
                self._violate(
                    "fifo",
                    now,
                    [node, sender],
                    f"node {node} delivered {label} after #{last}",
                )
            else:
                self._violate(
                    "no-duplicates", now, [node, sender], f"node {node} delivered {label} twice"
                )
            return
        own = origin == (node, proc.incarnation)
        if counter > last + 1:
            proc.gaps.setdefault(origin, []).append((last + 1, counter - 1))
            if own:
                self._violate(
                    "self-delivery",
                    now,
                    [node],
                    f"node {node} delivered its own message #{counter} before #{last + 1}",
                )
        proc.fifo[origin] = counter
        if own:
            proc.own_high = counter

        ordered = self._ordered_on.setdefault(origin, {})
        if counter > ordered.get(ring, 0):
            ordered[ring] = counter
        left = self._left_with.get(origin)
        if left is not None and ring in left and counter > left[ring]:
            self._violate(
                "self-delivery",
                now,
                [message.sender, node],
                f"node {message.sender} left configuration {ring} without delivering its own "
                f"message #{counter}, which node {node} delivered there",
            )

    # ------------------------------------------------------------------------------------
    # quorum
    # ------------------------------------------------------------------------------------
    def quorum(
        self, node: int, incarnation: int, quorate: bool, members: Iterable[int], now: float
    ) -> None:
        """A process's quorum view changed."""
        self._withdrawn.discard(node)
        self._needs_device.pop(node, None)
        if not quorate:
            self._quorate.pop(node, None)
            return
        mine = frozenset(members)
        self._quorate[node] = mine
        two_node = self.allow_split_brain and len(mine) <= 2
        withdrawn = self._withdrawn
        for other, theirs in self._quorate.items():
            if two_node and len(theirs) <= 2:
                continue
            if other != node and mine.isdisjoint(theirs):
                if other in withdrawn or (
                    (other in self._paused or other in self._syncing)
                    and self._needs_device.get(other, False)
                ):
                    self.stale_views_excused += 1
                    continue
                self._violate(
                    "quorum-safety",
                    now,
                    [node, other],
                    f"two quorate partitions: node {node} with {_ids(mine)} and node {other} "
                    f"with {_ids(theirs)}",
                )

    def node_paused(self, node: int, now: float) -> None:
        """The node's process stopped running (``pause``): see ``quorum-safety``."""
        self._paused.add(node)

    def node_resumed(self, node: int, now: float) -> None:
        """The node's process runs again."""
        self._paused.discard(node)

    def sync_started(self, node: int, now: float) -> None:
        """The node installed a new ring and its services began to synchronise."""
        self._syncing.add(node)

    def sync_completed(self, node: int, now: float) -> None:
        """The node's sync is over: its quorum view is its own again."""
        self._syncing.discard(node)

    def device_vote(
        self, node: int, incarnation: int, counted: bool, needed: bool, now: float
    ) -> None:
        """A node's own device vote: right after a quorum view, whether that view counts
        it and is quorate only with it; later ``counted=False`` when the node stops
        counting it (see ``quorum-safety``)."""
        if counted:
            self._needs_device[node] = needed
        elif node in self._quorate and self._needs_device.get(node, False):
            self._withdrawn.add(node)

    def quorate_nodes(self) -> dict[int, frozenset[int]]:
        """The processes that currently consider themselves quorate, with their members."""
        return dict(self._quorate)


def _take_gap(gaps: list[tuple[int, int]], counter: int) -> bool:
    for i, (lo, hi) in enumerate(gaps):
        if lo <= counter <= hi:
            del gaps[i]
            if lo < counter:
                gaps.append((lo, counter - 1))
            if counter < hi:
                gaps.append((counter + 1, hi))
            return True
    return False


def _ids(nodes: Iterable[int]) -> str:
    return "{" + ",".join(str(n) for n in sorted(nodes)) + "}"
