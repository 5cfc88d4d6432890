"""``stats.knet.handle.*`` (``knet_handle_get_stats``): the counters of crypto and compression
and their timings (ref knet/README.md 2; libknet 1.25 ``threads_tx.c``, ``threads_rx.c``,
``handle_api.c``).

The timings are nanoseconds of the handle's injected clock (the daemon's
``time.monotonic_ns``); here a fake clock that moves by known steps makes them exact.
"""

from __future__ import annotations

from collections.abc import Iterator

from tests.knet.captures import AUTHKEY
from tests.knet.wirenet import Wire
from totem.knet.compress import CompressConfig
from totem.knet.crypto import CryptoConfig
from totem.knet.handle import KnetHandle
from totem.knet.layer import KnetLayer
from totem.knet.status import U64_MAX
from totem.node.knet_status import knet_cmap_stats

AES = CryptoConfig("aes256", "sha256", AUTHKEY)
TIMES = ("tx_compress", "rx_compress", "tx_crypt", "rx_crypt")


class StepClock:
    """A clock for one handle: each call returns the next value; a measured span is the
    step between two calls."""

    def __init__(self, steps: Iterator[int]) -> None:
        self.now = 0
        self.steps = steps

    def __call__(self) -> int:
        self.now += next(self.steps)
        return self.now


def spans(*values: int) -> Iterator[int]:
    """Start/end pairs whose spans are ``values``, then 1 ns spans for ever."""
    for value in values:
        yield 1
        yield value
    while True:
        yield 1


def timings(handle: KnetHandle, name: str) -> tuple[int, int, int]:
    stats = handle.stats
    return tuple(getattr(stats, f"{name}_time_{kind}") for kind in ("min", "max", "ave"))  # type: ignore[return-value]


def crypto_wire() -> Wire:
    wire = Wire()
    wire.add(1, [2], crypto=AES)
    wire.add(2, [1], crypto=AES)
    wire.run_until(3.0)
    assert wire.handles[2].reachable(1)
    return wire


def test_before_any_sample_the_minimums_are_u64_max_as_on_a_real_node() -> None:
    stats = {k: v for k, _t, v in knet_cmap_stats(KnetLayer(crypto_wire().handles[1]))}
    for name in TIMES:
        assert stats[f"stats.knet.handle.{name}_time_min"] == U64_MAX == 18446744073709551615
        assert stats[f"stats.knet.handle.{name}_time_max"] == 0
        assert stats[f"stats.knet.handle.{name}_time_ave"] == 0


def test_each_fragment_sealed_and_each_data_packet_opened_is_timed() -> None:
    wire = crypto_wire()
    sender, receiver = wire.handles[1], wire.handles[2]
    sender.clock_ns = StepClock(spans(3000, 1000, 2000))
    receiver.clock_ns = StepClock(spans(*([500] * 40)))
    sender_data_before = sender.stats.tx_crypt_packets
    receiver_data_before = receiver.stats.rx_crypt_packets
    assert wire.send(1, b"\x70\xc0\x03\x01" + bytes(4000))  # 3 fragments at 1397 bytes
    sealed = sender.stats.tx_crypt_packets - sender_data_before
    assert sealed == 3
    assert timings(sender, "tx_crypt") == (1000, 3000, (0 * 0 + 3000 + 1000 + 2000) // 3)
    wire.run_until(wire.now + 0.01)
    assert wire.delivered[2][-1] == b"\x70\xc0\x03\x01" + bytes(4000)
    # only DATA packets count (and are timed) on receive, as in libknet
    assert receiver.stats.rx_crypt_packets - receiver_data_before == 3
    assert timings(receiver, "rx_crypt") == (500, 500, 500)


def test_the_running_mean_is_libknets_integer_one() -> None:
    wire = crypto_wire()
    sender = wire.handles[1]
    sender.clock_ns = StepClock(spans(10, 11, 12))
    before = sender.stats.tx_crypt_packets
    for _ in range(3):
        assert wire.send(1, b"\x70\xc0\x03\x01" + bytes(40))
    # ave_{n+1} = (ave_n * n + t) // (n + 1), n counting every earlier (untimed) fragment
    ave = 0
    count = before
    for took in (10, 11, 12):
        ave = (ave * count + took) // (count + 1)
        count += 1
    assert timings(sender, "tx_crypt") == (10, 12, ave)


def test_compression_and_decompression_are_timed() -> None:
    wire = Wire()
    wire.add(1, [2])
    wire.add(2, [1])
    wire.run_until(3.0)
    sender, receiver = wire.handles[1], wire.handles[2]
    sender.set_compress(CompressConfig("zlib", 0, 1))
    sender.clock_ns = StepClock(spans(7000, 5000))
    receiver.clock_ns = StepClock(spans(900, 700))
    for _ in range(2):
        assert wire.send(1, b"\x70\xc0\x03\x01" + b"corosync " * 300)
        wire.run_until(wire.now + 0.01)
    assert sender.stats.tx_compressed_packets == 2
    assert timings(sender, "tx_compress") == (5000, 7000, 6000)
    assert receiver.stats.rx_compressed_packets == 2
    assert timings(receiver, "rx_compress") == (700, 900, 800)
    # nothing was encrypted: the crypto timings keep their initial values
    assert timings(sender, "tx_crypt") == (U64_MAX, 0, 0)


def test_without_a_clock_the_counters_go_up_and_the_timings_stay() -> None:
    wire = crypto_wire()
    sender, receiver = wire.handles[1], wire.handles[2]
    assert wire.send(1, b"\x70\xc0\x03\x01" + bytes(40))
    wire.run_until(wire.now + 0.01)
    assert sender.stats.tx_crypt_packets >= 1 and receiver.stats.rx_crypt_packets >= 1
    assert timings(sender, "tx_crypt") == timings(receiver, "rx_crypt") == (U64_MAX, 0, 0)


def test_get_stats_adds_the_sealed_service_packets_to_tx_crypt_packets() -> None:
    handle = crypto_wire().handles[1]
    stats = handle.stats
    service = (
        stats.tx_crypt_ping_packets
        + stats.tx_crypt_pong_packets
        + stats.tx_crypt_pmtu_packets
        + stats.tx_crypt_pmtu_reply_packets
    )
    assert service > 0
    reported = KnetLayer(handle).handle_stats()["tx_crypt_packets"]
    assert reported == stats.tx_crypt_packets + service
