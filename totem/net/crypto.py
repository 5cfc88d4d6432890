"""Authenticated encryption of every Totem datagram, sans-IO (ref totem-wire.md 1).

corosync 3.1.7 carries **no crypto at all on udp/udpu** (``totemudp.c`` and
``totemudpu.c`` send the totemsrp buffer as-is; ``totem_config_validate`` refuses
``crypto_cipher``/``crypto_hash`` for any transport but knet). So this framing is
our own and only pycorosync nodes speak it: **keep crypto off (``none``/``none``)
in a ring that contains real corosync nodes.** corosync 2.x ``totemcrypto.c``
(nss, AES-CBC + HMAC, a random salt per datagram, no replay protection) was the
inspiration for the key handling, not for the format.

Configuration mapping (``crypto_cipher`` x ``crypto_hash``)
-----------------------------------------------------------
* ``none`` + ``none``: passthrough. ``seal``/``open`` return their input; the wire
  is exactly corosync's.
* ``none`` + hash: authentication only. The plaintext follows the header and an
  HMAC-<hash> over header and plaintext (full digest length) ends the datagram.
* ``aes128|aes192|aes256`` + hash: AES-GCM with that key size; the 16-byte GCM tag
  authenticates header and ciphertext. The hash names the HKDF hash used to
  derive the AES key (it is not a second MAC: GCM already is one).
* a cipher with hash ``none`` is refused, as corosync refuses it ("crypto_cipher
  requires crypto_hash with value other than none").
* ``md5`` is accepted as corosync 3 accepts it (HMAC-MD5 / HKDF-MD5); prefer sha256.

Keys
----
The shared key is the ``authkey`` file (or ``totem.key``): 128..4096 bytes, any
content. It is never used directly. ``prk = HKDF-Extract(salt="pycorosync totem
v1", authkey)`` with the configured hash, then for every *sender boot* a subkey
``HKDF-Expand(prk, info="pycorosync datagram v1" | suite | nodeid | epoch, L)``
(L = AES key size, or the digest size for HMAC). Each (sender, boot) thus has its
own key, so the GCM nonce may simply be the sender's counter: a (key, nonce)
pair never repeats, even across restarts and between nodes.

Wire format (all integers big-endian)
-------------------------------------
::

    off size field
      0   2  magic   0xC5 0xEC (a Totem datagram starts 0x70 0xC0 or 0xC0 0x70)
      2   1  version 1
      3   1  suite   cipher << 4 | hash   (cipher none 0, aes128 1, aes192 2, aes256 3;
                                           hash none 0, sha1 1, sha256 2, sha384 3,
                                           sha512 4, md5 5)
      4   4  nodeid  sender's node id
      8   8  epoch   sender's boot epoch (see below)
     16   8  counter sender's datagram counter, +1 for every sealed datagram
     24   n  body    AES-GCM ciphertext, or the plaintext when cipher is none
    24+n  t  tag     GCM tag (16) or HMAC (20 sha1, 32 sha256, 48 sha384, 64 sha512, 16 md5)

The 24 header bytes are authenticated (GCM associated data, or HMAC input). The
GCM nonce is ``00000000 | counter``. Overhead: 40 bytes with AES, 24 + digest
with HMAC only; the stack lowers SRP's ``net_mtu`` by :attr:`DatagramCrypto.overhead`.

Replay: what it means for Totem
-------------------------------
Totem re-sends by design: a token is retransmitted with identical bytes, MCASTs
are re-multicast unchanged from any holder, and SRP discards duplicates itself.
Those re-sends are *new* datagrams here: each pass through :meth:`seal` takes a
fresh counter. A replay is therefore a datagram whose (nodeid, epoch, counter)
was already accepted, or is too old to judge. Replays are dangerous for Totem
even though SRP drops duplicates: an old ring's MCAST or JOIN re-injected later
is a *foreign ring* message, and that makes a healthy ring regather. Rules, per
sender node id, applied after the tag checks out:

* ``epoch`` is the sender's boot epoch: milliseconds since 1970 at start, shifted
  left 16 bits, plus 16 random bits (:func:`boot_epoch`; the daemon reads its clock and
  randomness for it, a simulator derives it from its seed); so it grows across restarts.
  A higher epoch than the one on record means the sender restarted: its window starts
  afresh.
* a lower epoch is ``stale_epoch``, dropped -- unless the recorded epoch has been
  silent for ``epoch_takeover`` seconds (a node whose clock stepped back across a
  restart is let in after that, rather than locked out until its peers restart).
* within one epoch a sliding window of :data:`REPLAY_WINDOW` counters (RFC 4303
  style) accepts each counter once, in any order; older counters are ``replayed``.

Limit (documented, inherent without a handshake): a receiver that has just started
holds no record and accepts the first datagram it sees from each sender boot; a
replay that reaches it before the sender's live traffic is accepted once. The
live traffic then moves the window past it.

Drop reasons (``CryptoDrop.reason``, counted in :attr:`DatagramCrypto.stats`):
``truncated``, ``plaintext`` (a bare Totem datagram: a node without crypto),
``bad_magic``, ``bad_version``, ``bad_suite`` (another cipher/hash setting),
``bad_tag`` (tampered, or another key), ``replayed``, ``stale_epoch``.
The sender's node id is authenticated but, as in corosync, every holder of the key
is trusted: the key authenticates the cluster, not one node.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from cryptography.hazmat.primitives import hashes

__all__ = [
    "CIPHERS",
    "HASHES",
    "HEADER_SIZE",
    "KEY_LEN_MIN",
    "MAGIC",
    "REPLAY_WINDOW",
    "VERSION",
    "CryptoDrop",
    "CryptoStats",
    "DatagramCrypto",
    "boot_epoch",
]

MAGIC: Final = b"\xc5\xec"
VERSION: Final = 1
HEADER_SIZE: Final = 24
REPLAY_WINDOW: Final = 1024
"""Counters per sender boot that may arrive out of order (two rings reorder)."""
KEY_LEN_MIN: Final = 16
"""Shortest key accepted here; the config layer demands corosync's 128 for key files."""
EPOCH_TAKEOVER: Final = 10.0
"""Seconds of silence after which a lower epoch may replace the recorded one."""

