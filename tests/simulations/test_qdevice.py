"""The quorum device in scenarios: the ``qnetd`` statement, its refusals, and the checker.

The library scenarios (``qdevice-*.txt``, run by ``test_library``) show the tie-breaks
themselves; these tests pin the language and that a wrong arbiter is caught.
"""

from __future__ import annotations

import pytest

from simulations.library import library_scenarios
from simulations.network import QNETD_ID
from simulations.runner import run_scenario
from simulations.scenario import (
    Crash,
    Latency,
    Oneway,
    Partition,
    Qnetd,
    ScenarioError,
    parse_scenario,
)


def test_the_library_tells_the_qdevice_stories() -> None:
    names = {name for name, _ in library_scenarios()}
    assert {
        "qdevice-two-node-crash",
        "qdevice-ffsplit-lowest",
        "qdevice-ffsplit-highest",
        "qdevice-keep-active-partition",
        "qdevice-no-keep-active-partition",
        "qdevice-lms-uneven",
        "qdevice-unreachable-side",
        "qdevice-qnetd-down-split",
        "qdevice-qnetd-restart",
    } <= names


def test_qnetd_statement_and_statements_that_name_the_host() -> None:
    scenario = parse_scenario(
        "nodes 4\n"
        "qnetd algorithm=lms tie_breaker=highest keep_active_partition=off votes=3 timeout=5s\n"
        "partition {1,2,qnetd}|{3,4}\n"
        "latency 3-qnetd 50ms\n"
        "oneway qnetd->1,2\n"
        "crash 1,qnetd\n",
        "s.txt",
    )
    qnetd, partition, latency, oneway, crash = scenario.statements[1:]
    assert qnetd == Qnetd(
        2,
        "qnetd algorithm=lms tie_breaker=highest keep_active_partition=off votes=3 timeout=5s",
        algorithm="lms",
        tie_breaker="highest",
        keep_active_partition=False,
        votes=3,
        timeout_ms=5000,
    )
    assert isinstance(partition, Partition)
    assert partition.groups == ((1, 2, QNETD_ID), (3, 4))
    assert isinstance(latency, Latency)
    assert set(latency.pairs) == {(3, QNETD_ID), (QNETD_ID, 3)}
    assert isinstance(oneway, Oneway)
    assert set(oneway.pairs) == {(QNETD_ID, 1), (QNETD_ID, 2)}
    assert crash == Crash(6, "crash 1,qnetd", (1, QNETD_ID))


def test_qnetd_start_no_is_started_later() -> None:
    scenario = parse_scenario("nodes 2\nqnetd start=no\nstart qnetd\ncrash qnetd\n", "s.txt")
    assert scenario.statements[1] == Qnetd(2, "qnetd start=no", start=False)
    with pytest.raises(ScenarioError, match=r"s\.txt:3: cannot crash qnetd"):
        parse_scenario("nodes 2\nqnetd start=no\ncrash qnetd\n", "s.txt")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("qnetd\nnodes 4\n", "s.txt:1: 'qnetd' before 'nodes'"),
        ("nodes 4\nqnetd\nqnetd\n", "s.txt:3: second 'qnetd' statement (the first is on line 2)"),
        ("nodes 4\npartition {1,qnetd}|{2}\n", "s.txt:2: there is no qnetd yet"),
        ("nodes 4\ncrash qnetd\n", "s.txt:2: there is no qnetd yet"),
        ("nodes 4\nqnetd\nexpect quorate qnetd\n", "s.txt:3: qnetd is not a node"),
        ("nodes 4\nqnetd algorithm=foo\n", "s.txt:2: algorithm must be one of ffsplit, lms"),
        (
            "nodes 4 rings=2\nqnetd\nlatency 1-qnetd 5ms ring=1\n",
            "s.txt:3: the qnetd host is reached over ring 0",
        ),
        ("nodes 4\nqnetd\ncrash qnetd\nrestart qnetd fresh\n", "s.txt:4: 'fresh' is about"),
    ],
)
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.txt")
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "nodes 2 two_node=1\nqnetd\nrun 1s\n",
            "s.txt:2: configuration error: two_node and quorum device cannot be configured "
            "at the same time!",
        ),
        (
            "nodes 4\nqnetd votes=2\nrun 1s\n",
            "s.txt:2: 50:50 split algorithm works only if quorum.device.votes configuration "
            "key is set to 1!",
        ),
    ],
)
def test_configurations_corosync_refuses_are_scenario_errors(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        run_scenario(parse_scenario(text, "s.txt"))
    assert str(info.value) == message


@pytest.mark.timeout(60)
def test_the_checker_catches_an_arbiter_that_acks_both_halves() -> None:
    """qnetd's ``test`` algorithm ACKs every partition: both halves of a 50:50 split get the
    device vote (3 votes: nodes - 1 outside ffsplit), so two disjoint partitions are
    quorate -- exactly what the checker is for."""
    result = run_scenario(
        parse_scenario(
            "nodes 4\nqnetd algorithm=test\nexpect members * within 2s\n"
            "expect votes * == 7 within 10s\npartition {1,2}|{3,4}\nrun 20s\n",
            "negative-control.txt",
        )
    )
    assert all(e.ok for e in result.expectations)
    kinds = {r.violation.invariant for r in result.violations}
    assert kinds == {"quorum-safety"}
    first = str(result.violations[0].violation)
    assert "two quorate partitions" in first
