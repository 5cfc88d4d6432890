"""Simulated TCP streams: handshake, ordering, stalls, retransmission, close and reset, exactly."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from simulations.latency import Delay, DelaySampler
from simulations.network import QNETD_ID, Network
from simulations.streams import (
    RETRIES,
    RTO_MAX,
    RTO_MIN,
    SYN_RETRIES,
    StreamEvent,
    StreamNetwork,
)

D = 1 / 1024
"""One-way delay of every link (a power of two: arrival times add up exactly)."""
Q = QNETD_ID


class Clock:
    """The part of the simulation the streams use: ``now`` and ``call_at``."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def call_at(self, at: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (max(at, self.now), next(self._seq), action))

    def run_until(self, end: float) -> None:
        while self._heap and self._heap[0][0] <= end:
            at, _, action = heapq.heappop(self._heap)
            self.now = at
            action()
        self.now = max(self.now, end)


@dataclass
class Endpoint:
    """Records what its processes learn; ``listener`` is the incarnation accepting."""

    clock: Clock
    listener: int | None = None
    alive: set[int] = field(default_factory=lambda: {1})
    log: list[tuple[float, int, StreamEvent, bytes]] = field(default_factory=list)
    react: Callable[[int, StreamEvent, bytes], None] | None = None

    def stream_event(self, incarnation: int, conn_id: int, event: StreamEvent, data: bytes) -> bool:
        if incarnation not in self.alive:
            return False
        self.log.append((self.clock.now, conn_id, event, data))
        if self.react is not None:
            self.react(conn_id, event, data)
        return True

    def listening(self) -> int | None:
        return self.listener

    def events(self) -> list[tuple[float, StreamEvent, bytes]]:
        return [(at, event, data) for at, _, event, data in self.log]


def world(seed: int = 3) -> tuple[Clock, Network, StreamNetwork, Endpoint, Endpoint]:
    clock = Clock()

    def no_datagrams(at: float, src: int, dst: int, data: bytes, ring: int) -> None:
        raise AssertionError("streams never send datagrams")

    net = Network((1, 2), DelaySampler(seed), random.Random(seed), no_datagrams, hosts=(Q,))
    net.set_delay([(1, Q), (Q, 1), (2, Q), (Q, 2)], Delay(D))
    streams = StreamNetwork(net, clock)
    node = Endpoint(clock)
    host = Endpoint(clock, listener=1)
    streams.register(1, node)
    streams.register(Q, host)
    return clock, net, streams, node, host


def test_handshake_then_bytes_both_ways() -> None:
    clock, _net, streams, node, host = world()
    conn = streams.connect(1, 1, Q)
    clock.run_until(1.0)
    # SYN (D), SYN-ACK (D): connected; the handshake's last ACK (D): accepted
    assert node.events() == [(2 * D, StreamEvent.CONNECTED, b"")]
    assert host.events() == [(3 * D, StreamEvent.ACCEPTED, b"")]
    assert streams.send(conn, 1, b"preinit")
    assert streams.send(conn, 1, b"init")
    clock.run_until(2.0)
    assert host.events()[1:] == [
        (1.0 + D, StreamEvent.DATA, b"preinit"),
        (1.0 + D, StreamEvent.DATA, b"init"),
    ]
    assert streams.send(conn, Q, b"reply")
    clock.run_until(3.0)
    assert node.events()[-1] == (2.0 + D, StreamEvent.DATA, b"reply")
    assert streams.is_open(conn)
    assert streams.counters == {"connects": 1, "established": 1, "bytes": 16}


def test_nobody_listening_refuses_the_connection() -> None:
    clock, _net, streams, node, host = world()
    host.listener = None
    conn = streams.connect(1, 1, Q)
    clock.run_until(1.0)
    assert node.events() == [(2 * D, StreamEvent.REFUSED, b"")]
    assert host.events() == []
    assert not streams.send(conn, 1, b"x")
    streams.close(conn, 1)
    assert conn not in streams.connections
    assert streams.counters["refused"] == 1


def test_syn_retries_then_timeout_when_the_link_is_cut() -> None:
    clock, net, streams, node, _host = world()
    net.cut([(1, Q)])
    streams.connect(1, 1, Q)
    clock.run_until(1000.0)
    # SYNs at 0, 1, 3, 7, 15, 31, 63 s; the attempt fails 64 s after the last one
    assert SYN_RETRIES == 6
    assert node.events() == [(127.0, StreamEvent.REFUSED, b"")]
    assert net.counters["segments_dropped_cut"] == SYN_RETRIES + 1
    assert streams.counters["timeouts"] == 1


def test_a_syn_retry_gets_through_once_the_link_heals() -> None:
    clock, net, streams, node, host = world()
    net.cut([(Q, 1)])  # SYN-ACKs are lost
    streams.connect(1, 1, Q)
    clock.run_until(5.0)
    net.heal()
    clock.run_until(20.0)
    assert node.events() == [(7.0 + 2 * D, StreamEvent.CONNECTED, b"")]
    assert host.events() == [(7.0 + 3 * D, StreamEvent.ACCEPTED, b"")]


