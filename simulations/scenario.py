"""The scenario language: one statement a line, ``#`` comments.

A scenario is a small text script in the spirit of etcd-raft's datadriven
tests. It is parsed and *validated as a whole* before anything runs: a syntax
error, an unknown node (node 9 of 5), or an action that cannot happen (crash
a node that is already down) raises :class:`ScenarioError`, whose ``str()`` is
``"<file>:<line>: <message>"``.

Statements (``NODES`` is ``3``, ``1,2,5``, ``1..4`` or ``*``; ``LINKS`` is
``A-B`` for both directions between node lists, ``A->B`` for one, or ``*``
(every pair of nodes); durations take ``us``, ``ms``, ``s`` or ``m``)::

    nodes 5 token=1000 [key=value...]     # the cluster; must come first
    seed 42                               # default seed (the command line wins)
    qnetd [algorithm=ffsplit] [key=value...]   # the quorum device (see below)
    partition {1,2}|{3,4,5}               # nodes left out form one more group
    oneway 3->1                           # cut one direction (accumulates)
    heal [LINKS]                          # undo partitions and cuts (all, or these)
      # these and latency/loss/dup/reorder/mtu take ring=N with rings=2 (default: every ring)
    latency [LINKS] 50ms±10ms [dist=normal|uniform|exponential|pareto]
    loss [LINKS] 10% [kind=token,mcast,...]
    dup [LINKS] 1% [kind=...]
    reorder [LINKS] 5% 900ms [kind=mcast]   # late copies that leave FIFO order
    mtu [LINKS] 1400                      # larger datagrams vanish
    pause NODES 2500ms                    # process stall (GC, VM)
    crash NODES | stop NODES              # SIGKILL | graceful leave
    start NODES | restart NODES [fresh]   # fresh: without the persisted ring id
      # pause, crash, stop, start and restart also take qnetd: crash qnetd, crash 1,qnetd
    clock NODE [jump=10s] [rate=1.001]    # the node's clock jumps ahead / drifts
    send NODES 200/s [size=100] [safe] [poisson]
    send NODES 500 [size=100] [safe]      # a burst, now
    send NODES stop
    run 30s
    expect [not] members 1,2,3 [on NODES] [within 5s | throughout 5s]
    expect [not] quorate NODES [within ... | throughout ...]
    expect [not] inquorate NODES [...]
    expect [not] state NODES operational|gather|commit|recovery|down [...]
    expect delivered NODES >= 100 [...]
    expect votes NODES == 3 [...]          # votequorum's total votes on each node
    expect [not] qdevice NODES connected|voting [...]   # the node's quorum device
    expect stat NAME >= 1 [on NODES] [...]   # summed over NODES (default: running nodes)
    write NODE PATH [SIZE]                # the replicated filesystem (simulations.cfsim)
    expect converged [NODES] [...]        # ... synced in one group, equal databases
    expect read-only NODES [...]          # ... refuses writes (not quorate)
    expect [not] file NODES PATH [...]    # ... holds the file
                                             # on qnetd: the arbiter's figures

``nodes`` options: the Totem timers and constants of corosync.conf (``token``,
``token_coefficient``, ``token_retransmit``, ``hold``, ``join``, ``consensus``,
``merge``, ``fail_recv_const``, ``seqno_unchanged_const``, ``miss_count_const``,
``window_size``, ``max_messages``, ``netmtu``, ``token_warning``, ``send_join``), the quorum
keys (``two_node``, ``wait_for_all``, ``last_man_standing``,
``last_man_standing_window``, ``auto_tie_breaker``, ``expected_votes``),
``start=no`` (no node starts by itself), ``stack=srp`` (bare Totem SRP nodes
instead of the daemon's full node stack: faster, SAFE delivery, no quorum),
``rings=2`` (passive redundant rings, each ring its own network),
``crypto=on`` (aes256/sha256 with a fixed simulation key) and ``transport=knet``
(corosync 3's default: the knet link layer, its heartbeat, link failover, PMTUd and
knet crypto, run by the same core as the daemon; ``links=N`` (1..8) is then the number
of knet links, each a network of its own that ``ring=N`` statements name).

The quorum device: ``qnetd`` configures ``quorum { device { model: net ... } }``
in every node's corosync.conf (so each node runs the qdevice-net client, as
the daemon does, from its start) and starts the qnetd arbiter, a host of its
own on the network, at that point of the scenario (``start=no``: later, with
``start qnetd``). One ``qnetd`` statement per scenario, after ``nodes``. Its
options are the ``quorum.device`` keys: ``algorithm=ffsplit|lms|2nodelms|test``
(``test`` ACKs every partition: a negative control the checker must catch),
``tie_breaker=lowest|highest|NODEID``, ``keep_active_partition=on|off``
(``net.keep_active_partition_tie_breaker``, default on), ``votes=N`` (default 1
for ffsplit, else votequorum's nodes - 1), ``timeout=10s``, ``sync_timeout=30s``,
``connect_timeout=8s``. A configuration corosync or corosync-qdevice refuses
(two_node with a device, ffsplit with 2 votes) is a scenario error. Clients
and qnetd talk plain TCP (TLS off) over simulated streams
(:mod:`simulations.streams`).

Network statements name the host ``qnetd`` like a node: ``latency 3-qnetd
50ms``, ``oneway qnetd->1,2``, ``partition {1,2,qnetd}|{3,4}``. ``*`` does not
include it, and a partition that does not name it leaves it reachable from
every group (a third site). The links to it are ring 0's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from simulations.cfsim import CFS_EXPECTS, Write
from simulations.latency import Delay, Distribution
from simulations.network import KINDS, QNETD_ID, endpoint_name
from simulations.statements import (
    ClockStmt,
    Crash,
    Expect,
    Heal,
    Latency,
    LinkFault,
    Nodes,
    Oneway,
    Partition,
    Pause,
    Qnetd,
    Restart,
    Rings,
    Run,
    Scenario,
    Seed,
    Send,
    Start,
    Statement,
    Stop,
)

__all__ = [
    "QUORUM_KEYS",
    "TOTEM_KEYS",
    "ClockStmt",
    "Crash",
    "Expect",
    "Heal",
    "Latency",
    "LinkFault",
    "Nodes",
    "Oneway",
    "Partition",
    "Pause",
    "Qnetd",
    "Restart",
    "Run",
    "Scenario",
    "ScenarioError",
    "Seed",
    "Send",
    "Start",
    "Statement",
    "Stop",
    "format_duration",
    "parse_duration",
    "parse_scenario",
]

TOTEM_KEYS = (
    "token",
    "token_coefficient",
    "token_retransmit",
    "hold",
    "join",
    "consensus",
    "merge",
    "fail_recv_const",
    "seqno_unchanged_const",
    "miss_count_const",
    "window_size",
    "max_messages",
    "netmtu",
    "token_warning",
    "send_join",
)
QUORUM_KEYS = (
    "two_node",
    "wait_for_all",
    "last_man_standing",
    "last_man_standing_window",
    "auto_tie_breaker",
    "expected_votes",
)
_OTHER_NODE_KEYS = ("start", "stack", "rings", "crypto", "transport", "links")
_STATES = ("operational", "gather", "commit", "recovery", "down")
_QDEVICE_STATES = ("connected", "voting")
_ALGORITHMS = ("ffsplit", "lms", "2nodelms", "test")
QNETD = "qnetd"
"""How scenarios name the qnetd host."""
_OPS = (">=", "<=", "==", "!=", ">", "<")
_MAX_NODES = 384
"""corosync's PROCESSOR_COUNT_MAX."""


