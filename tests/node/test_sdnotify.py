"""systemd notifications: the protocol (sd_notify over a datagram socket) and the daemon's."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.node.cluster import LoopbackCluster
from totem.node.sdnotify import SystemdNotifier


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket standing in for systemd's (path, socket)."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    try:
        yield path, sock
    finally:
        sock.close()


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert not notifier.ready("x") and not notifier.status("y") and not notifier.watchdog()
    assert notifier.watchdog_interval is None
    assert notifier.sent == notifier.errors == 0


def test_messages_reach_the_socket_and_the_environment_is_cleared(
    notify_socket: tuple[str, socket.socket],
) -> None:
    path, sock = notify_socket
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "3000000", "OTHER": "kept"}
    notifier = SystemdNotifier(env, pid=42)
    assert env == {"OTHER": "kept"}  # children do not talk to systemd in our name
    assert notifier.watchdog_interval == 1.5  # a ping every half of WatchdogSec
    assert notifier.ready("Ring 1.4: 3 members\nsecond line")
    assert sock.recv(4096) == b"READY=1\nSTATUS=Ring 1.4: 3 members second line"
    assert notifier.status("same") and not notifier.status("same")  # changes only
    assert sock.recv(4096) == b"STATUS=same"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.stopping("Leaving the ring")
    assert sock.recv(4096) == b"STOPPING=1\nSTATUS=Leaving the ring"
    assert (notifier.sent, notifier.errors) == (4, 0)
    notifier.close()


def test_abstract_socket_and_a_watchdog_meant_for_another_process() -> None:
    name = f"pycorosync-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    with sock:
        env = {"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}
        notifier = SystemdNotifier(env, pid=42)
        assert notifier.watchdog_interval is None  # WATCHDOG_PID names another process
        assert notifier.ready()
        assert sock.recv(4096) == b"READY=1"


def test_a_missing_socket_is_counted_not_raised(tmp_path: Path) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.enabled
    assert not notifier.ready()
    assert notifier.errors == 1
    assert SystemdNotifier({"NOTIFY_SOCKET": "relative/path"}).enabled is False


def test_watchdog_pings_are_scheduled_on_the_loop(
    notify_socket: tuple[str, socket.socket],
) -> None:
    path, sock = notify_socket
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}, pid=1)

    class Loop:
        """Records call_later instead of waiting."""

        def __init__(self) -> None:
            self.calls: list[tuple[float, Callable[[], None]]] = []

        def call_later(self, delay: float, callback: Callable[[], None]) -> Any:
            self.calls.append((delay, callback))

            class Handle:
                def cancel(self) -> None:
                    pass

            return Handle()

    loop = Loop()
    notifier.start_watchdog(loop)  # type: ignore[arg-type]
    assert sock.recv(100) == b"WATCHDOG=1"
    assert loop.calls[0][0] == 0.1
    loop.calls[0][1]()
    assert sock.recv(100) == b"WATCHDOG=1"
    assert len(loop.calls) == 2
    notifier.stopping()
    assert sock.recv(100) == b"STOPPING=1"


def _receive(sock: socket.socket, until: Callable[[str], bool], timeout: float) -> list[str]:
    """Datagrams until one satisfies ``until`` (bounded by ``timeout``)."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching notification within {timeout} s; got {got}")
        sock.settimeout(left)
        message = sock.recv(4096).decode()
        got.append(message)
        if until(message):
            return got


@pytest.mark.sockets
@pytest.mark.timeout(120)
def test_ready_only_after_the_first_membership(
    tmp_path: Path, notify_socket: tuple[str, socket.socket]
) -> None:
    path, sock = notify_socket
    with LoopbackCluster(tmp_path, 3, token=1000) as cluster:
        cluster.env[1] = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"}
        cluster.start(1)
        before = _receive(sock, lambda m: "READY=1" in m.split("\n"), timeout=30)
        ready = before.pop()
        # first the status of a node without a ring, and the watchdog's pings from then on
        assert before[:2] == [
            "STATUS=Forming the ring: waiting for the first membership",
            "WATCHDOG=1",
        ]
        assert set(before[2:]) <= {"WATCHDOG=1"}
        log = cluster.log(1)
        assert "A new membership (1." in log
        assert "Completed service synchronization, ready to provide service." in log
        assert cluster.status(1)["node"]["synced"]
        ring = cluster.status(1)["node"]["ring_id"]
        # READY=1 comes with the ring it was sent for: the membership existed by then
        assert ready == f"READY=1\nSTATUS=Ring {ring}: 1 members (1), not quorate"

        cluster.start(2, 3)
        status = _receive(sock, lambda m: "3 members (1 2 3), quorate" in m, timeout=30)
        assert not any("READY=1" in m for m in status)  # once is enough
        cluster.kill(1, signal.SIGTERM)
        _receive(sock, lambda m: m == "STOPPING=1\nSTATUS=Leaving the ring", timeout=10)
