"""Nodes of the cluster manager on one machine, in a network namespace of their own.

Each test cluster gets a fresh network namespace (root only: ``ip netns``), so its nodes use
127.0.0.x and the join API's port 8006 without meeting any other program, and partitions are
``iptables`` rules that exist only there. Every process is started here and stopped by PID;
the namespace is deleted at the end.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pvecluster.client.cfs import CfsClient, CfsError, CfsUnavailable
from totem.node.client import ControlClient

__all__ = ["NodeCluster", "environment_problem"]

REPO = Path(__file__).resolve().parents[2]
_COUNTER = itertools.count(1)


def environment_problem() -> str | None:
    if os.geteuid() != 0:
        return "needs root (a network namespace per test cluster)"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip netns)"
    return None


def _bin(name: str) -> list[str]:
    modules = {
        "cfsd": "pvecluster.cfsd.daemon",
        "pvecm": "pvecluster.pvecm.cli",
        "cfs": "pvecluster.client.tool",
    }
    return [sys.executable, "-m", modules[name]]


class NodeCluster:
    """Node roots ``n1..nN`` under ``base``, daemons in one network namespace."""

    def __init__(self, base: Path, count: int, *, verify_interval: float = 3600.0) -> None:
        self.base = base
        self.count = count
        self.verify_interval = verify_interval
        self.netns = f"cfs-{os.getpid()}-{next(_COUNTER)}"
        self.daemons: dict[int, subprocess.Popen[bytes]] = {}
        self.extra: list[subprocess.Popen[bytes]] = []
        # every node's engine shares this one network namespace: no libqb IPC for them
        self.env = dict(os.environ, PYTHONPATH=str(REPO), PYCOROSYNC_NO_IPC="1")
        self.names = {i: f"node{i}" for i in range(1, count + 1)}

    # ------------------------------------------------------------------ namespace
    def __enter__(self) -> NodeCluster:
        subprocess.run(["ip", "netns", "add", self.netns], check=True, timeout=10)
        self.ns("ip", "link", "set", "lo", "up")
        for i in range(1, self.count + 1):
            password = self.base / f"pw{i}"
            password.write_text(f"pw{i}\n")
            self.run(["cfsd", "--root", str(self.root(i)), "--set-password-file", str(password)])
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in [*self.extra, *self.daemons.values()]:
            self._terminate(proc)
        for i in range(1, self.count + 1):
            self._kill_engine(i)
        subprocess.run(["ip", "netns", "del", self.netns], timeout=10, check=False)

    def ns(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.netns, *argv],
            check=True,
            timeout=20,
            capture_output=True,
            text=True,
        )

    def _prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns]

    # ------------------------------------------------------------------ nodes
    def root(self, i: int) -> Path:
        return self.base / f"n{i}"

    def ip(self, i: int) -> str:
        return f"127.0.0.{i}"

    def log(self, i: int) -> Path:
        return self.base / f"cfsd{i}.log"

    def log_text(self, i: int) -> str:
        try:
            return self.log(i).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(
        self,
        i: int,
        *extra: str,
        name: str | None = None,
        ip: str | None = None,
        fuse: bool = False,
    ) -> None:
        name = name or self.names[i]
        self.names[i] = name
        argv = [
            *self._prefix(),
            *_bin("cfsd"),
            "--root",
            str(self.root(i)),
            "--name",
            name,
            "--ip",
            ip or self.ip(i),
            "-f",
            *([] if fuse else ["--no-fuse"]),
            "--verify-interval",
            str(self.verify_interval),
            *extra,
        ]
        log = open(self.log(i), "ab")  # noqa: SIM115 - the child's
        self.daemons[i] = subprocess.Popen(
            argv, stdout=log, stderr=log, env=self.env, start_new_session=True
        )
        log.close()
        self.wait(lambda: self.client_ok(i), 20, f"cfsd of node {i} to answer")

    def stop(self, i: int, sig: int = signal.SIGTERM) -> None:
        proc = self.daemons.pop(i, None)
        if proc is not None:
            if sig == signal.SIGKILL:
                self._kill_engine(i)
            self._terminate(proc, sig)

    def _terminate(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def _kill_engine(self, i: int) -> None:
        """An engine left behind by a killed cfsd (by the PID in its pid file)."""
        pid_file = self.root(i) / "run" / "pycorosync.pid"
        try:
            pid = int(pid_file.read_text().strip() or "0")
        except (OSError, ValueError):
            return
        if pid <= 0:
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return
        if str(self.root(i)).encode() in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def client_ok(self, i: int) -> bool:
        try:
            with CfsClient(str(self.root(i)), timeout=5) as client:
                client.status()
        except (CfsUnavailable, CfsError):
            return False
        return True

    def status(self, i: int) -> dict[str, object]:
        with CfsClient(str(self.root(i)), timeout=10) as client:
            return client.status()

    # ------------------------------------------------------------------ tools
    def run(
        self, argv: list[str], *, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        tool, *rest = argv
        command = [*self._prefix(), *_bin(tool), *rest]
        return subprocess.run(
            command,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=self.base,
        )

    def pvecm(
        self, i: int, *args: str, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return self.run(["pvecm", "--root", str(self.root(i)), *args], input=input, timeout=timeout)

    def in_mounts(
        self, i: int, script: str, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """``sh -c script`` in node i's cfsd's mount namespace (where its FUSE mount is; each
        ``ip netns exec`` has a mount namespace of its own), in its node root."""
        pid = self.daemons[i].pid
        return subprocess.run(
            ["nsenter", "-t", str(pid), "-m", "-n", "sh", "-c", f"cd {self.root(i)} && {script}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=self.root(i),
        )

    def run_module(
        self, module: str, *args: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """``python -m module args`` in the namespace."""
        return subprocess.run(
            [*self._prefix(), sys.executable, "-m", module, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=self.base,
        )

    def run_argv(self, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``argv`` in the namespace."""
        return subprocess.run(
            [*self._prefix(), *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=self.base,
        )

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """A helper process in the namespace (a qnetd), stopped at the end; log ``name.log``."""
        log = open(self.base / f"{name}.log", "ab")  # noqa: SIM115 - the child's
        proc = subprocess.Popen(
            [*self._prefix(), *argv], stdout=log, stderr=log, env=self.env, start_new_session=True
        )
        log.close()
        self.extra.append(proc)
        return proc

    def engine_status(self, i: int) -> dict[str, Any]:
        """Node i's engine's ``status`` (its control socket)."""
        with ControlClient(str(self.root(i) / "run"), timeout=10) as engine:
            result: dict[str, Any] = engine.call("status")
        return result

    def settled(self, nodes: tuple[int, ...]) -> bool:
        """These nodes' filesystems are synchronised with one another, in one group.

        Members are named by node id, which is not always the node's number here: two joins
        at once get the two lowest free ids in either order."""
        statuses = {i: self.status(i) for i in nodes}
        ids = sorted(int(s.get("engine_nodeid") or i) for i, s in statuses.items())  # type: ignore[call-overload]
        for status in statuses.values():
            members = sorted(member[0] for member in status["dfsm"]["members"])  # type: ignore[index]
            if not status["synced"] or members != ids:
                return False
        return True

    def members_online(self, i: int) -> int:
        """How many nodes of node i's nodelist its cfsd sees online."""
        with CfsClient(str(self.root(i)), timeout=10) as client:
            nodelist = client.members().get("nodelist", {})
        return sum(1 for entry in nodelist.values() if entry.get("online"))

    def cfs(self, i: int, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(["cfs", "--root", str(self.root(i)), *args], input=input)

    def fingerprint(self, i: int) -> str:
        return self.pvecm(i, "fingerprint").stdout.strip()

    def join(self, i: int, via: int = 1, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.pvecm(
            i,
            "add",
            self.ip(via),
            "--fingerprint",
            self.fingerprint(via),
            "--password-file",
            str(self.base / f"pw{via}"),
            *extra,
        )

    def checksum(self, i: int) -> str:
        return self.cfs(i, "checksum").stdout.strip()

    def quorate(self, i: int) -> bool:
        return bool(self.status(i).get("quorate"))

    def partition(self, left: list[int], right: list[int]) -> None:
        for a in left:
            for b in right:
                for src, dst in ((a, b), (b, a)):
                    self.ns("iptables", "-I", "INPUT", "-s", self.ip(src), "-d", self.ip(dst),
                            "-j", "DROP")  # fmt: skip

    def heal(self) -> None:
        self.ns("iptables", "-F", "INPUT")

    @staticmethod
    def wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(CfsUnavailable, CfsError, OSError):
                if predicate():
                    return
            time.sleep(0.2)
        raise AssertionError(f"not reached within {timeout:g} s: {what}")
