"""Fault schedules that once broke an invariant, replayed with exact expectations.

Each comes from a random campaign (``pycorosync-sim fuzz``); the library scenario
keeps the schedule, these tests pin down what the nodes deliver.
"""

from __future__ import annotations

from simulations.library import library_path
from simulations.runner import RunResult, run_scenario
from simulations.scenario import parse_scenario
from simulations.trace import describe
from totem.srp.events import ConfigurationChange, ConfigurationKind, Delivery


def _history(result: object, node: int, since: str, until: str) -> list[str]:
    """Node ``node``'s deliveries and configuration changes from the line ``since`` up to and
    including the line ``until`` (their text without the time and node columns)."""
    lines: list[str] = []
    recording = False
    for entry in result.trace:  # type: ignore[attr-defined]
        if entry[1] != node or not isinstance(entry[3], Delivery | ConfigurationChange):
            continue
        text = describe(entry).split(maxsplit=2)[2]
        recording = recording or text.startswith(since)
        if recording:
            lines.append(text.split(" (")[0])
        if recording and text.startswith(until):
            break
    return lines


def test_a_duplicated_token_before_a_crash_loses_no_old_ring_message() -> None:
    path = library_path("duplicated-token-recovery")
    assert path is not None
    scenario = parse_scenario(path.read_text(), str(path))
    result = run_scenario(scenario, keep_trace=True)
    assert [str(r.violation) for r in result.violations] == []
    assert all(e.ok for e in result.expectations)
    one = _history(result, 1, "REGULAR 1.9", "REGULAR 1.d")
    three = _history(result, 3, "REGULAR 1.9", "REGULAR 1.d")
    # node 3 had 2a and 2b before the crash; node 1 gets them in the recovery, and both
    # deliver the whole old ring before the transitional configuration
    assert three[-5:] == [
        "deliver 1.9/2a from 2",
        "deliver 1.9/2b from 3",
        "deliver 1.9/2c from 1",
        "TRANSITIONAL 1.d [1,3] left 2,4",
        "REGULAR 1.d [1,3]",
    ]
    assert one[1:] == three[1:]  # (the first line differs only in who joined whom)
    assert one[0].startswith("REGULAR 1.9 [1,2,3,4]")
    # every message of ring 1.9, seq 1..2c, before the transitional configuration
    assert [line.split()[1] for line in one[1:-2]] == [f"1.9/{seq:x}" for seq in range(1, 0x2D)]


def test_the_schedule_of_the_report_keeps_virtual_synchrony() -> None:
    """The same schedule with the seed it was reported with and the next ones."""
    path = library_path("duplicated-token-recovery")
    assert path is not None
    scenario = parse_scenario(path.read_text(), str(path))
    for seed in (270880834, *range(1, 9)):
        result = run_scenario(scenario, seed)
        assert [str(r.violation) for r in result.violations] == [], seed


def test_the_join_storm_schedule_forms_one_ring_within_a_small_budget() -> None:
    """The schedule that stalled the simulator (millions of JOINs in flight near
    t=1.7777 s) now runs in about 12,000 events, with at most a few dozen GATHER entries
    per node in any second, and the eleven survivors form one ring."""
    path = library_path("join-storm")
    assert path is not None
    result = run_scenario(parse_scenario(path.read_text(), str(path)), max_events=200_000)
    assert result.budget_exceeded == ""
    assert [str(r.violation) for r in result.violations] == []
    assert all(e.ok for e in result.expectations)
    assert result.stats["events"] == 12307
    assert result.stats["max_gather_rate"] == 47
    survivors = (2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13)
    last = result.expectations[-1]
    assert last.text == "expect members " + ",".join(map(str, survivors)) + " within 27s"


def test_a_run_over_its_event_budget_is_a_finding_with_its_reproduction() -> None:
    path = library_path("join-storm")
    assert path is not None
    scenario = parse_scenario(path.read_text(), str(path))
    result = run_scenario(scenario, max_events=5000)
    assert not result.ok
    assert result.budget_exceeded.startswith("line 23: 5000 events processed by t=1.279047s")
    assert result.reproduction.startswith("# reproduces a run over its budget of ")
    assert result.reproduction.splitlines()[1] == "seed 913909951"
    assert result.reproduction.splitlines()[-1] == "run 730ms"  # line 23, where it stopped
    assert result.as_json()["budget_exceeded"] == result.budget_exceeded


