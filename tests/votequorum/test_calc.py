"""The quorum calculation, table-driven (ref 11.3), and settings resolution."""

from __future__ import annotations

import dataclasses

import pytest

from votequorum.calc import (
    AtbMode,
    AutoTieBreaker,
    NodeState,
    NodeVotes,
    QuorumOptions,
    QuorumState,
    calculate_quorum,
    decide_quorate,
    get_total_votes,
    parse_auto_tie_breaker_node,
    recalculate,
    validate_expected_votes,
    validate_node_votes,
)
from votequorum.settings import (
    NodelistEntry,
    QdeviceSettings,
    VotequorumConfigError,
    VotequorumSettings,
    resolve_settings,
)
from votequorum.wire import NodeFlags

M, D, L = NodeState.MEMBER, NodeState.DEAD, NodeState.LEAVING


def nodes(*spec: tuple[int, int, int] | tuple[int, int, int, NodeState]) -> tuple[NodeVotes, ...]:
    out = []
    for s in spec:
        state = s[3] if len(s) == 4 else M  # type: ignore[misc]
        out.append(NodeVotes(s[0], s[1], s[2], state))
    return tuple(out)


THREE = nodes((1, 1, 3), (2, 1, 3), (3, 1, 3))

# (id, nodes, keyword arguments of calculate_quorum, (quorum, total_votes, highest_expected))
CALC_CASES = [
    ("3 of 3", THREE, {}, (2, 3, 3)),
    ("one dead", nodes((1, 1, 3), (2, 1, 3), (3, 1, 3, D)), {}, (2, 2, 3)),
    ("leaving does not count", nodes((1, 1, 3), (2, 1, 3, L)), {}, (2, 1, 3)),
    ("4 of 4 even", nodes((1, 1, 4), (2, 1, 4), (3, 1, 4), (4, 1, 4)), {}, (3, 4, 4)),
    ("weighted 3+1+1", nodes((1, 3, 5), (2, 1, 5), (3, 1, 5)), {}, (3, 5, 5)),
    ("quorum never decreases", nodes((1, 1, 2), (2, 1, 2)), {"previous_quorum": 3}, (3, 2, 2)),
    (
        "decrease allowed",
        nodes((1, 1, 2), (2, 1, 2)),
        {"previous_quorum": 3, "allow_decrease": True},
        (2, 2, 2),
    ),
    ("votes above expected", nodes((1, 1, 1), (2, 1, 1), (3, 1, 1)), {}, (2, 3, 1)),
    (
        "max expected (lms)",
        nodes((1, 1, 5), (2, 1, 5)),
        {"allow_decrease": True, "max_expected": 2},
        (2, 2, 2),
    ),
    (
        "allow_downscale keeps the ev barrier",
        nodes((1, 1, 5), (2, 1, 5)),
        {"allow_decrease": True, "max_expected": 2, "allow_downscale": True, "ev_barrier": 4},
        (3, 2, 4),
    ),
    ("two_node both", nodes((1, 1, 2), (2, 1, 2)), {"two_node": True}, (1, 2, 2)),
    ("two_node alone", nodes((1, 1, 2), (2, 1, 2, D)), {"two_node": True}, (1, 1, 2)),
    ("two_node with 3 members", THREE, {"two_node": True}, (2, 3, 3)),
    (
        "qdevice casting",
        nodes((1, 1, 3), (2, 1, 3)),
        {"qdevice_votes": 1, "qdevice_cast_vote": True},
        (2, 3, 3),
    ),
    ("qdevice not casting", nodes((1, 1, 3), (2, 1, 3)), {"qdevice_votes": 1}, (2, 2, 3)),
    (
        "qdevice counts as a node for two_node",
        nodes((1, 1, 3), (2, 1, 3)),
        {"qdevice_votes": 1, "qdevice_cast_vote": True, "two_node": True},
        (2, 3, 3),
    ),
    (
        "qdevice n-1 votes, one node left",
        nodes((1, 1, 5), (2, 1, 5, D), (3, 1, 5, D)),
        {"qdevice_votes": 2, "qdevice_cast_vote": True},
        (3, 3, 5),
    ),
]


