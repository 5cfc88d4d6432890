"""What a statement of the scenario language is made of: a :class:`Verb` per keyword.

A verb ties a keyword to its dataclass (:mod:`simulations.statements`), its parser (words
-> a validated statement, against what the lines before it set up) and its handler (the
statement carried out on a running simulation). ``expect`` has one :class:`Condition` per
thing it can ask about (``members``, ``quorate``, ``stat`` ...), the same way. The runner
sees a statement's effects only through :class:`RunContext`, which it implements.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from simulations.cfsim import CfsLayer
from simulations.cluster import Simulation
from simulations.language.syntax import ScenarioParser
from simulations.qnetdhost import QnetdHost
from simulations.statements import Expect, Statement

__all__ = ["Condition", "ExpectMaker", "RunContext", "Verb"]

S = TypeVar("S", bound=Statement)


class RunContext(Protocol):
    """A scenario run as statement handlers see it."""

    @property
    def sim(self) -> Simulation: ...

    @property
    def cfs(self) -> CfsLayer | None:
        """The replicated filesystem, when the scenario uses it."""

    def qnetd_host(self) -> QnetdHost:
        """The qnetd host (a :class:`ScenarioError` if the scenario has none)."""

    def expect(self, statement: Expect) -> None:
        """Evaluate an expectation now, ``within`` or ``throughout`` a time, and record it."""


@dataclass(frozen=True, slots=True)
class Verb(Generic[S]):
    """One statement keyword: its dataclass, its parser and its handler."""

    keyword: str
    statement: type[S]
    parse: Callable[[ScenarioParser, str, list[str]], S | None]
    """``(parser, line text, words after the keyword)`` -> the statement (None: it only
    changes the parse, as ``seed`` does); raises :class:`ScenarioError`."""
    apply: Callable[[RunContext, S], None] | None
    """Carries the statement out at the current virtual instant (None: nothing to do)."""
    noted: bool = True
    """The trace records the statement's text before it is applied."""


ExpectMaker = Callable[..., Expect]
"""``make(nodes, **fields)``: the ``Expect`` of the line being parsed, with its modifiers."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One thing ``expect`` can ask about (``expect [not] WHAT ...``)."""

    what: str
    parse: Callable[[ScenarioParser, ExpectMaker, list[str], tuple[int, ...] | None], Expect]
    """``(parser, make, words after WHAT, the 'on' nodes)`` -> the expectation."""
    check: Callable[[RunContext, Expect, list[str]], bool]
    """Whether it holds now; appends why not to the list of details."""
    judges_on: bool = False
    """``parse`` judges an ``on`` modifier naming qnetd itself (``stat`` takes it, the
    filesystem's refuse any ``on``); otherwise ``expect`` refuses it before ``parse``."""
