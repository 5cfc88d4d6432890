"""DatagramCrypto: exact framing, key derivation, every drop reason, replay rules."""

from __future__ import annotations

import hmac
import struct
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from totem.net.crypto import (
    CIPHERS,
    HASHES,
    HEADER_SIZE,
    REPLAY_WINDOW,
    CryptoDrop,
    DatagramCrypto,
    boot_epoch,
)

KEY = bytes(range(256))
OTHER_KEY = bytes(reversed(range(256)))
EPOCH = 0x0123456789ABCDEF
TOTEM = bytes.fromhex("70c003010100000000000000") + b"\x00" * 40  # a Totem-looking datagram

HASH_CLASSES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "md5": hashes.MD5,
}


def pair(
    cipher: str = "aes256", hash: str = "sha256", key: bytes = KEY
) -> tuple[DatagramCrypto, DatagramCrypto]:
    sender = DatagramCrypto(cipher, hash, key, node_id=1, epoch=EPOCH)
    receiver = DatagramCrypto(cipher, hash, key, node_id=2, epoch=EPOCH + 1)
    return sender, receiver


def drop_reason(crypto: DatagramCrypto, data: bytes, now: float = 0.0) -> str:
    with pytest.raises(CryptoDrop) as info:
        crypto.open(data, now)
    return info.value.reason


# -- configuration -------------------------------------------------------------------------


def test_passthrough_when_both_none() -> None:
    crypto = DatagramCrypto("none", "none", None, node_id=1, epoch=EPOCH)
    assert not crypto.enabled
    assert crypto.overhead == 0
    assert crypto.seal(TOTEM) is TOTEM
    assert crypto.open(TOTEM, 0.0) is TOTEM
    assert crypto.open(b"", 0.0) == b""


