"""The command-line tools start light: no event loop, TLS or protocol stack behind them.

Operators and monitoring scripts run these often (``pvecm status`` runs corosync-quorumtool);
each talks to a daemon over one socket and needs nothing of the daemon's own machinery.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("asyncio", "ssl", "construct", "cryptography", "totem.srp", "qnetd.protocol")


@pytest.mark.parametrize(
    "module",
    [
        "totem.tools.cfgtool",
        "totem.tools.keygen",
        "votequorum.tool",
        "votequorum.qdevice.tool",
        "qnetd.tool",
    ],
)
def test_tool_imports_nothing_heavy(module: str) -> None:
    probe = f"import sys, {module}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    cp = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert cp.stdout.strip() == ""
