"""corosync's own tools and a libcpg program on three pycorosync nodes, over libqb IPC (root).

Each of our nodes runs in its own network namespace (abstract socket names are per
namespace) with a private ``/dev/shm``; the tools are Debian's corosync 3.1.7 binaries,
unmodified, run inside a node's namespaces: they reach our daemon exactly as they reach a
real corosync. Nodes 1 and 2 serve SHM (the default ``qb_ipc_type``), node 3 runs with
``system { qb_ipc_type: socket }``: libqb's client takes the transport the server names in
its set-up response (``ref/libqb-ipc/README.md`` §1.3), so every tool run on node 3 below,
and the libcpg program there, goes through the SOCKET transport. The cluster is shared by
the tests of this module, in order; the destructive ones (kill, shutdown) come last.
"""

from __future__ import annotations

import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.cpgtools import build_cpg_tool, cpg_tool_problem, parse_report
from tests.interop.harness import Cluster, environment_problem
from tests.interop.mixed import PYTHON, RUN_DIR, MixedCluster
from tests.interop.tools import member_ids, parse_cfgtool_n, parse_cfgtool_s, parse_cmapctl
from tests.ipc.cmapctl import key_types
from tests.ipc.layouts import FIXTURES

pytestmark = [pytest.mark.interop]
_PROBLEM = environment_problem()
SOCKET_NODE = 3
"""The node whose daemon serves libqb's SOCKET transport (the others: SHM)."""


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MixedCluster]:
    if _PROBLEM is not None:
        pytest.skip(f"real-corosync interop unavailable: {_PROBLEM}")
    keep = tmp_path_factory.mktemp("libqb-tools")
    with Cluster(3, skip={1, 2, 3}, keep_logs=keep) as cluster:
        conf = cluster.conf_path(SOCKET_NODE)
        text = conf.read_text()
        assert "system {\n" in text
        conf.write_text(text.replace("system {\n", "system {\n    qb_ipc_type: socket\n", 1))
        mixed = MixedCluster(cluster, [1, 2, 3])
        mixed.start_ours()
        mixed.wait_agree(quorate=True, timeout=30)
        yield mixed


def tool(mixed: MixedCluster, node: int, *argv: str, check: bool = True) -> str:
    cp = mixed.cluster.exec(node, list(argv), timeout=20)
    if check and cp.returncode != 0:
        raise AssertionError(f"{argv}: exit {cp.returncode}\n{cp.stdout}\n{cp.stderr}")
    return cp.stdout


def real_keys(name: str) -> dict[str, str]:
    """Names and types of a real corosync 3.1.7 node's listing (``tests/fixtures/libqb``)."""
    return key_types((FIXTURES / name).read_text())


def test_cmapctl_keys_at_start_up_are_a_real_nodes(ours: MixedCluster) -> None:
    """Key by key, names and types: the configuration map and ``-m stats`` of node 1 as a real
    node of the same 3-node udpu cluster listed them (the map first, before any test
    changes it)."""
    assert key_types(tool(ours, 1, "corosync-cmapctl")) == real_keys("real-cmapctl.txt")
    stats = key_types(tool(ours, 1, "corosync-cmapctl", "-m", "stats"))
    assert stats == real_keys("real-cmapctl-stats.txt")


def test_quorumtool_status_list_parsable_and_hex(ours: MixedCluster) -> None:
    status = ours.cluster.quorum_status(2)
    assert (status["nodes"], status["node_id"], status["quorate"]) == (3, 2, True)
    assert (status["expected_votes"], status["total_votes"], status["quorum"]) == (3, 3, 2)
    assert member_ids(status) == {1, 2, 3}
    names = {row["nodeid"]: row["name"] for row in status["members"]}
    assert names == {i: ours.cluster.name(i) for i in (1, 2, 3)}
    listing = tool(ours, 1, "corosync-quorumtool", "-l")
    assert f"{ours.cluster.name(1)} (local)" in listing
    parsable = tool(ours, 1, "corosync-quorumtool", "-s", "-p")
    assert "Quorate:          Yes" in parsable or "Quorate: Yes" in " ".join(parsable.split())
    hexed = tool(ours, 3, "corosync-quorumtool", "-s", "-H")
    assert "0x00000003" in hexed


