"""Acceptance tests of the cluster manager (ref cluster-manager.md 5.6, A-D, F, H).

Real daemons (``pycorosync-cfsd`` with its engine) on 127.0.0.x in a network namespace per
cluster; every wait is bounded.
"""

from __future__ import annotations

import re
import signal
import sqlite3
from pathlib import Path

import pytest

from .harness import NodeCluster, environment_problem

_PROBLEM = environment_problem()
pytestmark = [
    pytest.mark.sockets,
    pytest.mark.skipif(_PROBLEM is not None, reason=f"cluster manager: {_PROBLEM}"),
]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cluster_manager"


def normalise(text: str) -> str:
    text = re.sub(r"^Date: .*$", "Date:             <date>", text, flags=re.MULTILINE)
    return re.sub(r"^Ring ID: .*$", "Ring ID:          <ring>", text, flags=re.MULTILINE)


def conf_version(text: str) -> int:
    match = re.search(r"config_version: (\d+)", text)
    assert match, text
    return int(match.group(1))


def three_nodes(c: NodeCluster) -> None:
    for i in (1, 2, 3):
        c.start(i)
    created = c.pvecm(1, "create", "demo")
    assert created.returncode == 0, created.stderr
    for i in (2, 3):  # at once: create returns when node 1's filesystem is quorate
        joined = c.join(i)
        assert joined.returncode == 0, joined.stdout + joined.stderr