def test_a_run_over_its_wall_time_budget_stops_at_the_next_check() -> None:
    path = library_path("join-storm")
    assert path is not None
    ticks = iter(range(1_000_000))
    result = run_scenario(
        parse_scenario(path.read_text(), str(path)),
        wall_clock=lambda: float(next(ticks)),  # one "second" per reading
        max_wall_s=2.5,
    )
    # read at the start, then at every 4096th event: the third check is over 2.5
    assert result.budget_exceeded.startswith("line ")
    assert "3.0 s of wall time (budget 2.5 s) at t=" in result.budget_exceeded
    assert "after 12288 events" in result.budget_exceeded


def test_two_groups_that_broke_each_others_ring_form_one() -> None:
    """Eleven nodes with a quorum device: two groups formed two rings, each broken by the
    other, until the event budget (the checker's GATHER-rate bound fired first). Now the
    healed network forms one ring of all eleven, with at most a dozen GATHER entries per
    node in any second."""
    path = library_path("two-rings-livelock")
    assert path is not None
    result = run_scenario(parse_scenario(path.read_text(), str(path)), max_events=300_000)
    assert result.budget_exceeded == ""
    assert [str(r.violation) for r in result.violations] == []
    assert [(e.text, e.ok) for e in result.expectations] == [
        ("expect members * within 6s", True),
        ("expect members 1,2,3,4,5,6,7,8,9,10,11 within 23s", True),
    ]
    assert result.stats["max_gather_rate"] == 12
    assert result.stats["events"] == 12388


def test_a_safe_message_one_member_delivered_is_delivered_by_all_in_that_configuration() -> None:
    """Bare SRP, SAFE traffic from node 13: node 2 delivered 1.d/1 in ring 1.d before it
    broke; nodes 11 and 13 (and every other survivor) deliver it there too, at the end
    of the recovery, before the transitional configuration of ring 1.16."""
    path = library_path("safe-message-across-recovery")
    assert path is not None
    result = run_scenario(parse_scenario(path.read_text(), str(path)), keep_trace=True)
    assert [str(r.violation) for r in result.violations] == []
    assert all(e.ok for e in result.expectations)
    histories = {
        node: _history(result, node, "REGULAR 1.d", "REGULAR 1.16") for node in (2, 11, 13)
    }
    for history in histories.values():
        assert history[0].startswith("REGULAR 1.d [")
        assert history[1] == "deliver 1.d/1 from 13"
        assert history[2].startswith("TRANSITIONAL 1.16 [1,2,6,9,10,11,13]")
    assert histories[2] == histories[11] == histories[13]


def test_qnetd_moving_the_vote_from_a_broken_ring_is_corosyncs_window_not_a_split() -> None:
    """The losing half drops the device vote at qnetd's NACK (t=3.6831 s) but, its ring
    broken by two crashes, shows quorate until its next ring is synchronised
    (t=5.7757 s), as corosync does; node 1 holds the vote from t=3.6846 s. The checker
    excuses those stale views (and only those) and the run has no violation."""
    from simulations.nodes import DeviceVote
    from votequorum.events import QuorumChanged

    path = library_path("qdevice-vote-moves-from-a-broken-ring")
    assert path is not None
    result = run_scenario(parse_scenario(path.read_text(), str(path)), keep_trace=True)
    assert [str(r.violation) for r in result.violations] == []
    assert all(e.ok for e in result.expectations)
    assert result.stats["stale_quorum_views_excused"] == 30
    withdrawn = {
        node: round(at, 6)
        for at, node, _, event in result.trace
        if isinstance(event, DeviceVote) and not event.counted and 3.6 < at < 3.7
    }
    assert withdrawn == {3: 3.683153, 5: 3.68318, 10: 3.68312}
    views = [
        (round(at, 6), node, event.quorate)
        for at, node, _, event in result.trace
        if isinstance(event, QuorumChanged) and 3.6 < at < 6.0 and node in (1, 3, 5, 10)
    ]
    assert views == [
        (3.684569, 1, True),
        (5.775659, 5, False),
        (5.775796, 3, False),
        (5.775868, 10, False),
    ]