def test_quorumtool_expected_votes_and_node_votes(ours: MixedCluster) -> None:
    tool(ours, 1, "corosync-quorumtool", "-e", "4")
    deadline = time.monotonic() + 10
    while ours.cluster.quorum_status(3)["expected_votes"] != 4:
        assert time.monotonic() < deadline, "expected votes did not reach node 3"
        time.sleep(0.1)
    tool(ours, 1, "corosync-quorumtool", "-v", "2", "-n", "3")
    while ours.cluster.quorum_status(2)["total_votes"] != 4:
        assert time.monotonic() < deadline, "node 3's votes did not change"
        time.sleep(0.1)
    refused = ours.cluster.exec(1, ["corosync-quorumtool", "-e", "1"], timeout=20)
    assert refused.returncode != 0  # below the total votes: CS_ERR_INVALID_PARAM
    tool(ours, 1, "corosync-quorumtool", "-v", "1", "-n", "3")
    tool(ours, 1, "corosync-quorumtool", "-e", "3")
    ours.wait_agree(quorate=True, timeout=10)


def test_quorumtool_monitor_prints_until_stopped(ours: MixedCluster) -> None:
    cp = ours.cluster.exec(
        2, ["timeout", "2", "stdbuf", "-oL", "corosync-quorumtool", "-m"], timeout=20
    )
    assert cp.returncode == 124  # still running when stopped
    assert "Quorate:          Yes" in cp.stdout


def test_cmapctl_list_get_set_delete_and_stats(ours: MixedCluster) -> None:
    keys = parse_cmapctl(tool(ours, 1, "corosync-cmapctl"))
    assert keys["totem.cluster_name"] == "realcluster"
    assert keys["runtime.votequorum.this_node_id"] == 1
    assert keys["runtime.members.3.status"] == "joined"
    assert keys["nodelist.local_node_pos"] == 0
    got = tool(ours, 2, "corosync-cmapctl", "-g", "nodelist.node.1.name")
    assert got.strip() == f"nodelist.node.1.name (str) = {ours.cluster.name(2)}"
    tool(ours, 2, "corosync-cmapctl", "-s", "test.counter", "u32", "41")
    assert "= 41" in tool(ours, 2, "corosync-cmapctl", "-g", "test.counter")
    tool(ours, 2, "corosync-cmapctl", "-d", "test.counter")
    missing = ours.cluster.exec(2, ["corosync-cmapctl", "-g", "test.counter"], timeout=20)
    assert missing.returncode != 0
    refused = ours.cluster.exec(2, ["corosync-cmapctl", "-s", "totem.cluster_name", "str", "x"])
    assert refused.returncode != 0
    stats = parse_cmapctl(tool(ours, 3, "corosync-cmapctl", "-m", "stats"))
    assert stats["stats.srp.orf_token_rx"] > 0
    assert stats["stats.ipcs.global.active"] >= 1
    assert any(k.endswith(".procname") and v == "corosync-cmapct" for k, v in stats.items())
    tool(ours, 3, "corosync-cmapctl", "-C", "all")


def test_cmapctl_track_sees_changes(ours: MixedCluster) -> None:
    argv = [
        *ours.cluster.nsenter_argv(1),
        "stdbuf",
        "-oL",
        "corosync-cmapctl",
        "-t",
        "test.tracked",
    ]
    watcher = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(0.5)
        tool(ours, 1, "corosync-cmapctl", "-s", "test.tracked", "str", "hello")
        tool(ours, 1, "corosync-cmapctl", "-s", "test.tracked", "str", "world")
        time.sleep(0.5)
    finally:
        try:
            out, _ = watcher.communicate("q\n", timeout=5)
        except subprocess.TimeoutExpired:
            watcher.kill()
            out, _ = watcher.communicate()
    assert "create> test.tracked (str) = hello" in out
    assert "modify> test.tracked (str) = world" in out


def _unix_sockets(mixed: MixedCluster, node: int) -> list[tuple[str, str]]:
    """``(type, path)`` of every AF_UNIX socket in the node's network namespace with a path
    (``/proc/net/unix``: type 0001 stream, 0002 datagram; an abstract name is shown with '@'
    for its leading NUL and for the NUL padding, which is dropped here)."""
    rows = tool(mixed, node, "cat", "/proc/net/unix").splitlines()[1:]
    fields = (row.split() for row in rows)
    return [(f[4], f[7][:1] + f[7][1:].rstrip("@")) for f in fields if len(f) >= 8]