@pytest.mark.timeout(240)
def test_create_join_status_and_bad_joins(tmp_path: Path) -> None:
    with NodeCluster(tmp_path, 5) as c:
        for i in (1, 2, 3):
            c.start(i)
        # A5: not clustered
        alone = c.pvecm(2, "status")
        assert alone.returncode != 0
        assert alone.stderr == (
            "Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node "
            "part of a cluster?\n"
        )
        # A4: bad names, nothing written
        bad = c.pvecm(2, "create", "bad_name")
        assert bad.returncode != 0 and "value does not look like a valid node name" in bad.stderr
        long = c.pvecm(2, "create", "abcdefghijklmnop")
        assert (
            long.returncode != 0 and "clustername: value may only be 15 characters" in long.stderr
        )
        assert not (c.root(2) / "etc" / "corosync" / "authkey").exists()
        # A1
        created = c.pvecm(1, "create", "demo")
        assert created.returncode == 0, created.stderr
        assert created.stdout == (
            "Writing corosync config to /etc/pve/corosync.conf\n"
            "Restart corosync and cluster filesystem\n"
        )
        conf = c.cfs(1, "cat", "corosync.conf").stdout
        for line in ("cluster_name: demo", "config_version: 1", "link_mode: passive",
                     "secauth: on", "token_coefficient: 125", "name: node1", "nodeid: 1",
                     "quorum_votes: 1", "ring0_addr: 127.0.0.1"):  # fmt: skip
            assert f"  {line}\n" in conf
        assert "transport:" not in conf  # knet, corosync 3's default, as Proxmox writes it
        local = c.root(1) / "etc" / "corosync" / "corosync.conf"
        c.wait(lambda: local.read_text() == conf, 3, "the local corosync.conf")
        assert (c.root(1) / "etc" / "corosync" / "authkey").stat().st_mode & 0o777 == 0o400
        # create returns once the filesystem (the join API's quorum) is quorate, not only the
        # engine: a join sent right after it must not meet "cluster not ready - no quorum?"
        assert c.quorate(1)
        # A2 / H
        status = c.pvecm(1, "status")
        assert status.returncode == 0, status.stderr
        golden = (FIXTURES / "status-1node.txt").read_text()
        assert normalise(status.stdout) == golden
        # A3
        again = c.pvecm(1, "create", "demo")
        assert again.returncode == 255
        assert again.stderr == "cluster config '/etc/pve/corosync.conf' already exists\n"
        # C3: malformed fingerprint, no connection made
        malformed = c.pvecm(2, "add", "127.0.0.1", "--fingerprint", "abc", "--password-file",
                            str(tmp_path / "pw1"))  # fmt: skip
        assert malformed.returncode != 0 and "fingerprint: value does not match" in malformed.stderr
        # C1: wrong password
        wrong = c.pvecm(2, "add", "127.0.0.1", "--fingerprint", c.fingerprint(1),
                        "--password-file", str(tmp_path / "pw2"))  # fmt: skip
        assert wrong.returncode != 0 and "401 authentication failure" in wrong.stderr
        # C2: wrong fingerprint: refused before the password is sent
        logins = c.log_text(1).count("auth")
        pinned = c.pvecm(2, "add", "127.0.0.1", "--fingerprint", ":".join(["00"] * 32),
                         "--password-file", str(tmp_path / "pw1"))  # fmt: skip
        assert pinned.returncode != 0
        assert f"fingerprint '{c.fingerprint(1)}' not verified, abort!" in pinned.stderr
        assert c.log_text(1).count("auth") == logins
        # C4: no fingerprint, the operator answers no
        asked = c.pvecm(2, "add", "127.0.0.1", "--password-file", str(tmp_path / "pw1"),
                        input="no\n")  # fmt: skip
        assert "The authenticity of host '127.0.0.1' can't be established." in asked.stdout
        assert f"X509 SHA256 key fingerprint is {c.fingerprint(1)}." in asked.stdout
        assert "Fingerprint not verified, abort!" in asked.stderr
        # C13
        ssh = c.pvecm(2, "add", "127.0.0.1", "--use_ssh")
        assert ssh.stderr == "SSH join is not supported; use the API join\n"
        assert not (c.root(2) / "etc" / "corosync" / "authkey").exists()
        # B1
        joined = c.join(2)
        assert joined.returncode == 0, joined.stderr
        lines = joined.stdout.splitlines()
        assert lines[:6] == [
            "Establishing API connection with host '127.0.0.1'",
            "Login succeeded.",
            "check cluster join API version",
            "No cluster network links passed explicitly, fallback to local node IP '127.0.0.2'",
            "Request addition of this node",
            "Join request OK, finishing setup locally",
        ]
        assert lines[6] == "stopping cluster filesystem"
        assert re.fullmatch(r"backup old database to '.*/config-\d+\.sql\.gz'", lines[7])
        assert lines[8:] == [
            "waiting for quorum...OK",
            "successfully added node 'node2' to cluster.",
        ]
        # B2
        texts = [c.cfs(i, "cat", "corosync.conf").stdout for i in (1, 2)]
        files = [(c.root(i) / "etc" / "corosync" / "corosync.conf").read_text() for i in (1, 2)]
        assert len({*texts, *files}) == 1
        assert conf_version(texts[0]) == 2 and "    ring0_addr: 127.0.0.2\n" in texts[0]
        # B3 / H
        nodes = c.pvecm(2, "nodes")
        assert nodes.stdout == (FIXTURES / "nodes-2node.txt").read_text()
        # C5: duplicate name; C6: duplicate address; C8: node id in use; C9: extra link
        c.start(4)
        version_before = conf_version(c.cfs(1, "cat", "corosync.conf").stdout)
        dup = c.join(4, 1, "--link0", "127.0.0.2")
        assert (
            "corosync: address '127.0.0.2' already used on link ring0_addr by node 'node2'"
            in dup.stderr
        )
        assert "Cluster join aborted!" in dup.stderr
        used = c.join(4, 1, "--nodeid", "1")
        assert (
            "An error occurred on the cluster node: nodeid 1 already used by node 'node1'"
            in used.stderr
        )
        # (links are checked from 0 up, as addnode does: link 0 must be given too)
        extra = c.join(4, 1, "--link1", "127.0.1.5")
        assert "corosync: link 0 exists in cluster config but wasn't specified" in extra.stderr
        extra = c.join(4, 1, "--link0", "127.0.0.4", "--link1", "127.0.1.5")
        assert (
            "corosync: link 1 specified for new node doesn't exist in cluster config"
            in extra.stderr
        )
        c.stop(4)
        c.start(4, name="node2", ip="127.0.0.4")
        same_name = c.join(4)
        assert (
            "An error occurred on the cluster node: can't add existing node 'node2'"
            in same_name.stderr
        )
        c.stop(4)
        assert conf_version(c.cfs(1, "cat", "corosync.conf").stdout) == version_before
        assert not (c.root(4) / "etc" / "corosync" / "authkey").exists()
        assert not (c.root(4) / "etc" / "corosync" / "corosync.conf").exists()
        # C10: already clustered
        twice = c.join(2)
        assert "detected the following error(s):" in twice.stderr
        for line in ("* authentication key '/etc/corosync/authkey' already exists",
                     "* cluster config '/etc/pve/corosync.conf' already exists",
                     "* corosync is already running, is this node already in a cluster?!"):  # fmt: skip
            assert line in twice.stderr
        assert twice.stderr.endswith("Check if node may join a cluster failed!\n")
        # B5 (a standalone file disappears on join) and B4
        assert c.cfs(3, "put", "stale.cfg", input="x").returncode == 0
        third = c.join(3)
        assert third.returncode == 0, third.stderr
        assert "No such file" in c.cfs(3, "cat", "stale.cfg").stderr
        status3 = c.pvecm(3, "status").stdout
        for line in ("Config Version:   3", "Nodes:            3", "Expected votes:   3",
                     "Quorum:           2  ", "Flags:            Quorate "):  # fmt: skip
            assert f"{line}\n" in status3
        c.wait(lambda: len({c.checksum(i) for i in (1, 2, 3)}) == 1, 10, "equal checksums")
        # F1: edit through the filesystem: copy, raise config_version, move over
        assert c.cfs(2, "cp", "corosync.conf", "corosync.conf.new").returncode == 0
        edited = c.cfs(2, "cat", "corosync.conf.new").stdout
        edited = edited.replace("config_version: 3", "config_version: 4").replace(
            "  cluster_name: demo\n", "  cluster_name: demo\n  token: 3000\n"
        )
        assert c.cfs(2, "put", "corosync.conf.new", input=edited).returncode == 0
        assert c.cfs(2, "mv", "corosync.conf.new", "corosync.conf").returncode == 0
        local_files = [c.root(i) / "etc" / "corosync" / "corosync.conf" for i in (1, 2, 3)]
        c.wait(lambda: all(f.read_text() == edited for f in local_files), 3, "every file")
        assert c.log_text(2).count("run corosync-cfgtool -R") == 1
        assert "run corosync-cfgtool -R" not in c.log_text(3)
        # ... and every running engine took the new token (+ 125 ms per node above 2)
        for i in (1, 2, 3):
            c.wait(lambda i=i: c.engine_status(i)["timers"]["token"] == 3125, 5, "token 3000")
        # F3: no config_version: nothing written
        assert c.cfs(1, "put", "corosync.conf", input="totem {\n}\n").returncode == 0
        c.wait(lambda: "unable to parse cluster config_version" in c.log_text(1), 5, "F3 log")
        assert (c.root(1) / "etc" / "corosync" / "corosync.conf").read_text() == edited
        assert c.cfs(1, "put", "corosync.conf", input=edited).returncode == 0
        # F2: a lower config_version replicates, but no node writes it or reloads
        reloads = c.log_text(1).count("run corosync-cfgtool -R")
        assert c.cfs(1, "put", "corosync.conf", input=texts[0]).returncode == 0
        for i in (1, 2, 3):
            c.wait(lambda i=i: "local corosync.conf is newer" in c.log_text(i), 5, "F2 log")
            assert c.cfs(i, "cat", "corosync.conf").stdout == texts[0]
            assert (c.root(i) / "etc" / "corosync" / "corosync.conf").read_text() == edited
        assert c.log_text(1).count("run corosync-cfgtool -R") == reloads
        # F4: a direct edit of a node's own file is overwritten by the next change
        (c.root(2) / "etc" / "corosync" / "corosync.conf").write_text(edited + "# local\n")
        newer = edited.replace("config_version: 4", "config_version: 5")
        assert c.cfs(3, "put", "corosync.conf.new", input=newer).returncode == 0
        assert c.cfs(3, "mv", "corosync.conf.new", "corosync.conf").returncode == 0
        c.wait(lambda: all(f.read_text() == newer for f in local_files), 5, "F4: overwritten")


