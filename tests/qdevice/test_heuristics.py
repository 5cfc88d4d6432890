"""Heuristics: the command lexer, the runner, and what the client does with results."""

from __future__ import annotations

import asyncio

import pytest

from qnetd.protocol import HeuristicsChange, HeuristicsChangeReply, NodeList
from qnetd.protocol.constants import Heuristics, NodeListType, Vote
from qnetd.protocol.tlv import RingId
from votequorum.qdevice.events import (
    Connect,
    DisconnectReason,
    HeuristicsResult,
    Poll,
    RunHeuristics,
)
from votequorum.qdevice.heuristics import parse_command, run_heuristics
from votequorum.qdevice.settings import HeuristicsSettings

from .scripted import RING, Scripted


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("/bin/true", ["/bin/true"]),
        ("  /bin/ping  -c 1\t10.0.0.1  ", ["/bin/ping", "-c", "1", "10.0.0.1"]),
        ('/bin/sh -c "exit 3"', ["/bin/sh", "-c", "exit 3"]),
        (r"/x a\ b", ["/x", "a b"]),
        (r'/x "a\"b\\c\d"', ["/x", 'a"b\\c\\d']),
        ('/x ab"c d"e', ["/x", "abc de"]),
        ("/x one\n/y two", ["/x", "one"]),
        ("", []),
        ("   ", []),
        ('/x "" y', ["/x"]),  # an empty word ends the command, as in the C lexer
        ("/x trailing\\", ["/x", "trailing"]),
    ],
)
def test_parse_command(command: str, argv: list[str]) -> None:
    assert parse_command(command) == argv


def run(execs: list[tuple[str, str]], timeout_ms: int = 2000) -> HeuristicsResult:
    return asyncio.run(run_heuristics(execs, timeout_ms))[0]


@pytest.mark.timeout(20)
def test_runner_results() -> None:
    assert run([("a", "/bin/true"), ("b", "/bin/true")]) == HeuristicsResult.PASS
    assert run([("a", "/bin/true"), ("b", "/bin/false")]) == HeuristicsResult.FAIL
    assert run([("a", "/bin/sh -c 'exit 0'")]) == HeuristicsResult.FAIL  # no shell quoting
    assert run([("a", "/nonexistent/program")]) == HeuristicsResult.FAIL
    assert run([("a", "true")]) == HeuristicsResult.FAIL  # execv: no PATH lookup
    assert run([]) == HeuristicsResult.DISABLED


@pytest.mark.timeout(20)
def test_runner_timeout_kills_the_commands() -> None:
    result, why = asyncio.run(run_heuristics([("slow", "/bin/sleep 30")], 300))
    assert result == HeuristicsResult.FAIL and "timeout" in why


def heuristic_client(mode: str = "on") -> Scripted:
    return Scripted(
        heartbeat_interval_ms=120000,  # no echo requests to answer in these tests
        heuristics=HeuristicsSettings(
            mode=mode,
            timeout_ms=1000,
            sync_timeout_ms=2000,
            interval_ms=30000,
            execs=(("x", "/bin/true"),),
        ),
    )


def answer(s: Scripted, result: HeuristicsResult) -> None:
    runs = [o for o in s.outputs if isinstance(o, RunHeuristics)]
    s.client.heuristics_result(runs[-1].seq, result, s.now)
    s.drain()


def test_membership_heuristics_gate_the_first_connection() -> None:
    s = heuristic_client()
    s.client.node_list_notify(RING, (1,), s.now)
    s.client.start(s.now)
    out = s.drain()
    # sync in progress: the sync timeout; no connection before the result
    assert out == [RunHeuristics(1, 2000)]
    answer(s, HeuristicsResult.PASS)
    assert isinstance(s.outputs[-1], Connect)
    assert s.client.latest_heuristics == Heuristics.PASS


