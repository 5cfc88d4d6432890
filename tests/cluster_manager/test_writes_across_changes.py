"""Writes through membership changes on real daemons: nothing acknowledged is lost.

A writer on node 2 puts 2 KB files (each one cut by totempg into two packets) without pause
while node 1 deletes the running node 3 (``pvecm delnode``: node 3's engine is killed, the
ring changes, the remaining nodes reload a smaller nodelist). Every write must return within
the client's timeout, and every one acknowledged must be on both remaining nodes, whole.
"""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path

import pytest

from pvecluster.client.cfs import CfsClient, CfsError, CfsUnavailable

from .harness import NodeCluster, environment_problem

_PROBLEM = environment_problem()
pytestmark = [
    pytest.mark.sockets,
    pytest.mark.skipif(_PROBLEM is not None, reason=f"cluster manager: {_PROBLEM}"),
]

WRITE_TIMEOUT = 20.0
"""Seconds one write may take (a sync stalls it for a few hundred ms at most)."""


def body(n: int) -> bytes:
    return (f"write {n} of the writer on node 2\n" * 80).encode()[:2048]


class Writer(threading.Thread):
    """Puts ``w<n>.cfg`` on node 2 one after the other until stopped."""

    def __init__(self, c: NodeCluster) -> None:
        super().__init__(daemon=True)
        self.c = c
        self.stop = threading.Event()
        self.acknowledged: list[int] = []
        self.refused: dict[int, str] = {}
        self.slowest = 0.0

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            started = time.monotonic()
            try:
                with CfsClient(str(self.c.root(2)), timeout=WRITE_TIMEOUT) as client:
                    client.write(f"w{n}.cfg", body(n))
                self.acknowledged.append(n)
            except CfsError as err:
                self.refused[n] = errno.errorcode.get(err.errno, str(err))
            except (CfsUnavailable, OSError) as err:  # a write that did not return in time
                self.refused[n] = f"{type(err).__name__}: {err}"
            self.slowest = max(self.slowest, time.monotonic() - started)


@pytest.mark.timeout(300)
def test_delnode_of_a_running_node_during_writes_loses_no_write(tmp_path: Path) -> None:
    with NodeCluster(tmp_path, 3) as c:
        for i in (1, 2, 3):
            c.start(i)
        assert c.pvecm(1, "create", "demo").returncode == 0
        c.wait(lambda: c.quorate(1), 20, "node 1 quorate")
        for i in (2, 3):
            joined = c.join(i)
            assert joined.returncode == 0, joined.stdout + joined.stderr
        c.wait(lambda: c.members_online(1) == 3 and c.settled((1, 2, 3)), 60, "three nodes")
        writer = Writer(c)
        writer.start()
        try:
            c.wait(lambda: len(writer.acknowledged) >= 5, 30, "writes flowing")
            deleted = c.pvecm(1, "delnode", "node3")
            assert deleted.returncode == 0, deleted.stderr
            c.wait(lambda: not c.status(3)["engine_running"], 20, "node 3's engine down")
            c.wait(lambda: "Expected votes:   2\n" in c.pvecm(1, "status").stdout, 30, "2 votes")
            written = len(writer.acknowledged)
            c.wait(lambda: len(writer.acknowledged) >= written + 5, 30, "writes after it")
        finally:
            writer.stop.set()
            writer.join(WRITE_TIMEOUT + 5)
        assert not writer.is_alive(), "a write never returned"
        assert writer.slowest < WRITE_TIMEOUT
        # a write may be refused while quorum moves, never silently dropped
        assert set(writer.refused.values()) <= {"EACCES"}, writer.refused
        c.wait(lambda: c.settled((1, 2)), 30, "nodes 1 and 2 synchronised")
        for i in (1, 2):
            with CfsClient(str(c.root(i)), timeout=10) as client:
                missing = [
                    n for n in writer.acknowledged if client.read_or_none(f"w{n}.cfg") != body(n)
                ]
            assert missing == [], f"node {i} lacks acknowledged writes {missing}"
        assert c.checksum(1) == c.checksum(2)
