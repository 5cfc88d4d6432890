"""The shared crypto key of a ring (corosync 3.1.7 ``totemconfig.c:totem_config_keyread``).

corosync reads a key only when crypto is on (cipher or hash other than ``none``):

* ``totem.keyfile`` if set: up to 4096 bytes of that file, refused below 128 bytes;
* else ``totem.key`` if set: the value's bytes *plus its terminating NUL* (cmap stores strings
  with the NUL), which must be 128..4096 bytes long -- checked by the loader;
* else ``/etc/corosync/authkey`` (``corosync-keygen`` writes 256 random bytes there).

This is the only part of :mod:`totem.config` that reads a file besides :func:`load`.
"""

from __future__ import annotations

from totem.config.errors import ConfigError
from totem.config.model import CorosyncConfig, TotemConfig
from totem.config.parser import c_bytes

__all__ = ["PRIVATE_KEY_LEN_MAX", "PRIVATE_KEY_LEN_MIN", "check_authkey", "read_authkey"]

PRIVATE_KEY_LEN_MIN = 128
"""``KNET_MIN_KEY_LEN`` (libknet 1.x), bytes."""
PRIVATE_KEY_LEN_MAX = 4096
"""``KNET_MAX_KEY_LEN``, bytes."""


def read_authkey(totem: TotemConfig) -> bytes | None:
    """The key bytes for ``totem``, or None when crypto is off; ConfigError if unusable."""
    if not totem.crypto_enabled:
        return None
    if totem.keyfile is None and totem.key is not None:
        return c_bytes(totem.key) + b"\0"
    location = totem.keyfile_path
    try:
        with open(location, "rb") as handle:
            key = handle.read(PRIVATE_KEY_LEN_MAX)
    except OSError as exc:
        raise ConfigError(location, None, f"could not read key: {exc.strerror or exc}") from None
    if len(key) < PRIVATE_KEY_LEN_MIN:
        raise ConfigError(
            location,
            None,
            f"could only read {len(key) * 8} bits of minimum {PRIVATE_KEY_LEN_MIN * 8} bits",
        )
    return key


def check_authkey(config: CorosyncConfig) -> str | None:
    """What ``corosync -t`` checks of the key when crypto is on: it can be read and is
    128..4096 bytes (``totem_config_keyread``). Returns a description of the key that will
    be used (``/etc/corosync/authkey: 256 bytes``), None when crypto is off; raises
    :class:`ConfigError` naming the key file (or ``file:line`` of ``totem.key``)."""
    totem = config.totem
    key = read_authkey(totem)
    if key is None:
        return None
    if totem.keyfile is None and totem.key is not None:
        return f"{config.path}:{config.lines.get('totem.key', 0)}: totem.key: {len(key)} bytes"
    return f"{totem.keyfile_path}: {len(key)} bytes"
