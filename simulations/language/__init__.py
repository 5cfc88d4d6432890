"""The scenario language's statements, registered in one place.

Every statement is a :class:`~simulations.language.base.Verb`: its keyword, its frozen
dataclass (:mod:`simulations.statements`), the function that parses and validates its
words and the handler that carries it out on a running simulation. The verbs live with
the statements of their kind, one module each:

* :mod:`simulations.language.cluster` -- ``nodes``, ``seed``, ``qnetd``
* :mod:`simulations.language.network` -- ``partition``, ``oneway``, ``heal``, ``latency``,
  ``loss``, ``dup``, ``reorder``, ``mtu``
* :mod:`simulations.language.life` -- ``crash``, ``stop``, ``start``, ``restart``,
  ``pause``, ``clock``
* :mod:`simulations.language.traffic` -- ``send``, ``run``
* :mod:`simulations.language.expect` -- ``expect`` and its conditions (:data:`CONDITIONS`)
* :mod:`simulations.language.cfs` -- ``write`` and the filesystem's conditions

A new statement is a dataclass, a verb beside its kind, and its line in the language
reference (:mod:`simulations.scenario`); :mod:`simulations.scenario` parses with
:data:`VERBS` and :mod:`simulations.runner` applies with :data:`HANDLERS`.
"""

from __future__ import annotations

from typing import Any

from simulations.language import cfs, cluster, expect, life, network, traffic
from simulations.language.base import Condition, RunContext, Verb
from simulations.language.expect import CONDITIONS
from simulations.statements import Statement

__all__ = ["CONDITIONS", "HANDLERS", "VERBS", "Condition", "RunContext", "Verb"]

VERBS: dict[str, Verb[Any]] = {
    verb.keyword: verb
    for verb in (
        *cluster.VERBS,
        *network.VERBS,
        *life.VERBS,
        *traffic.VERBS,
        *expect.VERBS,
        *cfs.VERBS,
    )
}
"""Every statement keyword, with its dataclass, parser and handler."""

HANDLERS: dict[type[Statement], Verb[Any]] = {
    verb.statement: verb for verb in reversed(VERBS.values())
}
"""Statement class -> the verb that carries it out (``loss``, ``dup``, ``reorder`` and
``mtu`` share one class and one handler)."""
