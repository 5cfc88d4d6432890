"""The scenario language's words: durations, numbers, node lists, links, options.

:class:`ScenarioParser` reads one statement's words into values and keeps what the
statements before it established -- the cluster (``nodes``), the quorum device
(``qnetd``), which nodes are running -- so a statement can be refused at its own line
(``node 9 of 5``, ``crash`` of a node that is down) before anything runs. The statements
themselves are parsed by their verbs (:mod:`simulations.language`); every refusal is a
:class:`ScenarioError`, ``"<file>:<line>: <message>"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from simulations.network import KINDS, QNETD_ID, endpoint_name
from simulations.statements import Nodes, Qnetd, Rings, Statement

__all__ = [
    "QNETD",
    "ScenarioError",
    "ScenarioParser",
    "format_duration",
    "parse_duration",
]

QNETD = "qnetd"
"""How scenarios name the qnetd host."""


class ScenarioError(Exception):
    """A scenario that cannot run: ``str()`` is ``"<file>:<line>: <message>"``."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


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


class ScenarioParser:
    """One scenario's parse: the line being read and what the lines before it set up."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.line = 0
        self.count = 0
        """Nodes in the cluster (0 before ``nodes``)."""
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

    def needs_quorum(self) -> None:
        """This line needs a quorum provider (the first such line is reported)."""
        self.quorum_line = self.quorum_line or self.line

    @property
    def stack(self) -> str:
        """The cluster's node stack (``full`` or ``srp``; ``full`` before ``nodes``)."""
        return self.nodes.stack if self.nodes is not None else "full"

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

    def links_first(self, args: list[str]) -> tuple[tuple[tuple[int, int], ...], list[str]]:
        """An optional leading link set (default ``*``) and the words after it."""
        if args and self.is_links(args[0]) and not re.match(r"^[\d.]+(us|µs|ms|s|m|%)", args[0]):
            return self.links(args[0]), args[1:]
        return self.links("*"), args

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

    # -- which nodes run ----------------------------------------------------------------
    def require_up(self, nodes: Iterable[int], verb: str) -> None:
        for node in nodes:
            if node not in self.up:
                why = self.down.get(node, "down")
                raise self.fail(f"cannot {verb} {endpoint_name(node)}: it is {why}")

    def require_down(self, nodes: Iterable[int], verb: str) -> None:
        for node in nodes:
            if node in self.up:
                raise self.fail(
                    f"cannot {verb} {endpoint_name(node)}: it is running ({self.up[node]})"
                )

    def mark(self, nodes: Iterable[int], up: bool, how: str) -> None:
        for node in nodes:
            if up:
                self.down.pop(node, None)
                self.up[node] = f"{how} on line {self.line}"
            else:
                self.up.pop(node, None)
                self.down[node] = f"{how} on line {self.line}"
