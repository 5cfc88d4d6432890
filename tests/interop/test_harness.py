"""Behaviour of the harness itself (root + corosync; skipped otherwise): clusters side by side,
teardown on errors and KeyboardInterrupt, process ending, isolation of a node."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from tests.interop.conftest import MakeCluster
from tests.interop.harness import Cluster, HarnessError, WaitTimeout
from tests.interop.netns import is_mountpoint, netns_exists, netns_pids
from tests.interop.tools import member_ids

pytestmark = pytest.mark.interop


def _assert_torn_down(c: Cluster) -> None:
    names = [c.bridge_netns, *(c.name(i) for i in c.slots)]
    assert [nm for nm in names if netns_exists(nm)] == []
    assert not c.state_dir.exists()
    assert not is_mountpoint(c.state_dir / "mnt")
    assert c.cleanup_notes == []


@pytest.mark.timeout(60)
def test_two_clusters_side_by_side(make_cluster: MakeCluster) -> None:
    a = make_cluster(2, "udpu")
    b = make_cluster(2, "udp", extra=1)
    assert a.prefix != b.prefix and a.subnet != b.subnet
    for c in (a, b):
        st = c.wait_members([1, 2], {1, 2}, timeout=10, quorate=True)
        assert all(s["flags"] == ["2Node", "Quorate", "WaitForAll"] for s in st.values())
        assert [m["name"] for m in st[1]["members"]] == [c.name(1), c.name(2)]
        assert c.exec(1, ["hostname"], check=True).stdout.strip() == c.name(1)
        # A private /run per node: each corosync holds its own /var/run/corosync.pid.
        pid = c.exec(2, ["cat", "/var/run/corosync.pid"], check=True).stdout.strip()
        proc = c.corosync(2)
        assert proc is not None and pid == str(proc.pid)
    assert b.exec(3, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout.split()[3] == (
        f"{b.subnet}.3/24"
    )
    unreachable = b.exec(3, ["ip", "route", "get", a.addr(1)])  # only the node's own /24
    assert unreachable.returncode != 0 and "unreachable" in unreachable.stderr
    a.close()
    _assert_torn_down(a)
    assert b.wait_members(timeout=5, quorate=True)[1]["nodes"] == 2


@pytest.mark.timeout(30)
def test_keyboard_interrupt_tears_everything_down() -> None:
    with pytest.raises(KeyboardInterrupt), Cluster(2, skip={1, 2}, extra=1) as c:
        sleeper = c.spawn(3, "sleeper", ["sleep", "60"])
        assert sleeper.alive()
        raise KeyboardInterrupt
    assert not sleeper.alive() and sleeper.returncode == -signal.SIGTERM
    _assert_torn_down(c)


@pytest.mark.timeout(30)
def test_failed_start_is_reported_and_cleaned_up() -> None:
    c = Cluster(2, corosync="/nonexistent/corosync", start_timeout=1.0)
    with pytest.raises(WaitTimeout, match="corosync exited with 127"):
        c.setup()
    _assert_torn_down(c)


def _corosync_that_aborts(tmp_path: Path, times: int) -> Path:
    """A corosync wrapper that, the first ``times`` times it starts on a host, dies of SIGABRT
    after printing the assertion real corosync 3.1.7 printed when it lost its start race."""
    wrapper = tmp_path / "corosync"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"marker={tmp_path}/starts-$(hostname)\n"
        'echo >> "$marker"\n'
        f'if [ "$(wc -l < "$marker")" -le {times} ]; then\n'
        '  echo "corosync: totemsrp.c:2880: orf_token_rtr: Assertion '
        "\\`range < QUEUE_RTR_ITEMS_SIZE_MAX' failed.\" >&2\n"
        "  kill -ABRT $$\n"
        "fi\n"
        'exec corosync "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


@pytest.mark.timeout(60)
def test_a_real_corosync_abort_at_start_starts_the_nodes_once_more(tmp_path: Path) -> None:
    with Cluster(2, corosync=str(_corosync_that_aborts(tmp_path, 1)), start_timeout=10.0) as c:
        assert set(c.live_nodes()) == {1, 2}
        events = (c.state_dir / "events").read_text()
        assert "real corosync aborted on its own assertion at start" in events
        assert "orf_token_rtr" in c.log_text(1, "corosync.stderr")
    _assert_torn_down(c)


@pytest.mark.timeout(60)
def test_a_second_abort_at_start_is_the_failure(tmp_path: Path) -> None:
    c = Cluster(2, corosync=str(_corosync_that_aborts(tmp_path, 2)), start_timeout=10.0)
    t0 = time.monotonic()
    with pytest.raises(WaitTimeout, match="corosync exited with -6"):
        c.setup()
    # A node that exited cannot come back while the harness waits: no 10 s timeout each.
    assert time.monotonic() - t0 < 8.0
    _assert_torn_down(c)


@pytest.mark.timeout(30)
def test_keyboard_interrupt_during_setup_tears_down(monkeypatch: pytest.MonkeyPatch) -> None:
    c = Cluster(2)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(c, "wait_members", interrupted)
    with pytest.raises(KeyboardInterrupt):
        c.setup()
    started = [c.corosync(i) for i in (1, 2)]
    assert all(p is not None and not p.alive() for p in started)
    _assert_torn_down(c)


@pytest.mark.timeout(30)
def test_spawn_exec_and_stop(make_cluster: MakeCluster) -> None:
    c = make_cluster(1, skip={1})
    with pytest.raises(HarnessError, match="timed out"):
        c.exec(1, ["sleep", "5"], timeout=0.2)
    # A process that ignores SIGTERM and has a child: KILLed with its whole process group.
    stubborn = c.spawn(1, "stubborn", ["sh", "-c", "trap '' TERM; echo ready; sleep 30 & wait"])
    deadline = time.monotonic() + 5
    while "ready" not in c.log_text(1, "stubborn.log") and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(HarnessError, match="already runs"):
        c.spawn(1, "stubborn", ["true"])
    t0 = time.monotonic()
    assert c.stop(stubborn, timeout=0.5) == -signal.SIGKILL
    assert time.monotonic() - t0 < 3
    assert netns_pids(c.name(1)) == []
    quick = c.spawn(1, "quick", [sys.executable, "-c", "import sys; print('hi'); sys.exit(3)"])
    assert quick.wait(10) == 3 and c.stop(quick) == 3
    assert c.log_text(1, "quick.log") == "hi\n"
    assert c.logs(1) == [c.log_dir(1) / "quick.log", c.log_dir(1) / "stubborn.log"]


@pytest.mark.timeout(60)
def test_isolate_and_rejoin(make_cluster: MakeCluster) -> None:
    c = make_cluster(3, "udpu", token=1000)
    c.isolate(3)
    c.wait_members([1, 2], {1, 2}, timeout=10, quorate=True)
    alone = c.wait_members([3], {3}, timeout=5, quorate=False)[3]
    assert alone["activity_blocked"]
    c.rejoin(3)
    st = c.wait_members(members={1, 2, 3}, timeout=10, quorate=True)
    assert len({s["ring_id"] for s in st.values()}) == 1
    assert member_ids(st[3]) == {1, 2, 3}
