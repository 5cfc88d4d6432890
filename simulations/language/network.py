"""The network statements: ``partition``, ``oneway``, ``heal``, ``latency``, ``loss``,
``dup``, ``reorder`` and ``mtu``.

Each names links (``A-B`` both ways, ``A->B`` one way, ``*`` every pair of nodes; the
qnetd host by name) and optionally one ring (``ring=N``); the qnetd host is reached over
ring 0 only. They change :class:`~simulations.network.Network` at the current instant.
"""

from __future__ import annotations

import re
from typing import Any

from simulations.language.base import RunContext, Verb
from simulations.language.syntax import ScenarioParser
from simulations.latency import Delay, Distribution
from simulations.network import QNETD_ID, endpoint_name
from simulations.statements import Heal, Latency, LinkFault, Oneway, Partition

__all__ = ["VERBS"]


def parse_partition(p: ScenarioParser, text: str, args: list[str]) -> Partition:
    args, rings = p.split_ring(args)
    body = "".join(args)
    if not body:
        raise p.fail("'partition' needs groups: partition {1,2}|{3,4,5}")
    groups: list[tuple[int, ...]] = []
    seen: set[int] = set()
    for part in body.split("|"):
        match = re.fullmatch(r"\{([^{}]*)\}", part)
        if match is None or not match.group(1):
            raise p.fail(f"bad partition group {part!r} (write {{1,2}}|{{3,4,5}})")
        group = p.node_list(match.group(1), qnetd=True)
        twice = seen.intersection(group)
        if twice:
            raise p.fail(f"{endpoint_name(max(twice))} is in two partition groups")
        seen.update(group)
        groups.append(group)
    rest = tuple(n for n in range(1, p.count + 1) if n not in seen)
    if rest:
        groups.append(rest)
    if len(groups) < 2:
        raise p.fail("a partition needs at least two groups")
    if QNETD_ID in seen and rings is not None and 0 not in rings:
        raise p.fail("the qnetd host is reached over ring 0: ring=1 cannot name it")
    return Partition(p.line, text, tuple(groups), rings)


def parse_oneway(p: ScenarioParser, text: str, args: list[str]) -> Oneway:
    args, rings = p.split_ring(args)
    if len(args) != 1 or "->" not in args[0]:
        raise p.fail("'oneway' takes one direction: oneway 3->1")
    pairs = p.links(args[0])
    p.check_qnetd_rings(pairs, rings)
    return Oneway(p.line, text, pairs, rings)


def parse_heal(p: ScenarioParser, text: str, args: list[str]) -> Heal:
    args, rings = p.split_ring(args)
    if not args:
        return Heal(p.line, text, None, rings)
    if len(args) != 1:
        raise p.fail("'heal' takes nothing or one link set: heal 3->1")
    pairs = p.links(args[0])
    p.check_qnetd_rings(pairs, rings)
    return Heal(p.line, text, pairs, rings)


def parse_latency(p: ScenarioParser, text: str, args: list[str]) -> Latency:
    pairs, rest = p.links_first(args)
    plain, keyed = p.options(rest)
    if len(plain) != 1:
        raise p.fail("'latency' takes a delay like 50ms or 50ms±10ms")
    spec = plain[0].replace("+-", "±")
    base_text, _, jitter_text = spec.partition("±")
    base = p.duration(base_text, "delay")
    jitter = p.duration(jitter_text, "jitter") if jitter_text else 0.0
    rings = p.ring_option(keyed)
    dist_name = keyed.pop("dist", "normal")
    try:
        distribution = Distribution(dist_name)
    except ValueError:
        names = ", ".join(d.value for d in Distribution)
        raise p.fail(f"unknown distribution {dist_name!r} (one of {names})") from None
    p.no_more(keyed)
    p.check_qnetd_rings(pairs, rings)
    return Latency(p.line, text, pairs, Delay(base, jitter, distribution), rings)


def _probability_fault(p: ScenarioParser, fault: str, text: str, args: list[str]) -> LinkFault:
    pairs, rest = p.links_first(args)
    plain, keyed = p.options(rest)
    kinds = p.kinds(keyed)
    rings = p.ring_option(keyed)
    p.no_more(keyed)
    p.check_qnetd_rings(pairs, rings)
    if fault == "reorder":
        if len(plain) != 2:
            raise p.fail("'reorder' takes a probability and a delay: reorder 5% 900ms")
        return LinkFault(
            p.line,
            text,
            fault,
            pairs,
            p.percent(plain[0]),
            p.duration(plain[1]),
            kinds,
            rings,
        )
    if len(plain) != 1:
        raise p.fail(f"'{fault}' takes one probability: {fault} 10%")
    return LinkFault(p.line, text, fault, pairs, p.percent(plain[0]), 0.0, kinds, rings)


def parse_loss(p: ScenarioParser, text: str, args: list[str]) -> LinkFault:
    return _probability_fault(p, "loss", text, args)


def parse_dup(p: ScenarioParser, text: str, args: list[str]) -> LinkFault:
    return _probability_fault(p, "dup", text, args)


def parse_reorder(p: ScenarioParser, text: str, args: list[str]) -> LinkFault:
    return _probability_fault(p, "reorder", text, args)


def parse_mtu(p: ScenarioParser, text: str, args: list[str]) -> LinkFault:
    pairs, rest = p.links_first(args)
    rest, rings = p.split_ring(rest)
    if len(rest) != 1:
        raise p.fail("'mtu' takes a size in bytes: mtu 1400 (0 lifts the limit)")
    size = p.integer(rest[0], "the MTU", 0, 65535)
    if 0 < size < 68:
        raise p.fail("an MTU below 68 bytes is not IPv4")
    p.check_qnetd_rings(pairs, rings)
    return LinkFault(p.line, text, "mtu", pairs, float(size), rings=rings)


def apply_partition(run: RunContext, statement: Partition) -> None:
    run.sim.network.partition(statement.groups, statement.rings)


def apply_oneway(run: RunContext, statement: Oneway) -> None:
    run.sim.network.cut(statement.pairs, statement.rings)


def apply_heal(run: RunContext, statement: Heal) -> None:
    run.sim.network.heal(statement.pairs, statement.rings)


def apply_latency(run: RunContext, statement: Latency) -> None:
    run.sim.network.set_delay(statement.pairs, statement.delay, statement.rings)


def apply_link_fault(run: RunContext, statement: LinkFault) -> None:
    net = run.sim.network
    pairs, kinds, rings = statement.pairs, statement.kinds, statement.rings
    if statement.fault == "loss":
        net.set_loss(pairs, statement.value, kinds, rings)
    elif statement.fault == "dup":
        net.set_dup(pairs, statement.value, kinds, rings)
    elif statement.fault == "reorder":
        net.set_reorder(pairs, statement.value, statement.extra, kinds, rings)
    else:
        net.set_mtu(pairs, int(statement.value), rings)


VERBS: tuple[Verb[Any], ...] = (
    Verb("partition", Partition, parse_partition, apply_partition),
    Verb("oneway", Oneway, parse_oneway, apply_oneway),
    Verb("heal", Heal, parse_heal, apply_heal),
    Verb("latency", Latency, parse_latency, apply_latency),
    Verb("loss", LinkFault, parse_loss, apply_link_fault),
    Verb("dup", LinkFault, parse_dup, apply_link_fault),
    Verb("reorder", LinkFault, parse_reorder, apply_link_fault),
    Verb("mtu", LinkFault, parse_mtu, apply_link_fault),
)
