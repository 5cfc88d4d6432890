"""RedundantRing on its own: link choice, monitoring, decay, ring tests, re-enable, hold."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from totem.net.ringtest import (
    RING_TEST_ACTIVATE,
    RING_TEST_ACTIVE,
    RingTest,
    RingTestError,
    decode_ring_test,
    encode_ring_test,
)
from totem.net.rrp import RedundantRing, RingFaulty, RingRecovered, RrpSettings
from totem.srp.events import LogLevel, LogRecord
from totem.srp.state import Datagram

PASSIVE = RrpSettings(mode="passive", interface_count=2)
IFACES = ("10.0.0.1", "10.1.0.1")


def token(n: int = 0) -> bytes:
    """An ORF-token-looking datagram (RRP reads the header type only)."""
    return bytes.fromhex("70c00300") + bytes([0]) + n.to_bytes(4, "little") + bytes(52)


def mcast(n: int = 0) -> bytes:
    return bytes.fromhex("70c00301") + bytes([2]) + n.to_bytes(4, "little") + bytes(40)


def ring(node_id: int = 1, settings: RrpSettings = PASSIVE, **kw: object) -> RedundantRing:
    return RedundantRing(node_id, settings, interfaces=IFACES, **kw)  # type: ignore[arg-type]


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "active", "interface_count": 2}, 'The RRP mode "active" specified is invalid'),
        ({"mode": "none", "interface_count": 2}, "2 is too many configured interfaces"),
        ({"mode": "passive", "interface_count": 3}, "3 is too many configured interfaces"),
        ({"mode": "passive", "problem_count_threshold": 1}, "may not be less than 2"),
        ({"mode": "passive", "autorecovery_check_timeout": 0}, "must be positive"),
    ],
)
def test_refused_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RrpSettings(**kwargs)  # type: ignore[arg-type]


def test_interface_names_must_match_rings() -> None:
    with pytest.raises(ValueError, match="1 interface names for 2 rings"):
        RedundantRing(1, PASSIVE, interfaces=["10.0.0.1"])


# -- rrp_mode none -------------------------------------------------------------------------


def test_none_is_a_passthrough() -> None:
    rrp = RedundantRing(1)
    out = [Datagram(2, token()), Datagram(None, mcast())]
    assert rrp.assign(out) == out
    assert rrp.receive(token(), 0, 0.0) == [token()]
    assert rrp.receive(b"junk", 0, 0.0) == [b"junk"]
    assert rrp.receive(token(), 1, 0.0) == []
    assert rrp.stats.dropped == {"bad_link": 1}
    assert rrp.next_deadline() is None
    assert rrp.ring_reenable() == []
    assert [s.status for s in rrp.status()] == ["ring 0 active with no faults"]


# -- sending -------------------------------------------------------------------------------


def test_tokens_and_mcasts_alternate_with_separate_cursors() -> None:
    rrp = ring()
    out = rrp.assign(
        [
            Datagram(2, token(1)),
            Datagram(None, mcast(1)),
            Datagram(None, mcast(2)),
            Datagram(2, token(2)),
            Datagram(None, mcast(3)),
            Datagram(3, token(3)),
        ]
    )
    # 2.x moves the cursor before sending, so the first of each kind goes on ring 1
    routes = [(d.dest, d.link) for d in out]
    assert routes == [(2, 1), (None, 1), (None, 0), (2, 0), (None, 1), (3, 1)]
    assert [d.data for d in out][:2] == [token(1), mcast(1)]
    assert rrp.token_target == 3
    assert [(s.token_tx, s.mcast_tx) for s in rrp.status()] == [(1, 1), (2, 2)]


def test_faulty_ring_is_not_used() -> None:
    rrp = ring()
    rrp.faulty[0] = True
    out = rrp.assign([Datagram(None, mcast()) for _ in range(4)] + [Datagram(2, token())] * 3)
    assert {d.link for d in out} == {1}


def test_all_faulty_alternates_over_every_ring() -> None:
    rrp = ring()
    rrp.faulty[:] = [True, True]
    out = rrp.assign([Datagram(None, mcast()) for _ in range(4)])
    assert [d.link for d in out] == [1, 0, 1, 0]


# -- failure detection ---------------------------------------------------------------------


def test_token_lag_past_threshold_marks_the_ring_faulty() -> None:
    rrp = ring()
    for i in range(10):
        assert rrp.receive(token(i), 0, float(i)) == [token(i)]
        assert rrp.events() == []
    assert [s.token_problem for s in rrp.status()] == [0, 10]
    assert rrp.receive(token(10), 0, 10.0) == [token(10)]
    assert rrp.events() == [
        LogRecord(LogLevel.ERROR, "TOTEM", "Marking ringid 1 interface 10.1.0.1 FAULTY"),
        RingFaulty(1, "token problem count 11 > 10"),
    ]
    assert rrp.faulty == [False, True]
    status = rrp.status()[1]
    assert status.faulty and status.status == "Marking ringid 1 interface 10.1.0.1 FAULTY"
    assert status.token_problem == 11 and status.token_rx == 0
    assert rrp.status()[0].token_rx == 11
    assert rrp.assign([Datagram(2, token())] * 2)[1].link == 0
    rrp.receive(token(11), 0, 11.0)
    assert rrp.events() == []  # marked once


def test_mcast_threshold_is_separate() -> None:
    rrp = ring(settings=RrpSettings(mode="passive", interface_count=2))
    for i in range(100):
        rrp.receive(mcast(i), 1, 0.0)
    assert rrp.events() == []
    rrp.receive(mcast(100), 1, 0.0)
    assert rrp.events()[1] == RingFaulty(0, "message problem count 101 > 100")


def test_balanced_rings_never_lag() -> None:
    rrp = ring()
    for i in range(1000):
        rrp.receive(token(i), i % 2, 0.0)
        rrp.receive(mcast(i), (i + 1) % 2, 0.0)
    assert rrp.events() == [] and rrp.faulty == [False, False]
    assert rrp.next_deadline() == 2.0  # the decay tick, armed by the first transient lag


def test_garbage_is_passed_on_and_not_counted() -> None:
    rrp = ring()
    assert rrp.receive(b"\x00" * 60, 0, 0.0) == [b"\x00" * 60]
    assert rrp.receive(b"\x70\xc0", 0, 0.0) == [b"\x70\xc0"]
    assert [s.mcast_rx + s.token_rx for s in rrp.status()] == [0, 0]
    assert rrp.receive(token(), 2, 0.0) == []
    assert rrp.stats.dropped == {"bad_link": 1}


# -- problem count decay -------------------------------------------------------------------


def test_decay_lowers_a_live_lagging_ring() -> None:
    rrp = ring()
    for i in range(8):
        rrp.receive(token(i), 0, 0.0)
    rrp.receive(token(8), 1, 0.5)  # ring 1 is alive, just lossy
    assert rrp.status()[1].token_problem == 7
    assert rrp.next_deadline() == 2.0  # armed when the lag first appeared
    assert rrp.on_deadline(2.0) == []
    assert rrp.status()[1].token_problem == 6
    # no traffic on ring 1 since that tick: the next tick leaves it alone
    assert rrp.next_deadline() == 4.0
    rrp.on_deadline(4.0)
    assert rrp.status()[1].token_problem == 6


def test_decay_never_hides_a_dead_ring() -> None:
    rrp = ring()
    now = 0.0
    for i in range(11):  # one token every 3 s: slower than the decay
        rrp.receive(token(i), 0, now)
        now += 3.0
        while (due := rrp.next_deadline()) is not None and due <= now:
            rrp.on_deadline(due)
    assert rrp.faulty == [False, True]


# -- automatic recovery --------------------------------------------------------------------


def fault_ring_1(rrp: RedundantRing, now: float = 0.0) -> None:
    rrp.assign([Datagram(2, token())])  # learn the token target
    for i in range(11):
        rrp.receive(token(i), 0, now)
    assert rrp.faulty == [False, True]
    rrp.events()


def test_faulty_ring_is_tested_every_autorecovery_timeout() -> None:
    rrp = ring()
    fault_ring_1(rrp, now=5.0)
    assert rrp.next_deadline() == 6.0
    assert rrp.on_deadline(6.0) == []
    test = Datagram(2, encode_ring_test(RingTest(RING_TEST_ACTIVE, 1, 1, 1)), 1)
    assert rrp.outbox() == [test]
    assert test.data == bytes.fromhex(
        "70c0 0306 00 01000000 00000000 01000000 01000000 00000000".replace(" ", "")
    )
    assert rrp.next_deadline() == 7.0
    rrp.on_deadline(7.0)
    assert rrp.outbox() == [test]
    assert rrp.stats.ring_tests_sent == 2


def test_test_message_back_at_its_activator_starts_activation() -> None:
    rrp = ring()
    fault_ring_1(rrp)
    back = encode_ring_test(RingTest(RING_TEST_ACTIVE, 3, 1, 1, hops=2))
    assert rrp.receive(back, 1, 1.0) == []
    assert rrp.outbox() == [Datagram(2, encode_ring_test(RingTest(RING_TEST_ACTIVATE, 1, 1, 1)), 1)]
    assert rrp.events() == [
        LogRecord(LogLevel.DEBUG, "TOTEM", "received message requesting test of ring now active")
    ]
    # the activation message comes back too: re-enable, do not forward again
    done = encode_ring_test(RingTest(RING_TEST_ACTIVATE, 3, 1, 1, hops=2))
    assert rrp.receive(done, 1, 1.1) == []
    assert rrp.outbox() == []
    assert rrp.events() == [
        LogRecord(
            LogLevel.DEBUG, "TOTEM", "Received ring test activate message for ring 1 sent by node 1"
        ),
        LogRecord(LogLevel.NOTICE, "TOTEM", "Automatically recovered ring 1"),
        RingRecovered(1, automatic=True),
    ]
    assert rrp.faulty == [False, False]
    assert rrp.status()[1].status == "ring 1 active with no faults"
    assert [s.token_problem for s in rrp.status()] == [0, 0]  # every counter restarts
    assert rrp.next_deadline() is None


def test_other_nodes_forward_tests_and_reenable_on_activation() -> None:
    rrp = ring(node_id=2)
    rrp.assign([Datagram(3, token())])
    for i in range(11):
        rrp.receive(token(i), 0, 0.0)
    rrp.events()
    active = encode_ring_test(RingTest(RING_TEST_ACTIVE, 1, 1, 1, hops=0))
    rrp.receive(active, 1, 1.0)
    assert rrp.outbox() == [
        Datagram(3, encode_ring_test(RingTest(RING_TEST_ACTIVE, 2, 1, 1, hops=1)), 1)
    ]
    assert rrp.faulty == [False, True]  # a test alone changes nothing
    activate = encode_ring_test(RingTest(RING_TEST_ACTIVATE, 1, 1, 1, hops=0))
    rrp.receive(activate, 1, 1.1)
    assert rrp.outbox() == [
        Datagram(3, encode_ring_test(RingTest(RING_TEST_ACTIVATE, 2, 1, 1, hops=1)), 1)
    ]
    assert rrp.faulty == [False, False]
    assert RingRecovered(1) in rrp.events()


def test_activation_on_a_healthy_ring_is_quiet() -> None:
    rrp = ring(node_id=2)
    rrp.assign([Datagram(3, token())])
    rrp.receive(encode_ring_test(RingTest(RING_TEST_ACTIVATE, 1, 0, 1)), 0, 0.0)
    assert [e for e in rrp.events() if not isinstance(e, LogRecord)] == []
    assert len(rrp.outbox()) == 1


def test_a_test_whose_activator_is_gone_dies_out() -> None:
    rrp = RedundantRing(2, PASSIVE, interfaces=IFACES, nodelist_size=3)
    rrp.assign([Datagram(3, token())])
    rrp.receive(encode_ring_test(RingTest(RING_TEST_ACTIVE, 5, 1, 9, hops=2)), 1, 0.0)
    assert len(rrp.outbox()) == 1
    rrp.receive(encode_ring_test(RingTest(RING_TEST_ACTIVE, 5, 1, 9, hops=3)), 1, 0.0)
    assert rrp.outbox() == []
    assert rrp.stats.dropped == {"ring_test_expired": 1}


def test_malformed_and_misrouted_tests_are_dropped() -> None:
    rrp = ring()
    rrp.assign([Datagram(2, token())])
    good = encode_ring_test(RingTest(RING_TEST_ACTIVE, 3, 1, 3))
    rrp.receive(good[:20], 1, 0.0)
    rrp.receive(good, 0, 0.0)  # says ring 1, arrived on ring 0
    rrp.receive(good[:2] + b"\x07" + good[3:], 1, 0.0)
    assert rrp.outbox() == []
    assert rrp.stats.dropped == {
        "ring_test_short": 1,
        "ring_test_wrong_ring": 1,
        "ring_test_bad_version": 1,
    }


def test_no_token_target_yet() -> None:
    rrp = ring()
    for i in range(11):
        rrp.receive(token(i), 0, 0.0)
    rrp.on_deadline(1.0)
    assert rrp.outbox() == []
    assert rrp.stats.dropped == {"ring_test_no_target": 1}


def test_ring_test_codec_both_byte_orders() -> None:
    message = RingTest(RING_TEST_ACTIVATE, 0x01020304, 1, 0x0A0B0C0D, hops=7)
    little = encode_ring_test(message)
    assert decode_ring_test(little) == message
    big = bytes.fromhex("c070 03 07 00 01020304 00000000".replace(" ", "")) + bytes.fromhex(
        "00000001 0a0b0c0d 00000007".replace(" ", "")
    )
    assert decode_ring_test(big) == message
    for bad, reason in [
        (little[:24], "short"),
        (b"\x00\x00" + little[2:], "bad_magic"),
        (little[:3] + b"\x05" + little[4:], "bad_type"),
    ]:
        with pytest.raises(RingTestError) as info:
            decode_ring_test(bad)
        assert info.value.reason == reason


# -- administrative re-enable --------------------------------------------------------------


def test_ring_reenable() -> None:
    rrp = ring()
    fault_ring_1(rrp)
    assert rrp.ring_reenable(0) == []
    assert rrp.faulty == [False, True]
    assert rrp.ring_reenable() == [1]
    assert rrp.events() == [
        LogRecord(LogLevel.NOTICE, "TOTEM", "Ring 1 re-enabled by administrator request"),
        RingRecovered(1, automatic=False),
    ]
    assert rrp.faulty == [False, False]
    assert rrp.next_deadline() is None
    with pytest.raises(ValueError, match="no ring 2"):
        rrp.ring_reenable(2)


# -- token hold (msgs_missing) -------------------------------------------------------------


def test_token_held_until_messages_arrive() -> None:
    missing = [True]
    rrp = ring(msgs_missing=lambda data: missing[0])
    assert rrp.receive(token(1), 0, 1.0) == []
    assert rrp.next_deadline() == pytest.approx(1.047)
    assert rrp.release_token(1.01) == []
    assert rrp.receive(mcast(1), 1, 1.02) == [mcast(1)]
    missing[0] = False
    assert rrp.release_token(1.02) == [token(1)]
    assert rrp.release_token(1.03) == []
    assert rrp.stats.tokens_held == 1 and rrp.stats.tokens_held_expired == 0


def test_held_token_goes_after_token_expired_timeout() -> None:
    rrp = ring(msgs_missing=lambda data: True)
    rrp.receive(token(1), 0, 1.0)
    rrp.receive(token(2), 1, 1.01)  # a newer one replaces it, the deadline stays
    assert rrp.next_deadline() == pytest.approx(1.047)
    assert rrp.on_deadline(1.046) == []
    assert rrp.on_deadline(1.047) == [token(2)]
    assert rrp.stats.tokens_held_expired == 1
    assert rrp.release_token(1.05) == []


@settings(max_examples=100, deadline=None)
@given(
    arrivals=st.lists(
        st.tuples(st.sampled_from(["token", "mcast", "garbage"]), st.integers(0, 1)),
        max_size=400,
    )
)
def test_everything_reaches_srp_exactly_once(arrivals: list[tuple[str, int]]) -> None:
    """Whatever arrives on whichever ring, SRP gets each datagram once, in arrival order,
    and a ring is only ever marked FAULTY while it lags the other past a threshold."""
    rrp = ring()
    handed: list[bytes] = []
    expected: list[bytes] = []
    for n, (kind, link) in enumerate(arrivals):
        data = {"token": token, "mcast": mcast}[kind](n) if kind != "garbage" else bytes([n % 256])
        expected.append(data)
        handed.extend(rrp.receive(data, link, float(n)))
        for event in rrp.events():
            if isinstance(event, RingFaulty):
                problem = rrp.status()[event.ring]
                assert problem.token_problem > 10 or problem.mcast_problem > 100
    assert handed == expected
