"""The replicated filesystem's statements: ``write``, and ``expect converged``,
``expect read-only`` and ``expect [not] file``.

A scenario with any of them runs cfsd's core on every node
(:class:`~simulations.cfsim.CfsLayer`), which these statements drive and inspect; they
need the full node stack (CPG) and count as needing quorum.
"""

from __future__ import annotations

from typing import Any

from simulations.cfsim import CfsLayer, Write
from simulations.language.base import Condition, ExpectMaker, RunContext, Verb
from simulations.language.syntax import ScenarioParser
from simulations.statements import Expect

__all__ = ["CONDITIONS", "VERBS"]


def parse_write(p: ScenarioParser, text: str, args: list[str]) -> Write:
    """``write NODE PATH [SIZE]``."""
    if p.stack == "srp":
        raise p.fail("'write' needs the full node stack (CPG), not stack=srp")
    if len(args) not in (2, 3):
        raise p.fail("write: write NODE PATH [SIZE]")
    path = args[1].strip("/")
    if not path or any(part in ("", ".", "..") for part in path.split("/")):
        raise p.fail(f"bad path {args[1]!r}")
    size = p.integer(args[2], "the size", 1, 1024 * 1024) if len(args) == 3 else 16
    p.needs_quorum()
    return Write(p.line, text, p.node(args[0]), path, size)


def _layer(run: RunContext) -> CfsLayer:
    layer = run.cfs
    assert layer is not None
    return layer


def apply_write(run: RunContext, statement: Write) -> None:
    _layer(run).write(statement)


def _no_on(p: ScenarioParser, what: str, on: tuple[int, ...] | None) -> None:
    if on is not None:
        raise p.fail(f"'on' does not apply to 'expect {what}'")


def _parse_file(
    p: ScenarioParser, make: ExpectMaker, words: list[str], on: tuple[int, ...] | None
) -> Expect:
    _no_on(p, "file", on)
    if len(words) != 2:
        raise p.fail("write: expect [not] file NODES PATH")
    p.needs_quorum()
    return make(p.node_list(words[0]), state=words[1].strip("/"))


def _parse_nodes(
    p: ScenarioParser, make: ExpectMaker, what: str, words: list[str], on: Any
) -> Expect:
    _no_on(p, what, on)
    if what == "read-only" and not words:
        raise p.fail("write: expect read-only NODES")
    if len(words) > 1:
        raise p.fail(f"unexpected {words[1]!r} in 'expect {what}'")
    p.needs_quorum()
    return make(p.node_list(words[0]) if words else ())


def _parse_converged(
    p: ScenarioParser, make: ExpectMaker, words: list[str], on: tuple[int, ...] | None
) -> Expect:
    return _parse_nodes(p, make, "converged", words, on)


def _parse_read_only(
    p: ScenarioParser, make: ExpectMaker, words: list[str], on: tuple[int, ...] | None
) -> Expect:
    return _parse_nodes(p, make, "read-only", words, on)


def _converged(run: RunContext, statement: Expect, detail: list[str]) -> bool:
    return _layer(run).converged(statement.nodes, detail)


def _read_only(run: RunContext, statement: Expect, detail: list[str]) -> bool:
    return _layer(run).read_only(statement.nodes, detail)


def _file(run: RunContext, statement: Expect, detail: list[str]) -> bool:
    return _layer(run).holds_file(statement.nodes, statement.state, detail)


VERBS: tuple[Verb[Any], ...] = (Verb("write", Write, parse_write, apply_write),)
CONDITIONS = (
    Condition("converged", _parse_converged, _converged, judges_on=True),
    Condition("read-only", _parse_read_only, _read_only, judges_on=True),
    Condition("file", _parse_file, _file, judges_on=True),
)
