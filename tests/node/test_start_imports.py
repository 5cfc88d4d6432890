"""A node loads the code of what it runs: a udp/udpu node imports no knet module, a node
without libqb IPC no IPC module (start-up time and resident memory are per module).

Each case builds a ``Daemon`` in a fresh interpreter (the imports of a test run would hide
what the daemon imports) and reports the modules loaded once it is built, before it binds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.node.cluster import conf_text

_BUILD = """
import asyncio, json, sys
from totem.config import load
from totem.node.daemon import Daemon
from totem.transport.base import new_event_loop

async def build() -> None:
    config = load(sys.argv[1])
    Daemon(config, config.node_by_id(1), sys.argv[2], sys.argv[2], ipc=sys.argv[3] == "ipc")

new_event_loop().run_until_complete(build())
print(json.dumps(sorted(sys.modules)))
"""

KNET = ("totem.knet", "totem.transport.knet", "totem.node.knet_status")
KNET_NAMED = {"totem.knet", "totem.knet.events"}
"""What a udp/udpu node may load of knet: the event dataclasses that the node's event type
(``totem.node.events.NodeEvent``) names, and their package's empty ``__init__``."""
IPC = ("totem.ipc.server", "totem.ipc.shm", "totem.node.libqb")
NEVER_AT_START = ("totem.node.reload", "totem.transport.udp", "cryptography", "construct")


def loaded(tmp_path: Path, transport: str, ipc: bool) -> set[str]:
    conf = tmp_path / "corosync.conf"
    conf.write_text(conf_text(3, 5405, transport=transport))
    run = subprocess.run(
        [sys.executable, "-c", _BUILD, str(conf), str(tmp_path), "ipc" if ipc else "no-ipc"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return set(json.loads(run.stdout))


def _under(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


@pytest.mark.parametrize("ipc", [False, True], ids=["no-ipc", "ipc"])
def test_a_udpu_node_loads_no_knet_code(tmp_path: Path, ipc: bool) -> None:
    modules = loaded(tmp_path, "udpu", ipc)
    assert "totem.transport.udpu" in modules
    assert set(_under(modules, KNET)) <= KNET_NAMED
    assert _under(modules, NEVER_AT_START) == []
    assert _under(modules, IPC) == (sorted(IPC) if ipc else [])


def test_a_knet_node_loads_knet_and_not_the_multicast_transport(tmp_path: Path) -> None:
    modules = loaded(tmp_path, "knet", False)
    assert {"totem.knet.layer", "totem.transport.knet"} <= modules
    assert _under(modules, ("totem.transport.udp", *IPC)) == []
