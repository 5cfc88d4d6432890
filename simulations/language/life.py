"""The life-cycle statements: ``crash``, ``stop``, ``start``, ``restart``, ``pause``, ``clock``.

``crash`` is SIGKILL, ``stop`` a graceful leave, ``restart ... fresh`` starts without the
persisted ring id; ``pause`` stalls a process (GC, a VM), ``clock`` makes a node's clock
jump or drift. All but ``clock`` also take the qnetd host. The parser follows which nodes
run, so crashing a node that is down is refused at its line.
"""

from __future__ import annotations

from typing import Any

from simulations.language.base import RunContext, Verb
from simulations.language.syntax import ScenarioParser
from simulations.network import QNETD_ID
from simulations.statements import ClockStmt, Crash, Pause, Restart, Start, Stop

__all__ = ["VERBS"]


def _nodes_only(p: ScenarioParser, keyword: str, args: list[str]) -> tuple[int, ...]:
    if len(args) != 1:
        raise p.fail(f"'{keyword}' takes a node list: {keyword} 2 or {keyword} 2,3")
    return p.node_list(args[0], qnetd=True)


def parse_crash(p: ScenarioParser, text: str, args: list[str]) -> Crash:
    nodes = _nodes_only(p, "crash", args)
    p.require_up(nodes, "crash")
    p.mark(nodes, False, "crashed")
    return Crash(p.line, text, nodes)


def parse_stop(p: ScenarioParser, text: str, args: list[str]) -> Stop:
    nodes = _nodes_only(p, "stop", args)
    p.require_up(nodes, "stop")
    p.mark(nodes, False, "stopped")
    return Stop(p.line, text, nodes)


def parse_start(p: ScenarioParser, text: str, args: list[str]) -> Start:
    nodes = _nodes_only(p, "start", args)
    p.require_down(nodes, "start")
    p.mark(nodes, True, "started")
    return Start(p.line, text, nodes)


def parse_restart(p: ScenarioParser, text: str, args: list[str]) -> Restart:
    if not args or len(args) > 2 or (len(args) == 2 and args[1] != "fresh"):
        raise p.fail("'restart' takes a node list and optionally 'fresh': restart 2 fresh")
    nodes = p.node_list(args[0], qnetd=True)
    if QNETD_ID in nodes and len(args) == 2:
        raise p.fail("'fresh' is about a node's persisted ring id; qnetd keeps no state")
    p.require_down(nodes, "restart")
    p.mark(nodes, True, "restarted")
    return Restart(p.line, text, nodes, keep_state=len(args) == 1)


def parse_pause(p: ScenarioParser, text: str, args: list[str]) -> Pause:
    if len(args) != 2:
        raise p.fail("'pause' takes nodes and a duration: pause 4 2500ms")
    nodes = p.node_list(args[0], qnetd=True)
    p.require_up(nodes, "pause")
    return Pause(p.line, text, nodes, p.duration(args[1]))


def parse_clock(p: ScenarioParser, text: str, args: list[str]) -> ClockStmt:
    if not args:
        raise p.fail("'clock' takes a node and jump=/rate=: clock 3 rate=1.01")
    node = p.node(args[0])
    plain, keyed = p.options(args[1:])
    jump = p.duration(keyed.pop("jump"), "jump") if "jump" in keyed else 0.0
    rate = 1.0
    if "rate" in keyed:
        try:
            rate = float(keyed.pop("rate"))
        except ValueError:
            raise p.fail("rate must be a number like 1.01") from None
        if not 0.5 <= rate <= 2.0:
            raise p.fail("a clock rate must be within 0.5..2")
    p.no_more(keyed, plain)
    return ClockStmt(p.line, text, node, jump, rate)


def apply_pause(run: RunContext, statement: Pause) -> None:
    for node in statement.nodes:
        if node == QNETD_ID:
            run.qnetd_host().pause(statement.duration)
        else:
            run.sim.pause(node, statement.duration)


def apply_crash(run: RunContext, statement: Crash) -> None:
    for node in statement.nodes:
        if node == QNETD_ID:
            run.qnetd_host().crash()
        else:
            run.sim.crash(node)


def apply_stop(run: RunContext, statement: Stop) -> None:
    for node in statement.nodes:
        if node == QNETD_ID:
            run.qnetd_host().stop()
        else:
            run.sim.stop(node)


def apply_start(run: RunContext, statement: Start | Restart) -> None:
    keep = statement.keep_state if isinstance(statement, Restart) else True
    for node in statement.nodes:
        if node == QNETD_ID:
            run.qnetd_host().start()
        else:
            run.sim.start(node, keep_state=keep)


def apply_clock(run: RunContext, statement: ClockStmt) -> None:
    run.sim.set_clock(statement.node, statement.jump, statement.rate)


VERBS: tuple[Verb[Any], ...] = (
    Verb("crash", Crash, parse_crash, apply_crash),
    Verb("stop", Stop, parse_stop, apply_stop),
    Verb("start", Start, parse_start, apply_start),
    Verb("restart", Restart, parse_restart, apply_start),
    Verb("pause", Pause, parse_pause, apply_pause),
    Verb("clock", ClockStmt, parse_clock, apply_clock),
)
