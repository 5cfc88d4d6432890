"""The machine a benchmark runs on: what it is, and whether it is quiet enough to time on.

Start to quorate of five Python daemons on two cores is CPU-bound (each spends about 0.2 s
of CPU importing itself before it opens a socket), so anything else running on the machine,
or the previous run's processes still winding down, adds to that figure one for one.
:func:`settle` therefore waits, before each timed run of either side, until the CPUs have
been idle for a moment; the bench logs how busy they were, so that a figure taken on a busy
machine shows in the log.

Time spent in niced processes (``nice`` in ``/proc/stat``: a background job at a lower
priority, such as a long simulation campaign) counts as idle: the scheduler gives it way to
the bench's processes, which run at the normal priority, so waiting for it to stop would
only time out.  The load average printed with each measurement still shows it.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["QUIET", "CpuTimes", "busy_fraction", "cpu_times", "describe", "settle"]

PROC_STAT = Path("/proc/stat")
QUIET = 0.10
"""Busy fraction of all CPUs below which the machine counts as quiet."""


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """The aggregate ``cpu`` line of ``/proc/stat``, in clock ticks."""

    busy: int
    idle: int
    """``idle`` + ``iowait`` + ``nice``: time no task of normal priority wanted the CPU."""


def parse_cpu_line(text: str) -> CpuTimes:
    """The first (aggregate) ``cpu`` line of a ``/proc/stat`` text (proc(5))."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            # user nice system idle iowait irq softirq steal [guest guest_nice]: guest time
            # is already counted in user and nice, so only the first eight add up; niced
            # tasks yield to the bench's, so their time counts as idle.
            ticks = [int(x) for x in fields[1:9]]
            idle = ticks[1] + ticks[3] + ticks[4]
            return CpuTimes(busy=sum(ticks) - idle, idle=idle)
    raise ValueError("no aggregate 'cpu' line in /proc/stat")


def cpu_times() -> CpuTimes:
    return parse_cpu_line(PROC_STAT.read_text())


def busy_fraction(before: CpuTimes, after: CpuTimes) -> float:
    """Share of all CPUs' time between two samples that was spent running something."""
    busy = after.busy - before.busy
    total = busy + after.idle - before.idle
    return busy / total if total > 0 else 0.0


def settle(
    *,
    threshold: float = QUIET,
    window: float = 0.5,
    timeout: float = 20.0,
    sleep: Callable[[float], None] = time.sleep,
    sample: Callable[[], CpuTimes] = cpu_times,
) -> float:
    """Wait until the CPUs were busy less than ``threshold`` over one ``window`` (seconds),
    for at most ``timeout`` seconds; return the last window's busy fraction (which is above
    the threshold only when the machine never quietened down)."""
    waited = 0.0
    while True:
        before = sample()
        sleep(window)
        waited += window
        busy = busy_fraction(before, sample())
        if busy < threshold or waited >= timeout:
            return busy


def describe() -> dict[str, Any]:
    """CPU model, cores, memory, kernel, Python and corosync versions, and the date."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    version = subprocess.run(
        ["corosync", "-v"], capture_output=True, text=True, timeout=10, check=False
    ).stdout.splitlines()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": model,
        "cores": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "corosync": version[0] if version else "?",
    }