def test_a_cut_stalls_the_stream_and_retransmission_delivers_in_order_after_heal() -> None:
    clock, net, streams, _node, host = world()
    conn = streams.connect(1, 1, Q)
    clock.run_until(1.0)
    net.cut([(1, Q)])
    streams.send(conn, 1, b"a")
    streams.send(conn, 1, b"b")
    clock.run_until(1.5)
    assert [e for e in host.events() if e[1] is StreamEvent.DATA] == []
    net.heal()
    clock.run_until(10.0)
    # retransmissions at 1 + 0.2 (still cut), then 1 + 0.2 + 0.4 (through)
    data = [e for e in host.events() if e[1] is StreamEvent.DATA]
    assert data == [
        (pytest.approx(1.0 + 0.2 + 0.4 + D), StreamEvent.DATA, b"a"),
        (pytest.approx(1.0 + 0.2 + 0.4 + D), StreamEvent.DATA, b"b"),
    ]
    assert streams.counters["retransmissions"] == 4
    assert streams.is_open(conn)


def test_jitter_and_loss_never_reorder_duplicate_or_lose_bytes() -> None:
    clock, net, streams, _node, host = world(seed=11)
    net.set_delay([(1, Q), (Q, 1)], Delay(0.002, 0.0015))
    net.set_loss([(1, Q), (Q, 1)], 0.3)
    conn = streams.connect(1, 1, Q)
    clock.run_until(60.0)
    assert streams.is_open(conn)
    for i in range(200):
        assert streams.send(conn, 1, b"%d," % i)
        clock.run_until(clock.now + 0.0005)
    clock.run_until(600.0)
    received = b"".join(data for _, event, data in host.events() if event is StreamEvent.DATA)
    assert received == b"".join(b"%d," % i for i in range(200))
    assert net.counters["segments_dropped_loss"] > 0
    assert streams.counters["retransmissions"] > 0


def test_close_delivers_pending_data_then_eof() -> None:
    clock, _net, streams, node, host = world()
    conn = streams.connect(1, 1, Q)
    clock.run_until(1.0)
    streams.send(conn, 1, b"bye")
    streams.close(conn, 1)
    assert not streams.send(conn, 1, b"late")
    clock.run_until(2.0)
    assert host.events()[1:] == [
        (1.0 + D, StreamEvent.DATA, b"bye"),
        (1.0 + D, StreamEvent.EOF, b""),
    ]
    streams.close(conn, Q)  # the server closes its side after EOF
    clock.run_until(3.0)
    assert conn not in streams.connections
    assert node.events() == [(2 * D, StreamEvent.CONNECTED, b"")]


def test_data_to_a_closed_socket_is_answered_with_a_reset() -> None:
    clock, net, streams, node, host = world()
    conn = streams.connect(1, 1, Q)
    clock.run_until(1.0)
    net.cut([(Q, 1)])
    streams.close(conn, Q)  # qnetd drops the client; its FIN is lost on the cut link
    streams.send(conn, 1, b"echo")  # the client does not know yet
    clock.run_until(2.0)
    assert node.events() == [(2 * D, StreamEvent.CONNECTED, b"")]  # the RSTs are lost too
    net.heal()
    clock.run_until(3.0)
    # the client's retransmission at 1 + 0.2 + 0.4 + 0.8 draws an RST that gets through
    assert node.events()[-1] == (pytest.approx(2.4 + 2 * D), StreamEvent.RESET, b"")
    assert not streams.send(conn, 1, b"again")
    assert streams.counters["resets"] == 1
    assert host.events() == [(3 * D, StreamEvent.ACCEPTED, b"")]


def test_endpoint_down_closes_its_sockets_the_peer_reads_eof() -> None:
    clock, _net, streams, node, host = world()
    conn = streams.connect(1, 1, Q)
    clock.run_until(1.0)
    node.alive.clear()
    streams.endpoint_down(1, 1)
    clock.run_until(2.0)
    assert host.events()[-1] == (1.0 + D, StreamEvent.EOF, b"")
    assert not streams.send(conn, 1, b"x")
    streams.endpoint_down(1, 1)  # idempotent


def test_a_host_restarted_in_between_resets_the_old_connection() -> None:
    clock, _net, streams, node, host = world()
    conn = streams.connect(1, 1, Q)
    clock.run_until(1.0)
    streams.endpoint_down(Q, 1)  # qnetd killed: its kernel sends FIN
    host.alive = {2}
    host.listener = 2
    clock.run_until(2.0)
    assert node.events()[-1] == (1.0 + D, StreamEvent.EOF, b"")
    streams.close(conn, 1)
    again = streams.connect(1, 1, Q)
    clock.run_until(3.0)
    assert node.log[-1][1:3] == (again, StreamEvent.CONNECTED)
    assert host.log[-1][1:3] == (again, StreamEvent.ACCEPTED)


def test_retransmissions_run_out_the_sender_gets_reset_the_peer_is_not_told() -> None:
    clock, net, streams, node, host = world()
    conn = streams.connect(1, 1, Q)
    clock.run_until(1.0)
    net.partition([(1,), (Q,)])
    streams.send(conn, 1, b"lost")
    clock.run_until(5000.0)
    rtos = [min(RTO_MIN * 2**i, RTO_MAX) for i in range(RETRIES + 1)]
    assert node.events()[-1] == (pytest.approx(1.0 + sum(rtos)), StreamEvent.RESET, b"")
    assert host.events() == [(3 * D, StreamEvent.ACCEPTED, b"")]
    assert streams.counters["timeouts"] == 1
    assert streams.counters["retransmissions"] == RETRIES


def test_a_partition_naming_the_host_cuts_it_one_that_does_not_leaves_it_reachable() -> None:
    _clock, net, _streams, _node, _host = world()
    net.partition([(1,), (2,)])
    assert net.reachable(1, Q) and net.reachable(Q, 2) and not net.reachable(1, 2)
    net.partition([(1, Q), (2,)])
    assert net.reachable(1, Q) and not net.reachable(2, Q) and not net.reachable(Q, 2)
    assert net.pairs() == [(1, 2), (2, 1)]