@pytest.mark.parametrize(
    ("name", "ns", "kwargs", "expected"), CALC_CASES, ids=[c[0] for c in CALC_CASES]
)
def test_calculate_quorum(
    name: str, ns: tuple[NodeVotes, ...], kwargs: dict[str, object], expected: tuple[int, int, int]
) -> None:
    args: dict[str, object] = {"previous_quorum": 0, "allow_decrease": False, **kwargs}
    figures = calculate_quorum(ns, **args)  # type: ignore[arg-type]
    assert (figures.quorum, figures.total_votes, figures.highest_expected) == expected


def test_total_votes_for_expected_counts_registered_device() -> None:
    assert get_total_votes(nodes((1, 1, 3), (2, 1, 3, D)), qdevice_votes=1) == (2, 2)


FOUR = nodes((1, 1, 4), (2, 1, 4), (3, 1, 4), (4, 1, 4))


def half(*alive: int) -> tuple[NodeVotes, ...]:
    return tuple(n if n.node_id in alive else NodeVotes(n.node_id, 1, 4, D) for n in FOUR)


LOWEST = QuorumOptions(auto_tie_breaker=AutoTieBreaker(AtbMode.LOWEST))
HIGHEST = QuorumOptions(auto_tie_breaker=AutoTieBreaker(AtbMode.HIGHEST))
LIST31 = QuorumOptions(auto_tie_breaker=AutoTieBreaker(AtbMode.LIST, (3, 1)))

# (id, nodes, us, options, quorum, total, expected, lowest, highest, members, previous, wfa,
#  expected (quorate, wfa status, waiting))
DECIDE_CASES = [
    (
        "majority",
        THREE,
        1,
        QuorumOptions(),
        2,
        3,
        3,
        -1,
        -1,
        (1, 2, 3),
        (),
        False,
        (True, False, False),
    ),
    (
        "minority",
        half(1),
        1,
        QuorumOptions(),
        3,
        1,
        4,
        1,
        4,
        (1,),
        (1, 2, 3, 4),
        False,
        (False, False, False),
    ),
    (
        "half, no atb",
        half(1, 2),
        1,
        QuorumOptions(),
        3,
        2,
        4,
        1,
        4,
        (1, 2),
        (1, 2, 3, 4),
        False,
        (False, False, False),
    ),
    (
        "atb lowest wins",
        half(1, 2),
        2,
        LOWEST,
        3,
        2,
        4,
        1,
        4,
        (1, 2),
        (1, 2, 3, 4),
        False,
        (True, False, False),
    ),
    (
        "atb lowest loses",
        half(3, 4),
        3,
        LOWEST,
        3,
        2,
        4,
        1,
        4,
        (3, 4),
        (1, 2, 3, 4),
        False,
        (False, False, False),
    ),
    (
        "atb highest",
        half(3, 4),
        3,
        HIGHEST,
        3,
        2,
        4,
        1,
        4,
        (3, 4),
        (1, 2, 3, 4),
        False,
        (True, False, False),
    ),
    (
        "atb never quorate",
        half(1, 2),
        1,
        LOWEST,
        3,
        2,
        4,
        -1,
        -1,
        (1, 2),
        (),
        False,
        (False, False, False),
    ),
    (
        "atb too many left",
        half(1, 2),
        1,
        LOWEST,
        3,
        2,
        4,
        1,
        4,
        (1, 2),
        (1, 2, 3, 4, 5, 6),
        False,
        (False, False, False),
    ),
    (
        "atb list first present",
        half(3, 4),
        4,
        LIST31,
        3,
        2,
        4,
        1,
        4,
        (3, 4),
        (1, 2, 3, 4),
        False,
        (True, False, False),
    ),
    (
        "atb list earlier node was with us",
        half(1, 2),
        1,
        LIST31,
        3,
        2,
        4,
        1,
        4,
        (1, 2),
        (1, 2, 3, 4),
        False,
        (False, False, False),
    ),
    (
        "atb list earlier node never seen",
        half(1, 2),
        1,
        LIST31,
        3,
        2,
        4,
        1,
        4,
        (1, 2),
        (1, 2),
        False,
        (True, False, False),
    ),
    (
        "wfa waiting",
        half(1, 2, 3),
        1,
        QuorumOptions(wait_for_all=True),
        3,
        3,
        4,
        -1,
        -1,
        (1, 2, 3),
        (),
        True,
        (False, True, True),
    ),
    (
        "wfa all seen",
        FOUR,
        1,
        QuorumOptions(wait_for_all=True),
        3,
        4,
        4,
        -1,
        -1,
        (1, 2, 3, 4),
        (),
        True,
        (True, False, False),
    ),
    (
        "wfa status set when inquorate",
        half(1),
        1,
        QuorumOptions(wait_for_all=True),
        3,
        1,
        4,
        1,
        4,
        (1,),
        (1, 2, 3, 4),
        False,
        (False, True, False),
    ),
]