@pytest.mark.parametrize(
    ("cipher", "hash", "key", "message"),
    [
        ("aes256", "none", KEY, "crypto_cipher requires crypto_hash with value other than none"),
        ("3des", "sha1", KEY, "crypto_cipher '3des' is not one of"),
        ("aes256", "crc32", KEY, "crypto_hash 'crc32' is not one of"),
        ("aes256", "sha256", None, "crypto needs a key of at least 16 bytes"),
        ("none", "sha256", b"short", "crypto needs a key of at least 16 bytes"),
    ],
)
def test_refused_settings(cipher: str, hash: str, key: bytes | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DatagramCrypto(cipher, hash, key, node_id=1, epoch=EPOCH)


def test_node_id_range() -> None:
    with pytest.raises(ValueError, match="node id"):
        DatagramCrypto("aes256", "sha256", KEY, node_id=0, epoch=EPOCH)


def test_boot_epoch_is_the_clock_in_milliseconds_then_16_random_bits() -> None:
    wall_ns = 1_700_000_000_123_456_789
    assert boot_epoch(wall_ns, 0xBEEF) == 1_700_000_000_123 << 16 | 0xBEEF
    assert boot_epoch(wall_ns, 0x1BEEF) == boot_epoch(wall_ns, 0xBEEF)  # 16 bits only
    # a later boot has a higher epoch whatever its random bits
    assert boot_epoch(wall_ns + 1_000_000, 0) > boot_epoch(wall_ns, 0xFFFF)


# -- exact framing -------------------------------------------------------------------------


def _subkey(cipher: str, hash: str, node_id: int, epoch: int) -> bytes:
    """The documented derivation, computed independently with one-shot HKDF."""
    suite = list(CIPHERS).index(cipher) << 4 | list(HASHES).index(hash)
    algorithm = HASH_CLASSES[hash]()
    length = CIPHERS[cipher][1] or algorithm.digest_size
    info = b"pycorosync datagram v1" + struct.pack(">BIQ", suite, node_id, epoch)
    return HKDF(algorithm, length, b"pycorosync totem v1", info).derive(KEY)


@pytest.mark.parametrize("cipher", ["aes128", "aes192", "aes256"])
@pytest.mark.parametrize("hash", ["sha1", "sha256", "sha384", "sha512"])
def test_aes_gcm_wire_format(cipher: str, hash: str) -> None:
    sender, receiver = pair(cipher, hash)
    sealed = sender.seal(TOTEM)
    suite = (list(CIPHERS).index(cipher) << 4) | list(HASHES).index(hash)
    header = b"\xc5\xec\x01" + bytes([suite]) + struct.pack(">IQQ", 1, EPOCH, 1)
    assert sealed[:HEADER_SIZE] == header
    assert len(sealed) == len(TOTEM) + 40 == len(TOTEM) + sender.overhead
    key = AESGCM(_subkey(cipher, hash, 1, EPOCH))
    nonce = b"\x00" * 4 + struct.pack(">Q", 1)
    assert sealed[HEADER_SIZE:] == key.encrypt(nonce, TOTEM, header)
    assert receiver.open(sealed, 0.0) == TOTEM
    second = sender.seal(TOTEM)
    assert second[16:24] == struct.pack(">Q", 2)
    assert receiver.open(second, 0.0) == TOTEM
    assert (sender.stats.sealed, receiver.stats.opened) == (2, 2)


@pytest.mark.parametrize("hash", ["sha1", "sha256", "sha384", "sha512", "md5"])
def test_hmac_only_wire_format(hash: str) -> None:
    sender, receiver = pair("none", hash)
    sealed = sender.seal(TOTEM)
    digest = HASH_CLASSES[hash]().digest_size
    assert sender.overhead == HEADER_SIZE + digest
    header = b"\xc5\xec\x01" + bytes([list(HASHES).index(hash)]) + struct.pack(">IQQ", 1, EPOCH, 1)
    assert sealed[:HEADER_SIZE] == header
    assert sealed[HEADER_SIZE:-digest] == TOTEM  # authenticated, not encrypted
    mac = hmac.digest(_subkey("none", hash, 1, EPOCH), header + TOTEM, hash)
    assert sealed[-digest:] == mac
    assert receiver.open(sealed, 0.0) == TOTEM


def test_every_sender_boot_has_its_own_key() -> None:
    one = DatagramCrypto("aes256", "sha256", KEY, node_id=1, epoch=EPOCH)
    again = DatagramCrypto("aes256", "sha256", KEY, node_id=1, epoch=EPOCH + 1)
    other = DatagramCrypto("aes256", "sha256", KEY, node_id=3, epoch=EPOCH)
    bodies = {c.seal(TOTEM)[HEADER_SIZE:] for c in (one, again, other)}
    assert len(bodies) == 3  # same counter 1, same plaintext: three ciphertexts


# -- drops ---------------------------------------------------------------------------------


def test_wrong_key_is_bad_tag() -> None:
    sender, _ = pair()
    stranger = DatagramCrypto("aes256", "sha256", OTHER_KEY, node_id=2, epoch=EPOCH)
    assert drop_reason(stranger, sender.seal(TOTEM)) == "bad_tag"
    assert stranger.stats.dropped == {"bad_tag": 1}
    assert stranger.stats.opened == 0


def test_wrong_key_hmac_is_bad_tag() -> None:
    sender, _ = pair("none", "sha256")
    stranger = DatagramCrypto("none", "sha256", OTHER_KEY, node_id=2, epoch=EPOCH)
    assert drop_reason(stranger, sender.seal(TOTEM)) == "bad_tag"


def test_other_settings_are_bad_suite() -> None:
    sender, _ = pair("aes128", "sha256")
    _, receiver = pair("aes256", "sha256")
    assert drop_reason(receiver, sender.seal(TOTEM)) == "bad_suite"


def test_plaintext_totem_from_a_node_without_crypto() -> None:
    _, receiver = pair()
    assert drop_reason(receiver, TOTEM) == "plaintext"
    assert drop_reason(receiver, TOTEM[:20]) == "plaintext"


@pytest.mark.parametrize("cut", [0, 1, 23, 24, 39])
def test_truncated(cut: int) -> None:
    sender, receiver = pair()
    sealed = sender.seal(b"")  # 40 bytes: the shortest sealed datagram
    assert len(sealed) == 40
    assert drop_reason(receiver, sealed[:cut]) == "truncated"


def test_truncated_body_is_bad_tag() -> None:
    sender, receiver = pair()
    sealed = sender.seal(TOTEM)
    assert drop_reason(receiver, sealed[:-1]) == "bad_tag"


def test_bad_magic_and_version() -> None:
    sender, receiver = pair()
    sealed = sender.seal(TOTEM)
    assert drop_reason(receiver, b"\x00\x00" + sealed[2:]) == "bad_magic"
    assert drop_reason(receiver, sealed[:2] + b"\x02" + sealed[3:]) == "bad_version"
    assert receiver.stats.dropped == {"bad_magic": 1, "bad_version": 1}
    assert receiver.open(sealed, 0.0) == TOTEM  # the real one still opens


@pytest.mark.parametrize("offset", [3, 4, 8, 15, 16, 23, 24, 60, -1])
def test_any_tampered_byte_is_refused(offset: int) -> None:
    sender, receiver = pair()
    sealed = bytearray(sender.seal(TOTEM))
    sealed[offset] ^= 0x01
    assert drop_reason(receiver, bytes(sealed)) in {"bad_tag", "bad_suite"}


@settings(max_examples=150, deadline=None)
@given(
    suite=st.sampled_from([("aes256", "sha256"), ("aes128", "sha1"), ("none", "sha512")]),
    payload=st.binary(max_size=300),
    edits=st.lists(st.tuples(st.integers(0, 400), st.integers(1, 255)), min_size=1, max_size=6),
    cut=st.none() | st.integers(0, 400),
    extra=st.binary(max_size=8),
)
def test_random_corruption_is_never_delivered(
    suite: tuple[str, str],
    payload: bytes,
    edits: list[tuple[int, int]],
    cut: int | None,
    extra: bytes,
) -> None:
    sender, receiver = pair(*suite)
    sealed = sender.seal(payload)
    corrupt = bytearray(sealed)
    for offset, flip in edits:
        corrupt[offset % len(corrupt)] ^= flip
    if cut is not None:
        corrupt = corrupt[: cut % (len(corrupt) + 1)]
    corrupt += extra
    if bytes(corrupt) == sealed:
        return
    with pytest.raises(CryptoDrop):
        receiver.open(bytes(corrupt), 0.0)
    assert receiver.stats.opened == 0
    assert receiver.open(sealed, 0.0) == payload  # corruption left no state behind


# -- replay --------------------------------------------------------------------------------


def test_a_datagram_opens_once() -> None:
    sender, receiver = pair()
    sealed = sender.seal(TOTEM)
    assert receiver.open(sealed, 0.0) == TOTEM
    assert drop_reason(receiver, sealed) == "replayed"
    assert receiver.stats.dropped == {"replayed": 1}


def test_resent_bytes_are_new_datagrams() -> None:
    """Totem re-sends a token with identical bytes: each send is sealed anew and accepted."""
    sender, receiver = pair()
    first, again = sender.seal(TOTEM), sender.seal(TOTEM)
    assert first != again
    assert receiver.open(first, 0.0) == receiver.open(again, 0.0) == TOTEM


def test_reordering_within_the_window() -> None:
    sender, receiver = pair()
    sealed = [sender.seal(bytes([i]) * 30) for i in range(200)]
    order = list(range(199, -1, -1))  # every datagram, newest first
    for i in order:
        assert receiver.open(sealed[i], 0.0) == bytes([i]) * 30
    for i in (0, 57, 199):
        assert drop_reason(receiver, sealed[i]) == "replayed"


def test_older_than_the_window_is_replayed() -> None:
    sender, receiver = pair()
    old = sender.seal(b"old ring mcast" + TOTEM)
    for _ in range(REPLAY_WINDOW):
        receiver.open(sender.seal(TOTEM), 0.0)
    # never seen, but counter REPLAY_WINDOW behind the newest: too old to judge
    assert drop_reason(receiver, old) == "replayed"
    assert receiver.open(sender.seal(TOTEM), 0.0) == TOTEM


def test_a_big_jump_resets_the_window() -> None:
    sender, receiver = pair()
    first = sender.seal(TOTEM)
    receiver.open(first, 0.0)
    later = [sender.seal(TOTEM) for _ in range(3 * REPLAY_WINDOW)]
    assert receiver.open(later[-1], 0.0) == TOTEM
    assert drop_reason(receiver, later[-1]) == "replayed"
    assert receiver.open(later[-2], 0.0) == TOTEM
    assert drop_reason(receiver, first) == "replayed"


def test_a_restarted_sender_is_accepted_and_its_old_boot_refused() -> None:
    old_boot = DatagramCrypto("aes256", "sha256", KEY, node_id=1, epoch=EPOCH)
    receiver = DatagramCrypto("aes256", "sha256", KEY, node_id=2, epoch=1)
    captured = [old_boot.seal(TOTEM) for _ in range(3)]
    assert receiver.open(captured[0], 1.0) == TOTEM
    new_boot = DatagramCrypto("aes256", "sha256", KEY, node_id=1, epoch=EPOCH + 1)
    assert receiver.open(new_boot.seal(TOTEM), 2.0) == TOTEM  # counter 1 again: a new boot
    assert receiver.stats.peer_restarts == 1
    # the old boot's never-seen datagrams are replays now
    assert drop_reason(receiver, captured[1], 3.0) == "stale_epoch"
    assert receiver.open(new_boot.seal(TOTEM), 4.0) == TOTEM


def test_a_lower_epoch_takes_over_after_silence() -> None:
    """A node whose clock stepped back across a restart is let in once its old boot is quiet."""
    later = DatagramCrypto("aes256", "sha256", KEY, node_id=1, epoch=EPOCH)
    receiver = DatagramCrypto("aes256", "sha256", KEY, node_id=2, epoch=1, epoch_takeover=10.0)
    assert receiver.open(later.seal(TOTEM), 100.0) == TOTEM
    earlier = DatagramCrypto("aes256", "sha256", KEY, node_id=1, epoch=EPOCH - 5)
    assert drop_reason(receiver, earlier.seal(TOTEM), 109.9) == "stale_epoch"
    assert receiver.open(earlier.seal(TOTEM), 110.0) == TOTEM
    assert receiver.stats.peer_restarts == 1
    # from now on the lower epoch is the one on record; a higher one is always a new boot
    assert receiver.open(earlier.seal(TOTEM), 110.1) == TOTEM
    assert receiver.status()["peers"]["1"]["epoch"] == EPOCH - 5


def test_replay_state_is_per_sender() -> None:
    one = DatagramCrypto("aes256", "sha256", KEY, node_id=1, epoch=EPOCH)
    three = DatagramCrypto("aes256", "sha256", KEY, node_id=3, epoch=EPOCH)
    receiver = DatagramCrypto("aes256", "sha256", KEY, node_id=2, epoch=1)
    assert receiver.open(one.seal(b"a" * 20), 0.0) == b"a" * 20
    assert receiver.open(three.seal(b"b" * 20), 0.0) == b"b" * 20  # counter 1 of another node


def test_status_has_no_key_material() -> None:
    sender, receiver = pair()
    receiver.open(sender.seal(TOTEM), 0.0)
    status = receiver.status()
    assert status["cipher"] == "aes256" and status["hash"] == "sha256"
    assert status["peers"] == {"1": {"epoch": EPOCH, "highest": 1}}
    assert status["opened"] == 1 and status["overhead"] == 40
    assert KEY.hex()[:32] not in repr(status)


def test_forged_headers_are_not_remembered() -> None:
    """Each forged (node, epoch) costs one key derivation but never fills the key cache."""
    sender, receiver = pair()
    receiver.open(sender.seal(TOTEM), 0.0)
    forged = bytearray(sender.seal(TOTEM))
    for n in range(2000):
        forged[4:16] = struct.pack(">IQ", 1000 + n, n)
        assert drop_reason(receiver, bytes(forged)) == "bad_tag"
    assert set(receiver._keys) == {(2, EPOCH + 1), (1, EPOCH)}
    assert receiver.open(sender.seal(TOTEM), 0.0) == TOTEM


@settings(max_examples=60, deadline=None)
@given(order=st.lists(st.integers(0, 299), min_size=1, max_size=600))
def test_any_order_with_repeats_opens_each_datagram_once(order: list[int]) -> None:
    sender, receiver = pair()
    sealed = [sender.seal(i.to_bytes(2, "big") * 10) for i in range(300)]
    opened: list[int] = []
    for i in order:
        try:
            plain = receiver.open(sealed[i], 0.0)
        except CryptoDrop as drop:
            assert drop.reason == "replayed"
            continue
        opened.append(int.from_bytes(plain[:2], "big"))
    assert sorted(opened) == sorted(set(order))  # 300 < REPLAY_WINDOW: nothing too old
    assert receiver.stats.dropped["replayed"] == len(order) - len(opened)