CIPHERS: Final[dict[str, tuple[int, int]]] = {
    "none": (0, 0),
    "aes128": (1, 16),
    "aes192": (2, 24),
    "aes256": (3, 32),
}
"""cipher name -> (suite id, AES key bytes)."""

_HASH_IDS: Final[dict[str, tuple[int, str]]] = {
    "none": (0, ""),
    "sha1": (1, "SHA1"),
    "sha256": (2, "SHA256"),
    "sha384": (3, "SHA384"),
    "sha512": (4, "SHA512"),
    "md5": (5, "MD5"),
}
"""hash name -> (suite id, class name in ``cryptography.hazmat.primitives.hashes``)."""
HASHES: Final = tuple(_HASH_IDS)
"""Accepted ``crypto_hash`` names."""

_HEADER = struct.Struct(">2sBBIQQ")
_NONCE = struct.Struct(">4xQ")
_U64_MAX = (1 << 64) - 1
_WINDOW_MASK = (1 << REPLAY_WINDOW) - 1
_TOTEM_MAGICS = (b"\x70\xc0", b"\xc0\x70")
_KEY_CACHE_MAX = 1024


def boot_epoch(wall_ns: int, random16: int) -> int:
    """A boot epoch: wall-clock milliseconds (of ``wall_ns``, nanoseconds since 1970) << 16 |
    16 random bits, so it grows across restarts. The caller reads the clock and randomness
    (the daemon: ``time.time_ns()``, two bytes of ``os.urandom``)."""
    return ((wall_ns // 1_000_000) << 16 | (random16 & 0xFFFF)) & _U64_MAX


class CryptoDrop(ValueError):
    """A datagram refused by :meth:`DatagramCrypto.open`; ``reason`` is a counter key."""

    reason: str

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(slots=True)
class CryptoStats:
    """What the crypto layer did, for ``pycorosync-cfgtool -s --json`` and tests."""

    sealed: int = 0
    opened: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    peer_restarts: int = 0
    """Senders seen with a new (higher, or taken-over) epoch."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "sealed": self.sealed,
            "opened": self.opened,
            "dropped": dict(self.dropped),
            "peer_restarts": self.peer_restarts,
        }


@dataclass(slots=True)
class _Peer:
    """Replay state of one sender node id: its current boot and the counter window."""

    epoch: int
    highest: int
    window: int
    """Bit i set: counter ``highest - i`` was accepted."""
    last_heard: float


class DatagramCrypto:
    """Seal outgoing and open incoming datagrams of one node (see module docstring)."""

    def __init__(
        self,
        cipher: str,
        hash: str,
        key: bytes | None,
        *,
        node_id: int,
        epoch: int,
        epoch_takeover: float = EPOCH_TAKEOVER,
    ) -> None:
        if cipher not in CIPHERS:
            raise ValueError(f"crypto_cipher {cipher!r} is not one of {', '.join(CIPHERS)}")
        if hash not in _HASH_IDS:
            raise ValueError(f"crypto_hash {hash!r} is not one of {', '.join(HASHES)}")
        if cipher != "none" and hash == "none":
            raise ValueError("crypto_cipher requires crypto_hash with value other than none")
        if not 0 < node_id <= 0xFFFFFFFF:
            raise ValueError(f"node id must be 1..2^32-1, not {node_id}")
        self.cipher = cipher
        self.hash = hash
        self.node_id = node_id
        self.enabled = hash != "none"
        self.stats = CryptoStats()
        self.epoch_takeover = epoch_takeover
        cipher_id, self._aes_len = CIPHERS[cipher]
        hash_id, hash_name = _HASH_IDS[hash]
        self.suite = cipher_id << 4 | hash_id
        self.epoch = epoch
        if not 0 <= self.epoch <= _U64_MAX:
            raise ValueError("epoch must fit in 64 bits")
        self._counter = 0
        self._peers: dict[int, _Peer] = {}
        self._keys: dict[tuple[int, int], Any] = {}
        self._hash_class: type[hashes.HashAlgorithm] | None = None
        self._prk = b""
        self._tag_len = 0
        self._digest_size = 0
        if not self.enabled:
            self.overhead = 0
            return
        if key is None or len(key) < KEY_LEN_MIN:
            raise ValueError(f"crypto needs a key of at least {KEY_LEN_MIN} bytes")
        # cryptography is loaded only when crypto is on: a plain ring never pays its import
        from cryptography.exceptions import InvalidSignature, InvalidTag
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives import hmac as crypto_hmac
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

        self._hmac = crypto_hmac.HMAC
        self._aesgcm = AESGCM
        self._hkdf_expand = HKDFExpand
        self._invalid_tag = InvalidTag
        self._invalid_signature = InvalidSignature
        hash_class: type[hashes.HashAlgorithm] = getattr(hashes, hash_name)
        self._hash_class = hash_class
        extract = self._hmac(b"pycorosync totem v1", hash_class())
        extract.update(key)
        self._prk = extract.finalize()
        self._digest_size = hash_class().digest_size
        self._tag_len = 16 if self._aes_len else self._digest_size
        self.overhead = HEADER_SIZE + self._tag_len
        """Bytes ``seal`` adds to every datagram."""
        self._own = self._key_for(node_id, self.epoch)

    # ------------------------------------------------------------------------------------
    # Keys
    # ------------------------------------------------------------------------------------
    def _key_for(self, node_id: int, epoch: int, *, remember: bool = True) -> Any:
        """The AESGCM object, or keyed HMAC to copy, of one sender boot.

        Keys are cached once a datagram under them has authenticated (``remember``), so
        forged headers cost a derivation each but never evict the real peers' keys.
        """
        found = self._keys.get((node_id, epoch))
        if found is not None:
            return found
        assert self._hash_class is not None
        length = self._aes_len or self._digest_size
        info = b"pycorosync datagram v1" + struct.pack(">BIQ", self.suite, node_id, epoch)
        raw = self._hkdf_expand(self._hash_class(), length, info).derive(self._prk)
        key: Any = self._aesgcm(raw) if self._aes_len else self._hmac(raw, self._hash_class())
        if remember:
            self._remember(node_id, epoch, key)
        return key

    def _remember(self, node_id: int, epoch: int, key: Any) -> None:
        if len(self._keys) >= _KEY_CACHE_MAX:
            self._keys.clear()
            self._keys[(self.node_id, self.epoch)] = self._own
        self._keys[(node_id, epoch)] = key

    # ------------------------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------------------------
    def seal(self, data: bytes) -> bytes:
        """``data`` framed, encrypted and authenticated for the wire (passthrough if off)."""
        if not self.enabled:
            return data
        self._counter += 1
        counter = self._counter
        if counter > _U64_MAX:  # pragma: no cover - 2^64 datagrams
            raise OverflowError("datagram counter exhausted: restart the node")
        header = _HEADER.pack(MAGIC, VERSION, self.suite, self.node_id, self.epoch, counter)
        self.stats.sealed += 1
        if self._aes_len:
            sealed: bytes = self._own.encrypt(_NONCE.pack(counter), data, header)
            return header + sealed
        message = header + data
        mac = self._own.copy()
        mac.update(message)
        tag: bytes = mac.finalize()
        return message + tag

    # ------------------------------------------------------------------------------------
    # Receiving
    # ------------------------------------------------------------------------------------
    def open(self, data: bytes, now: float) -> bytes:
        """The Totem datagram inside ``data``, or :class:`CryptoDrop` (counted) if refused.

        ``now`` is the driver's monotonic clock, used only for ``epoch_takeover``.
        """
        if not self.enabled:
            return data
        try:
            return self._open(data, now)
        except CryptoDrop as drop:
            self.stats.dropped[drop.reason] += 1
            raise

    def _open(self, data: bytes, now: float) -> bytes:
        if len(data) < HEADER_SIZE + self._tag_len:
            if data[:2] in _TOTEM_MAGICS:
                raise CryptoDrop("plaintext", "unsealed Totem datagram (crypto off there?)")
            raise CryptoDrop("truncated", f"{len(data)} bytes")
        magic, version, suite, node_id, epoch, counter = _HEADER.unpack_from(data)
        if magic != MAGIC:
            if magic in _TOTEM_MAGICS:
                raise CryptoDrop("plaintext", "unsealed Totem datagram (crypto off there?)")
            raise CryptoDrop("bad_magic", magic.hex())
        if version != VERSION:
            raise CryptoDrop("bad_version", str(version))
        if suite != self.suite:
            raise CryptoDrop("bad_suite", f"{suite:#04x}, expected {self.suite:#04x}")
        peer = self._peers.get(node_id)
        fresh_boot = self._check_replay(peer, node_id, epoch, counter, now)
        known = (node_id, epoch) in self._keys
        key = self._key_for(node_id, epoch, remember=False)
        header = data[:HEADER_SIZE]
        if self._aes_len:
            try:
                plain: bytes = key.decrypt(_NONCE.pack(counter), data[HEADER_SIZE:], header)
            except self._invalid_tag:
                raise CryptoDrop("bad_tag", f"from node {node_id}") from None
        else:
            split = len(data) - self._tag_len
            mac = key.copy()
            mac.update(data[:split])
            try:
                mac.verify(data[split:])  # constant time
            except self._invalid_signature:
                raise CryptoDrop("bad_tag", f"from node {node_id}") from None
            plain = data[HEADER_SIZE:split]
        if not known:
            self._remember(node_id, epoch, key)
        self._accept(peer, fresh_boot, node_id, epoch, counter, now)
        self.stats.opened += 1
        return plain

    def _check_replay(
        self, peer: _Peer | None, node_id: int, epoch: int, counter: int, now: float
    ) -> bool:
        """Refuse a replay before spending a decryption; True if this starts a new boot."""
        if peer is None or epoch > peer.epoch:
            return True
        if epoch < peer.epoch:
            if now - peer.last_heard >= self.epoch_takeover:
                return True
            raise CryptoDrop("stale_epoch", f"node {node_id} epoch {epoch:#x} < {peer.epoch:#x}")
        if counter > peer.highest:
            return False
        offset = peer.highest - counter
        if offset >= REPLAY_WINDOW or (peer.window >> offset) & 1:
            raise CryptoDrop("replayed", f"node {node_id} counter {counter}")
        return False

    def _accept(
        self,
        peer: _Peer | None,
        fresh_boot: bool,
        node_id: int,
        epoch: int,
        counter: int,
        now: float,
    ) -> None:
        """Record an authenticated datagram in its sender's window."""
        if fresh_boot or peer is None:
            if peer is not None:
                self.stats.peer_restarts += 1
            self._peers[node_id] = _Peer(epoch, counter, 1, now)
            return
        peer.last_heard = now
        if counter > peer.highest:
            shift = counter - peer.highest
            if shift < REPLAY_WINDOW:
                peer.window = ((peer.window << shift) | 1) & _WINDOW_MASK
            else:
                peer.window = 1
            peer.highest = counter
        else:
            peer.window |= 1 << (peer.highest - counter)

    # ------------------------------------------------------------------------------------
    # Status
    # ------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """A JSON-able summary (no key material)."""
        return {
            "cipher": self.cipher,
            "hash": self.hash,
            "enabled": self.enabled,
            "epoch": self.epoch,
            "counter": self._counter,
            "overhead": self.overhead,
            "peers": {
                str(node): {"epoch": peer.epoch, "highest": peer.highest}
                for node, peer in self._peers.items()
            },
            **self.stats.as_dict(),
        }
