"""Real pycorosync daemons on loopback (127.0.0.1..N), one subprocess each.

Each cluster gets its own free UDP port and temporary run/state directories;
every process it starts is stopped (TERM, then KILL) by PID when it closes.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from totem.node.client import ControlClient, NodeUnavailable, RequestFailed


def free_port(addresses: list[str]) -> int:
    """A UDP port free on every address (and port-1, for the udp transport)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 60000)
        sockets = []
        try:
            for address in addresses:
                for p in (port, port - 1):
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    sockets.append(s)
                    s.bind((address, p))
            return port
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free port")


def conf_text(
    n: int,
    port: int,
    *,
    transport: str = "udpu",
    token: int = 500,
    quorum: str = "",
    cluster_name: str = "pytest",
    extra_totem: str = "",
) -> str:
    nodes = "".join(
        f"    node {{\n        nodeid: {i}\n        name: node{i}\n"
        f"        ring0_addr: 127.0.0.{i}\n    }}\n"
        for i in range(1, n + 1)
    )
    interface = f"    interface {{\n        linknumber: 0\n        mcastport: {port}\n    }}\n"
    return (
        "totem {\n    version: 2\n"
        f"    cluster_name: {cluster_name}\n    transport: {transport}\n"
        f"    token: {token}\n    token_coefficient: 0\n{extra_totem}{interface}}}\n"
        f"nodelist {{\n{nodes}}}\n"
        f"quorum {{\n    provider: corosync_votequorum\n{quorum}}}\n"
        "logging {\n    to_stderr: yes\n    debug: off\n}\n"
    )


class LoopbackCluster:
    """``n`` daemons sharing one corosync.conf; ``start(i)``/``kill(i)``/``client(i)``."""

    def __init__(self, tmp: Path, n: int, **conf: Any) -> None:
        self.tmp = tmp
        self.n = n
        self.port = free_port([f"127.0.0.{i}" for i in range(1, n + 1)])
        self.conf = tmp / "corosync.conf"
        self.conf.write_text(conf_text(n, self.port, **conf))
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.daemon_args: list[str] = []
        """More options for every daemon started (``--qdevice-cert-dir DIR``...)."""
        self.node_args: dict[int, list[str]] = {}
        """More options for one node's daemon (``--metrics 127.0.0.2:0``...)."""
        self.env: dict[int, dict[str, str]] = {}
        """More environment variables for one node's daemon (``NOTIFY_SOCKET``...)."""

    def run_dir(self, i: int) -> str:
        return str(self.tmp / f"run{i}")

    def start(self, *ids: int) -> None:
        for i in ids or range(1, self.n + 1):
            log = open(self.tmp / f"node{i}.log", "ab")  # noqa: SIM115 - owned by the process
            self.procs[i] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "totem.node.daemon",
                    "-f",
                    "-c",
                    str(self.conf),
                    "--nodeid",
                    str(i),
                    "--run-dir",
                    self.run_dir(i),
                    "--state-dir",
                    str(self.tmp / f"state{i}"),
                    *self.daemon_args,
                    *self.node_args.get(i, []),
                    "--no-ipc",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env[i]} if i in self.env else None,
            )
            log.close()

    def pid(self, i: int) -> int:
        return self.procs[i].pid

    def kill(self, i: int, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(i)
        proc.send_signal(sig)
        proc.wait(timeout=10)

    def call(self, i: int, op: str, **args: Any) -> Any:
        with ControlClient(self.run_dir(i), timeout=5) as client:
            return client.call(op, **args)

    def status(self, i: int) -> dict[str, Any]:
        result: dict[str, Any] = self.call(i, "status")
        return result

    def wait(self, predicate: Callable[[], bool], timeout: float = 20.0) -> float:
        start = time.monotonic()
        while True:
            try:
                if predicate():
                    return time.monotonic() - start
            except (NodeUnavailable, RequestFailed, KeyError):
                pass
            if time.monotonic() - start > timeout:
                raise AssertionError(f"not reached within {timeout}s; logs in {self.tmp}")
            time.sleep(0.02)

    def members(self, i: int) -> list[int]:
        node = self.status(i)["node"]
        return list(node["members"]) if node["state"] == "OPERATIONAL" else []

    def wait_members(self, nodes: list[int], members: list[int], timeout: float = 20.0) -> float:
        def formed() -> bool:
            rings = set()
            for i in nodes:
                status = self.status(i)
                if status["node"]["members"] != members or not status["node"]["synced"]:
                    return False
                rings.add(status["node"]["ring_id"])
            return len(rings) == 1

        return self.wait(formed, timeout)

    def log(self, i: int) -> str:
        return (self.tmp / f"node{i}.log").read_text(errors="replace")

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 5
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()

    def __enter__(self) -> LoopbackCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