def _read_until(proc: subprocess.Popen[str], text: str, timeout: float) -> str:
    """Lines of ``proc``'s (line-buffered) stdout up to the one holding ``text``."""
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while text not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{text!r} not printed; got {seen!r}"
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            line = proc.stdout.readline()
            assert line, f"stdout closed before {text!r}; got {seen!r}"
            seen += line
    return seen


def test_socket_transport_serves_tools_events_and_libraries(ours: MixedCluster) -> None:
    """Node 3 answers SOCKET in its set-up responses: each client gets a control file and
    datagram sockets (no SHM rings), and corosync's tools work through them, events included."""
    assert ours.py_status(SOCKET_NODE)["ipc"]["type"] == "socket"
    assert ours.py_status(1)["ipc"]["type"] == "shm"
    argv = [*ours.cluster.nsenter_argv(SOCKET_NODE), "stdbuf", "-oL", "corosync-cmapctl", "-t",
            "test.socket"]  # fmt: skip
    watcher = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # printed once cmap_track_add has been answered: the connection is complete
        _read_until(watcher, 'Type "q" to finish', timeout=10)
        sockets = _unix_sockets(ours, SOCKET_NODE)
        shm = tool(ours, SOCKET_NODE, "sh", "-c", "ls -1 /dev/shm/qb-*/")
        tool(ours, SOCKET_NODE, "corosync-cmapctl", "-s", "test.socket", "str", "datagram")
        seen = _read_until(watcher, "create> test.socket (str) = datagram", timeout=10)
    finally:
        try:
            out, _ = watcher.communicate("q\n", timeout=5)
        except subprocess.TimeoutExpired:
            watcher.kill()
            out, _ = watcher.communicate()
    # the client's datagram sockets and the server's, bound to abstract names under the
    # connection's /dev/shm directory; its control file in that directory; no ring buffers
    suffixes = {p.rsplit("-cmap", 1)[1] for kind, p in sockets if kind == "0002" and "-cmap" in p}
    assert {"-request", "-response", "-event", "-event-tx"} <= suffixes
    assert all(p.startswith("@/dev/shm/qb-") for kind, p in sockets if "-cmap-" in p)
    assert "qb-control-cmap" in shm.split()
    assert not [name for name in shm.split() if name.endswith(("-header", "-data"))]
    assert "create> test.socket (str) = datagram" in seen + out

    status = ours.cluster.quorum_status(SOCKET_NODE)
    assert (status["nodes"], status["node_id"], status["quorate"]) == (3, SOCKET_NODE, True)
    listing = tool(ours, SOCKET_NODE, "corosync-quorumtool", "-l")
    assert f"{ours.cluster.name(SOCKET_NODE)} (local)" in listing
    keys = parse_cmapctl(tool(ours, SOCKET_NODE, "corosync-cmapctl", "runtime.votequorum."))
    assert keys["runtime.votequorum.this_node_id"] == SOCKET_NODE
    nodeid, _, [link] = parse_cfgtool_s(tool(ours, SOCKET_NODE, "corosync-cfgtool", "-s"))
    assert nodeid == SOCKET_NODE
    assert {row["nodeid"]: row["status"] for row in link["nodes"]} == {
        1: "connected",
        2: "connected",
        3: "localhost",
    }
    assert tool(ours, SOCKET_NODE, "corosync-cpgtool").startswith("Group Name")
    stats = parse_cmapctl(tool(ours, SOCKET_NODE, "corosync-cmapctl", "-m", "stats"))
    assert any(k.endswith(".procname") and v == "corosync-cmapct" for k, v in stats.items())


def test_cfgtool_status_nodes_addresses_and_reload(ours: MixedCluster) -> None:
    nodeid, transport, links = parse_cfgtool_s(tool(ours, 1, "corosync-cfgtool", "-s"))
    assert (nodeid, transport) == (1, "udpu")
    [link] = links
    shown = {row["nodeid"]: row["status"] for row in link["nodes"]}
    assert shown == {1: "localhost", 2: "connected", 3: "connected"}
    _, _, reachable = parse_cfgtool_n(tool(ours, 1, "corosync-cfgtool", "-n"))
    assert set(reachable) == {2, 3}
    assert all(node["links"][0]["mtu"] == 1410 for node in reachable.values())
    addresses = tool(ours, 1, "corosync-cfgtool", "-a", "2")
    assert addresses.split() == [ours.cluster.addr(2)]
    reloaded = tool(ours, 2, "corosync-cfgtool", "-R")
    assert "Reloading corosync.conf" in reloaded
    tool(ours, 2, "corosync-cfgtool", "-L")
    # every node reloaded: the keys a real node has after a reload (test keys aside)
    after = key_types(tool(ours, 1, "corosync-cmapctl"), skip=("test.",))
    assert after == real_keys("real-cmapctl-reloaded.txt")
    config = parse_cmapctl(tool(ours, 1, "corosync-cmapctl", "config."))
    assert config == {
        "config.reload_in_progress": 0,
        "config.reload_status": 1,
        "config.totemconfig_reload_in_progress": 0,
    }


