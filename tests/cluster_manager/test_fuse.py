"""The replicated filesystem mounted with FUSE at ``R/etc/pve``, used by ordinary programs.

Each cfsd runs under ``ip netns exec`` and so in a mount namespace of its own: its mount is
visible only there, the test enters it by the daemon's PID (``nsenter``), and the mount goes
away with the daemon whatever happens to it.
"""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest

from pvecluster.cfsd.fuse import fuse_available

from .harness import NodeCluster, environment_problem

_PROBLEM = (
    environment_problem()
    or fuse_available()
    or (None if shutil.which("nsenter") else "needs nsenter (util-linux)")
)
pytestmark = [
    pytest.mark.sockets,
    pytest.mark.skipif(_PROBLEM is not None, reason=f"FUSE mount: {_PROBLEM}"),
]

EDIT = (
    "import os, sys\n"
    "path = sys.argv[1]\n"
    "text = open(path).read().replace('config_version: 2', 'config_version: 3')\n"
    "text = text.replace('  cluster_name: demo\\n', '  cluster_name: demo\\n  token: 3000\\n')\n"
    "tmp = os.path.join(os.path.dirname(path), '.corosync.conf.swp')\n"
    "with open(tmp, 'w') as out:\n"
    "    out.write(text)\n"
    "os.rename(tmp, path)\n"
)


@pytest.mark.timeout(240)
def test_programs_use_the_mount_as_etc_pve(tmp_path: Path) -> None:
    with NodeCluster(tmp_path, 2) as c:
        c.start(1, fuse=True)
        sh = c.in_mounts
        # local mode: the usual tools
        mounted = sh(1, f"grep '{c.root(1)}/etc/pve fuse.pmxcfs' /proc/self/mounts")
        assert mounted.stdout.startswith("pycorosync-cfs "), mounted.stdout + mounted.stderr
        done = sh(
            1,
            "cd etc/pve && echo hello > a.cfg && mkdir -p d/e && cp a.cfg d/b.cfg "
            "&& mv d/b.cfg c.cfg && cat c.cfg && ls && stat -c '%a %s' a.cfg d",
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == "hello\na.cfg\nc.cfg\nd\n666 6\n777 0\n"
        assert c.cfs(1, "cat", "c.cfg").stdout == "hello\n"
        gone = sh(1, "cd etc/pve && rm c.cfg && rmdir d/e d && ls")
        assert gone.stdout == "a.cfg\n"
        refused = sh(1, "rmdir etc/pve/nothing; ln -s a.cfg etc/pve/link")
        assert "No such file or directory" in refused.stderr
        assert "Operation not permitted" in refused.stderr
        # a cluster: the second node's mount sees the first node's writes
        assert c.pvecm(1, "create", "demo").returncode == 0
        c.wait(lambda: c.quorate(1), 20, "node 1 quorate")
        c.start(2, fuse=True)
        assert c.join(2).returncode == 0
        c.wait(lambda: c.members_online(1) == 2, 30, "node 2 online")
        made = sh(2, "echo from-two > etc/pve/two.cfg")
        assert made.returncode == 0, made.stderr
        c.wait(lambda: sh(1, "cat etc/pve/two.cfg").stdout == "from-two\n", 5, "seen on node 1")
        # an editor's way: write a temporary file, rename it over corosync.conf
        edited = sh(1, f'python3 -c "{EDIT}" etc/pve/corosync.conf')
        assert edited.returncode == 0, edited.stderr
        conf = c.root(2) / "etc" / "corosync" / "corosync.conf"
        c.wait(lambda: "token: 3000" in conf.read_text(), 5, "the edit propagated to node 2")
        assert "config_version: 3" in conf.read_text()
        sed = sh(2, "sed -i 's/from-two/edited/' etc/pve/two.cfg && cat etc/pve/two.cfg")
        assert sed.stdout == "edited\n", sed.stderr
        # without quorum: read-only, reads work
        c.stop(2)
        c.wait(lambda: not c.quorate(1), 20, "node 1 inquorate")
        denied = sh(1, "echo x > etc/pve/x.cfg")
        assert denied.returncode != 0 and "Permission denied" in denied.stderr
        denied = sh(1, "mkdir etc/pve/newdir; rm etc/pve/a.cfg; mv etc/pve/a.cfg etc/pve/b.cfg")
        assert denied.stderr.count("Permission denied") == 3, denied.stderr
        modes = sh(1, "stat -c '%a' etc/pve/a.cfg etc/pve/nodes; cat etc/pve/two.cfg")
        assert modes.stdout == "444\n555\nedited\n"
        # SIGTERM unmounts (the daemon's own teardown)
        c.stop(1, signal.SIGTERM)
        assert "unmounted" in c.log_text(1)
