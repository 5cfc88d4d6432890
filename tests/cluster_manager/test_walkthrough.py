"""The README's cluster manager walkthrough, run as written (in a network namespace)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .harness import REPO, environment_problem

_PROBLEM = environment_problem()
pytestmark = [
    pytest.mark.sockets,
    pytest.mark.skipif(_PROBLEM is not None, reason=f"cluster manager: {_PROBLEM}"),
]


def walkthrough() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(
        r"<!-- walkthrough:begin -->\n```bash\n(.*?)```\n<!-- walkthrough:end -->", text, re.S
    )
    assert match, "the README has no walkthrough block"
    return match.group(1)


def logs(tmp_path: Path) -> str:
    """The tails of the daemons' logs the walkthrough leaves behind (cfsd, engine, qnetd)."""
    parts = []
    for log in sorted(tmp_path.glob("tmp*/*.log")) + sorted(tmp_path.glob("tmp*/n*/var/log/*")):
        lines = log.read_text(errors="replace").splitlines()[-15:]
        parts.append(f"--- {log.relative_to(tmp_path)}\n" + "\n".join(lines))
    return "\n".join(parts)


WALKTHROUGH_TIMEOUT = 240
"""The walkthrough takes 25-40 s on a 2-core machine with one core busy; its waits are
bounded by what they wait for (quorum, a restart), so this only stops a hung step."""


@pytest.mark.timeout(300)
def test_the_readme_walkthrough_runs(tmp_path: Path) -> None:
    script = tmp_path / "walkthrough.sh"
    script.write_text("set -euo pipefail\nset -x\nexport TMPDIR=" + str(tmp_path) + "\n"
                      + walkthrough())  # fmt: skip
    netns = f"cfs-walk-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True, timeout=10)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    try:
        subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up"],
                       check=True, timeout=10)  # fmt: skip
        # Files, not pipes: the daemons the script leaves in the background hold its output
        # open, so a step that fails would otherwise wait for the timeout instead of reporting
        with stdout.open("w") as out, stderr.open("w") as err:
            try:
                returncode = subprocess.run(
                    ["ip", "netns", "exec", netns, "bash", str(script)],
                    stdout=out,
                    stderr=err,
                    timeout=WALKTHROUGH_TIMEOUT,
                    env=env,
                ).returncode
            except subprocess.TimeoutExpired:
                returncode = None
        trace = stderr.read_text()
        if returncode != 0:
            step = [line for line in trace.splitlines() if line.startswith("+")][-1:]
            raise AssertionError(
                (
                    f"the walkthrough did not finish within {WALKTHROUGH_TIMEOUT} s"
                    if returncode is None
                    else f"the walkthrough failed with status {returncode}"
                )
                + f"; last step: {step}\n--- stdout\n{stdout.read_text()}\n"
                + "--- stderr (the last 60 lines, with the trace)\n"
                + "\n".join(trace.splitlines()[-60:])
                + f"\n{logs(tmp_path)}"
            )
        out = stdout.read_text()
        errors = [line for line in trace.splitlines() if not line.startswith("+")]  # no trace
        assert "successfully added node 'node3' to cluster." in out
        assert "Nodes:            3\n" in out
        assert "         3          1 node3\n" in out
        assert out.count("Expected votes:   1\n") == 1
        assert "cluster not ready - no quorum?" in errors
        # the QDevice: 3 votes with both nodes, 2 of 3 (quorate) with node 2 down, removed
        assert "Flags:            Quorate Qdevice \n" in out
        assert "0x00000000          1            Qdevice\n" in out
        assert "Total votes:      2\nQuorum:           2  \n" in out
        assert "\nRemoved Qdevice.\n" in out
    finally:
        for pid_file in tmp_path.glob("tmp*/*.pid"):
            try:
                pid = int(pid_file.read_text())
                os.kill(pid, signal.SIGTERM)
            except (OSError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", netns], timeout=10, check=False)
