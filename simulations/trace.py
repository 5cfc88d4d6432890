"""The event trace of a simulation: what every node emitted and what the simulator did.

A trace entry is ``(time, node, incarnation, event)``: ``event`` is the node's
own event object (``Delivery``, ``ConfigurationChange``, ``StateChanged``,
``LogRecord``, a quorum event...) or a :class:`SimAction` the simulator applied
(a fault, a crash, a scenario statement).

:class:`TraceRecorder` keeps the most recent entries (for the excerpt printed
with a violation), optionally the whole trace, and a digest of it: two runs of
the same scenario with the same seed must produce the same digest (the
determinism guarantee, tested). :func:`describe` is the one-line text of an
entry used both for printing and for the digest, so the digest does not
depend on Python's per-process hash salt.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from simulations.network import QNETD_ID
from simulations.traffic import AppDelivered
from totem.srp.events import ConfigurationChange, Delivery, LogRecord, StateChanged

__all__ = ["SimAction", "TraceEntry", "TraceRecorder", "describe"]

TraceEntry = tuple[float, int, int, Any]
"""(virtual time, node id (0: the simulator, ``QNETD_ID``: the qnetd host), incarnation, event)."""


@dataclass(frozen=True, slots=True)
class SimAction:
    """Something the simulator did (``crash 2``, ``partition {1,2}|{3}``, a start...)."""

    text: str
    line: int = 0
    """Scenario line that caused it, 0 if none."""


def describe(entry: TraceEntry) -> str:
    """One line of text for a trace entry."""
    time, node, incarnation, event = entry
    if node == QNETD_ID:
        who = "qnetd" + (f"#{incarnation}" if incarnation > 1 else "")
    elif node:
        who = f"n{node}" + (f"#{incarnation}" if incarnation > 1 else "")
    else:
        who = "sim"
    return f"{time:12.6f} {who:>6} {_event_text(event)}"


def _event_text(event: Any) -> str:
    kind = type(event)
    if kind is Delivery:
        crc = zlib.crc32(event.payload)
        return (
            f"deliver {event.ring_id}/{event.seq:x} from {event.sender} "
            f"({len(event.payload)}B crc {crc:08x})"
        )
    if kind is ConfigurationChange:
        members = ",".join(map(str, event.members))
        extra = ""
        if event.left:
            extra += " left " + ",".join(map(str, event.left))
        if event.joined:
            extra += " joined " + ",".join(map(str, event.joined))
        return f"{event.kind.name} {event.ring_id} [{members}]{extra}"
    if kind is StateChanged:
        return f"state {event.old} -> {event.new} ({event.reason})"
    if kind is LogRecord:
        return f"log [{event.subsys}] {event.message}"
    if kind is AppDelivered:
        return str(event)
    if kind is SimAction:
        where = f" (line {event.line})" if event.line else ""
        return f"** {event.text}{where}"
    return repr(event)


class TraceRecorder:
    """Recent entries always; the full trace and its digest on request."""

    def __init__(self, *, keep_full: bool = False, recent: int = 4000, logs: bool = False) -> None:
        self.keep_full = keep_full
        self.logs = logs
        """Record ``LogRecord`` events too (verbose)."""
        self.recent: deque[TraceEntry] = deque(maxlen=recent)
        self.full: list[TraceEntry] = []
        self._digest = hashlib.blake2b(digest_size=16)
        self.count = 0

    def record(self, time: float, node: int, incarnation: int, event: Any) -> None:
        """Add one entry."""
        if not self.logs and type(event) is LogRecord:
            return
        entry = (time, node, incarnation, event)
        self.count += 1
        self.recent.append(entry)
        if self.keep_full:
            self.full.append(entry)
            self._digest.update(describe(entry).encode())
            self._digest.update(b"\n")

    def digest(self) -> str:
        """Hex digest of the full trace ("" unless ``keep_full``)."""
        return self._digest.hexdigest() if self.keep_full else ""

    def excerpt(self, nodes: Iterable[int], until: float, limit: int = 40) -> list[str]:
        """The last ``limit`` recent entries up to ``until`` of ``nodes``, the simulator and
        the qnetd host."""
        wanted = set(nodes) | {0, QNETD_ID}
        picked = [e for e in self.recent if e[0] <= until and e[1] in wanted]
        return [describe(e) for e in picked[-limit:]]
