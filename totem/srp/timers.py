"""One deadline structure for every timer of the SRP core (DESIGN.md, ref 6.5).

Each corosync timer (token, token retransmit, hold, join, consensus, merge
detect, token warning, pause) is a named slot holding an absolute deadline or
nothing. The driver only ever sees the earliest: ``next_deadline()``.
"""

from __future__ import annotations

import enum

__all__ = ["Timer", "Timers"]


class Timer(enum.IntEnum):
    """The SRP timers, in the order they fire when due at the same instant."""

    TOKEN = 0
    """Token loss (``token``): back to GATHER; in GATHER, the consensus re-check."""
    CONSENSUS = 1
    """Consensus timeout in GATHER (``consensus``)."""
    JOIN = 2
    """JOIN resend interval in GATHER (``join``)."""
    TOKEN_RETRANSMIT = 3
    """Re-send the stored token/commit token (``token_retransmit``)."""
    TOKEN_HOLD = 4
    """The representative re-sends a held token (``hold``)."""
    MERGE_DETECT = 5
    """The representative multicasts MERGE_DETECT (``merge``)."""
    TOKEN_WARNING = 6
    """Log that the token has not been seen for ``token_warning`` percent of ``token``."""
    PAUSE = 7
    """Scheduler-pause detector, re-armed every token/5."""
    SEND_JOIN = 8
    """A JOIN held back by ``send_join`` goes out."""


class Timers:
    """Named one-shot deadlines; absolute times in seconds."""

    __slots__ = ("_due",)

    def __init__(self) -> None:
        self._due: list[float | None] = [None] * len(Timer)

    def start(self, timer: Timer, at: float) -> None:
        """Arm (or re-arm) ``timer`` for absolute time ``at``."""
        self._due[timer] = at

    def cancel(self, timer: Timer) -> None:
        """Disarm ``timer``."""
        self._due[timer] = None

    def armed(self, timer: Timer) -> bool:
        """Whether ``timer`` is armed."""
        return self._due[timer] is not None

    def due_at(self, timer: Timer) -> float | None:
        """The deadline of ``timer``, or None."""
        return self._due[timer]

    def next_deadline(self) -> float | None:
        """The earliest armed deadline."""
        best: float | None = None
        for due in self._due:
            if due is not None and (best is None or due < best):
                best = due
        return best

    def pop_expired(self, now: float) -> Timer | None:
        """Disarm and return the earliest timer due at or before ``now``, if any."""
        best: Timer | None = None
        best_at = 0.0
        for timer in Timer:
            due = self._due[timer]
            if due is not None and due <= now and (best is None or due < best_at):
                best, best_at = timer, due
        if best is not None:
            self._due[best] = None
        return best
