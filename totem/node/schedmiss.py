"""Scheduling misses: when the node's event loop was not scheduled for too long (corosync
3.1.7 ``exec/main.c`` ``timer_function_scheduler_timeout``, ``exec/stats.c`` schedmiss).

corosync runs a timer every ``token / 3`` ms and measures the time since its previous run.
When that exceeds the threshold -- ``0.8 * token``, the token in force at the previous run;
0 before the first, which only starts the clock -- the main loop was stalled (a paused VM,
a starved CPU, swapping) and corosync

* logs a warning (subsystem MAIN) with the wall-clock time of the miss in ms since the epoch,
  the measured gap and the threshold, both in ms with four decimals;
* records the miss in the statistics map, newest first, keeping the last ten:
  ``stats.schedmiss.<i>.timestamp`` (u64, ms since the epoch) and
  ``stats.schedmiss.<i>.delay`` (``flt``, a C float, ms), ``i`` = 0..9; the keys appear as
  misses happen and ``stats.clear.schedmiss`` (or ``stats.clear.all``) removes them all.

:class:`SchedMissMonitor` is that logic, sans-IO: the driver calls :meth:`~SchedMissMonitor.tick`
with the monotonic and wall-clock times, and re-arms its timer with the interval it returns.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from totem.srp.events import LogLevel, LogRecord

__all__ = ["MAX_SCHEDMISS_EVENTS", "SchedMiss", "SchedMissMonitor"]

MAX_SCHEDMISS_EVENTS = 10
THRESHOLD_FACTOR = 0.8
INTERVAL_DIVISOR = 3


@dataclass(frozen=True, slots=True)
class SchedMiss:
    """One scheduling miss."""

    timestamp_ms: int
    """Wall clock, ms since the epoch."""
    delay_ms: float
    """Time between two runs of the timer."""
    threshold_ms: float

    def log_record(self) -> LogRecord:
        return LogRecord(
            LogLevel.WARNING,
            "MAIN",
            f"Corosync main process was not scheduled (@{self.timestamp_ms}) for "
            f"{self.delay_ms:0.4f} ms (threshold is {self.threshold_ms:0.4f} ms). "
            "Consider token timeout increase.",
        )


class SchedMissMonitor:
    """Detects scheduling misses and keeps the last ten (see the module docstring)."""

    def __init__(self) -> None:
        self._previous: float | None = None
        self._threshold_ms = 0.0
        self._events: deque[tuple[int, float]] = deque(maxlen=MAX_SCHEDMISS_EVENTS)

    def tick(self, now: float, wall: float, token_ms: int) -> tuple[SchedMiss | None, float]:
        """The timer ran at ``now`` (monotonic s; ``wall``: s since the epoch) with
        ``token_ms`` in force. Returns the miss, if this run is one, and the seconds until
        the next run."""
        if self._previous is None:
            self._previous = now
            self._threshold_ms = 0.0
        gap_ms = (now - self._previous) * 1000.0
        self._previous = now
        miss = None
        if gap_ms > self._threshold_ms:
            miss = SchedMiss(int(wall * 1000.0), gap_ms, self._threshold_ms)
            self._events.appendleft((miss.timestamp_ms, gap_ms))
        self._threshold_ms = token_ms * THRESHOLD_FACTOR
        return miss, token_ms / INTERVAL_DIVISOR / 1000.0

    @property
    def threshold_ms(self) -> float:
        return self._threshold_ms

    def events(self) -> Iterator[tuple[int, float]]:
        """The misses kept, newest first: ``(timestamp_ms, delay_ms)``; the one of index
        ``i`` is ``stats.schedmiss.<i>.*`` (the statistics map reads them through the node's
        libqb IPC)."""
        return iter(self._events)

    def clear(self) -> None:
        """``stats.clear.schedmiss``: forget every miss (their keys go)."""
        self._events.clear()
