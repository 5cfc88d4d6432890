"""The corosync.conf the panel's tests start from (``tests/fixtures/web``)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["NODE3", "conf_text"]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "web"
NODE3 = (
    "  node {\n    name: node3\n    nodeid: 3\n    quorum_votes: 1\n    ring0_addr: 127.0.0.3\n"
    "  }\n"
)
"""node3's entry in ``three.conf``."""


def conf_text(name: str = "three.conf") -> bytes:
    """Proxmox's file for a three-node udpu cluster ``demo`` at ``config_version: 3``."""
    return (FIXTURES / name).read_bytes()
