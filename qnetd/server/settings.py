"""qnetd configuration: command-line values and ``-S`` advanced settings (ref section 9).

``-S key=value[,key=value...]`` accepts the keys of ``qnetd-advanced-settings.c`` with the same
ranges; numbers are parsed like ``utils_strtonum``/``utils_strtod`` and booleans accept
on/yes/1 and off/no/0 (case-insensitive).

=================================  ===========  =================================================
key                                default      meaning
=================================  ===========  =================================================
listen_backlog                     128 (*)      ``listen()`` backlog of the TCP socket, >= 1
max_client_send_buffers            32           queued replies per client before it is dropped
max_client_send_size               32768        largest message sent (advertised in INIT_REPLY)
max_client_receive_size            32768        largest message accepted, header included
heartbeat_interval_min / _max      1000/120000  accepted client heartbeat (ms), else error 13
dpd_enabled                        on           drop clients silent for coefficient x heartbeat
dpd_interval_coefficient           1.5          in [1, 1000]
dpd_interval                       --           deprecated, accepted with a warning, no effect
keep_active_partition_tie_breaker  off          KAP flag a client starts with (SET_OPTION wins)
lock_file                          (run dir)    pid lock file (``flock``), one server per file
local_socket_file                  (run dir)    Unix socket of ``pycorosync-qnetd-tool``
local_socket_backlog               10           ``listen()`` backlog of the control socket
ipc_max_clients                    10           concurrent control connections (0 = unlimited)
ipc_max_receive_size               4096         longest control command line
ipc_max_send_size                  10 MiB       longest control reply
nss_db_dir / cert_nickname         --           NSS only: accepted and ignored (see --cert-dir)
=================================  ===========  =================================================

(*) corosync-qnetd defaults to 10, which loses connections in a reconnect storm
(qnetd-capacity.md); we default to 128.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from qnetd.protocol.constants import TlsSupported

__all__ = [
    "DEFAULT_PORT",
    "AdvancedSettings",
    "ServerConfig",
    "SettingsError",
    "parse_advanced_settings",
    "parse_bool",
]

DEFAULT_PORT = 5403


class SettingsError(ValueError):
    """A bad ``-S`` key or value (the real daemon exits with the same wording)."""


@dataclass(frozen=True, slots=True)
class AdvancedSettings:
    """``struct qnetd_advanced_settings``."""

    listen_backlog: int = 128
    max_client_send_buffers: int = 32
    max_client_send_size: int = 32768
    max_client_receive_size: int = 32768
    heartbeat_interval_min: int = 1000
    heartbeat_interval_max: int = 120000
    dpd_enabled: bool = True
    dpd_interval_coefficient: float = 1.5
    keep_active_partition_tie_breaker: bool = False
    lock_file: str | None = None
    local_socket_file: str | None = None
    local_socket_backlog: int = 10
    ipc_max_clients: int = 10
    ipc_max_receive_size: int = 4096
    ipc_max_send_size: int = 10 * 1024 * 1024
    nss_db_dir: str | None = None
    cert_nickname: str | None = None


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything the sans-IO server needs to know about its configuration."""

    tls_supported: TlsSupported = TlsSupported.SUPPORTED
    tls_client_cert_required: bool = True
    max_clients: int = 0
    """0 = unlimited (``-m``)."""
    host_addr: str | None = None
    """``-l``; None = any address (shown as ``*`` by the status tool)."""
    host_port: int = DEFAULT_PORT
    tls_available: bool = True
    """Whether a server certificate is loaded; STARTTLS without one drops the client."""
    advanced: AdvancedSettings = field(default_factory=AdvancedSettings)


_TRUE = {"yes", "on", "1"}
_FALSE = {"no", "off", "0"}


def parse_bool(text: str) -> bool | None:
    """``utils_parse_bool_str``: True/False, or None if the word is not a boolean."""
    low = text.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    return None


_INT_RE = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+")


def _int(text: str, lo: int, hi: int) -> int | None:
    """``utils_strtonum``: optional leading space and sign, digits only, within range."""
    if not _INT_RE.fullmatch(text):
        return None
    value = int(text)
    return value if lo <= value <= hi else None


def _float(text: str, lo: float, hi: float) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if math.isnan(value) or not lo <= value <= hi:
        return None
    return value


_LLONG_MAX = 2**63 - 1
_INT_MAX = 2**31 - 1
_UINT32_MAX = 2**32 - 1

_INT_KEYS: dict[str, tuple[int, int]] = {
    "listen_backlog": (1, _INT_MAX),
    "max_client_send_buffers": (2, _LLONG_MAX),
    "max_client_send_size": (16, _LLONG_MAX),
    "max_client_receive_size": (16, _LLONG_MAX),
    "heartbeat_interval_min": (1, _UINT32_MAX),
    "heartbeat_interval_max": (1, _UINT32_MAX),
    "local_socket_backlog": (1, _INT_MAX),
    "ipc_max_clients": (0, _LLONG_MAX),
    "ipc_max_receive_size": (1024, _LLONG_MAX),
    "ipc_max_send_size": (1024, _LLONG_MAX),
}
_BOOL_KEYS = ("dpd_enabled", "keep_active_partition_tie_breaker")
_STR_KEYS = ("lock_file", "local_socket_file", "nss_db_dir", "cert_nickname")


def parse_advanced_settings(
    text: str, base: AdvancedSettings | None = None
) -> tuple[AdvancedSettings, list[str]]:
    """Apply one ``-S`` argument to ``base``; return the new settings and warnings.

    Raises :class:`SettingsError` with corosync-qnetd's message for an unknown key or a bad
    value.
    """
    settings = base or AdvancedSettings()
    warnings: list[str] = []
    changes: dict[str, Any] = {}
    for item in _getopt_items(text):
        key, value = item
        lkey = key.lower()
        if lkey in _INT_KEYS:
            lo, hi = _INT_KEYS[lkey]
            ival = _int(value, lo, hi)
            if ival is None:
                raise SettingsError(f"Invalid value '{value}' for option '{key}'")
            changes[lkey] = ival
        elif lkey in _BOOL_KEYS:
            bval = parse_bool(value)
            if bval is None:
                raise SettingsError(f"Invalid value '{value}' for option '{key}'")
            changes[lkey] = bval
        elif lkey == "dpd_interval_coefficient":
            fval = _float(value, 1.0, 1000.0)
            if fval is None:
                raise SettingsError(f"Invalid value '{value}' for option '{key}'")
            changes[lkey] = fval
        elif lkey == "dpd_interval":
            warnings.append(f"Option '{key}' is deprecated and has no effect anymore")
        elif lkey in _STR_KEYS:
            changes[lkey] = value
            if lkey in ("nss_db_dir", "cert_nickname"):
                warnings.append(
                    f"Option '{key}' is for the NSS database of corosync-qnetd; "
                    "pycorosync-qnetd uses PEM files (--cert-dir) and ignores it"
                )
        else:
            raise SettingsError(f"Unknown option '{key}'")
    return replace(settings, **changes), warnings


def _getopt_items(text: str) -> list[tuple[str, str]]:
    """``dynar_getopt_lex``: ``a=b,c=d``; a value runs to the next comma; stops at an empty key."""
    items: list[tuple[str, str]] = []
    pos = 0
    n = len(text)
    while pos < n:
        comma = text.find(",", pos)
        end = n if comma < 0 else comma
        token = text[pos:end]
        pos = end + 1
        key, eq, value = token.partition("=")
        if not eq:
            value = ""
        if key == "":
            break
        items.append((key, value))
    return items