@pytest.mark.timeout(240)
def test_delnode_expected_and_read_only_without_quorum(tmp_path: Path) -> None:
    with NodeCluster(tmp_path, 4) as c:
        three_nodes(c)
        # D2, D3, D9
        assert c.pvecm(1, "delnode", "node1").stderr == "Cannot delete myself from cluster!\n"
        assert c.pvecm(1, "delnode", "nodeX").stderr == (
            "Node/IP: nodeX is not a known host of the cluster.\n"
        )
        refused = c.pvecm(1, "expected", "1")
        assert refused.returncode == 1
        assert refused.stderr == "Unable to set expected votes: CS_ERR_INVALID_PARAM\n"
        # D6/F5: stop nodes 2 and 3: read-only, delnode refused
        c.stop(2)
        c.stop(3)
        c.wait(lambda: not c.quorate(1), 20, "node 1 inquorate")
        put = c.cfs(1, "put", "test.cfg", input="x")
        assert put.returncode != 0 and "Permission denied" in put.stderr
        stat = c.cfs(1, "stat", "corosync.conf").stdout
        assert "Access: (0444/-r--r--r--)" in stat
        assert c.cfs(1, "cat", "corosync.conf").returncode == 0
        status = c.pvecm(1, "status")
        assert status.returncode == 2
        assert "Quorum:           2 Activity blocked\n" in status.stdout
        before = c.cfs(1, "cat", "corosync.conf").stdout
        denied = c.pvecm(1, "delnode", "node3")
        assert denied.returncode != 0 and denied.stderr == "cluster not ready - no quorum?\n"
        assert c.cfs(1, "cat", "corosync.conf").stdout == before
        # C12: a join through an inquorate node is refused there
        c.start(4)
        refused = c.join(4)
        assert refused.returncode != 0
        assert (
            "An error occurred on the cluster node: cluster not ready - no quorum?\n"
            in refused.stderr
        )
        assert refused.stderr.endswith("Cluster join aborted!\n")
        assert not (c.root(4) / "etc" / "corosync" / "authkey").exists()
        assert c.cfs(1, "cat", "corosync.conf").stdout == before
        # D7, D8
        assert c.pvecm(1, "expected", "1").returncode == 0
        c.wait(lambda: c.quorate(1), 10, "node 1 quorate with expected 1")
        text = c.pvecm(1, "status").stdout
        assert "Quorate:          Yes\n" in text and "Expected votes:   1\n" in text
        gone = c.pvecm(1, "delnode", "node3")
        assert gone.returncode == 0 and gone.stdout == ""
        after = c.cfs(1, "cat", "corosync.conf").stdout
        assert conf_version(after) == conf_version(before) + 1
        assert "node3" not in after
        # the reload recomputes expected votes from the nodelist (2): inquorate again
        c.wait(lambda: not c.quorate(1), 10, "node 1 inquorate after the reload")
        assert c.pvecm(1, "expected", "1").returncode == 0
        c.wait(lambda: c.quorate(1), 10, "node 1 quorate with expected 1")
        assert c.cfs(1, "put", "test.cfg", input="x").returncode == 0
        # when quorum goes with the reload before delnode removes its lock, the lock stays, as
        # on Proxmox, until it expires (120 s) or is removed by hand (what the operator does)
        c.cfs(1, "rmdir", "priv/lock/file-corosync_conf")
        # D4: delnode by address
        assert c.pvecm(1, "delnode", "127.0.0.2").returncode == 0
        nodes = c.pvecm(1, "nodes").stdout
        assert "node2" not in nodes
        assert "node3" in c.cfs(1, "ls", "nodes").stdout


