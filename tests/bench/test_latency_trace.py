"""The latency report reads the daemons' stamps step by step."""

from __future__ import annotations

from bench.latency_trace import report, unix_round_trip


def test_each_step_of_one_message_is_measured_from_its_stamps() -> None:
    us = 1000
    sender = [
        (0 * us, "request 50000"),  # the client stamped 50 us before the daemon read it
        (100 * us, "token_in"),
        (130 * us, "mcast_out"),
        (160 * us, "token_out"),
        (200 * us, "write 250000"),
        (500 * us, "token_in"),
        (540 * us, "token_out"),
    ]
    receiver = [(140 * us, "mcast_in"), (180 * us, "deferred"), (210 * us, "write 260000")]
    rows = dict(report(sender, [receiver]))
    assert rows["client stamp -> its request read by the sender's daemon"].split()[1] == "50"
    assert rows["request -> the token reaches the sender"].split()[1] == "100"
    assert rows["token in -> the message multicast (sender)"].split()[1] == "30"
    assert rows["token in -> token out, a visit that multicasts"].split()[1] == "60"
    assert rows["token in -> token out, a visit with nothing to send"].split()[1] == "40"
    assert rows["token rotation (token in -> token in)"].split()[1] == "400"
    assert rows["multicast -> the sender's own delivery written"].split()[1] == "70"
    assert rows["multicast received -> written to the client (receivers)"].split()[1] == "70"
    assert rows["client stamp -> delivery written (receiver)"].split()[1] == "260"


def test_the_bare_round_trip_floor_is_measured() -> None:
    p10, p50, p90 = unix_round_trip(50)
    assert 0 < p10 <= p50 <= p90
