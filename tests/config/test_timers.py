"""Effective Totem timers (ref totem-wire.md 6.5; totemconfig.c 3.1.7 and 2.4 for RRP)."""

from __future__ import annotations

import numpy
import pytest

from tests.config.conftext import conf, error, line_of, load_text, node
from totem.config import TimerError, TotemConfig, TotemTimers, compute_timers


def timers(n: int, **totem: int) -> TotemTimers:
    return compute_timers(TotemConfig(version=2, **totem), n)  # type: ignore[arg-type]


def nodes(n: int) -> list[str]:
    return [node(f"10.0.0.{i}", i) for i in range(1, n + 1)]


# --------------------------------------------------------------------------- verified figures


@pytest.mark.parametrize("n", [1, 2])
def test_two_nodes_or_fewer(n: int) -> None:
    assert timers(n) == TotemTimers(
        token=3000,
        token_retransmit=714,
        hold=561,
        token_retransmits_before_loss_const=4,
        join=50,
        send_join=0,
        consensus=3600,
        merge=200,
        downcheck=1000,
        fail_recv_const=2500,
        seqno_unchanged_const=30,
        miss_count_const=5,
        max_network_delay=50,
        window_size=50,
        max_messages=17,
        token_warning=75,
        heartbeat_failures_allowed=0,
        rrp_problem_count_timeout=2000,
        rrp_problem_count_threshold=10,
        rrp_problem_count_mcast_threshold=100,
        rrp_token_expired_timeout=714,
        rrp_autorecovery_check_timeout=1000,
    )


def test_three_nodes() -> None:
    t = timers(3)
    assert (t.token, t.token_retransmit, t.hold, t.consensus) == (3650, 869, 685, 4380)


def test_four_and_five_nodes() -> None:
    assert timers(4).token == 4300
    assert (timers(5).token, timers(5).consensus) == (4950, 5940)


def test_timers_of_a_parsed_config() -> None:
    config = load_text(conf(nodes=nodes(3)))
    assert config.member_count == 3
    assert (config.timers.token, config.timers.consensus) == (3650, 4380)
    assert config.timers.token_s == 3.65
    assert config.timers.consensus_s == 4.38
    assert config.timers.hold_s == 0.685


# --------------------------------------------------------------------------- derivations


def test_coefficient_applies_to_an_explicit_token_too() -> None:
    t = timers(3, token=1000)
    assert (t.token, t.token_retransmit, t.hold, t.consensus) == (1650, 392, 303, 1980)
    assert timers(4, token=1000, token_coefficient=100).token == 1200
    assert timers(5, token_coefficient=0).token == 3000


def test_zero_means_default_except_where_zero_is_meaningful() -> None:
    t = timers(2, token=0, join=0, consensus=0, merge=0, window_size=0, max_messages=0)
    assert (t.token, t.join, t.consensus, t.merge, t.window_size, t.max_messages) == (
        3000,
        50,
        3600,
        200,
        50,
        17,
    )
    t = timers(2, token_warning=0, send_join=0, heartbeat_failures_allowed=0)
    assert (t.token_warning, t.send_join, t.heartbeat_failures_allowed) == (0, 0, 0)
    assert t.token_warning_ms == 0


def test_only_some_timers_set() -> None:
    # retransmit set: hold derives from it, consensus still from token.
    t = timers(2, token_retransmit=1000)
    assert (t.token, t.token_retransmit, t.hold, t.consensus) == (3000, 1000, 790, 3600)
    # consensus set: kept as is.
    assert timers(3, consensus=10000).consensus == 10000
    # retransmits-before-loss changes the retransmit interval.
    t = timers(2, token_retransmits_before_loss_const=10)
    assert (t.token_retransmit, t.hold) == (294, 225)


def test_consensus_rounds_through_a_c_float() -> None:
    # consensus = (int)(float)(1.2 * token): above 2**24 a C float cannot hold every integer.
    token = 14_000_001
    assert int(1.2 * token) == 16_800_001
    assert int(numpy.float32(1.2 * token)) == 16_800_002
    assert timers(2, token=token).consensus == 16_800_002
    assert timers(2, token=4_000_000_000).consensus == 0x8000_0000  # (int) overflow on x86-64


def test_token_sum_wraps_at_32_bits() -> None:
    assert timers(3, token=0xFFFF_FFFF, token_coefficient=1001).token == 1000


def test_rrp_derivations() -> None:
    t = timers(3, rrp_problem_count_threshold=7)
    assert (t.rrp_problem_count_mcast_threshold, t.rrp_token_expired_timeout) == (70, 869)
    t = timers(2, rrp_problem_count_mcast_threshold=3, rrp_token_expired_timeout=100)
    assert (t.rrp_problem_count_mcast_threshold, t.rrp_token_expired_timeout) == (3, 100)
    assert t.rrp_problem_count_timeout_s == 2.0
    assert t.rrp_autorecovery_check_timeout_s == 1.0


