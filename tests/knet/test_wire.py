"""The knet codec against real libknet 1.25 traffic (ref knet/README.md 1, 4, 5).

Every packet of the captures is decoded, rendered as the lab's decoder renders it and
compared with the shipped ``.decoded.txt`` line by line; every packet is rebuilt from its
fields by our encoders and compared byte for byte; with crypto, every packet is opened
with the test key and sealed again with its own salt, giving the captured bytes.
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.knet.captures import AUTHKEY, datagrams, decoded_text
from totem.knet import wire
from totem.knet.constants import TYPE_DATA, TYPE_PING, TYPE_PMTUD, TYPE_PMTUD_REPLY, TYPE_PONG
from totem.knet.crypto import CryptoConfig, KnetCrypto, KnetCryptoError
from totem.knet.wire import DataPacket, KnetWireError, PingPacket, PmtudPacket

_TOTEM = {0: "orf_token", 1: "mcast", 2: "merge_detect", 3: "join", 4: "commit_token"}


def render_totem(data: bytes) -> str:
    magic = int.from_bytes(data[0:2], "little")
    kind = _TOTEM.get(data[3], str(data[3]))
    nodeid = int.from_bytes(data[5:9], "little")
    target = int.from_bytes(data[9:13], "little")
    return (
        f"totem magic={magic:04x} ver={data[2]} type={kind} encap={data[4]} "
        f"nodeid={nodeid} target_nodeid={target} len={len(data)}"
    )


def render(packet: wire.Packet) -> str:
    """One packet as the lab's ``knet_decode.py`` prints it."""
    if isinstance(packet, DataPacket):
        name = "DATA"
        body = (
            f" seq={packet.seq} compress={packet.compress} bcast={int(packet.bcast)} "
            f"frag={packet.frag_seq}/{packet.frag_num} chan={packet.channel} | "
        )
        body += (
            render_totem(packet.payload)
            if packet.frag_seq in (0, 1)
            else f"frag-payload len={len(packet.payload)}"
        )
    elif isinstance(packet, PingPacket):
        name = "PONG" if packet.pong else "PING"
        body = (
            f" link={packet.link} ts={packet.ts_sec}.{packet.ts_nsec:09d} seq={packet.seq} "
            f"timed={int(packet.timed)} len={wire.PING_SIZE}"
        )
    else:
        name = "PMTUD_REPLY" if packet.reply else "PMTUD"
        body = f" link={packet.link} pmtud_size={packet.size} datalen={packet.length}"
    return f"knet v1 {name:<11} from_host={packet.node}{body}"


def rebuild(packet: wire.Packet, raw: bytes) -> bytes:
    """The packet from its fields, by our encoders."""
    if isinstance(packet, DataPacket):
        return (
            wire.encode_data_header(
                packet.node,
                packet.seq,
                compress=packet.compress,
                bcast=packet.bcast,
                frag_num=packet.frag_num,
                frag_seq=packet.frag_seq,
                channel=packet.channel,
            )
            + packet.payload
        )
    if isinstance(packet, PingPacket):
        now = wire.timespec_seconds(packet.ts_sec, packet.ts_nsec)
        ping = wire.encode_ping(packet.node, packet.link, now, packet.seq, timed=packet.timed)
        if packet.pong:
            # a pong is the pinger's ping echoed: rebuild that ping, then answer it
            pinger = ping[:2] + b"\0\0" + ping[4:]
            return wire.pong_for(pinger, packet.node)
        return ping
    if packet.reply:
        probe = wire.encode_pmtud(0, packet.link, packet.size, 1472)
        return wire.pmtud_reply(probe, packet.node)
    return wire.encode_pmtud(packet.node, packet.link, packet.size, packet.length)


def rendered_capture(name: str, crypto: KnetCrypto | None) -> list[str]:
    lines = []
    counts: Counter[str] = Counter()
    packets = datagrams(name)
    t0 = packets[0].ts
    for datagram in packets:
        raw = datagram.payload
        clear = crypto.open(raw) if crypto is not None else raw
        packet = wire.decode(clear)
        counts[render(packet).split()[2]] += 1
        extra = f" wire={len(raw)}" if crypto is not None else ""
        lines.append(
            f"{datagram.ts - t0:9.4f} {datagram.src}:{datagram.sport} > "
            f"{datagram.dst}:{datagram.dport}{extra} {render(packet)}"
        )
    lines.append(f"counts: {dict(counts)}")
    return lines