def test_connect_and_membership_lists_carry_the_results() -> None:
    s = heuristic_client()
    s.client.node_list_notify(RING, (1,), s.now)
    s.client.start(s.now)
    s.drain()
    answer(s, HeuristicsResult.PASS)
    s.client.connected(s.now)
    s.drain()
    s.preinit_reply()
    s.init_reply()
    assert isinstance(s.outputs[-1], RunHeuristics)  # connect heuristics
    answer(s, HeuristicsResult.FAIL)
    membership = [m for m in s.sent() if isinstance(m, NodeList)][1]
    assert membership.node_list_type == NodeListType.MEMBERSHIP
    assert membership.heuristics == Heuristics.FAIL
    # a new ring: polls pause until its heuristics finish, then the list goes out
    ring = RingId(1, 9)
    s.client.node_list_notify(ring, (1, 2), s.now)
    s.drain()
    assert s.client.cast_vote.paused
    answer(s, HeuristicsResult.PASS)
    last = s.sent()[-1]
    assert last.ring_id == ring and last.heuristics == Heuristics.PASS
    assert not s.client.cast_vote.paused


def test_regular_heuristics_report_changes_only() -> None:
    s = heuristic_client()
    s.client.node_list_notify(RING, (1,), s.now)
    s.client.quorum_notify(True, [], s.now)
    s.client.start(s.now)
    s.drain()
    answer(s, HeuristicsResult.PASS)
    s.client.connected(s.now)
    s.drain()
    s.preinit_reply()
    s.init_reply()
    answer(s, HeuristicsResult.PASS)
    sent_before = len(s.sent())
    out = s.advance(30.0)
    assert [o for o in out if isinstance(o, RunHeuristics)] == [RunHeuristics(3, 1000)]
    answer(s, HeuristicsResult.PASS)  # unchanged: nothing sent
    assert len([m for m in s.sent()[sent_before:] if isinstance(m, HeuristicsChange)]) == 0
    s.advance(30.0)
    answer(s, HeuristicsResult.FAIL)
    change = s.sent()[-1]
    assert change == HeuristicsChange(change.seq_number, Heuristics.FAIL)
    s.feed(HeuristicsChangeReply(change.seq_number, Vote.NACK, RING, Heuristics.FAIL).encode())
    assert s.outputs[-1] == Poll(False, RING)


def test_sync_mode_has_no_regular_heuristics() -> None:
    s = heuristic_client("sync")
    s.client.node_list_notify(RING, (1,), s.now)
    s.client.start(s.now)
    s.drain()
    answer(s, HeuristicsResult.PASS)
    assert s.client.next_deadline() is not None  # the connect timer only
    s.client.connected(s.now)
    s.drain()
    s.preinit_reply()
    s.init_reply()
    answer(s, HeuristicsResult.PASS)
    out = s.advance(100.0)
    assert not [o for o in out if isinstance(o, RunHeuristics)]


def test_server_without_heuristics_support_is_refused() -> None:
    s = heuristic_client()
    s.client.node_list_notify(RING, (1,), s.now)
    s.client.start(s.now)
    s.drain()
    answer(s, HeuristicsResult.PASS)
    s.client.connected(s.now)
    s.drain()
    s.preinit_reply()
    s.init_reply(supported_options=tuple(range(22)))
    assert s.client.disconnect_reason == DisconnectReason.SERVER_DOESNT_SUPPORT_REQUIRED_OPT


def test_stale_results_are_ignored() -> None:
    s = heuristic_client()
    s.client.node_list_notify(RING, (1,), s.now)
    s.client.node_list_notify(RingId(1, 9), (1,), s.now)
    s.client.start(s.now)
    s.drain()
    s.client.heuristics_result(1, HeuristicsResult.FAIL, s.now)  # superseded by run 2
    assert s.client.counters["heuristics_results_ignored"] == 1
    answer(s, HeuristicsResult.PASS)
    assert s.client.latest_heuristics == Heuristics.PASS