@pytest.mark.timeout(240)
def test_partition_majority_edits_and_the_minority_catches_up(tmp_path: Path) -> None:
    with NodeCluster(tmp_path, 3) as c:
        three_nodes(c)
        c.partition([1], [2, 3])
        c.wait(lambda: not c.quorate(1), 30, "node 1 inquorate")
        assert "Permission denied" in c.cfs(1, "put", "test.cfg", input="x").stderr
        c.wait(lambda: c.quorate(2), 30, "nodes 2 and 3 quorate")
        assert c.cfs(2, "put", "majority.cfg", input="y").returncode == 0
        c.heal()
        c.wait(lambda: len({c.checksum(i) for i in (1, 2, 3)}) == 1, 30, "equal checksums")
        assert c.cfs(1, "cat", "majority.cfg").stdout == "y"
        assert re.search(r"leader is [23]/", c.log_text(1))
        # F10: restart persistence
        c.stop(3, signal.SIGTERM)
        c.start(3)
        c.wait(lambda: c.quorate(3), 30, "node 3 back")
        c.wait(lambda: len({c.checksum(i) for i in (1, 2, 3)}) == 1, 30, "equal checksums")
        assert "all data is up to date" in c.log_text(3)
        # F11: a row changed behind cfsd's back; the node resyncs from the leader
        c.stop(3, signal.SIGTERM)
        db = sqlite3.connect(c.root(3) / "var" / "lib" / "pve-cluster" / "config.db")
        with db:
            db.execute("UPDATE tree SET data = ? WHERE name = 'majority.cfg'", (b"corrupt",))
        db.close()
        c.start(3, "--verify-interval", "1")
        c.wait(lambda: len({c.checksum(i) for i in (1, 2, 3)}) == 1, 30, "repaired")
        assert c.cfs(3, "cat", "majority.cfg").stdout == "y"
        assert c.log_text(3).count("waiting for updates from leader") >= 2
        # D1: delnode of a stopped node
        c.stop(3, signal.SIGTERM)
        c.wait(lambda: c.members_online(1) == 2, 20, "node 3 gone")
        version = conf_version(c.cfs(1, "cat", "corosync.conf").stdout)
        gone = c.pvecm(1, "delnode", "node3")
        assert gone.returncode == 0 and gone.stdout == "", gone.stderr
        for i in (1, 2):
            text = c.cfs(i, "cat", "corosync.conf").stdout
            assert conf_version(text) == version + 1 and "node3" not in text
            local = c.root(i) / "etc" / "corosync" / "corosync.conf"
            c.wait(lambda local=local, text=text: local.read_text() == text, 5, "local file")
        nodes = c.pvecm(1, "nodes").stdout
        assert "node1" in nodes and "node2" in nodes and "node3" not in nodes
        c.wait(lambda: "Expected votes:   2\n" in c.pvecm(2, "status").stdout, 10, "2 votes")
        assert "node3/" in c.cfs(1, "ls", "nodes").stdout