def test_token_warning_ms() -> None:
    assert timers(2).token_warning_ms == 2250
    assert timers(2, token_warning=50).token_warning_s == 1.5


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("settings", "key", "message"),
    [
        ({"max_network_delay": 29}, "totem.max_network_delay",
         "The max_network_delay parameter (29 ms) may not be less than (30 ms)."),
        ({"token": 29}, "totem.token",
         "The token timeout parameter (29 ms) may not be less than (30 ms)."),
        ({"token_warning": 101}, "totem.token_warning",
         "The token warning parameter (101%) must be between 0 (disabled) and 100."),
        ({"token_retransmit": 29}, "totem.token_retransmit",
         "The token retransmit timeout parameter (29 ms) may not be less than (30 ms)."),
        ({"token": 100}, "totem.token",
         "Not appropriate token or token_retransmits_before_loss_const value set"),
        ({"hold": 13}, "totem.hold",
         "The token hold timeout parameter (13 ms) may not be less than (14 ms)."),
        ({"join": 29}, "totem.join",
         "The join timeout parameter (29 ms) may not be less than (30 ms)."),
        ({"consensus": 29}, "totem.consensus",
         "The consensus timeout parameter (29 ms) may not be less than (30 ms)."),
        ({"consensus": 40}, "totem.consensus",
         "The consensus timeout parameter (40 ms) may not be less than join timeout (50 ms)."),
        ({"join": 4000}, "totem.consensus",
         "The consensus timeout parameter (3600 ms) may not be less than join timeout "
         "(4000 ms)."),
        ({"merge": 29}, "totem.merge",
         "The merge timeout parameter (29 ms) may not be less than (30 ms)."),
        ({"downcheck": 29}, "totem.downcheck",
         "The downcheck timeout parameter (29 ms) may not be less than (30 ms)."),
        ({"rrp_problem_count_timeout": 29}, "totem.rrp_problem_count_timeout",
         "The RRP problem count timeout parameter (29 ms) may not be less than (30 ms)."),
        ({"rrp_problem_count_threshold": 1}, "totem.rrp_problem_count_threshold",
         "The RRP problem count threshold (1 problem count) may not be less than "
         "(2 problem count)."),
        ({"rrp_problem_count_mcast_threshold": 1}, "totem.rrp_problem_count_mcast_threshold",
         "The RRP multicast problem count threshold (1 problem count) may not be less than "
         "(2 problem count)."),
        ({"rrp_token_expired_timeout": 29}, "totem.rrp_token_expired_timeout",
         "The RRP token expired timeout parameter (29 ms) may not be less than (30 ms)."),
    ],
)  # fmt: skip
def test_refusals(settings: dict[str, int], key: str, message: str) -> None:
    with pytest.raises(TimerError) as info:
        timers(2, **settings)
    assert (info.value.key, str(info.value)) == (key, message)


def test_refusal_points_at_the_culprit_line() -> None:
    text = conf("join: 100\nconsensus: 60")
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'consensus')}: The consensus timeout parameter (60 ms) "
        "may not be less than join timeout (100 ms)."
    )
    # A derived consensus that falls below join is blamed on the totem section.
    text = conf("join: 4000")
    assert error(text).startswith("corosync.conf:1: The consensus timeout parameter (3600 ms)")


# --------------------------------------------------------------------------- corosync's count


def test_nodes_with_only_ring0_addr_count_twice_when_their_id_is_generated() -> None:
    # corosync 3.1.7 counts such a node twice (observed with corosync -t under gdb:
    # 2 nodes -> token 1320 for token 20, 3 -> 2620, 5 nodes -> 5220).
    plain = [node(f"10.0.0.{i}") for i in range(1, 3)]
    config = load_text(conf(nodes=plain))
    assert (config.member_count, config.timers.token) == (4, 4300)
    assert config.warnings == (
        "corosync.conf:7: corosync 3.1.7 counts 2 node(s) with only a ring0_addr twice when it "
        "generates their nodeid, so its token timeout grows as for 4 nodes; give each node a "
        "nodeid or a name to avoid that",
    )
    # A nodeid (even 0), a name, or any other key avoids it.
    assert load_text(conf(nodes=[node("10.0.0.1", 0), node("10.0.0.2", 0)])).member_count == 2
    named = [node("10.0.0.1", name="a"), node("10.0.0.2", name="b")]
    assert load_text(conf(nodes=named)).member_count == 2
    mixed = [node("10.0.0.1", 1), node("10.0.0.2"), node("10.0.0.3", 3)]
    assert load_text(conf(nodes=mixed)).timers.token == 4300
    assert load_text(conf(nodes=[node("10.0.0.1")])).member_count == 2
    assert load_text(conf(nodes=[node("10.0.0.1")])).warnings == ()
