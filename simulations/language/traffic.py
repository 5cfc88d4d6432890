"""Application traffic and the passage of time: ``send`` and ``run``.

``send NODES 200/s`` sets a node's steady (or Poisson) message rate, ``send NODES 500``
queues a burst now, ``send NODES stop`` ends the rate; ``safe`` asks for Totem's SAFE
delivery (bare SRP nodes only). ``run 30s`` lets virtual time pass.
"""

from __future__ import annotations

import re
from typing import Any

from simulations.cluster import Traffic
from simulations.language.base import RunContext, Verb
from simulations.language.syntax import ScenarioParser
from simulations.statements import Run, Send

__all__ = ["VERBS"]


def parse_send(p: ScenarioParser, text: str, args: list[str]) -> Send:
    if len(args) < 2:
        raise p.fail("'send' takes nodes and a rate or count: send 1 200/s")
    nodes = p.node_list(args[0])
    plain, keyed = p.options(args[1:])
    if not plain:
        raise p.fail("'send' needs a rate (200/s), a count (500) or 'stop'")
    amount, flags = plain[0], plain[1:]
    size = p.integer(keyed.pop("size"), "size", 25, 65000) if "size" in keyed else 100
    p.no_more(keyed)
    for flag in flags:
        if flag not in ("safe", "poisson"):
            raise p.fail(f"unexpected {flag!r} (send options: size=N, safe, poisson)")
    safe, poisson = "safe" in flags, "poisson" in flags
    if safe and p.nodes is not None and p.nodes.stack != "srp":
        raise p.fail(
            "SAFE delivery is a Totem SRP guarantee the node stack does not expose: "
            "use 'nodes ... stack=srp' to send safe messages"
        )
    if amount == "stop":
        return Send(p.line, text, nodes, rate=0.0)
    rate_match = re.fullmatch(r"(\d+(?:\.\d+)?)/s", amount)
    if rate_match is not None:
        rate = float(rate_match.group(1))
        if rate > 1_000_000:
            raise p.fail("a send rate is at most 1000000/s")
        return Send(p.line, text, nodes, rate=rate, size=size, safe=safe, poisson=poisson)
    if poisson:
        raise p.fail("'poisson' applies to a rate (send 1 200/s poisson), not a burst")
    count = p.integer(amount, "the message count", 1, 1_000_000)
    p.require_up(nodes, "send from")
    return Send(p.line, text, nodes, count=count, size=size, safe=safe)


def parse_run(p: ScenarioParser, text: str, args: list[str]) -> Run:
    if len(args) != 1:
        raise p.fail("'run' takes a duration: run 30s")
    return Run(p.line, text, p.duration(args[0]))


def apply_send(run: RunContext, statement: Send) -> None:
    sim = run.sim
    for node in statement.nodes:
        if statement.rate is None:
            sim.send(node, statement.count, statement.size, statement.safe)
        else:
            traffic = Traffic(statement.rate, statement.size, statement.safe, statement.poisson)
            sim.set_traffic(node, traffic)


def apply_run(run: RunContext, statement: Run) -> None:
    run.sim.run_for(statement.duration)


VERBS: tuple[Verb[Any], ...] = (
    Verb("send", Send, parse_send, apply_send),
    Verb("run", Run, parse_run, apply_run, noted=False),
)
