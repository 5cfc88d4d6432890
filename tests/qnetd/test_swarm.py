"""The shared client swarm (a replay of the real qdevice sequence) against pycorosync-qnetd."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.fixtures import shared_tool

from .servers import start_ours

SWARM = str(shared_tool("qnetd-swarm.py"))

pytestmark = [
    pytest.mark.sockets,
    pytest.mark.skipif(
        not os.path.exists(SWARM), reason=f"the client swarm {SWARM} is not beside this checkout"
    ),
]


def swarm(*args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, SWARM, *args, "--quiet"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    return result


@pytest.mark.timeout(180)
def test_swarm_load_and_decision() -> None:
    server = start_ours("-s", "off")
    try:
        common = ["--port", str(server.port), "--qnetd-pid", str(server.pid)]
        load = swarm(
            "load",
            "-C",
            "40",
            "--hb",
            "1000",
            "--window",
            "2",
            "--warmup",
            "1",
            "--ipc-socket",
            server.ipc_socket,
            *common,
        )
        assert load["setup_ok"] == 40
        assert load["dropped_total"] == 0 and load["server_errors"] == 0
        assert load["init_errors"] == 0 and load["echo_missed_in_window"] == 0
        assert "Connected clients:\t\t40" in str(load["qnetd_tool_status"])
        decision = swarm("decision", "--clusters", "5", "--hb", "8000", "--warmup", "1", *common)
        results = decision["decision"]
        assert isinstance(results, dict)
        for variant in ("burst", "serial"):
            r = results[variant]
            assert r["timeouts"] == 0
            assert r["node1_votes"] == {"ACK via VOTE_INFO": 5}
            assert r["node2_votes"] == {"NACK via VOTE_INFO": 5}
        assert "Traceback" not in server.log()
    finally:
        server.stop()
