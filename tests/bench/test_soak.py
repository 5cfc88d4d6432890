"""The soak: its delivery check on made-up records, and a short run on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.soak import node_summary
from bench.soak_check import Session, check

REPO = Path(__file__).resolve().parents[2]


def _session(node: int, pid: int, triples: list[tuple[int, int, int]], **kw: object) -> Session:
    sent = kw.pop("sent", 0)
    return Session(
        node,
        pid,
        np.array(triples, dtype=np.uint32).reshape(-1, 3),
        int(kw.pop("attempted", sent)),  # type: ignore[call-overload]
        int(sent),  # type: ignore[call-overload]
        str(kw.pop("ended", "drained")),
    )


A, B, C = (1, 10), (2, 20), (3, 30)
ORDER = [(*A, 1), (*B, 1), (*A, 2), (*C, 1), (*B, 2), (*A, 3), (*C, 2)]


def test_every_message_once_in_one_order_everywhere() -> None:
    ref = _session(*A, ORDER, sent=3)
    b = _session(*B, ORDER[1:], sent=2)  # joined after A's first message
    c = _session(*C, ORDER[3:5], sent=2, attempted=3, ended="connection_lost")
    verdict = check([ref, b, c], ref)
    assert verdict.ok and verdict.lost == 0
    assert verdict.sent == 7 and verdict.delivered_reference == 7
    assert verdict.delivered_total == 7 + 6 + 2
    assert verdict.in_flight_at_kill == 1  # C handed 3 to its node, 2 were ordered


def test_what_the_check_catches() -> None:
    ref = _session(*A, ORDER, sent=3)
    # B skipped a message between two it delivered (ORDER[4]), and saw two others swapped
    b = _session(*B, [ORDER[1], ORDER[3], ORDER[2], ORDER[5]], sent=2)
    c = _session(*C, [*ORDER[3:], (*C, 9)], sent=2)  # delivered what the reference never saw
    verdict = check([ref, b, c], ref)
    assert (verdict.gaps, verdict.order_violations, verdict.not_in_reference) == (1, 1, 1)
    assert not verdict.ok
    # a surviving sender whose acknowledged message never came; a hole in a sender's stream
    lossy = _session(*A, [ORDER[0], ORDER[1], ORDER[5]], sent=4)
    verdict = check([lossy, _session(*B, [], sent=1)], lossy)
    assert verdict.holes == 1  # A's 2 is missing below its 3
    assert verdict.unacked_lost == 1  # A's 4 was taken and never delivered
    assert verdict.lost == 2
    duplicated = _session(*A, [ORDER[0], ORDER[0]], sent=1)
    assert check([duplicated], duplicated).duplicates == 1
    stranger = _session(*A, [(9, 99, 1)], sent=0)
    assert check([stranger], stranger).unknown_senders == 1


def test_the_node_summary_follows_processes() -> None:
    samples = [
        {"t": t, "node": 1, "pid": 5, "rss_kib": 30_000 + t, "fds": 17, "cpu_s": t / 10}
        for t in range(0, 100, 10)
    ] + [
        {"t": 60, "node": 2, "pid": 7, "rss_kib": 12_000, "fds": 3, "cpu_s": 0.2},
        {"t": 90, "node": 2, "pid": 7, "rss_kib": 31_000, "fds": 17, "cpu_s": 3.2},
    ]
    nodes = node_summary(samples, {5: 0.0, 7: 59.0}, warmup=20)
    assert nodes[1]["rss_slope_kib_per_min"] == pytest.approx(60.0)
    assert nodes[1]["rss_mib_warm"] == round(30_020 / 1024, 1)
    assert nodes[1]["cpu_percent"] == 10.0
    assert nodes[2]["processes"] == 1 and nodes[2]["fds_max"] == 17
    assert nodes[2]["rss_slope_kib_per_min"] is None  # too young after its warm-up


@pytest.mark.sockets
@pytest.mark.timeout(120)
def test_a_short_soak_with_a_crash_and_a_graceful_leave(tmp_path: Path) -> None:
    report = tmp_path / "soak.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "soak",
            "--minutes",
            "0.45",
            "--kill-every",
            "4",
            "--down",
            "1",
            "--sample-every",
            "2",
            "--token",
            "1000",
            "--json",
            str(report),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout
    result = json.loads(report.read_text())
    verdict = result["verdict"]
    assert verdict["ok"] and verdict["lost"] == 0 and verdict["duplicates"] == 0
    # what a killed node had taken but not yet ordered is in flight, not delivered, not lost
    sent, delivered = verdict["sent"], verdict["delivered_reference"]
    assert sent > 1000 and sent - verdict["in_flight_at_kill"] <= delivered <= sent
    assert result["kills"][0]["node"] == 2 and result["kills"][0]["signal"] == "SIGKILL"
    assert result["nodes"]["1"]["processes"] == 1  # node 1 is never stopped
    assert result["nodes"]["2"]["processes"] == 2
    assert all(s["rss_kib"] > 0 and s["fds"] > 0 for s in result["samples"])
