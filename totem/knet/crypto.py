"""knet packet crypto: salt | AES-CBC | HMAC, as libknet 1.25 does it (ref knet/README.md 4).

The nss and openssl models of libknet produce the same bytes (``crypto_nss.c``,
``crypto_openssl.c``), so ``crypto_model`` only names which library a real node uses::

    | salt (16 random) | AES-CBC(key[:n], IV=salt, PKCS#7)(knet packet) | HMAC(key, salt | ct) |

* cipher ``aes256`` / ``aes192`` / ``aes128``: AES-CBC with the first 32 / 24 / 16 bytes
  of the key as it is (no KDF), the salt as IV, the whole knet packet (header included)
  padded PKCS#7 -- always at least one byte of pad;
* hash ``sha1`` / ``sha256`` / ``sha384`` / ``sha512`` / ``md5``: HMAC keyed with the
  *whole* key over what precedes it, appended (encrypt-then-MAC); checked first on
  receive;
* cipher ``none`` with a hash: ``packet | HMAC``; a cipher without hash is refused, as
  corosync refuses it.

Every packet is sealed on its own (pings and PMTUd probes too: a 26-byte ping is
16 + 32 + 32 = 80 bytes with aes256/sha256). There is no replay protection in the
format: knet's delivered-seq window (:mod:`totem.knet.seqring`) drops a DATA packet
delivered once, within 4096 sequence numbers.

Two configurations can be loaded at once (``KNET_MAX_CRYPTO_INSTANCES``), which is how
``corosync-cfgtool -R`` changes keys without a partition: a receiver tries the
configuration in use first, then the other one (``crypto.c``). :class:`CryptoSlots`
holds both, which one seals, and whether clear packets are still accepted.

The salt comes from the injected ``salt_source`` (``os.urandom`` in the daemon, a
seeded generator in the simulator): this core reads no randomness of its own.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from totem.knet.mtu import CryptoSizes

__all__ = [
    "CIPHER_KEY_BYTES",
    "HASH_BYTES",
    "KEY_LEN_MAX",
    "KEY_LEN_MIN",
    "MODELS",
    "SALT_SIZE",
    "CryptoConfig",
    "CryptoSlots",
    "KnetCrypto",
    "KnetCryptoError",
]

SALT_SIZE: Final = 16
"""``SALT_SIZE`` of both models: the AES-CBC IV."""
BLOCK_SIZE: Final = 16
KEY_LEN_MIN: Final = 128
"""``KNET_MIN_KEY_LEN``: bytes."""
KEY_LEN_MAX: Final = 4096
"""``KNET_MAX_KEY_LEN``."""
MODELS: Final = ("nss", "openssl")
CIPHER_KEY_BYTES: Final = {"none": 0, "aes128": 16, "aes192": 24, "aes256": 32}
HASH_BYTES: Final = {"none": 0, "md5": 16, "sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}

SaltSource = Callable[[int], bytes]


class KnetCryptoError(ValueError):
    """A packet that does not authenticate or decrypt; ``reason`` is a drop-counter key:
    ``crypto_short``, ``crypto_bad_hash``, ``crypto_bad_cipher``, ``crypto_bad_pad``."""

    reason: str

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CryptoConfig:
    """``struct knet_handle_crypto_cfg``: model, cipher, hash and the key bytes."""

    cipher: str = "none"
    hash: str = "none"
    key: bytes = b""
    model: str = "nss"

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"crypto_model {self.model!r} is not nss or openssl")
        if self.cipher not in CIPHER_KEY_BYTES:
            raise ValueError(f"crypto_cipher {self.cipher!r} is not supported")
        if self.hash not in HASH_BYTES:
            raise ValueError(f"crypto_hash {self.hash!r} is not supported")
        if self.cipher != "none" and self.hash == "none":
            raise ValueError("crypto_cipher requires crypto_hash with value other than none")
        if self.enabled and not KEY_LEN_MIN <= len(self.key) <= KEY_LEN_MAX:
            raise ValueError(
                f"the crypto key is {len(self.key)} bytes; knet needs "
                f"{KEY_LEN_MIN} to {KEY_LEN_MAX}"
            )

    @property
    def enabled(self) -> bool:
        return self.cipher != "none" or self.hash != "none"

    def __repr__(self) -> str:  # never print key material
        return (
            f"CryptoConfig(cipher={self.cipher!r}, hash={self.hash!r}, "
            f"model={self.model!r}, key=<{len(self.key)} bytes>)"
        )


class KnetCrypto:
    """One loaded crypto configuration (a ``crypto_instance``): seal and open packets.

    The per-packet cost is what limits a receiving node's throughput, so nothing is built
    per packet: one HMAC context keyed once (copied per packet), and one AES-CBC encryptor
    and one decryptor for the life of the key. A CBC context's chaining state after a
    packet is that packet's last ciphertext block; only the first block of the next packet
    depends on it. Sealing folds the new salt into that block by hand
    (``E(P0 ^ salt) == E((P0 ^ salt ^ state) ^ state)``); opening decrypts the salt
    block first (its output is thrown away), which leaves the salt as the chaining state.
    The bytes are exactly AES-CBC(key, IV=salt) of each packet on its own.
    """

    __slots__ = (
        "_dec",
        "_enc",
        "_enc_state",
        "_hash_size",
        "_mac",
        "config",
        "salt_source",
        "sizes",
    )

    def __init__(self, config: CryptoConfig, salt_source: SaltSource) -> None:
        if not config.enabled:
            raise ValueError("no crypto to load: cipher and hash are none")
        self.config = config
        self.salt_source = salt_source
        key_bytes = CIPHER_KEY_BYTES[config.cipher]
        hash_bytes = HASH_BYTES[config.hash]
        self.sizes = CryptoSizes(
            block=BLOCK_SIZE if key_bytes else 0,
            salt=SALT_SIZE if key_bytes else 0,
            hash=hash_bytes,
        )
        self._hash_size = hash_bytes
        self._mac: Any = None
        if hash_bytes:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.hmac import HMAC

            algorithms_by_name: dict[str, hashes.HashAlgorithm] = {
                "md5": hashes.MD5(),
                "sha1": hashes.SHA1(),
                "sha256": hashes.SHA256(),
                "sha384": hashes.SHA384(),
                "sha512": hashes.SHA512(),
            }
            self._mac = HMAC(config.key, algorithms_by_name[config.hash])
        self._enc: Any = None
        self._dec: Any = None
        self._enc_state = 0
        if key_bytes:
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

            cipher = Cipher(algorithms.AES(config.key[:key_bytes]), modes.CBC(bytes(BLOCK_SIZE)))
            self._enc = cipher.encryptor()
            self._dec = cipher.decryptor()

    @property
    def overhead_max(self) -> int:
        """Largest number of bytes sealing adds to a packet (salt, a full pad block, hash)."""
        return self.sizes.salt + self.sizes.block + self.sizes.hash

    def seal(self, packet: bytes) -> bytes:
        """``crypto_encrypt_and_sign``: the sealed form of one knet packet."""
        body = packet
        if self._enc is not None:
            salt = self.salt_source(SALT_SIZE)
            pad = BLOCK_SIZE - len(packet) % BLOCK_SIZE
            if len(packet) >= BLOCK_SIZE:
                head = packet[:BLOCK_SIZE]
                tail = packet[BLOCK_SIZE:] + _PADS[pad]
            else:
                head = packet + _PADS[pad][: BLOCK_SIZE - len(packet)]
                tail = _PADS[pad][BLOCK_SIZE - len(packet) :]
            first = (
                int.from_bytes(head, "big") ^ int.from_bytes(salt, "big") ^ self._enc_state
            ).to_bytes(BLOCK_SIZE, "big")
            ciphertext = self._enc.update(first + tail)
            self._enc_state = int.from_bytes(ciphertext[-BLOCK_SIZE:], "big")
            body = salt + ciphertext
        mac = self._mac
        if mac is not None:
            mac = mac.copy()
            mac.update(body)
            sealed: bytes = body + mac.finalize()
            return sealed
        return body

    def open(self, data: bytes) -> bytes:
        """``crypto_authenticate_and_decrypt``: the knet packet in ``data``; raises
        :class:`KnetCryptoError` for anything that does not check out."""
        return bytes(self.open_view(data))

    def open_view(self, data: bytes | memoryview) -> memoryview:
        """:meth:`open` without copying: a view of the knet packet (of a buffer of its
        own, or of ``data`` itself when there is no cipher)."""
        view = memoryview(data)
        mac = self._mac
        if mac is not None:
            size = len(view) - self._hash_size
            if size <= 0:
                raise KnetCryptoError("crypto_short")
            body = view[:size]
            mac = mac.copy()
            mac.update(body)
            if not hmac.compare_digest(mac.finalize(), view[size:]):
                raise KnetCryptoError("crypto_bad_hash")
        else:
            body = view
        decryptor = self._dec
        if decryptor is None:
            return body
        size = len(body) - SALT_SIZE
        if size <= 0 or size % BLOCK_SIZE:
            raise KnetCryptoError("crypto_bad_cipher")
        # the salt goes through the decryptor first: its block comes out as garbage, but
        # it leaves the salt as the chaining state, so the packet decrypts as with IV=salt
        plain = decryptor.update(body)
        pad = plain[-1]
        if not 1 <= pad <= BLOCK_SIZE or plain[-pad:] != _PADS[pad]:
            raise KnetCryptoError("crypto_bad_pad")
        return memoryview(plain)[SALT_SIZE:-pad]


_PADS: Final = tuple(bytes((n,)) * n for n in range(BLOCK_SIZE + 1))
"""PKCS#7 pad strings by length."""


