"""Typed corosync.conf values (ref totem-wire.md section 12, "Typed keys").

corosync stores some keys as integers when it reads the file (``coroparse.c``: ``safe_atoq``
for u8/u16/u32/i32, ``strtoull`` for u64) and refuses the whole file when such a value is not
a decimal integer in range.  Other keys are strings that the consumer interprets later, each
with its own spelling of booleans (``yes|no`` for totem, ``yes|on|no|off`` for log
destinations, ``on|off`` for log formats, ``yes|on|1|no|off|0`` case-insensitively in
corosync-qdevice).  This module turns one raw value into a Python value or raises
:class:`ValueError` carrying corosync's wording; the loader adds ``file:line``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from typing import Literal

__all__ = [
    "DEFAULT_METRICS_PORT",
    "INT_RANGES",
    "IntKind",
    "parse_bool_qdevice",
    "parse_choice",
    "parse_int",
    "parse_listen",
    "parse_on_off",
    "parse_yes_no",
    "parse_yes_on_no_off",
]

IntKind = Literal["u8", "u16", "u32", "i32", "u64"]

INT_RANGES: dict[IntKind, tuple[int, int]] = {
    "u8": (0, 0xFF),
    "u16": (0, 0xFFFF),
    "u32": (0, 0xFFFF_FFFF),
    "i32": (-0x8000_0000, 0x7FFF_FFFF),
    "u64": (0, 0xFFFF_FFFF_FFFF_FFFF),
}

_DECIMAL = re.compile(r"[+-]?[0-9]+")


def parse_int(key: str, value: str, kind: IntKind) -> int:
    """A decimal integer of ``kind`` (corosync: ``strtoll`` base 10, whole string, in range)."""
    low, high = INT_RANGES[kind]
    if _DECIMAL.fullmatch(value) is not None:
        number = int(value, 10)
        if low <= number <= high:
            return number
    raise ValueError(
        f'value of key "{key}" is expected to be integer in range ({low}..{high}), '
        f'but "{value}" was given'
    )


def parse_yes_no(key: str, value: str) -> bool:
    """``yes`` or ``no`` (how totemconfig.c reads its boolean keys)."""
    if value == "yes":
        return True
    if value == "no":
        return False
    raise ValueError(f"{key} must be 'yes' or 'no', not {value!r}")


def parse_yes_on_no_off(key: str, value: str) -> bool:
    """``yes|on`` or ``no|off`` (logconfig.c log destinations)."""
    if value in ("yes", "on"):
        return True
    if value in ("no", "off"):
        return False
    raise ValueError(f"unknown value for {key}: {value!r} (expected yes, no, on or off)")


def parse_on_off(key: str, value: str) -> bool:
    """``on`` or ``off`` (logconfig.c fileline, function_name, blackbox)."""
    if value == "on":
        return True
    if value == "off":
        return False
    raise ValueError(f"unknown value for {key}: {value!r} (expected on or off)")


def parse_bool_qdevice(value: str) -> bool | None:
    """corosync-qdevice ``utils_parse_bool_str``: yes/on/1 or no/off/0, any case; else None."""
    folded = value.lower()
    if folded in ("yes", "on", "1"):
        return True
    if folded in ("no", "off", "0"):
        return False
    return None


def parse_choice(key: str, value: str, choices: Collection[str]) -> str:
    """One of a fixed set of spellings (case-sensitive, as corosync compares with strcmp)."""
    if value in choices:
        return value
    listed = ", ".join(choices)
    raise ValueError(f"invalid value for {key}: {value!r} (expected one of {listed})")


DEFAULT_METRICS_PORT = 9664
"""Port of a metrics address given without one (ha_cluster_exporter's port)."""


def parse_listen(value: str) -> tuple[str, int]:
    """A listen address: ``HOST:PORT``, ``[IPv6]:PORT``, ``:PORT`` (every address), or
    ``HOST`` / ``[IPv6]`` (port :data:`DEFAULT_METRICS_PORT`). ``system.metrics`` and
    ``--metrics`` take it; ValueError says what is wrong."""
    text = value.strip()
    if not text:
        raise ValueError("empty address (HOST:PORT)")
    port_text: str | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{value!r}: missing ']' after the IPv6 address")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{value!r}: expected ':PORT' after ']'")
            port_text = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{value!r}: {host!r} is not an IPv6 address") from None
    elif text.count(":") > 1:
        raise ValueError(f"{value!r}: write an IPv6 address as [ADDRESS]:PORT")
    elif ":" in text:
        host, port_text = text.split(":")
    else:
        host = text
    if port_text is None:
        return host, DEFAULT_METRICS_PORT
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"{value!r}: the port must be a number from 0 to 65535")
    return host, int(port_text)
