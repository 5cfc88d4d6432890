"""bench.machine: the /proc/stat arithmetic behind "wait for a quiet machine"."""

from __future__ import annotations

import pytest

from bench.machine import CpuTimes, busy_fraction, parse_cpu_line, settle

STAT = """\
cpu  1697432 15976 373774 2142684 2863 0 24906 2822 100 0
cpu0 756834 9105 187247 1161698 626 0 12831 1414 0 0
intr 1 2 3
"""


def test_aggregate_line_without_guest_time() -> None:
    # user+system+irq+softirq+steal busy; nice+idle+iowait idle; guest (100) already in user
    assert parse_cpu_line(STAT) == CpuTimes(
        busy=1697432 + 373774 + 0 + 24906 + 2822, idle=15976 + 2142684 + 2863
    )


def test_no_cpu_line() -> None:
    with pytest.raises(ValueError, match="no aggregate 'cpu' line"):
        parse_cpu_line("cpu0 1 2 3 4 5 6 7 8\n")


def test_busy_fraction() -> None:
    assert busy_fraction(CpuTimes(100, 1000), CpuTimes(130, 1070)) == pytest.approx(0.3)
    assert busy_fraction(CpuTimes(5, 5), CpuTimes(5, 5)) == 0.0


def test_settle_waits_for_a_quiet_window() -> None:
    # windows: 80% busy, 50% busy, 5% busy -> returns after the third
    windows = [
        (CpuTimes(0, 0), CpuTimes(80, 20)),
        (CpuTimes(80, 20), CpuTimes(130, 70)),
        (CpuTimes(130, 70), CpuTimes(135, 165)),
    ]
    samples = iter([t for pair in windows for t in pair])
    slept: list[float] = []
    assert settle(window=0.5, sleep=slept.append, sample=lambda: next(samples)) == pytest.approx(
        0.05
    )
    assert slept == [0.5, 0.5, 0.5]


def test_settle_gives_up_after_timeout() -> None:
    ticks = iter(range(0, 10_000, 10))
    slept: list[float] = []
    # always fully busy
    busy = settle(
        window=1.0,
        timeout=3.0,
        sleep=slept.append,
        sample=lambda: CpuTimes(next(ticks), 0),
    )
    assert busy == 1.0
    assert slept == [1.0, 1.0, 1.0]