def test_a_fresh_restart_may_reuse_a_finished_ring_id() -> None:
    """Node 1 of ring 1.9 {1,2} restarts without its ring sequence file and forms 1.9 {1}
    alone; the old 1.9 is over, so the checker (which forgets the representative's
    finished rings on a fresh restart) sees no violation, and the two meet in 1.11."""
    result = _run_clean("fresh-restart-reuses-ring-ids")
    regular = _regular_configurations(result)
    assert (1, 1, "1.9", (1, 2)) in regular and (2, 1, "1.9", (1, 2)) in regular
    assert (1, 2, "1.9", (1,)) in regular  # the reused id, after 1.5 [1]
    assert regular[-2:] == [(2, 1, "1.11", (1, 2)), (1, 2, "1.11", (1, 2))]


def test_with_qnetd_down_a_membership_change_waits_the_device_sync_timeout() -> None:
    """Both nodes form ring 1.11 at t=1.812 s and finish its sync 30.003 s later: 30 s
    of votequorum waiting for the device's poll, then the last sync messages."""
    from totem.sync import SyncCompleted

    path = library_path("qdevice-down-sync-timeout")
    assert path is not None
    result = run_scenario(parse_scenario(path.read_text(), str(path)), keep_trace=True)
    assert [str(r.violation) for r in result.violations] == []
    assert all(e.ok for e in result.expectations)
    formed = {
        node: at
        for at, node, _, event in result.trace
        if isinstance(event, ConfigurationChange) and str(event.ring_id) == "1.11"
    }
    synced = {
        node: at
        for at, node, _, event in result.trace
        if isinstance(event, SyncCompleted) and str(event.ring_id) == "1.11"
    }
    assert set(formed) == set(synced) == {1, 2}
    for node in (1, 2):
        assert round(synced[node] - formed[node], 3) == 30.003


def test_fresh_restarts_may_reuse_a_ring_id_still_in_use() -> None:
    """Nodes 1 and 2 of ring 1.9 {1,2,3} restart without their ring sequence files while
    node 3 is paused in 1.9 and form 1.9 {1,2} again: two rings of one id, each checked on
    its own, and node 3 delivers nothing of the second."""
    result = _run_clean("fresh-restarts-reuse-a-ring-in-use")
    regular = _regular_configurations(result)
    assert (3, 1, "1.9", (1, 2, 3)) in regular
    assert (1, 2, "1.9", (1, 2)) in regular and (2, 2, "1.9", (1, 2)) in regular
    second = min(
        at
        for at, node, inc, event in result.trace
        if inc == 2 and isinstance(event, ConfigurationChange) and str(event.ring_id) == "1.9"
    )
    assert not [
        at
        for at, node, _, event in result.trace
        if node == 3
        and at >= second
        and isinstance(event, Delivery)
        and str(event.ring_id) == "1.9"
    ]


def test_lms_moves_the_device_vote_from_a_paused_node() -> None:
    """Node 1 is quorate in {1} with the device vote from t=9.102 s while node 2, paused,
    still shows {2,3}; resumed at 9.24 s, node 2 withdraws the vote (9.306 s) before it
    shows a new quorum view, which is inquorate."""
    from votequorum.events import QuorumChanged

    result = _run_clean("qdevice-lms-vote-moves-from-a-paused-node")
    views = [
        (round(at, 6), node, event.quorate, event.members)
        for at, node, _, event in result.trace
        if isinstance(event, QuorumChanged) and at > 8.0
    ]
    assert views[0] == (9.102309, 1, True, (1,))
    assert (10.685389, 2, False, (1, 2)) in views
    assert not [v for v in views if v[1] == 2 and v[2]]


def _run_clean(name: str) -> RunResult:
    """The library scenario ``name``, run with its trace; it must break no invariant."""
    path = library_path(name)
    assert path is not None
    result = run_scenario(parse_scenario(path.read_text(), str(path)), keep_trace=True)
    assert [str(r.violation) for r in result.violations] == []
    return result


def _regular_configurations(result: RunResult) -> list[tuple[int, int, str, tuple[int, ...]]]:
    """(node, incarnation, ring id, members) of every REGULAR configuration, in order."""
    return [
        (node, incarnation, str(event.ring_id), event.members)
        for _, node, incarnation, event in result.trace
        if isinstance(event, ConfigurationChange) and event.kind.name == "REGULAR"
    ]