@pytest.mark.parametrize("case", DECIDE_CASES, ids=[c[0] for c in DECIDE_CASES])
def test_decide_quorate(case: tuple) -> None:  # type: ignore[type-arg]
    (_, ns, us, opts, quorum, total, expected, lowest, highest, members, previous, wfa, want) = case
    decision = decide_quorate(
        ns,
        opts,
        us=us,
        expected_votes=expected,
        total_votes=total,
        quorum=quorum,
        was_quorate=False,
        wait_for_all_status=wfa,
        lowest_node_id=lowest,
        highest_node_id=highest,
        quorum_members=members,
        previous_quorum_members=previous,
    )
    assert (decision.quorate, decision.wait_for_all_status, decision.waiting_for_all) == want


def test_master_wins_partition_is_quorate() -> None:
    flags = NodeFlags.QDEVICE_MASTER_WINS | NodeFlags.QDEVICE_CAST_VOTE
    ns = (NodeVotes(1, 1, 4, M, int(flags)), NodeVotes(2, 1, 4, D))
    kwargs = dict(
        us=1,
        expected_votes=4,
        total_votes=1,
        quorum=3,
        was_quorate=False,
        wait_for_all_status=False,
        lowest_node_id=1,
        highest_node_id=2,
        quorum_members=(1,),
        previous_quorum_members=(1, 2),
    )
    assert decide_quorate(ns, QuorumOptions(qdevice_master_wins=True), **kwargs).quorate  # type: ignore[arg-type]
    assert not decide_quorate(ns, QuorumOptions(), **kwargs).quorate  # type: ignore[arg-type]


def test_recalculate_raises_expected_and_tracks_barrier() -> None:
    state = QuorumState(us=1, nodes=nodes((1, 1, 1), (2, 1, 1), (3, 1, 1)))
    result = recalculate(
        state, QuorumOptions(ev_tracking=True), allow_decrease=False, by_current_nodes=False
    )
    assert result.expected_votes_raised
    assert result.state.expected_votes == 3
    assert result.ev_tracking_barrier_changed and result.state.ev_tracking_barrier == 3
    assert result.state.quorum == 2 and result.state.quorate and result.quorum_changed
    assert result.state.me.flags == NodeFlags.QUORATE
    assert (result.state.lowest_node_id, result.state.highest_node_id) == (1, 3)