def test_cpgload_on_three_nodes_in_one_agreed_order(
    ours: MixedCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    problem = cpg_tool_problem("cpgload")
    if problem is not None:
        pytest.skip(problem)
    binary = build_cpg_tool("cpgload", tmp_path_factory.mktemp("cpgload"))
    # libcpg over SHM on nodes 1 and 2, over SOCKET on node 3: one agreed order all the same
    procs = [
        subprocess.Popen(
            [
                *ours.cluster.nsenter_argv(i),
                str(binary),
                "send",
                "-n",
                "3000",
                "-s",
                "200",
                "-m",
                "3",
                "-S",
                "3",
                "-t",
                "20",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in (1, 2, 3)
    ]
    reports = []
    for proc in procs:
        out, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0, out
        reports.append(parse_report(out.strip().splitlines()[-1]))
    assert {r["msgs"] for r in reports} == {"9000"}
    assert {r["misorder"] for r in reports} == {"0"}
    assert len({r["digest"] for r in reports}) == 1
    groups = tool(ours, 1, "corosync-cpgtool")
    assert groups.startswith("Group Name")


def test_second_daemon_in_one_namespace_is_refused(ours: MixedCluster) -> None:
    argv = [PYTHON, "-m", "totem.node.daemon", "-f", "-c", "/etc/corosync/corosync.conf",
            "--nodeid", "1", "--run-dir", f"{RUN_DIR}-second"]  # fmt: skip
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    cp = subprocess.run(
        [*ours.cluster.nsenter_argv(1), "env", *(f"{k}={v}" for k, v in env.items()), *argv],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert cp.returncode == 18
    assert "is already served in this network namespace" in cp.stderr + cp.stdout
    assert ours.cluster.quorum_status(1)["quorate"]  # the first one carries on


def test_cfgtool_kill_then_shutdown(ours: MixedCluster) -> None:
    tool(ours, 1, "corosync-cfgtool", "-k", "3")
    handle = ours.handle(3)
    assert handle is not None and handle.wait(10) is not None
    ours.wait_agree([1, 2], {1, 2}, quorate=True, timeout=30)
    out = tool(ours, 2, "corosync-cfgtool", "-H")
    assert "Shutting down corosync" in out
    handle = ours.handle(2)
    assert handle is not None and handle.wait(15) == 0


def test_schedmiss_after_the_node_was_not_scheduled(ours: MixedCluster) -> None:
    """Node 1 (alone now) stopped for longer than 0.8 token: corosync's warning, and the miss
    in ``stats.schedmiss.0.*``, listed as a real node lists one; cleared on request."""
    handle = ours.handle(1)
    assert handle is not None
    token = parse_cmapctl(tool(ours, 1, "corosync-cmapctl", "runtime.config.totem.token"))
    stall = token["runtime.config.totem.token"] * 0.8 / 1000 + 0.3
    assert handle.signal(signal.SIGSTOP)
    try:
        time.sleep(stall)
    finally:
        handle.signal(signal.SIGCONT)
    stats = key_types(tool(ours, 1, "corosync-cmapctl", "-m", "stats"))
    assert stats == real_keys("real-cmapctl-stats-schedmiss.txt")
    delay = parse_cmapctl(tool(ours, 1, "corosync-cmapctl", "-m", "stats", "stats.schedmiss."))
    assert delay["stats.schedmiss.0.delay"] >= stall * 1000
    assert "Corosync main process was not scheduled (@" in ours.log(1)
    tool(ours, 1, "corosync-cmapctl", "-m", "stats", "-s", "stats.clear.schedmiss", "u8", "1")
    assert "schedmiss" not in tool(ours, 1, "corosync-cmapctl", "-m", "stats")