class CryptoSlots:
    """The two crypto configurations of a handle and the one in use (``crypto.c``).

    ``in_use`` is 0 (clear), 1 or 2. ``rx_clear`` tells whether a packet that none of
    the loaded configurations opens is still tried as clear text
    (``KNET_CRYPTO_RX_ALLOW_CLEAR_TRAFFIC``); corosync disallows it whenever crypto is on.
    """

    __slots__ = ("in_use", "rx_clear", "slots")

    def __init__(self) -> None:
        self.slots: dict[int, KnetCrypto] = {}
        self.in_use = 0
        self.rx_clear = True

    @property
    def sealer(self) -> KnetCrypto | None:
        """The configuration that seals outgoing packets (None: clear)."""
        return self.slots.get(self.in_use) if self.in_use else None

    @property
    def sizes(self) -> CryptoSizes:
        """The sizes the MTU arithmetic uses (those of the configuration in use)."""
        sealer = self.sealer
        return sealer.sizes if sealer is not None else CryptoSizes()

    def set_config(self, index: int, crypto: KnetCrypto | None) -> None:
        """``knet_handle_crypto_set_config``: load (or clear, with None) slot 1 or 2."""
        if index not in (1, 2):
            raise ValueError(f"crypto config index {index} is not 1 or 2")
        if crypto is None:
            self.slots.pop(index, None)
            if self.in_use == index:
                self.in_use = 0
        else:
            self.slots[index] = crypto

    def use_config(self, index: int) -> None:
        """``knet_handle_crypto_use_config``: seal with slot ``index`` (0: clear)."""
        if index and index not in self.slots:
            raise ValueError(f"crypto config {index} is not loaded")
        self.in_use = index

    def open(self, data: bytes | memoryview) -> bytes | memoryview:
        """The clear packet, opened by the configuration in use, else by the other one
        (a view, see :meth:`KnetCrypto.open_view`); ``data`` itself when no configuration
        is loaded. Raises :class:`KnetCryptoError` (the first reason met) when none opens
        it; whether ``data`` is then tried as a clear packet (:attr:`rx_clear`) is the
        caller's decision."""
        slots = self.slots
        if not slots:
            return data
        first = slots.get(self.in_use)
        error: KnetCryptoError | None = None
        if first is not None:
            try:
                return first.open_view(data)
            except KnetCryptoError as err:
                if len(slots) == 1:
                    raise
                error = err
        for crypto in slots.values():
            if crypto is first:
                continue
            try:
                return crypto.open_view(data)
            except KnetCryptoError as err:
                error = error or err
        assert error is not None
        raise error
