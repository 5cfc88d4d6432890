"""Builders of small corosync.conf texts for the tests."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from totem.config import ConfigError, CorosyncConfig, parse_text


def node(ring0: str, nodeid: int | None = None, **extra: object) -> str:
    lines = ["    node {"]
    if nodeid is not None:
        lines.append(f"        nodeid: {nodeid}")
    lines.append(f"        ring0_addr: {ring0}")
    lines += [f"        {key}: {value}" for key, value in extra.items()]
    lines.append("    }")
    return "\n".join(lines)


def conf(
    totem: str = "",
    *,
    transport: str = "udpu",
    nodes: Sequence[str] | None = None,
    quorum: str | None = None,
    other: str = "",
) -> str:
    """A corosync.conf: totem (version 2, cluster_name testclu) + nodelist (+ quorum)."""
    if nodes is None:
        nodes = [node("10.0.0.1", 1), node("10.0.0.2", 2)]
    parts = [
        "totem {",
        "    version: 2",
        "    cluster_name: testclu",
        f"    transport: {transport}",
    ]
    parts += [f"    {line}" for line in totem.splitlines() if line]
    parts.append("}")
    parts.append("nodelist {")
    parts += list(nodes)
    parts.append("}")
    if quorum is not None:
        parts.append("quorum {")
        parts += [f"    {line}" for line in quorum.splitlines() if line]
        parts.append("}")
    if other:
        parts.append(other)
    return "\n".join(parts) + "\n"


def load_text(text: str) -> CorosyncConfig:
    return parse_text(text, "corosync.conf")


def error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_text(text, "corosync.conf")
    return str(info.value)


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line containing ``needle``."""
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")
