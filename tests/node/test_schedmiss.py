"""Scheduling misses (corosync's ``timer_function_scheduler_timeout``): the monitor, sans-IO,
and the ``stats.schedmiss.*`` keys as the statistics map shows and tracks them."""

from __future__ import annotations

import struct

import pytest

from totem.node.libqb import _schedmiss_stats
from totem.node.schedmiss import SchedMiss, SchedMissMonitor
from totem.services.cmap.stats import StatsMap
from totem.services.cmap.store import (
    TRACK_ADD,
    TRACK_DELETE,
    TRACK_MODIFY,
    TRACK_PREFIX,
    ValueType,
)
from totem.srp.events import LogLevel, LogRecord

TOKEN = 3650
"""The effective token of a 3-node cluster with corosync's defaults (ms)."""
WALL = 1_700_000_000.0


def test_first_run_starts_the_clock_then_the_threshold_is_eight_tenths_of_the_token() -> None:
    monitor = SchedMissMonitor()
    miss, interval = monitor.tick(100.0, WALL, TOKEN)
    assert miss is None
    assert interval == TOKEN / 3 / 1000
    assert monitor.threshold_ms == 2920.0
    # on time, and late but within the threshold: no miss
    assert monitor.tick(100.0 + interval, WALL, TOKEN)[0] is None
    assert monitor.tick(100.0 + interval + 2.9, WALL, TOKEN)[0] is None
    assert list(monitor.events()) == []


def test_a_stall_longer_than_the_threshold_is_a_miss() -> None:
    monitor = SchedMissMonitor()
    monitor.tick(10.0, WALL, TOKEN)
    miss, _ = monitor.tick(13.25, WALL + 3.25, TOKEN)
    assert miss == SchedMiss(timestamp_ms=1_700_000_003_250, delay_ms=3250.0, threshold_ms=2920.0)
    assert miss.log_record() == LogRecord(
        LogLevel.WARNING,
        "MAIN",
        "Corosync main process was not scheduled (@1700000003250) for 3250.0000 ms "
        "(threshold is 2920.0000 ms). Consider token timeout increase.",
    )
    assert list(monitor.events()) == [(1_700_000_003_250, 3250.0)]


def test_the_threshold_follows_the_token_from_the_next_run_on() -> None:
    monitor = SchedMissMonitor()
    monitor.tick(0.0, WALL, 1000)
    # the token grew to 10 s at this run: the 1 s token's threshold still judges it
    miss, interval = monitor.tick(1.0, WALL, 10_000)
    assert miss is not None and miss.threshold_ms == 800.0
    assert interval == 10_000 / 3 / 1000
    assert monitor.tick(6.0, WALL, 10_000)[0] is None


def test_the_last_ten_misses_newest_first_and_clear() -> None:
    monitor = SchedMissMonitor()
    now = 0.0
    monitor.tick(now, WALL, 300)
    for i in range(12):
        now += 1.0 + i / 100
        assert monitor.tick(now, WALL + i, 300)[0] is not None
    events = list(monitor.events())
    assert len(events) == 10
    assert events[0] == (int((WALL + 11) * 1000), pytest.approx(1110.0))
    assert [round(delay) for _, delay in events] == [1110 - 10 * i for i in range(10)]
    stats = StatsMap()
    stats.register("schedmiss", lambda: _schedmiss_stats(monitor), monitor.clear)
    snapshot = stats.snapshot()
    assert sorted(snapshot) == sorted(
        f"stats.schedmiss.{i}.{name}" for i in range(10) for name in ("delay", "timestamp")
    )
    vtype, raw = snapshot["stats.schedmiss.0.delay"]
    assert (vtype, struct.unpack("<f", raw)[0]) == (ValueType.FLOAT, 1110.0)
    assert stats.set("stats.clear.schedmiss", 2, b"\1") == 1
    assert stats.snapshot() == {}


def test_misses_are_never_announced_to_prefix_tracks_but_a_key_track_sees_changes() -> None:
    monitor = SchedMissMonitor()
    stats = StatsMap()
    stats.register("schedmiss", lambda: _schedmiss_stats(monitor), monitor.clear)
    prefix_seen: list[tuple[int, str]] = []
    key_seen: list[tuple[int, str]] = []
    stats.track_add(
        "stats.",
        TRACK_ADD | TRACK_DELETE | TRACK_MODIFY | TRACK_PREFIX,
        lambda e, k, n, o: prefix_seen.append((e, k)),
    )
    stats.track_add(
        "stats.schedmiss.0.delay", TRACK_MODIFY, lambda e, k, n, o: key_seen.append((e, k))
    )
    monitor.tick(0.0, WALL, 300)
    monitor.tick(1.0, WALL, 300)
    stats.poll_tracks()
    monitor.tick(3.0, WALL, 300)
    stats.poll_tracks()
    assert prefix_seen == []
    assert key_seen == [(TRACK_MODIFY, "stats.schedmiss.0.delay")]