# Run 58101 of the campaign (seed 20260), reduced to the lines before its finding. Node 2
# is paused past the token and consensus timeouts, so node 1 forms a ring alone that
# fails node 2; node 2 resumes with node 1's JOINs in its queue (failed list {2}) and
# forms a ring alone that fails node 1.
_PING_PONG = """\
seed 440321909
nodes 2 token=1000 token_coefficient=0 stack=srp
expect members * within 30s
latency * {latency}
heal
reorder 12% 9ms kind=mcast
pause 2 2855ms
reorder 7% 252ms kind=mcast
pause 2 2461ms
mtu 600
run 114ms
run 2888ms
"""


def _single_rings(result: RunResult, node: int) -> int:
    """REGULAR configurations of ``node`` alone."""
    return sum(
        1
        for entry in result.trace
        if entry[1] == node
        and isinstance(change := entry[3], ConfigurationChange)
        and change.kind is ConfigurationKind.REGULAR
        and change.members == (node,)
    )


def test_two_nodes_that_failed_each_other_ping_pong_while_the_timing_is_regular() -> None:
    """corosync 3.1.7's membership rules, in memb_join_process and
    ignore_join_under_operational, applied to two nodes that each failed the other: an
    OPERATIONAL node alone takes the other's first JOIN (empty failed list: the other has
    just formed its own ring, which clears it) and gathers, then its second JOIN (which
    names it failed) and fails the sender, and forms a ring alone again, in 70 us of
    simulated time; the other does the same a JOIN's flight later. It stops when a JOIN
    lands while its receiver is still forming its ring (COMMIT or RECOVERY drop a JOIN
    from outside the new ring). With the 90 us +- 2 us links of the campaign's schedule
    that takes over a thousand rings a node (the checker's JOIN storm); link jitter of
    5 us or more ends it within a few dozen; corosync 3.1.7 and pycorosync on sockets
    (a 2-node ring, one node stopped for 2.46 s, three times each) form at most two rings
    alone, then one together."""
    storm = run_scenario(_PING_PONG.format(latency="90us±2us dist=exponential"), keep_trace=True)
    assert {(r.violation.invariant, tuple(r.violation.nodes)) for r in storm.violations} == {
        ("membership-liveness", (1,)),
        ("membership-liveness", (2,)),
    }
    assert (_single_rings(storm, 1), _single_rings(storm, 2)) == (1115, 1115)
    # merge detection then brings them together
    changes = [describe(e) for e in storm.trace if isinstance(e[3], ConfigurationChange)]
    assert [line.split(maxsplit=1)[1] for line in changes[-4:]] == [
        "n2 TRANSITIONAL 1.1175 [2]",
        "n2 REGULAR 1.1175 [1,2] joined 1",
        "n1 TRANSITIONAL 1.1175 [1]",
        "n1 REGULAR 1.1175 [1,2] joined 2",
    ]
    for jitter in ("5us", "10us", "20us"):
        result = run_scenario(
            _PING_PONG.format(latency=f"90us±{jitter} dist=exponential"), keep_trace=True
        )
        assert result.violations == [], jitter
        assert _single_rings(result, 1) < 50, jitter


def test_a_restarted_node_drops_a_commit_token_that_names_its_earlier_life() -> None:
    path = library_path("duplicated-commit-token-after-restart")
    assert path is not None
    result = run_scenario(parse_scenario(path.read_text(), str(path)), keep_trace=True, logs=True)
    assert [str(r.violation) for r in result.violations] == []
    assert all(e.ok for e in result.expectations)
    notices = [describe(e) for e in result.trace if "Discarding a commit token" in describe(e)]
    assert [line.split(maxsplit=1)[1] for line in notices] == [
        "n5#2 log [TOTEM] Discarding a commit token whose entry for me names ring 1.9, "
        "not my old ring 5.5."
    ]


def test_lms_moving_the_vote_from_a_partition_in_sync_is_corosyncs_window() -> None:
    for name in (
        "qdevice-lms-vote-moves-during-a-sync",
        "qdevice-lms-vote-moves-from-a-syncing-partition",
    ):
        path = library_path(name)
        assert path is not None
        result = run_scenario(parse_scenario(path.read_text(), str(path)))
        assert [str(r.violation) for r in result.violations] == [], name
        assert result.stats["stale_quorum_views_excused"] > 0, name
