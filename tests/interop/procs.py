"""Processes the interop harness starts inside node namespaces, and how it ends them.

Every process is started as a session leader (``setsid``) through ``nsenter`` (which execs in
place), so the recorded PID is the program's own PID and the harness is its parent: it reaps it
itself and never depends on PID 1 to do so (``ref/real-corosync.md`` §9 gotcha 10).  Only these
recorded processes, and the members of the process groups they lead (e.g. the helper child that
``corosync-qdevice`` forks, §7), are ever signalled; ending them is TERM, a bounded wait, then
KILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from tests.interop.netns import HarnessError, ProcIdentity, proc_identity, proc_is_live

__all__ = ["Spawned", "end_processes", "start_process"]


class Spawned:
    """A process the harness started in a node: ``node``, ``name``, ``argv``, ``pid``, ``log``."""

    __slots__ = ("_popen", "argv", "ident", "log", "name", "node")

    def __init__(
        self,
        node: int,
        name: str,
        argv: Sequence[str],
        popen: subprocess.Popen[bytes],
        ident: ProcIdentity,
        log: Path,
    ) -> None:
        self.node = node
        self.name = name
        self.argv = tuple(argv)
        self.ident = ident
        self.log = log
        self._popen = popen

    @property
    def pid(self) -> int:
        return self.ident.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has ended (negative: killed by that signal)."""
        return self._popen.poll()

    def alive(self) -> bool:
        return self._popen.poll() is None

    def signal(self, sig: int) -> bool:
        """Send ``sig`` if the process is still ours and running; False when it was not sent.

        The process has not been reaped while ``poll()`` says it runs, so its PID cannot have
        been recycled; the start time is checked anyway.
        """
        if self._popen.poll() is not None or not proc_is_live(self.ident):
            return False
        try:
            os.kill(self.ident.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def wait(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` s for the exit: the exit status, or None if still running."""
        try:
            return self._popen.wait(timeout=max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            return None

    def group_alive(self) -> bool:
        """True while any process is left in the process group this process leads."""
        try:
            os.killpg(self.ident.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def signal_group(self, sig: int) -> None:
        """Signal the process group it leads (its own forked helpers), if any is left."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.ident.pid, sig)

    def __repr__(self) -> str:
        state = "running" if self.alive() else f"exited {self.returncode}"
        return f"<Spawned node={self.node} name={self.name} pid={self.pid} {state}>"


def start_process(
    node: int,
    name: str,
    prefix: Sequence[str],
    argv: Sequence[str],
    log: Path,
    env: Mapping[str, str] | None = None,
) -> Spawned:
    """Start ``prefix + argv`` (``prefix`` is an `nsenter_argv`) as a new session.

    stdin is ``/dev/null``; stdout and stderr are appended to ``log``.  ``env`` entries are laid
    over the current environment.
    """
    if not argv:
        raise HarnessError("spawn: empty argv")
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        try:
            popen = subprocess.Popen(
                [*prefix, *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                env=full_env,
            )
        except OSError as exc:
            raise HarnessError(f"cannot start {argv[0]!r} in node {node}: {exc}") from exc
    ident = proc_identity(popen.pid) or ProcIdentity(popen.pid, -1)
    return Spawned(node, name, argv, popen, ident, log)


def end_processes(
    procs: Iterable[Spawned], *, grace: float = 5.0, kill_wait: float = 2.0
) -> list[str]:
    """TERM every live process of ``procs`` at once, wait up to ``grace`` seconds, then KILL what
    is left (leaders and their process groups) and wait up to ``kill_wait`` seconds.

    corosync needs about 1.2 s to exit on TERM (``ref/real-corosync.md`` §5).  Returns one line
    per process that had to be killed or would not die, for the caller's report.
    """
    # Only processes still running now: once a leader has been reaped for a while, its PID (and
    # so its process-group id) may belong to somebody else.
    todo = [p for p in procs if p.alive()]
    notes: list[str] = []
    for p in todo:
        p.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in todo:
        p.wait(deadline - time.monotonic())
    for p in todo:
        if p.alive():
            notes.append(f"{p.name} on node {p.node} (pid {p.pid}) ignored SIGTERM; sent SIGKILL")
            p.signal(signal.SIGKILL)
    # The leaders are gone or dying: what remains in their groups are their own children.
    for p in todo:
        p.wait(0.2)
        if p.group_alive():
            p.signal_group(signal.SIGKILL)
    deadline = time.monotonic() + kill_wait
    for p in todo:
        if p.wait(deadline - time.monotonic()) is None:
            notes.append(f"{p.name} on node {p.node} (pid {p.pid}) did not exit after SIGKILL")
    return notes
