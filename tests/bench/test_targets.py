"""The benchmark tables say whether each figure meets its target."""

from __future__ import annotations

import pytest

from bench.corosync import Result, table, verdict


@pytest.mark.parametrize(
    ("target", "ours", "ratio", "expected"),
    [
        ("<= 2x", 0.5, 1.99, "yes"),
        ("<= 2x", 0.5, 2.01, "no"),
        ("<= 1.2x", 1.0, 1.2, "yes"),
        (">= 1.0x", 900.0, 0.84, "no"),
        (">= 1.0x", 1100.0, 1.07, "yes"),
        ("<= 20 MiB", 29.5, 2.1, "no"),
        ("<= 20 MiB", 19.9, 1.4, "yes"),
        ("< 1%", 0.18, 0.73, "yes"),
        ("< 1%", 1.0, 0.73, "no"),
        ("within 5%", 3.1, 1.05, "yes"),
        ("within 5%", 3.1, 1.06, "no"),
        ("", 1.0, 1.0, ""),
        ("<= 2x", 1.0, None, ""),
        ("<= 20 MiB", None, None, ""),
        ("about right", 1.0, 1.0, ""),
    ],
)
def test_verdict(target: str, ours: float | None, ratio: float | None, expected: str) -> None:
    assert verdict(target, ours, ratio) == expected


def test_table_has_a_met_column() -> None:
    memory = Result("resident memory per node", 3, "MiB", False, "<= 20 MiB")
    memory.samples = {"real": [14.0], "ours": [29.5]}
    latency = Result("latency p50 at 1000 msg/s", 3, "ms", False, "<= 2x")
    latency.samples = {"real": [2.0, 2.2, 2.4], "ours": [3.0, 3.3, 9.0]}
    assert table([memory, latency]).splitlines() == [
        "| metric | nodes | corosync 3.1.7 | pycorosync | pycorosync / corosync | target | met |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
        "| resident memory per node (MiB) | 3 | 14.0 | 29.5 | 2.11 | <= 20 MiB | no |",
        "| latency p50 at 1000 msg/s (ms) | 3 | 2.200 | 3.300 | 1.50 | <= 2x | yes |",
    ]