def test_recalculate_by_current_nodes_is_last_man_standing() -> None:
    state = QuorumState(
        us=1,
        nodes=nodes((1, 1, 5), (2, 1, 5), (3, 1, 5), (4, 1, 5, D), (5, 1, 5, D)),
        quorum=3,
        quorate=True,
    )
    result = recalculate(
        state, QuorumOptions(last_man_standing=True), allow_decrease=True, by_current_nodes=True
    )
    assert [n.expected_votes for n in result.state.nodes] == [3, 3, 3, 5, 5]
    assert result.state.quorum == 2 and result.state.quorate


def test_setexpected_and_setvotes_checks() -> None:
    three_of_three = dict(quorate=True, two_node=False, qdevice_votes=0, qdevice_cast_vote=False)
    assert validate_expected_votes(THREE, new_expected=3, **three_of_three)[0]  # type: ignore[arg-type]
    assert not validate_expected_votes(THREE, new_expected=2, **three_of_three)[0]  # type: ignore[arg-type]
    assert validate_expected_votes(THREE, new_expected=5, **three_of_three)[0]  # type: ignore[arg-type]
    assert not validate_expected_votes(THREE, new_expected=6, **three_of_three)[0]  # type: ignore[arg-type]
    one = nodes((1, 1, 3), (2, 1, 3, D), (3, 1, 3, D))
    assert validate_expected_votes(one, new_expected=1, **{**three_of_three, "quorate": False})[0]  # type: ignore[arg-type]
    common = dict(
        two_node=False,
        allow_downscale=False,
        ev_barrier=3,
        qdevice_votes=0,
        qdevice_cast_vote=False,
    )
    assert validate_node_votes(THREE, node_id=2, new_votes=2, **common)[0]  # type: ignore[arg-type]
    assert validate_node_votes(THREE, node_id=2, new_votes=0, **common)[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, AutoTieBreaker(AtbMode.LOWEST)),
        ("lowest", AutoTieBreaker(AtbMode.LOWEST)),
        ("highest", AutoTieBreaker(AtbMode.HIGHEST)),
        ("3 1", AutoTieBreaker(AtbMode.LIST, (3, 1))),
        ("  4   2 0 7", AutoTieBreaker(AtbMode.LIST, (4, 2))),
        ("5 x 6", AutoTieBreaker(AtbMode.LIST, (5,))),
        ("abc", None),
        ("0 1", None),
    ],
)
def test_parse_auto_tie_breaker_node(text: str | None, expected: AutoTieBreaker | None) -> None:
    assert parse_auto_tie_breaker_node(text) == expected


NL3 = tuple(NodelistEntry(n) for n in (1, 2, 3))
NL4 = tuple(NodelistEntry(n) for n in (1, 2, 3, 4))
NET = QdeviceSettings("net")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (VotequorumSettings(), "nodelist or quorum.expected_votes must be configured"),
        (VotequorumSettings(nodelist=(NodelistEntry(7),)), "nodelist or quorum.expected_votes"),
        (VotequorumSettings(nodelist=NL3, two_node=True, device=NET), "two_node and quorum device"),
        (
            VotequorumSettings(nodelist=NL3, auto_tie_breaker=True, last_man_standing=True),
            "auto_tie_breaker & last_man_standing not available in odd sized cluster",
        ),
        (VotequorumSettings(nodelist=NL4, last_man_standing=True, device=NET), "last_man_standing"),
        (VotequorumSettings(nodelist=NL4, auto_tie_breaker=True, device=NET), "auto_tie_breaker"),
        (VotequorumSettings(nodelist=NL4, allow_downscale=True, device=NET), "allow_downscale"),
        (
            VotequorumSettings(nodelist=NL4, expected_votes=5, device=NET),
            "device.votes must be specified when quorum.expected",
        ),
        (
            VotequorumSettings(nodelist=(NodelistEntry(1, 2), NodelistEntry(2)), device=NET),
            "not all nodes votes 1",
        ),
        (
            VotequorumSettings(
                nodelist=NL3, expected_votes=3, device=QdeviceSettings("net", votes=2)
            ),
            "too high",
        ),
    ],
)
def test_configuration_errors(settings: VotequorumSettings, message: str) -> None:
    with pytest.raises(VotequorumConfigError, match=message):
        resolve_settings(settings, 1)