class ScenarioError(Exception):
    """A scenario that cannot run: ``str()`` is ``"<file>:<line>: <message>"``."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


# ----------------------------------------------------------------------------------------
# lexical helpers
# ----------------------------------------------------------------------------------------
_DURATION = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)(us|µs|ms|s|m)$")
_DIVISORS = {"us": 1e6, "µs": 1e6, "ms": 1e3, "s": 1.0}


def parse_duration(text: str) -> float:
    """``2500ms`` -> 2.5 (``ValueError`` if malformed)."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"bad duration {text!r} (write e.g. 250ms, 1.5s, 200us)")
    value, unit = float(match.group(1)), match.group(2)
    if unit == "m":
        return value * 60.0
    return value / _DIVISORS[unit]


def format_duration(seconds: float) -> str:
    """The shortest exact-looking spelling: 2.5 -> ``2500ms``, 30 -> ``30s``."""
    if seconds >= 1 and float(seconds).is_integer():
        return f"{int(seconds)}s"
    ms = seconds * 1000
    if abs(ms - round(ms)) < 1e-9:
        return f"{round(ms)}ms"
    return f"{seconds * 1e6:g}us"


class _Parser:
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.line = 0
        self.count = 0
        self.nodes: Nodes | None = None
        self.seed: int | None = None
        self.up: dict[int, str] = {}
        """Running nodes (validation of crash/restart/...): node -> how it came up."""
        self.down: dict[int, str] = {}
        self.statements: list[Statement] = []
        self.uses: set[str] = set()
        self.quorum_line = 0
        """First line that needs a quorum provider (0: none)."""
        self.qnetd: Qnetd | None = None

    def fail(self, message: str) -> ScenarioError:
        return ScenarioError(self.path, self.line, message)

    # -- values -------------------------------------------------------------------------
    def duration(self, text: str, what: str = "duration") -> float:
        try:
            value = parse_duration(text)
        except ValueError:
            raise self.fail(f"bad {what} {text!r} (write e.g. 250ms, 1.5s, 200us)") from None
        return value

    def integer(self, text: str, what: str, low: int = 0, high: int | None = None) -> int:
        if not re.fullmatch(r"\d+", text):
            raise self.fail(f"{what} must be a whole number, not {text!r}")
        value = int(text)
        if value < low or (high is not None and value > high):
            bound = f"{low}..{high}" if high is not None else f">= {low}"
            raise self.fail(f"{what} must be {bound}, not {value}")
        return value

    def percent(self, text: str) -> float:
        match = re.fullmatch(r"(\d+(?:\.\d+)?)%", text)
        if match is None:
            raise self.fail(f"expected a percentage like 10%, not {text!r}")
        value = float(match.group(1))
        if value > 100:
            raise self.fail(f"a percentage is at most 100%, not {text}")
        return value / 100

    def node(self, text: str) -> int:
        if not re.fullmatch(r"\d+", text):
            raise self.fail(f"expected a node id, not {text!r}")
        value = int(text)
        if not 1 <= value <= self.count:
            raise self.fail(f"node {value} is not in the cluster (nodes 1-{self.count})")
        return value

    def node_list(self, text: str, *, qnetd: bool = False) -> tuple[int, ...]:
        """Node ids; with ``qnetd``, the word ``qnetd`` may name the arbiter's host."""
        if text == "*":
            return tuple(range(1, self.count + 1))
        out: list[int] = []
        for part in text.split(","):
            if part == QNETD:
                if not qnetd:
                    raise self.fail("qnetd is not a node: this statement takes node ids")
                if self.qnetd is None:
                    raise self.fail("there is no qnetd yet: add a 'qnetd' statement first")
                out.append(QNETD_ID)
            elif ".." in part:
                lo_text, _, hi_text = part.partition("..")
                lo, hi = self.node(lo_text), self.node(hi_text)
                if lo > hi:
                    raise self.fail(f"empty node range {part!r}")
                out.extend(range(lo, hi + 1))
            else:
                out.append(self.node(part))
        if len(set(out)) != len(out):
            raise self.fail(f"node listed twice in {text!r}")
        return tuple(out)

    def is_links(self, text: str) -> bool:
        return text == "*" or "-" in text or ">" in text

    def links(self, text: str) -> tuple[tuple[int, int], ...]:
        if text == "*":
            ids = range(1, self.count + 1)
            return tuple((a, b) for a in ids for b in ids if a != b)
        if "->" in text:
            left, _, right = text.partition("->")
            both = False
        elif "-" in text:
            left, _, right = text.partition("-")
            both = True
        else:
            raise self.fail(f"expected links like 2-3, 2->3 or *, not {text!r}")
        sources = self.node_list(left, qnetd=True)
        targets = self.node_list(right, qnetd=True)
        pairs = {(a, b) for a in sources for b in targets if a != b}
        if both:
            pairs |= {(b, a) for a, b in pairs}
        if not pairs:
            raise self.fail(f"{text!r} names no link between two different nodes")
        return tuple(sorted(pairs))

    def check_qnetd_rings(self, pairs: Iterable[tuple[int, int]], rings: Rings) -> None:
        """The qnetd host is reached over ring 0 only."""
        if rings is not None and 0 not in rings and any(QNETD_ID in pair for pair in pairs):
            raise self.fail("the qnetd host is reached over ring 0: ring=1 cannot name it")

    def options(self, words: Sequence[str]) -> tuple[list[str], dict[str, str]]:
        plain: list[str] = []
        keyed: dict[str, str] = {}
        for word in words:
            if "=" in word:
                key, _, value = word.partition("=")
                if not key or not value:
                    raise self.fail(f"malformed option {word!r} (write key=value)")
                if key in keyed:
                    raise self.fail(f"option {key!r} given twice")
                keyed[key] = value
            else:
                plain.append(word)
        return plain, keyed

    def kinds(self, keyed: dict[str, str]) -> tuple[int, ...] | None:
        text = keyed.pop("kind", None)
        if text is None:
            return None
        out = []
        for name in text.split(","):
            if name not in KINDS:
                raise self.fail(f"unknown message kind {name!r} (one of {', '.join(KINDS)})")
            out.append(KINDS.index(name))
        return tuple(sorted(set(out)))

    def ring_option(self, keyed: dict[str, str]) -> Rings:
        """``ring=N``: the one ring a network statement applies to."""
        text = keyed.pop("ring", None)
        if text is None:
            return None
        rings = self.nodes.rings if self.nodes is not None else 1
        ring = self.integer(text, "ring", 0, 7)
        if ring >= rings:
            raise self.fail(f"ring {ring} does not exist: the cluster has {rings} ring(s)")
        return (ring,)

    def split_ring(self, args: list[str]) -> tuple[list[str], Rings]:
        """Take a ``ring=N`` word out of ``args``."""
        rest = [a for a in args if not a.startswith("ring=")]
        keyed = {a.partition("=")[0]: a.partition("=")[2] for a in args if a.startswith("ring=")}
        if len(args) - len(rest) > 1:
            raise self.fail("option 'ring' given twice")
        return rest, self.ring_option(keyed)

    def no_more(self, keyed: dict[str, str], plain: Sequence[str] = ()) -> None:
        if keyed:
            raise self.fail(f"unknown option {next(iter(keyed))!r}")
        if plain:
            raise self.fail(f"unexpected {plain[0]!r}")

    # -- statements ---------------------------------------------------------------------
    def parse(self) -> Scenario:
        for number, raw in enumerate(self.text.splitlines(), start=1):
            self.line = number
            text = raw.split("#", 1)[0].strip()
            if not text:
                continue
            words = text.split()
            keyword, args = words[0], words[1:]
            handler = getattr(self, "stmt_" + keyword, None)
            if handler is None:
                raise self.fail(f"unknown statement {keyword!r}")
            if self.nodes is None and keyword not in ("nodes", "seed"):
                raise self.fail(f"{keyword!r} before 'nodes': a scenario starts with 'nodes N'")
            statement = handler(text, args)
            if statement is not None:
                self.statements.append(statement)
                self.uses.add(keyword)
        if self.nodes is None:
            self.line = max(1, self.line)
            raise self.fail("no 'nodes' statement: a scenario starts with 'nodes N'")
        return Scenario(
            self.path,
            self.text,
            self.nodes,
            tuple(self.statements),
            self.seed,
            self.quorum_line,
            frozenset(self.uses),
            self.qnetd,
        )

    def stmt_nodes(self, text: str, args: list[str]) -> Statement:
        if self.nodes is not None:
            raise self.fail(
                f"second 'nodes' statement (the cluster was defined on line {self.nodes.line})"
            )
        if not args:
            raise self.fail("'nodes' needs a node count: nodes 5")
        plain, keyed = self.options(args)
        if len(plain) != 1:
            raise self.fail("'nodes' takes one count then key=value options")
        count = self.integer(plain[0], "the node count", 1, _MAX_NODES)
        totem: list[tuple[str, int]] = []
        quorum: list[tuple[str, str]] = []
        autostart = True
        stack = "full"
        rings = 1
        crypto = False
        transport = "udpu"
        links: int | None = None
        for key, value in keyed.items():
            if key in TOTEM_KEYS:
                if re.fullmatch(r"\d+ms", value):
                    value = value[:-2]
                totem.append((key, self.integer(value, key, 0, 2**32 - 1)))
            elif key in QUORUM_KEYS:
                self.quorum_line = self.quorum_line or self.line
                quorum.append((key, value))
            elif key == "start":
                if value not in ("yes", "no"):
                    raise self.fail("start must be yes or no")
                autostart = value == "yes"
            elif key == "stack":
                if value not in ("full", "srp"):
                    raise self.fail("stack must be full (node stack with votequorum) or srp")
                stack = value
            elif key == "rings":
                if value not in ("1", "2"):
                    raise self.fail("rings must be 1 or 2 (passive redundant rings)")
                rings = int(value)
            elif key == "crypto":
                if value not in ("on", "off"):
                    raise self.fail("crypto must be on or off")
                crypto = value == "on"
            elif key == "transport":
                if value not in ("udpu", "knet"):
                    raise self.fail("transport must be udpu or knet")
                transport = value
            elif key == "links":
                links = self.integer(value, "links", 1, 8)
            else:
                known = ", ".join((*TOTEM_KEYS, *QUORUM_KEYS, *_OTHER_NODE_KEYS))
                raise self.fail(f"unknown option {key!r} for nodes (known: {known})")
        self.count = count
        if stack == "srp" and quorum:
            raise self.fail(f"quorum option {quorum[0][0]!r} needs votequorum (stack=full)")
        if links is not None:
            if transport != "knet":
                raise self.fail("links=N needs transport=knet (udpu has rings=1|2)")
            rings = links
        if stack == "srp" and (rings > 1 or crypto or transport != "udpu"):
            raise self.fail("redundant rings and crypto belong to the node stack (stack=full)")
        self.nodes = Nodes(
            self.line,
            text,
            count,
            tuple(totem),
            tuple(quorum),
            autostart,
            stack,
            rings,
            crypto,
            transport,
        )
        if autostart:
            self.up = {n: f"started on line {self.line}" for n in range(1, count + 1)}
        else:
            self.down = {
                n: f"not started (start=no, line {self.line})" for n in range(1, count + 1)
            }
        return self.nodes

    def stmt_seed(self, text: str, args: list[str]) -> None:
        if len(args) != 1:
            raise self.fail("'seed' takes one number")
        self.seed = self.integer(args[0], "the seed", 0, 2**63 - 1)

    def stmt_partition(self, text: str, args: list[str]) -> Statement:
        args, rings = self.split_ring(args)
        body = "".join(args)
        if not body:
            raise self.fail("'partition' needs groups: partition {1,2}|{3,4,5}")
        groups: list[tuple[int, ...]] = []
        seen: set[int] = set()
        for part in body.split("|"):
            match = re.fullmatch(r"\{([^{}]*)\}", part)
            if match is None or not match.group(1):
                raise self.fail(f"bad partition group {part!r} (write {{1,2}}|{{3,4,5}})")
            group = self.node_list(match.group(1), qnetd=True)
            twice = seen.intersection(group)
            if twice:
                raise self.fail(f"{endpoint_name(max(twice))} is in two partition groups")
            seen.update(group)
            groups.append(group)
        rest = tuple(n for n in range(1, self.count + 1) if n not in seen)
        if rest:
            groups.append(rest)
        if len(groups) < 2:
            raise self.fail("a partition needs at least two groups")
        if QNETD_ID in seen and rings is not None and 0 not in rings:
            raise self.fail("the qnetd host is reached over ring 0: ring=1 cannot name it")
        return Partition(self.line, text, tuple(groups), rings)

    def stmt_oneway(self, text: str, args: list[str]) -> Statement:
        args, rings = self.split_ring(args)
        if len(args) != 1 or "->" not in args[0]:
            raise self.fail("'oneway' takes one direction: oneway 3->1")
        pairs = self.links(args[0])
        self.check_qnetd_rings(pairs, rings)
        return Oneway(self.line, text, pairs, rings)

    def stmt_heal(self, text: str, args: list[str]) -> Statement:
        args, rings = self.split_ring(args)
        if not args:
            return Heal(self.line, text, None, rings)
        if len(args) != 1:
            raise self.fail("'heal' takes nothing or one link set: heal 3->1")
        pairs = self.links(args[0])
        self.check_qnetd_rings(pairs, rings)
        return Heal(self.line, text, pairs, rings)

    def _links_first(self, args: list[str]) -> tuple[tuple[tuple[int, int], ...], list[str]]:
        if args and self.is_links(args[0]) and not re.match(r"^[\d.]+(us|µs|ms|s|m|%)", args[0]):
            return self.links(args[0]), args[1:]
        return self.links("*"), args

    def stmt_latency(self, text: str, args: list[str]) -> Statement:
        pairs, rest = self._links_first(args)
        plain, keyed = self.options(rest)
        if len(plain) != 1:
            raise self.fail("'latency' takes a delay like 50ms or 50ms±10ms")
        spec = plain[0].replace("+-", "±")
        base_text, _, jitter_text = spec.partition("±")
        base = self.duration(base_text, "delay")
        jitter = self.duration(jitter_text, "jitter") if jitter_text else 0.0
        rings = self.ring_option(keyed)
        dist_name = keyed.pop("dist", "normal")
        try:
            distribution = Distribution(dist_name)
        except ValueError:
            names = ", ".join(d.value for d in Distribution)
            raise self.fail(f"unknown distribution {dist_name!r} (one of {names})") from None
        self.no_more(keyed)
        self.check_qnetd_rings(pairs, rings)
        return Latency(self.line, text, pairs, Delay(base, jitter, distribution), rings)

    def _probability_fault(self, fault: str, text: str, args: list[str]) -> Statement:
        pairs, rest = self._links_first(args)
        plain, keyed = self.options(rest)
        kinds = self.kinds(keyed)
        rings = self.ring_option(keyed)
        self.no_more(keyed)
        self.check_qnetd_rings(pairs, rings)
        if fault == "reorder":
            if len(plain) != 2:
                raise self.fail("'reorder' takes a probability and a delay: reorder 5% 900ms")
            return LinkFault(
                self.line,
                text,
                fault,
                pairs,
                self.percent(plain[0]),
                self.duration(plain[1]),
                kinds,
                rings,
            )
        if len(plain) != 1:
            raise self.fail(f"'{fault}' takes one probability: {fault} 10%")
        return LinkFault(self.line, text, fault, pairs, self.percent(plain[0]), 0.0, kinds, rings)

    def stmt_loss(self, text: str, args: list[str]) -> Statement:
        return self._probability_fault("loss", text, args)

    def stmt_dup(self, text: str, args: list[str]) -> Statement:
        return self._probability_fault("dup", text, args)

    def stmt_reorder(self, text: str, args: list[str]) -> Statement:
        return self._probability_fault("reorder", text, args)

    def stmt_mtu(self, text: str, args: list[str]) -> Statement:
        pairs, rest = self._links_first(args)
        rest, rings = self.split_ring(rest)
        if len(rest) != 1:
            raise self.fail("'mtu' takes a size in bytes: mtu 1400 (0 lifts the limit)")
        size = self.integer(rest[0], "the MTU", 0, 65535)
        if 0 < size < 68:
            raise self.fail("an MTU below 68 bytes is not IPv4")
        self.check_qnetd_rings(pairs, rings)
        return LinkFault(self.line, text, "mtu", pairs, float(size), rings=rings)

    # -- the quorum device --------------------------------------------------------------
    def stmt_qnetd(self, text: str, args: list[str]) -> Statement:
        assert self.nodes is not None
        if self.qnetd is not None:
            raise self.fail(f"second 'qnetd' statement (the first is on line {self.qnetd.line})")
        if self.nodes.stack == "srp":
            raise self.fail("a quorum device needs votequorum: stack=srp nodes have none")
        plain, keyed = self.options(args)
        algorithm = keyed.pop("algorithm", "ffsplit")
        if algorithm not in _ALGORITHMS:
            raise self.fail(f"algorithm must be one of {', '.join(_ALGORITHMS)}, not {algorithm!r}")
        tie_breaker = keyed.pop("tie_breaker", "lowest")
        if tie_breaker not in ("lowest", "highest"):
            self.integer(tie_breaker, "tie_breaker (lowest, highest or a node id)", 1, 2**32 - 1)
        kap: bool | None = None
        if "keep_active_partition" in keyed:
            value = keyed.pop("keep_active_partition")
            if value not in ("on", "off"):
                raise self.fail("keep_active_partition must be on or off")
            kap = value == "on"
        votes = self.integer(keyed.pop("votes"), "votes", 1, 2**31) if "votes" in keyed else None
        timers: dict[str, int | None] = {}
        for key in ("timeout", "sync_timeout", "connect_timeout"):
            timers[key] = None
            if key in keyed:
                timers[key] = round(self.duration(keyed.pop(key), key) * 1000)
        start = keyed.pop("start", "yes")
        if start not in ("yes", "no"):
            raise self.fail("start must be yes or no")
        self.no_more(keyed, plain)
        self.quorum_line = self.quorum_line or self.line
        self.qnetd = Qnetd(
            self.line,
            text,
            algorithm,
            tie_breaker,
            kap,
            votes,
            timers["timeout"],
            timers["sync_timeout"],
            timers["connect_timeout"],
            start == "yes",
        )
        if start == "yes":
            self._mark((QNETD_ID,), True, "started")
        else:
            self.down[QNETD_ID] = f"not started (start=no, line {self.line})"
        return self.qnetd

    # -- node life ----------------------------------------------------------------------
    def _require_up(self, nodes: Iterable[int], verb: str) -> None:
        for node in nodes:
            if node not in self.up:
                why = self.down.get(node, "down")
                raise self.fail(f"cannot {verb} {endpoint_name(node)}: it is {why}")

    def _require_down(self, nodes: Iterable[int], verb: str) -> None:
        for node in nodes:
            if node in self.up:
                raise self.fail(
                    f"cannot {verb} {endpoint_name(node)}: it is running ({self.up[node]})"
                )

    def _mark(self, nodes: Iterable[int], up: bool, how: str) -> None:
        for node in nodes:
            if up:
                self.down.pop(node, None)
                self.up[node] = f"{how} on line {self.line}"
            else:
                self.up.pop(node, None)
                self.down[node] = f"{how} on line {self.line}"

    def _nodes_only(self, keyword: str, args: list[str]) -> tuple[int, ...]:
        if len(args) != 1:
            raise self.fail(f"'{keyword}' takes a node list: {keyword} 2 or {keyword} 2,3")
        return self.node_list(args[0], qnetd=True)

    def stmt_crash(self, text: str, args: list[str]) -> Statement:
        nodes = self._nodes_only("crash", args)
        self._require_up(nodes, "crash")
        self._mark(nodes, False, "crashed")
        return Crash(self.line, text, nodes)

    def stmt_stop(self, text: str, args: list[str]) -> Statement:
        nodes = self._nodes_only("stop", args)
        self._require_up(nodes, "stop")
        self._mark(nodes, False, "stopped")
        return Stop(self.line, text, nodes)

    def stmt_start(self, text: str, args: list[str]) -> Statement:
        nodes = self._nodes_only("start", args)
        self._require_down(nodes, "start")
        self._mark(nodes, True, "started")
        return Start(self.line, text, nodes)

    def stmt_restart(self, text: str, args: list[str]) -> Statement:
        if not args or len(args) > 2 or (len(args) == 2 and args[1] != "fresh"):
            raise self.fail("'restart' takes a node list and optionally 'fresh': restart 2 fresh")
        nodes = self.node_list(args[0], qnetd=True)
        if QNETD_ID in nodes and len(args) == 2:
            raise self.fail("'fresh' is about a node's persisted ring id; qnetd keeps no state")
        self._require_down(nodes, "restart")
        self._mark(nodes, True, "restarted")
        return Restart(self.line, text, nodes, keep_state=len(args) == 1)

    def stmt_pause(self, text: str, args: list[str]) -> Statement:
        if len(args) != 2:
            raise self.fail("'pause' takes nodes and a duration: pause 4 2500ms")
        nodes = self.node_list(args[0], qnetd=True)
        self._require_up(nodes, "pause")
        return Pause(self.line, text, nodes, self.duration(args[1]))

    def stmt_clock(self, text: str, args: list[str]) -> Statement:
        if not args:
            raise self.fail("'clock' takes a node and jump=/rate=: clock 3 rate=1.01")
        node = self.node(args[0])
        plain, keyed = self.options(args[1:])
        jump = self.duration(keyed.pop("jump"), "jump") if "jump" in keyed else 0.0
        rate = 1.0
        if "rate" in keyed:
            try:
                rate = float(keyed.pop("rate"))
            except ValueError:
                raise self.fail("rate must be a number like 1.01") from None
            if not 0.5 <= rate <= 2.0:
                raise self.fail("a clock rate must be within 0.5..2")
        self.no_more(keyed, plain)
        return ClockStmt(self.line, text, node, jump, rate)

    def stmt_send(self, text: str, args: list[str]) -> Statement:
        if len(args) < 2:
            raise self.fail("'send' takes nodes and a rate or count: send 1 200/s")
        nodes = self.node_list(args[0])
        plain, keyed = self.options(args[1:])
        if not plain:
            raise self.fail("'send' needs a rate (200/s), a count (500) or 'stop'")
        amount, flags = plain[0], plain[1:]
        size = self.integer(keyed.pop("size"), "size", 25, 65000) if "size" in keyed else 100
        self.no_more(keyed)
        for flag in flags:
            if flag not in ("safe", "poisson"):
                raise self.fail(f"unexpected {flag!r} (send options: size=N, safe, poisson)")
        safe, poisson = "safe" in flags, "poisson" in flags
        if safe and self.nodes is not None and self.nodes.stack != "srp":
            raise self.fail(
                "SAFE delivery is a Totem SRP guarantee the node stack does not expose: "
                "use 'nodes ... stack=srp' to send safe messages"
            )
        if amount == "stop":
            return Send(self.line, text, nodes, rate=0.0)
        rate_match = re.fullmatch(r"(\d+(?:\.\d+)?)/s", amount)
        if rate_match is not None:
            rate = float(rate_match.group(1))
            if rate > 1_000_000:
                raise self.fail("a send rate is at most 1000000/s")
            return Send(self.line, text, nodes, rate=rate, size=size, safe=safe, poisson=poisson)
        if poisson:
            raise self.fail("'poisson' applies to a rate (send 1 200/s poisson), not a burst")
        count = self.integer(amount, "the message count", 1, 1_000_000)
        self._require_up(nodes, "send from")
        return Send(self.line, text, nodes, count=count, size=size, safe=safe)

    def stmt_run(self, text: str, args: list[str]) -> Statement:
        if len(args) != 1:
            raise self.fail("'run' takes a duration: run 30s")
        return Run(self.line, text, self.duration(args[0]))

    def stmt_write(self, text: str, args: list[str]) -> Statement:
        """``write NODE PATH [SIZE]``: the replicated filesystem (:mod:`simulations.cfsim`)."""
        if self.nodes is not None and self.nodes.stack == "srp":
            raise self.fail("'write' needs the full node stack (CPG), not stack=srp")
        if len(args) not in (2, 3):
            raise self.fail("write: write NODE PATH [SIZE]")
        path = args[1].strip("/")
        if not path or any(part in ("", ".", "..") for part in path.split("/")):
            raise self.fail(f"bad path {args[1]!r}")
        size = self.integer(args[2], "the size", 1, 1024 * 1024) if len(args) == 3 else 16
        self.quorum_line = self.quorum_line or self.line
        return Write(self.line, text, self.node(args[0]), path, size)

    def stmt_expect(self, text: str, args: list[str]) -> Statement:
        words = list(args)
        negate = False
        if words and words[0] == "not":
            negate = True
            words = words[1:]
        if not words:
            raise self.fail("'expect' needs a condition: expect members 1,2,3")
        what, words = words[0], words[1:]
        within = throughout = None
        on: tuple[int, ...] | None = None
        # trailing modifiers
        while len(words) >= 2 and words[-2] in ("within", "throughout", "on"):
            key, value = words[-2], words[-1]
            words = words[:-2]
            if key == "on":
                on = self.node_list(value, qnetd=True)
            elif key == "within":
                within = self.duration(value)
            else:
                throughout = self.duration(value)
        if within is not None and throughout is not None:
            raise self.fail("use 'within' or 'throughout', not both")

        def make(nodes: tuple[int, ...], **extra: Any) -> Expect:
            return Expect(
                self.line,
                text,
                what,
                nodes,
                negate=negate,
                within=within,
                throughout=throughout,
                **extra,
            )

        if what in CFS_EXPECTS:
            if on is not None:
                raise self.fail(f"'on' does not apply to 'expect {what}'")
            if what == "file":
                if len(words) != 2:
                    raise self.fail("write: expect [not] file NODES PATH")
                self.quorum_line = self.quorum_line or self.line
                return make(self.node_list(words[0]), state=words[1].strip("/"))
            if what == "read-only" and not words:
                raise self.fail("write: expect read-only NODES")
            if len(words) > 1:
                raise self.fail(f"unexpected {words[1]!r} in 'expect {what}'")
            self.quorum_line = self.quorum_line or self.line
            return make(self.node_list(words[0]) if words else ())
        if on is not None and QNETD_ID in on and what != "stat":
            raise self.fail("'on qnetd' applies to 'expect stat' (the arbiter's figures)")
        if what == "qdevice":
            if self.qnetd is None:
                raise self.fail("'expect qdevice' needs a quorum device: add a 'qnetd' statement")
            if len(words) != 2 or words[1] not in _QDEVICE_STATES:
                raise self.fail("write: expect qdevice NODES connected|voting")
            if on is not None:
                raise self.fail("'on' applies to 'expect members' and 'expect stat'")
            return make(self.node_list(words[0]), state=words[1])
        if what in ("members", "quorate", "inquorate", "state"):
            if not words:
                raise self.fail(f"'expect {what}' needs a node list")
            nodes = self.node_list(words[0])
            if what in ("quorate", "inquorate"):
                self.quorum_line = self.quorum_line or self.line
                if self.nodes is not None and self.nodes.stack == "srp":
                    raise self.fail(
                        f"'expect {what}' needs votequorum: "
                        "bare SRP nodes (stack=srp) have no quorum"
                    )
            if what == "state":
                if len(words) != 2 or words[1] not in _STATES:
                    raise self.fail(f"'expect state' takes nodes and one of {', '.join(_STATES)}")
                return make(nodes, on=on, state=words[1])
            if len(words) != 1:
                raise self.fail(f"unexpected {words[1]!r} in 'expect {what}'")
            if on is not None and what != "members":
                raise self.fail("'on' applies to 'expect members' and 'expect stat'")
            return make(nodes, on=on)
        if what in ("delivered", "votes", "stat"):
            if what == "stat":
                if len(words) != 3:
                    raise self.fail("write: expect stat NAME >= VALUE [on NODES]")
                name, op, value = words
                if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                    raise self.fail(f"bad counter name {name!r}")
                nodes = on if on is not None else ()
            else:
                if len(words) != 3:
                    raise self.fail(f"write: expect {what} NODES >= COUNT")
                if what == "votes" and self.nodes is not None and self.nodes.stack == "srp":
                    raise self.fail("'expect votes' needs votequorum: stack=srp has no votes")
                if on is not None:
                    raise self.fail("'on' applies to 'expect members' and 'expect stat'")
                nodes_text, op, value = words
                nodes = self.node_list(nodes_text)
                name = ""
            if op not in _OPS:
                raise self.fail(f"unknown comparison {op!r} (one of {' '.join(_OPS)})")
            try:
                number = float(value)
            except ValueError:
                raise self.fail(f"expected a number, not {value!r}") from None
            return make(nodes, on=on, stat=name, op=op, value=number)
        raise self.fail(
            f"unknown expectation {what!r} "
            "(members, quorate, inquorate, state, delivered, votes, qdevice, stat)"
        )


def parse_scenario(text: str, path: str = "<scenario>") -> Scenario:
    """Parse and validate a scenario; raises :class:`ScenarioError`."""
    return _Parser(path, text).parse()
