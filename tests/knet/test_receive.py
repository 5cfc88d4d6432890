"""The receive side of a knet handle: defragmentation, duplicates, access lists, crypto
slots, compression, and hostile input that never raises (ref knet/README.md 1-4)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.knet.captures import AUTHKEY, datagrams
from tests.knet.wirenet import Wire, address
from totem.knet.compress import SUPPORTED_MODELS, CompressConfig, compress, decompress
from totem.knet.crypto import CryptoConfig
from totem.knet.handle import KnetHandle
from totem.knet.wire import encode_data_header, encode_ping

AES = CryptoConfig("aes256", "sha256", AUTHKEY)


def connected(**kwargs: object) -> Wire:
    wire = Wire()
    wire.add(1, [2], **kwargs)  # type: ignore[arg-type]
    wire.add(2, [1], **kwargs)  # type: ignore[arg-type]
    wire.run_until(3.0)
    assert wire.handles[2].reachable(1)
    return wire


def fragments(seq: int, message: bytes, size: int) -> list[bytes]:
    count = -(-len(message) // size)
    return [
        encode_data_header(1, seq, frag_num=count, frag_seq=i + 1)
        + message[i * size : (i + 1) * size]
        for i in range(count)
    ]


def feed(handle: KnetHandle, packets: list[bytes], now: float) -> list[bytes]:
    out = []
    for packet in packets:
        out += [p for _c, p in handle.receive(packet, now, 0, address(1, 0))]
    return out


def test_fragments_in_any_order_make_one_message() -> None:
    wire = connected()
    handle = wire.handles[2]
    message = bytes(random.Random(1).randbytes(4000))
    parts = fragments(100, message, 1000)
    assert feed(handle, parts[::-1], 3.0) == [message]
    # the same fragments again: the message was delivered, nothing more comes out
    assert feed(handle, parts, 3.1) == []
    assert handle.drops["duplicate"] == len(parts)


def test_a_repeated_fragment_is_ignored_and_a_bad_number_refused() -> None:
    wire = connected()
    handle = wire.handles[2]
    parts = fragments(200, b"z" * 3000, 1000)
    assert feed(handle, [parts[0], parts[0], parts[1]], 3.0) == []
    assert feed(handle, [parts[2]], 3.0) == [b"z" * 3000]
    bogus = encode_data_header(1, 201, frag_num=3, frag_seq=9) + b"x"
    assert feed(handle, [bogus], 3.0) == []
    assert handle.drops["bad_fragment"] == 1


def test_only_32_messages_are_reassembled_at_once() -> None:
    wire = connected()
    handle = wire.handles[2]
    incomplete = [fragments(300 + i, bytes([i]) * 2000, 1000)[0] for i in range(33)]
    feed(handle, incomplete, 3.0)
    assert handle.hosts[1].defrag.busy() == 32


def test_data_from_an_unlisted_address_or_a_foreign_link_is_dropped() -> None:
    wire = connected()
    handle = wire.handles[2]
    packet = encode_data_header(1, 7) + b"\x70\xc0\x03\x02" + bytes(25)
    assert handle.receive(packet, 3.0, 0, "192.0.2.9") == []
    assert handle.drops["no_link"] == 1
    ping = encode_ping(1, 0, 3.0, 0)
    handle.receive(ping, 3.0, 0, "192.0.2.9")
    assert handle.drops["acl"] == 1
    assert not [d for d in handle.outbox() if d.data[1] == 0x82]
    handle.access_lists = False
    handle.receive(ping, 3.0, 0, "192.0.2.9")
    assert [d for d in handle.outbox() if d.data[1] == 0x82]


def test_unicast_for_another_host_is_not_for_us() -> None:
    from totem.knet.layer import KnetLayer

    wire = connected()
    layer = KnetLayer(wire.handles[2])
    token = b"\x70\xc0\x03\x00\x00" + (1).to_bytes(4, "little") + (3).to_bytes(4, "little")
    packet = encode_data_header(1, 9, bcast=False) + token + bytes(40)
    assert layer.incoming(packet, 0, 3.0, address(1, 0)) == []
    assert wire.handles[2].drops["not_for_us"] == 1


def test_a_second_crypto_slot_opens_packets_sealed_with_the_new_key() -> None:
    wire = connected(crypto=AES)
    new = CryptoConfig("aes128", "sha512", bytes(range(200)))
    sender, receiver = wire.handles[1], wire.handles[2]
    sender.set_crypto(2, new)
    sender.use_crypto(2)
    wire.send(1, b"\x70\xc0\x03\x01" + bytes(40))
    wire.run_until(3.1)
    assert wire.delivered[2] == []  # the receiver has no second key yet
    assert receiver.drops["crypto_bad_hash"] >= 1
    receiver.set_crypto(2, new)
    wire.send(1, b"\x70\xc0\x03\x01" + bytes(41))
    wire.run_until(3.2)
    assert wire.delivered[2] == [b"\x70\xc0\x03\x01" + bytes(41)]
    assert receiver.crypto.in_use == 1  # it still seals with its own choice


def test_clear_packets_are_refused_when_crypto_is_on() -> None:
    wire = connected(crypto=AES)
    handle = wire.handles[2]
    handle.receive(encode_ping(1, 0, 3.0, 0), 3.0, 0, address(1, 0))
    assert handle.drops["crypto_bad_hash"] + handle.drops["crypto_short"] == 1
    assert not handle.outbox()


def test_wrong_key_never_brings_links_up() -> None:
    wire = Wire()
    wire.add(1, [2], crypto=AES)
    wire.add(2, [1], crypto=CryptoConfig("aes256", "sha256", bytes(256)))
    wire.run_until(10.0)
    assert not wire.handles[1].reachable(2) and not wire.handles[2].reachable(1)
    assert wire.handles[1].drops["crypto_bad_hash"] > 0


@pytest.mark.parametrize("model", [m for m in SUPPORTED_MODELS if m != "none"])
def test_compressed_messages_cross_the_wire(model: str) -> None:
    wire = connected()
    wire.handles[1].set_compress(CompressConfig(model, 0, 5 if model == "bzip2" else 1))
    message = b"\x70\xc0\x03\x01" + b"corosync " * 300
    wire.send(1, message)
    wire.run_until(3.2)
    assert wire.delivered[2] == [message]
    sent = [d for t, s, dst, lk, d in wire.sent if s == 1 and d[1] == 0][-1]
    assert sent[8] == CompressConfig(model).model_id and len(sent) < len(message)
    assert wire.handles[1].stats.tx_compressed_packets == 1


def test_short_messages_and_failed_compression_go_uncompressed() -> None:
    assert compress(CompressConfig("bzip2", 0, 0), b"x" * 500) is None  # bzip2 level 0
    wire = connected()
    wire.handles[1].set_compress(CompressConfig("zlib"))
    wire.send(1, b"\x70\xc0\x03\x01" + bytes(50))  # below the 100-byte threshold
    sent = [d for t, s, dst, lk, d in wire.sent if s == 1 and d[1] == 0][-1]
    assert sent[8] == 0


def test_decompression_is_bounded() -> None:
    bomb = compress(CompressConfig("zlib", 0, 9), bytes(200_000))
    assert bomb is not None
    with pytest.raises(ValueError):
        decompress(1, bomb)


REAL = [d.payload for d in datagrams("clear-3nodes")[:300]]


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from(REAL),
    flips=st.lists(st.tuples(st.integers(0, 1500), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 1500),
    junk=st.binary(max_size=40),
)
def test_mutated_real_packets_never_raise(
    base: bytes, flips: list[tuple[int, int]], cut: int, junk: bytes
) -> None:
    handle = KnetHandle(2, salt_source=bytes)
    from totem.knet.link import LinkConfig

    for host in (1, 2, 3):
        handle.add_host(host)
        handle.set_link(host, LinkConfig(0, "10.77.0.2", f"10.77.0.{host}", 5405))
    data = bytearray(base)
    for index, value in flips:
        if index < len(data):
            data[index] = value
    packet = bytes(data[:cut]) + junk
    handle.receive(packet, 1.0, 0, "10.77.0.1")
    handle.receive(packet, 1.0, 0, None)
    handle.outbox()


def test_random_bytes_are_counted_drops() -> None:
    handle = KnetHandle(2, salt_source=bytes)
    handle.set_crypto(1, AES)
    handle.use_crypto(1)
    handle.set_rx_clear(False)
    rng = random.Random(7)
    for _ in range(500):
        handle.receive(rng.randbytes(rng.randint(0, 200)), 1.0, 0, "10.0.0.1")
    assert sum(handle.drops.values()) == 500
