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


@pytest.mark.timeout(300)
def test_the_readme_walkthrough_runs(tmp_path: Path) -> None:
    script = tmp_path / "walkthrough.sh"
    script.write_text("set -euo pipefail\nexport TMPDIR=" + str(tmp_path) + "\n" + walkthrough())
    netns = f"cfs-walk-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True, timeout=10)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    try:
        subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up"],
                       check=True, timeout=10)  # fmt: skip
        result = subprocess.run(
            ["ip", "netns", "exec", netns, "bash", str(script)],
            capture_output=True,
            text=True,
            timeout=240,
            env=env,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        assert "successfully added node 'node3' to cluster." in out
        assert "Nodes:            3\n" in out
        assert "         3          1 node3\n" in out
        assert out.count("Expected votes:   1\n") == 1
        assert "cluster not ready - no quorum?" in result.stderr
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
