"""Key lists of ``corosync-cmapctl`` output: names and types, for comparing a node's map with
a real corosync 3.1.7 node's (``tests/fixtures/libqb/real-cmapctl*.txt``)."""

from __future__ import annotations

import re

__all__ = ["CONNECTION", "key_types"]

_LINE = re.compile(r"^(?P<key>\S+) \((?P<type>[a-z0-9]+)\) =")
_IPCS = re.compile(r"^(stats\.ipcs\.service\d+)\.\d+\.0x[0-9a-f]+\.")
CONNECTION = r"\1.<pid>.<conn>."
"""What the ``<pid>.<pointer>`` part of a per-connection ``stats.ipcs`` key becomes."""


def key_types(text: str, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """``{key: cmapctl type}`` of a listing (``u32``, ``str``, ``flt``, ...), the client pid
    and connection pointer of ``stats.ipcs.service<id>.<pid>.<conn>.*`` replaced by
    :data:`CONNECTION`, and keys starting with one of ``skip`` left out."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _LINE.match(line)
        if m is None:
            raise ValueError(f"not a corosync-cmapctl line: {line!r}")
        key = _IPCS.sub(CONNECTION, m["key"])
        if not key.startswith(skip):
            out[key] = m["type"]
    return out
