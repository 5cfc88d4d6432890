"""Packet captures of an interop cluster: tcpdump in the bridge namespace
(``ref/real-corosync.md`` §6, §9 gotcha 7).

:meth:`ClusterCapture.capture` starts one writing a pcap (LINUX_SLL2) and returns once it is
attached; the cluster stops it at exit if the test did not. :class:`ClusterCapture` is that
part of :class:`tests.interop.harness.Cluster`.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Protocol, Self

from tests.interop.netns import HarnessError, missing_tools, nsenter_argv, run
from tests.interop.procs import Spawned, start_process

__all__ = ["Capture", "ClusterCapture"]


class Capture:
    """A tcpdump running in the bridge namespace (``-i any -Q in``: every frame exactly once, as
    it enters the bridge from its sender's port; ``ref/real-corosync.md`` §6, §9 gotcha 7)."""

    def __init__(self, path: Path, proc: Spawned) -> None:
        self.path = path
        self.proc = proc

    def stop(self, timeout: float = 3.0) -> None:
        """SIGINT tcpdump (it flushes, prints its counters), wait; KILL after ``timeout`` s."""
        if self.proc.signal(signal.SIGINT) and self.proc.wait(timeout) is None:
            self.proc.signal(signal.SIGKILL)
            self.proc.wait(2.0)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _CaptureHost(Protocol):
    """The cluster as its captures use it."""

    _procs: list[Spawned]
    _captures: list[Capture]

    @property
    def state_dir(self) -> Path: ...
    @property
    def bridge_netns(self) -> str: ...
    def _save_state(self) -> None: ...
    def _event(self, text: str) -> None: ...
    def _bridge_ifindex(self) -> int: ...


class ClusterCapture:
    """tcpdump on the bridge of :class:`tests.interop.harness.Cluster`."""

    def capture(
        self: _CaptureHost, path: Path, bpf_filter: str = "udp", timeout: float = 5.0
    ) -> Capture:
        """Start tcpdump in the bridge namespace writing ``path`` (pcap, LINUX_SLL2), and return
        once it is attached.  Stop it with `Capture.stop` (or at cluster exit)."""
        if missing_tools(["tcpdump"]):
            raise HarnessError("tcpdump is not installed")
        path = Path(path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        count = len(self._captures)
        log = self.state_dir / f"tcpdump{count}.log"
        argv = [
            "tcpdump",
            "-i",
            "any",
            "-Q",
            "in",
            "-n",
            "-U",
            "--immediate-mode",
            "-s",
            "0",
            "-Z",
            "root",
        ]
        # The bridge also delivers flooded multicast to its own br0 ("in" on br0 too): keep only
        # frames entering from a node's port, so that every frame appears exactly once.
        br0 = self._bridge_ifindex()
        expr = f"({bpf_filter}) and not ifindex {br0}" if bpf_filter else f"not ifindex {br0}"
        argv += ["-w", str(path), expr]
        proc = start_process(0, f"tcpdump{count}", nsenter_argv(self.bridge_netns), argv, log)
        self._procs.append(proc)
        self._save_state()
        cap = Capture(path, proc)
        self._captures.append(cap)
        deadline = time.monotonic() + timeout
        while "listening on" not in log.read_text(errors="replace"):
            if not proc.alive():
                raise HarnessError(f"tcpdump exited: {log.read_text(errors='replace').strip()}")
            if time.monotonic() >= deadline:
                cap.stop()
                raise HarnessError(f"tcpdump did not attach within {timeout:g} s")
            time.sleep(0.02)
        self._event(f"capture {path}")
        return cap

    def _bridge_ifindex(self: _CaptureHost) -> int:
        out = run(["ip", "-n", self.bridge_netns, "-o", "link", "show", "dev", "br0"]).stdout
        index, _, _ = out.partition(":")
        if not index.strip().isdigit():
            raise HarnessError(f"cannot read the ifindex of br0 from {out!r}")
        return int(index)