def test_clear_capture_decodes_as_the_lab_decoder_did() -> None:
    assert rendered_capture("clear-3nodes", None) == decoded_text("clear-3nodes")


def test_aes_capture_decrypts_and_decodes_as_the_lab_decoder_did() -> None:
    crypto = KnetCrypto(CryptoConfig("aes256", "sha256", AUTHKEY), bytes)
    assert rendered_capture("aes256-sha256-3nodes", crypto) == decoded_text("aes256-sha256-3nodes")


@pytest.mark.parametrize("name", ["clear-3nodes", "aes256-sha256-3nodes"])
def test_every_packet_type_rebuilds_byte_exact(name: str) -> None:
    crypto = KnetCrypto(CryptoConfig("aes256", "sha256", AUTHKEY), bytes) if "aes" in name else None
    kinds: Counter[int] = Counter()
    for datagram in datagrams(name):
        clear = crypto.open(datagram.payload) if crypto is not None else datagram.payload
        packet = wire.decode(clear)
        kinds[clear[1]] += 1
        expected = clear
        if isinstance(packet, PingPacket) and packet.pong:
            # the pinger's node id is gone from a pong: compare everything but it
            assert rebuild(packet, clear)[:2] == clear[:2]
            assert rebuild(packet, clear)[4:] == clear[4:]
            continue
        if isinstance(packet, PmtudPacket) and packet.reply:
            assert rebuild(packet, clear) == expected
            continue
        assert rebuild(packet, clear) == expected
    assert set(kinds) == {TYPE_DATA, TYPE_PING, TYPE_PONG, TYPE_PMTUD, TYPE_PMTUD_REPLY}


def test_pong_echoes_the_real_ping_byte_for_byte() -> None:
    packets = [d for d in datagrams("clear-3nodes")]
    pings = {d.payload[4:]: d for d in packets if d.payload[1] == TYPE_PING}
    answered = 0
    for datagram in packets:
        if datagram.payload[1] != TYPE_PONG:
            continue
        ping = pings.get(datagram.payload[4:])
        assert ping is not None
        replier = int.from_bytes(datagram.payload[2:4], "big")
        assert wire.pong_for(ping.payload, replier) == datagram.payload
        answered += 1
    assert answered == 127


def test_pmtud_reply_is_the_probes_first_nine_bytes() -> None:
    packets = datagrams("clear-3nodes")
    probes = [d for d in packets if d.payload[1] == TYPE_PMTUD]
    replies = [d for d in packets if d.payload[1] == TYPE_PMTUD_REPLY]
    assert len(probes) == len(replies) == 8
    for probe in probes:
        assert len(probe.payload) == 1472  # one probe of 1500 bytes on the wire
        assert probe.payload[7:9] == (1500).to_bytes(2, "little")
        replier = next(r for r in replies if r.src == probe.dst and r.dst == probe.src)
        node = int.from_bytes(replier.payload[2:4], "big")
        assert wire.pmtud_reply(probe.payload, node) == replier.payload


@pytest.mark.parametrize("name", ["aes256-sha256-3nodes", "pyknet-linkup-aes256"])
def test_sealing_again_with_the_captured_salt_gives_the_captured_bytes(name: str) -> None:
    opened = KnetCrypto(CryptoConfig("aes256", "sha256", AUTHKEY), bytes)
    count = 0
    for datagram in datagrams(name):
        raw = datagram.payload
        clear = opened.open(raw)
        sealer = KnetCrypto(
            CryptoConfig("aes256", "sha256", AUTHKEY, model="openssl"), lambda n, s=raw: s[:n]
        )
        assert sealer.seal(clear) == raw
        count += 1
    assert count > 100


def test_ping_is_80_bytes_sealed() -> None:
    crypto = KnetCrypto(CryptoConfig("aes256", "sha256", AUTHKEY), lambda n: bytes(n))
    assert len(crypto.seal(wire.encode_ping(3, 0, 1.5, 0))) == 80


def test_tampered_truncated_and_foreign_key_packets_do_not_open() -> None:
    crypto = KnetCrypto(CryptoConfig("aes256", "sha256", AUTHKEY), lambda n: bytes(n))
    raw = next(d.payload for d in datagrams("aes256-sha256-3nodes"))
    reasons = []
    for bad in (
        raw[:-1],
        raw[:20],
        b"",
        bytes([raw[0] ^ 1]) + raw[1:],
        raw[:40] + bytes([raw[40] ^ 0x80]) + raw[41:],
    ):
        with pytest.raises(KnetCryptoError) as info:
            crypto.open(bad)
        reasons.append(info.value.reason)
    assert set(reasons) <= {"crypto_short", "crypto_bad_hash"}
    other = KnetCrypto(CryptoConfig("aes256", "sha256", bytes(range(256))), bytes)
    with pytest.raises(KnetCryptoError, match="crypto_bad_hash"):
        other.open(raw)


