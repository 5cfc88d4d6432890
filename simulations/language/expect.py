"""``expect``: what a scenario asserts, and the conditions it can ask about.

``expect [not] WHAT ... [on NODES] [within D | throughout D]``: the modifiers are read
here, then the :class:`~simulations.language.base.Condition` named ``WHAT`` parses the
rest and, while the scenario runs, says whether it holds (the runner evaluates it now,
until it holds, or all along; :mod:`simulations.runner`). :data:`CONDITIONS` is the one
table of them: membership and state as the nodes see them, quorum, the quorum device,
votes, deliveries, counters, and the replicated filesystem's
(:mod:`simulations.language.cfs`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from simulations.language import cfs
from simulations.language.base import Condition, ExpectMaker, RunContext, Verb
from simulations.language.syntax import ScenarioParser
from simulations.network import QNETD_ID
from simulations.qdevice import QdeviceNode
from simulations.statements import Expect

__all__ = ["COMPARISONS", "CONDITIONS", "VERBS"]

_STATES = ("operational", "gather", "commit", "recovery", "down")
_QDEVICE_STATES = ("connected", "voting")
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_ON_MEMBERS_OR_STAT = "'on' applies to 'expect members' and 'expect stat'"


# ---------------------------------------------------------------------------- parsing
def _views(p: ScenarioParser, make: ExpectMaker, what: str, words: list[str], on: Any) -> Expect:
    """``members``, ``quorate``, ``inquorate`` and ``state``: node lists, views of them."""
    if not words:
        raise p.fail(f"'expect {what}' needs a node list")
    nodes = p.node_list(words[0])
    if what in ("quorate", "inquorate"):
        p.needs_quorum()
        if p.stack == "srp":
            raise p.fail(
                f"'expect {what}' needs votequorum: bare SRP nodes (stack=srp) have no quorum"
            )
    if what == "state":
        if len(words) != 2 or words[1] not in _STATES:
            raise p.fail(f"'expect state' takes nodes and one of {', '.join(_STATES)}")
        return make(nodes, on=on, state=words[1])
    if len(words) != 1:
        raise p.fail(f"unexpected {words[1]!r} in 'expect {what}'")
    if on is not None and what != "members":
        raise p.fail(_ON_MEMBERS_OR_STAT)
    return make(nodes, on=on)


def _parse_members(
    p: ScenarioParser, make: ExpectMaker, words: list[str], on: tuple[int, ...] | None
) -> Expect:
    return _views(p, make, "members", words, on)


def _parse_quorate(
    p: ScenarioParser, make: ExpectMaker, words: list[str], on: tuple[int, ...] | None
) -> Expect:
    return _views(p, make, "quorate", words, on)


def _parse_inquorate(
    p: ScenarioParser, make: ExpectMaker, words: list[str], on: tuple[int, ...] | None
) -> Expect:
    return _views(p, make, "inquorate", words, on)


def _parse_state(
    p: ScenarioParser, make: ExpectMaker, words: list[str], on: tuple[int, ...] | None
) -> Expect:
    return _views(p, make, "state", words, on)


def _parse_qdevice(
    p: ScenarioParser, make: ExpectMaker, words: list[str], on: tuple[int, ...] | None
) -> Expect:
    if p.qnetd is None:
        raise p.fail("'expect qdevice' needs a quorum device: add a 'qnetd' statement")
    if len(words) != 2 or words[1] not in _QDEVICE_STATES:
        raise p.fail("write: expect qdevice NODES connected|voting")
    if on is not None:
        raise p.fail(_ON_MEMBERS_OR_STAT)
    return make(p.node_list(words[0]), state=words[1])


def _comparison(
    p: ScenarioParser,
    make: ExpectMaker,
    nodes: tuple[int, ...],
    on: tuple[int, ...] | None,
    name: str,
    op: str,
    value: str,
) -> Expect:
    if op not in COMPARISONS:
        raise p.fail(f"unknown comparison {op!r} (one of {' '.join(COMPARISONS)})")
    try:
        number = float(value)
    except ValueError:
        raise p.fail(f"expected a number, not {value!r}") from None
    return make(nodes, on=on, stat=name, op=op, value=number)


def _counted(p: ScenarioParser, make: ExpectMaker, what: str, words: list[str], on: Any) -> Expect:
    """``delivered`` and ``votes``: ``NODES OP NUMBER``."""
    if len(words) != 3:
        raise p.fail(f"write: expect {what} NODES >= COUNT")
    if what == "votes" and p.stack == "srp":
        raise p.fail("'expect votes' needs votequorum: stack=srp has no votes")
    if on is not None:
        raise p.fail(_ON_MEMBERS_OR_STAT)
    nodes_text, op, value = words
    return _comparison(p, make, p.node_list(nodes_text), on, "", op, value)


def _parse_delivered(
    p: ScenarioParser, make: ExpectMaker, words: list[str], on: tuple[int, ...] | None
) -> Expect:
    return _counted(p, make, "delivered", words, on)


def _parse_votes(
    p: ScenarioParser, make: ExpectMaker, words: list[str], on: tuple[int, ...] | None
) -> Expect:
    return _counted(p, make, "votes", words, on)


def _parse_stat(
    p: ScenarioParser, make: ExpectMaker, words: list[str], on: tuple[int, ...] | None
) -> Expect:
    if len(words) != 3:
        raise p.fail("write: expect stat NAME >= VALUE [on NODES]")
    name, op, value = words
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise p.fail(f"bad counter name {name!r}")
    return _comparison(p, make, on if on is not None else (), on, name, op, value)


# --------------------------------------------------------------------------- checking
def _members(run: RunContext, statement: Expect, detail: list[str]) -> bool:
    want = tuple(sorted(statement.nodes))
    observers = statement.on if statement.on is not None else statement.nodes
    rings = set()
    for node in observers:
        view = run.sim.view(node)
        if view is None:
            detail.append(f"node {node} is down")
            return False
        if not view.operational or view.members != want:
            members_text = ",".join(map(str, view.members))
            syncing = " (sync in progress)" if view.synced is False else ""
            detail.append(
                f"node {node} is {view.state}{syncing} with members {members_text} "
                f"(ring {view.ring_id})"
            )
            return False
        rings.add(view.ring_id)
    if len(rings) > 1:
        detail.append("not on one ring: " + ", ".join(sorted(map(str, rings))))
        return False
    return True


def _quorate(run: RunContext, statement: Expect, detail: list[str]) -> bool:
    want_quorate = statement.what == "quorate"
    for node in statement.nodes:
        view = run.sim.view(node)
        if view is None:
            detail.append(f"node {node} is down")
            return False
        if view.quorate is None or view.quorate != want_quorate:
            detail.append(f"node {node} quorate={view.quorate}")
            return False
    return True


def _state(run: RunContext, statement: Expect, detail: list[str]) -> bool:
    for node in statement.nodes:
        view = run.sim.view(node)
        current = "down" if view is None else view.state.lower()
        if current != statement.state:
            detail.append(f"node {node} is {current}")
            return False
    return True


def _qdevice(run: RunContext, statement: Expect, detail: list[str]) -> bool:
    want_voting = statement.state == "voting"
    for node in statement.nodes:
        sim_node = run.sim.slots[node].node
        if sim_node is None:
            detail.append(f"node {node} is down")
            return False
        if not isinstance(sim_node, QdeviceNode):
            detail.append(f"node {node} runs no quorum device")
            return False
        ok = sim_node.device_voting if want_voting else sim_node.device_connected
        if not ok:
            state = sim_node.client.state.value
            voting = "voting" if sim_node.device_voting else "not voting"
            detail.append(f"node {node}'s device is {state}, {voting}")
            return False
    return True


def _votes(run: RunContext, statement: Expect, detail: list[str]) -> bool:
    compare = COMPARISONS[statement.op]
    for node in statement.nodes:
        sim_node = run.sim.slots[node].node
        figures = sim_node.votes() if sim_node is not None else None
        if figures is None:
            detail.append(f"node {node} has no votes (down)")
            return False
        if not compare(figures.total_votes, statement.value):
            detail.append(
                f"node {node} has {figures.total_votes} votes "
                f"(expected {figures.expected_votes}, quorum {figures.quorum})"
            )
            return False
    return True


def _delivered(run: RunContext, statement: Expect, detail: list[str]) -> bool:
    compare = COMPARISONS[statement.op]
    for node in statement.nodes:
        count = run.sim.slots[node].app_delivered
        if not compare(count, statement.value):
            detail.append(f"node {node} delivered {count}")
            return False
    return True


def _stat(run: RunContext, statement: Expect, detail: list[str]) -> bool:
    sim = run.sim
    name = statement.stat
    observed = statement.nodes or tuple(sim.alive())
    total = 0.0
    found = False
    for node in observed:
        counters = run.qnetd_host().status() if node == QNETD_ID else sim.counters(node)
        if name in counters:
            found = True
            total += counters[name]
    if not found:
        detail.append(f"no node has a counter named {name!r}")
        return False
    if not COMPARISONS[statement.op](total, statement.value):
        detail.append(f"{name} = {total:g}")
        return False
    return True


CONDITIONS: dict[str, Condition] = {
    condition.what: condition
    for condition in (
        *cfs.CONDITIONS,
        Condition("qdevice", _parse_qdevice, _qdevice),
        Condition("members", _parse_members, _members),
        Condition("quorate", _parse_quorate, _quorate),
        Condition("inquorate", _parse_inquorate, _quorate),
        Condition("state", _parse_state, _state),
        Condition("delivered", _parse_delivered, _delivered),
        Condition("votes", _parse_votes, _votes),
        Condition("stat", _parse_stat, _stat, judges_on=True),
    )
}
"""Every condition ``expect`` knows, by the word that names it."""


# ------------------------------------------------------------------------- the verb
def parse_expect(p: ScenarioParser, text: str, args: list[str]) -> Expect:
    words = list(args)
    negate = False
    if words and words[0] == "not":
        negate = True
        words = words[1:]
    if not words:
        raise p.fail("'expect' needs a condition: expect members 1,2,3")
    what, words = words[0], words[1:]
    within = throughout = None
    on: tuple[int, ...] | None = None
    # trailing modifiers
    while len(words) >= 2 and words[-2] in ("within", "throughout", "on"):
        key, value = words[-2], words[-1]
        words = words[:-2]
        if key == "on":
            on = p.node_list(value, qnetd=True)
        elif key == "within":
            within = p.duration(value)
        else:
            throughout = p.duration(value)
    if within is not None and throughout is not None:
        raise p.fail("use 'within' or 'throughout', not both")
    line = p.line

    def make(nodes: tuple[int, ...], **extra: Any) -> Expect:
        return Expect(
            line,
            text,
            what,
            nodes,
            negate=negate,
            within=within,
            throughout=throughout,
            **extra,
        )

    condition = CONDITIONS.get(what)
    judges_on = condition is not None and condition.judges_on
    if not judges_on and on is not None and QNETD_ID in on:
        raise p.fail("'on qnetd' applies to 'expect stat' (the arbiter's figures)")
    if condition is None:
        raise p.fail(
            f"unknown expectation {what!r} "
            "(members, quorate, inquorate, state, delivered, votes, qdevice, stat)"
        )
    return condition.parse(p, make, words, on)


def apply_expect(run: RunContext, statement: Expect) -> None:
    run.expect(statement)


VERBS: tuple[Verb[Any], ...] = (Verb("expect", Expect, parse_expect, apply_expect, noted=False),)