def test_resolution_derives_corosync_values() -> None:
    r = resolve_settings(VotequorumSettings(nodelist=NL3, device=NET), 1)
    assert (r.votes, r.expected_votes, r.qdevice_votes) == (1, 5, 2)
    r = resolve_settings(
        VotequorumSettings(nodelist=NL4, device=QdeviceSettings("net", votes=1)), 2
    )
    assert (r.expected_votes, r.qdevice_votes) == (4, 1)
    r = resolve_settings(
        VotequorumSettings(nodelist=(NodelistEntry(1), NodelistEntry(2)), two_node=True), 1
    )
    assert r.two_node and r.wait_for_all
    r = resolve_settings(
        VotequorumSettings(
            nodelist=(NodelistEntry(1), NodelistEntry(2)), two_node=True, wait_for_all=False
        ),
        1,
    )
    assert r.two_node and not r.wait_for_all
    r = resolve_settings(VotequorumSettings(nodelist=NL4, two_node=True, auto_tie_breaker=True), 1)
    assert not r.two_node and r.auto_tie_breaker.mode is AtbMode.LOWEST
    assert ("CRIT", "two_node has been disabled, please fix your corosync.conf") in r.warnings
    r = resolve_settings(VotequorumSettings(nodelist=NL3, auto_tie_breaker=True), 1)
    assert r.auto_tie_breaker.mode is AtbMode.NONE
    r = resolve_settings(
        VotequorumSettings(nodelist=NL3, auto_tie_breaker=True, wait_for_all=True), 1
    )
    assert r.auto_tie_breaker.mode is AtbMode.LOWEST
    r = resolve_settings(VotequorumSettings(expected_votes=4, votes=2), 9)
    assert (r.votes, r.expected_votes) == (2, 4)
    r = resolve_settings(VotequorumSettings(nodelist=NL3, expected_votes=7), 3)
    assert r.expected_votes == 7
    r = resolve_settings(
        VotequorumSettings(nodelist=NL3, allow_downscale=True, ev_tracking_barrier=5), 1
    )
    assert r.ev_tracking and r.expected_votes == 5
    r = resolve_settings(
        VotequorumSettings(nodelist=NL4, auto_tie_breaker=True, auto_tie_breaker_node="x"), 1
    )
    assert r.auto_tie_breaker.mode is AtbMode.NONE and r.warnings[0][0] == "WARNING"


def test_recalculate_carries_every_field_it_does_not_compute() -> None:
    """``recalculate`` builds its result field by field (it runs once per NODEINFO): a field
    added to ``QuorumState`` must be carried over, not reset to its default."""
    computed = {
        "nodes",
        "quorum",
        "quorate",
        "wait_for_all_status",
        "ev_tracking_barrier",
        "lowest_node_id",
        "highest_node_id",
    }
    state = QuorumState(
        us=2,
        nodes=(NodeVotes(1, 1, 3), NodeVotes(2, 1, 3), NodeVotes(3, 1, 3)),
        quorum=2,
        quorate=True,
        qdevice_votes=1,
        ev_barrier=3,
        ev_tracking_barrier=3,
        lowest_node_id=1,
        highest_node_id=3,
        quorum_members=(1, 2, 3),
        previous_quorum_members=(1, 2),
    )
    fields = {f.name for f in dataclasses.fields(QuorumState)}
    assert computed < fields
    new = recalculate(state, QuorumOptions(), allow_decrease=False, by_current_nodes=False).state
    for name in sorted(fields - computed):
        assert getattr(new, name) == getattr(state, name), name
        default = QuorumState(us=0, nodes=())
        assert getattr(state, name) != getattr(default, name), f"{name}: pick a non-default"