def test_hash_only_is_packet_then_hmac() -> None:
    crypto = KnetCrypto(CryptoConfig("none", "sha1", AUTHKEY), bytes)
    ping = wire.encode_ping(1, 0, 10.0, 0)
    sealed = crypto.seal(ping)
    assert sealed[:26] == ping and len(sealed) == 26 + 20
    assert crypto.open(sealed) == ping


@pytest.mark.parametrize(
    ("cipher", "hashname"),
    list(itertools.product(["aes128", "aes192", "aes256", "none"], ["md5", "sha1", "sha512"])),
)
def test_every_cipher_and_hash_round_trips(cipher: str, hashname: str) -> None:
    crypto = KnetCrypto(CryptoConfig(cipher, hashname, AUTHKEY), lambda n: b"\x5a" * n)
    for size in (7, 15, 16, 17, 1397 + 26):
        packet = bytes(range(256)) * (size // 256) + bytes(size % 256)
        assert crypto.open(crypto.seal(packet)) == packet


def test_construct_declarations_agree_with_the_fast_paths() -> None:
    for datagram in datagrams("clear-3nodes")[:400]:
        data = datagram.payload
        packet = wire.decode(data)
        if isinstance(packet, DataPacket):
            parsed = wire.DATA_FORMAT.parse(data)
            assert (parsed.node, parsed.seq, parsed.frag_num, parsed.frag_seq) == (
                packet.node,
                packet.seq,
                packet.frag_num,
                packet.frag_seq,
            )
            assert parsed.payload == packet.payload
            assert wire.DATA_FORMAT.build(parsed) == data
        elif isinstance(packet, PingPacket):
            parsed = wire.PING_FORMAT.parse(data)
            assert (parsed.ts_sec, parsed.ts_nsec, parsed.seq) == (
                packet.ts_sec,
                packet.ts_nsec,
                packet.seq,
            )
            assert wire.PING_FORMAT.build(parsed) == data
        else:
            parsed = wire.PMTUD_FORMAT.parse(data)
            assert parsed.size == packet.size
            assert wire.PMTUD_FORMAT.build(parsed) == data


@given(
    node=st.integers(0, 0xFFFF),
    seq=st.integers(0, 0xFFFF),
    compress=st.integers(0, 7),
    bcast=st.booleans(),
    frag=st.integers(1, 255).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
    channel=st.integers(-128, 127),
    payload=st.binary(max_size=200),
)
def test_data_round_trip(
    node: int,
    seq: int,
    compress: int,
    bcast: bool,
    frag: tuple[int, int],
    channel: int,
    payload: bytes,
) -> None:
    frag_num, frag_seq = frag
    data = (
        wire.encode_data_header(
            node,
            seq,
            compress=compress,
            bcast=bcast,
            frag_num=frag_num,
            frag_seq=frag_seq,
            channel=channel,
        )
        + payload
    )
    assert wire.decode(data) == DataPacket(
        node, seq, payload, compress, bcast, frag_num, frag_seq, channel
    )
    assert wire.DATA_FORMAT.build(wire.DATA_FORMAT.parse(data)) == data


@given(
    node=st.integers(0, 0xFFFF),
    link=st.integers(0, 7),
    now=st.floats(0, 2**40, allow_nan=False),
    seq=st.integers(0, 0xFFFF),
    timed=st.booleans(),
    replier=st.integers(0, 0xFFFF),
)
def test_ping_pong_round_trip(
    node: int, link: int, now: float, seq: int, timed: bool, replier: int
) -> None:
    ping = wire.encode_ping(node, link, now, seq, timed=timed)
    sec, nsec = wire.timespec(now)
    assert wire.decode(ping) == PingPacket(node, link, sec, nsec, seq, timed)
    pong = wire.decode(wire.pong_for(ping, replier))
    assert pong == PingPacket(replier, link, sec, nsec, seq, timed, pong=True)


@given(data=st.binary(max_size=64))
def test_decode_never_raises_anything_but_its_error(data: bytes) -> None:
    try:
        wire.decode(data)
    except KnetWireError as err:
        assert err.reason in ("short", "bad_version", "bad_type")