@pytest.mark.timeout(120)
def test_a_failed_second_join_leaves_the_first_node_inquorate(tmp_path: Path) -> None:
    """D10: the cluster side of a join ran (``addnode``), the joiner never came up."""
    with NodeCluster(tmp_path, 1) as c:
        c.start(1)
        assert c.pvecm(1, "create", "demo").returncode == 0
        c.wait(lambda: c.quorate(1), 20, "node 1 quorate")
        added = c.pvecm(1, "addnode", "node2", "--new_node_ip", "127.0.0.2", "--apiversion", "1")
        assert added.returncode == 0, added.stderr
        c.wait(lambda: not c.quorate(1), 20, "node 1 inquorate")
        status = c.pvecm(1, "status").stdout
        assert "Expected votes:   2\n" in status and "Quorate:          No\n" in status
        assert "Permission denied" in c.cfs(1, "put", "x.cfg", input="x").stderr
        refused = c.pvecm(1, "delnode", "node2")
        assert refused.stderr == "cluster not ready - no quorum?\n"
        assert c.pvecm(1, "expected", "1").returncode == 0
        c.wait(lambda: c.quorate(1), 10, "quorate with expected 1")
        deleted = c.pvecm(1, "delnode", "node2")
        assert deleted.returncode == 0, deleted.stderr
        c.wait(lambda: "Expected votes:   1\n" in c.pvecm(1, "status").stdout, 10, "expected 1")
        assert c.quorate(1)
