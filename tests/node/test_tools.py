"""The command-line tools as a newcomer meets them: ``-e`` by corosync's rule, ``--json`` for
every outcome (failures and monitor mode included), ``--help`` everywhere, one set of flags
across the qnetd tools."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from qnetd import tool as qnetd_tool
from tests.node.cluster import LoopbackCluster
from totem.tools import cfgtool
from votequorum import tool as quorumtool
from votequorum.qdevice import tool as qdevice_tool

REPO = Path(__file__).resolve().parents[2]
TOOLS = [
    "pycorosync",
    "pycorosync-cfgtool",
    "pycorosync-quorumtool",
    "pycorosync-qdevice-tool",
    "pycorosync-qnetd",
    "pycorosync-qnetd-tool",
    "pycorosync-qnetd-certutil",
    "pycorosync-keygen",
    "pycorosync-sim",
]
SCRIPTS = Path(sys.executable).parent


@pytest.mark.parametrize("tool", TOOLS)
def test_every_tool_has_help(tool: str) -> None:
    done = subprocess.run(
        [str(SCRIPTS / tool), "--help"], capture_output=True, text=True, timeout=30, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
    assert done.stderr == ""


def test_the_qnetd_tools_share_their_directory_flags() -> None:
    def help_of(tool: str) -> str:
        argv = [str(SCRIPTS / tool), "--help"]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout

    assert "--run-dir" in help_of("pycorosync-qnetd")
    assert "--run-dir" in help_of("pycorosync-qnetd-tool")
    assert "--cert-dir" in help_of("pycorosync-qnetd")
    assert "--cert-dir" in help_of("pycorosync-qnetd-certutil")
    assert "--qdevice-cert-dir" in help_of("pycorosync")


def test_failures_are_json_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nowhere = str(tmp_path / "nothing-runs-here")
    cases = [
        (cfgtool.main, ["--run-dir", nowhere, "-s", "--json"], 1),
        (quorumtool.main, ["--run-dir", nowhere, "-s", "--json"], 1),
        (quorumtool.main, ["--run-dir", nowhere, "-e", "0", "--json"], 1),
        (qdevice_tool.main, ["--run-dir", nowhere, "-s", "--json"], 3),
        (qnetd_tool.main, ["--run-dir", nowhere, "-s", "--json"], 3),
    ]
    for main, argv, status in cases:
        assert main(argv) == status, argv
        out, err = capsys.readouterr()
        document = json.loads(out)
        assert document["ok"] is False and document["message"], argv
        assert document["message"].rstrip("\n") in err
    assert quorumtool.main(["--run-dir", nowhere, "-e", "0", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["message"] == (
        "New expected votes value was not valid, try a positive number"
    )
    # qnetd-tool --run-dir names the socket a qnetd started with --run-dir listens on
    assert qnetd_tool.main(["--run-dir", nowhere, "-s"]) == 3
    assert f"{nowhere}/pycorosync-qnetd.sock" in capsys.readouterr().err


@pytest.mark.sockets
@pytest.mark.timeout(120)
def test_expected_votes_by_corosyncs_rule_in_text_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LoopbackCluster(tmp_path, 3) as cluster:
        cluster.start()
        cluster.wait_members([1, 2, 3], [1, 2, 3])
        cluster.wait(lambda: cluster.call(1, "quorum.status")["quorate"])
        run_dir = cluster.run_dir(1)
        capsys.readouterr()
        # all three up: 1 is below the total votes (3) -- refused, said once
        assert quorumtool.main(["--run-dir", run_dir, "-e", "1"]) == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert err == (
            "Unable to set expected votes: CS_ERR_INVALID_PARAM "
            "(1 is lower than the total votes 3)\n"
        )
        assert quorumtool.main(["--run-dir", run_dir, "-e", "1", "--json"]) == 1
        document = json.loads(capsys.readouterr().out)
        assert document == {
            "ok": False,
            "error": "CS_ERR_INVALID_PARAM",
            "message": "Unable to set expected votes: CS_ERR_INVALID_PARAM "
            "(1 is lower than the total votes 3)",
        }
        # once the others have gone, the last node may lower it (pvecm expected 1)
        cluster.kill(3, signal.SIGTERM)
        cluster.kill(2, signal.SIGTERM)
        cluster.wait_members([1], [1])
        cluster.wait(lambda: not cluster.call(1, "quorum.status")["quorate"])
        assert quorumtool.main(["--run-dir", run_dir, "-e", "1", "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == {"ok": True, "expected_votes": 1}
        cluster.wait(lambda: cluster.call(1, "quorum.status")["quorate"])


@pytest.mark.sockets
@pytest.mark.timeout(120)
def test_monitor_mode_prints_one_json_object_per_change(tmp_path: Path) -> None:
    with LoopbackCluster(tmp_path, 2) as cluster:
        cluster.start()
        cluster.wait_members([1, 2], [1, 2])
        argv = [sys.executable, "-m", "votequorum.tool", "--run-dir", cluster.run_dir(1)]
        monitor = subprocess.Popen(
            [*argv, "-m", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            assert monitor.stdout is not None
            first = json.loads(monitor.stdout.readline())
            assert [m["node_id"] for m in first["members"]] == [1, 2]
            cluster.kill(2, signal.SIGTERM)
            while True:  # one object per line until the node sees itself alone
                line = monitor.stdout.readline()
                assert line, monitor.stderr.read() if monitor.stderr else ""
                status = json.loads(line)
                if [m["node_id"] for m in status["members"]] == [1]:
                    break
        finally:
            monitor.send_signal(signal.SIGTERM)
            try:
                monitor.wait(timeout=10)
            except subprocess.TimeoutExpired:
                monitor.kill()
                monitor.wait()
