"""The statements that set a scenario's cluster up: ``nodes``, ``seed`` and ``qnetd``.

``nodes`` comes first and says what every node runs (the Totem timers and quorum keys
of the generated corosync.conf, the node stack, rings, crypto, transport); ``qnetd``
adds the quorum device (``quorum.device`` in every node's corosync.conf, and the arbiter
host, started there or later by ``start qnetd``); ``seed`` is the default seed.
"""

from __future__ import annotations

import re
from typing import Any

from simulations.language.base import RunContext, Verb
from simulations.language.syntax import ScenarioParser
from simulations.network import QNETD_ID
from simulations.statements import Nodes, Qnetd, Seed

__all__ = ["QUORUM_KEYS", "TOTEM_KEYS", "VERBS"]

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
_ALGORITHMS = ("ffsplit", "lms", "2nodelms", "test")
_MAX_NODES = 384
"""corosync's PROCESSOR_COUNT_MAX."""


def parse_nodes(p: ScenarioParser, text: str, args: list[str]) -> Nodes:
    if p.nodes is not None:
        raise p.fail(f"second 'nodes' statement (the cluster was defined on line {p.nodes.line})")
    if not args:
        raise p.fail("'nodes' needs a node count: nodes 5")
    plain, keyed = p.options(args)
    if len(plain) != 1:
        raise p.fail("'nodes' takes one count then key=value options")
    count = p.integer(plain[0], "the node count", 1, _MAX_NODES)
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
            totem.append((key, p.integer(value, key, 0, 2**32 - 1)))
        elif key in QUORUM_KEYS:
            p.needs_quorum()
            quorum.append((key, value))
        elif key == "start":
            if value not in ("yes", "no"):
                raise p.fail("start must be yes or no")
            autostart = value == "yes"
        elif key == "stack":
            if value not in ("full", "srp"):
                raise p.fail("stack must be full (node stack with votequorum) or srp")
            stack = value
        elif key == "rings":
            if value not in ("1", "2"):
                raise p.fail("rings must be 1 or 2 (passive redundant rings)")
            rings = int(value)
        elif key == "crypto":
            if value not in ("on", "off"):
                raise p.fail("crypto must be on or off")
            crypto = value == "on"
        elif key == "transport":
            if value not in ("udpu", "knet"):
                raise p.fail("transport must be udpu or knet")
            transport = value
        elif key == "links":
            links = p.integer(value, "links", 1, 8)
        else:
            known = ", ".join((*TOTEM_KEYS, *QUORUM_KEYS, *_OTHER_NODE_KEYS))
            raise p.fail(f"unknown option {key!r} for nodes (known: {known})")
    p.count = count
    if stack == "srp" and quorum:
        raise p.fail(f"quorum option {quorum[0][0]!r} needs votequorum (stack=full)")
    if links is not None:
        if transport != "knet":
            raise p.fail("links=N needs transport=knet (udpu has rings=1|2)")
        rings = links
    if stack == "srp" and (rings > 1 or crypto or transport != "udpu"):
        raise p.fail("redundant rings and crypto belong to the node stack (stack=full)")
    p.nodes = Nodes(
        p.line,
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
        p.up = {n: f"started on line {p.line}" for n in range(1, count + 1)}
    else:
        p.down = {n: f"not started (start=no, line {p.line})" for n in range(1, count + 1)}
    return p.nodes


def parse_seed(p: ScenarioParser, text: str, args: list[str]) -> None:
    if len(args) != 1:
        raise p.fail("'seed' takes one number")
    p.seed = p.integer(args[0], "the seed", 0, 2**63 - 1)


def parse_qnetd(p: ScenarioParser, text: str, args: list[str]) -> Qnetd:
    assert p.nodes is not None
    if p.qnetd is not None:
        raise p.fail(f"second 'qnetd' statement (the first is on line {p.qnetd.line})")
    if p.nodes.stack == "srp":
        raise p.fail("a quorum device needs votequorum: stack=srp nodes have none")
    plain, keyed = p.options(args)
    algorithm = keyed.pop("algorithm", "ffsplit")
    if algorithm not in _ALGORITHMS:
        raise p.fail(f"algorithm must be one of {', '.join(_ALGORITHMS)}, not {algorithm!r}")
    tie_breaker = keyed.pop("tie_breaker", "lowest")
    if tie_breaker not in ("lowest", "highest"):
        p.integer(tie_breaker, "tie_breaker (lowest, highest or a node id)", 1, 2**32 - 1)
    kap: bool | None = None
    if "keep_active_partition" in keyed:
        value = keyed.pop("keep_active_partition")
        if value not in ("on", "off"):
            raise p.fail("keep_active_partition must be on or off")
        kap = value == "on"
    votes = p.integer(keyed.pop("votes"), "votes", 1, 2**31) if "votes" in keyed else None
    timers: dict[str, int | None] = {}
    for key in ("timeout", "sync_timeout", "connect_timeout"):
        timers[key] = None
        if key in keyed:
            timers[key] = round(p.duration(keyed.pop(key), key) * 1000)
    start = keyed.pop("start", "yes")
    if start not in ("yes", "no"):
        raise p.fail("start must be yes or no")
    p.no_more(keyed, plain)
    p.needs_quorum()
    p.qnetd = Qnetd(
        p.line,
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
        p.mark((QNETD_ID,), True, "started")
    else:
        p.down[QNETD_ID] = f"not started (start=no, line {p.line})"
    return p.qnetd


def start_qnetd(run: RunContext, statement: Qnetd) -> None:
    if statement.start:
        run.qnetd_host().start()


VERBS: tuple[Verb[Any], ...] = (
    Verb("nodes", Nodes, parse_nodes, None),
    Verb("seed", Seed, parse_seed, None),
    Verb("qnetd", Qnetd, parse_qnetd, start_qnetd),
)
