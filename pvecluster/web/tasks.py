"""The panel's actions as worker tasks: ``pycorosync-pvecm`` run with the task's arguments.

Proxmox's GUI runs ``create`` and ``join`` as worker tasks whose log the browser shows (ref
cluster-manager.md 1: ``fork_worker('clustercreate'|'clusterjoin')``). Here every action of
the panel is such a task: a child process running the very code of ``pycorosync-pvecm``
(:mod:`pvecluster.web.worker`) on this node's root, its standard output and error merged in
order into the task log, the exit status turned into Proxmox's last line: ``TASK OK``, or
``TASK ERROR: <the last message>``. A password goes to the child's standard input (never
its command line). A task is named by a UPID
(``UPID:<node>:<pid>:<start>:<type>:<id>:root@pam:``, hexadecimal as Proxmox's).

The registry keeps the last :data:`KEEP` tasks; each change of a task is handed to
``notify`` (the live feed sends it to the browsers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KEEP", "TASK_TIMEOUT", "Task", "TaskRegistry"]

KEEP = 50
TASK_TIMEOUT = 900.0
"""Seconds a task may run (a join waits up to 600 s for quorum, as ``pvecm add``)."""
MAX_RUNNING = 4


@dataclass(slots=True)
class Task:
    upid: str
    kind: str
    target: str
    argv: list[str]
    start: float
    lines: list[str] = field(default_factory=list)
    exitstatus: str | None = None
    """None while running; ``OK`` or the error, as Proxmox's task status."""
    returncode: int | None = None
    pid: int | None = None

    @property
    def running(self) -> bool:
        return self.exitstatus is None

    def to_json(self, since: int = 0) -> dict[str, Any]:
        return {
            "upid": self.upid,
            "type": self.kind,
            "id": self.target,
            "command": " ".join(["pvecm", *self.argv]),
            "start": self.start,
            "running": self.running,
            "exitstatus": self.exitstatus,
            "lines": self.lines[since:],
            "first_line": since,
        }


def _upid(node: str, pid: int, start: float, kind: str, target: str) -> str:
    tag = int(start * 1000) & 0xFFFFFFFF  # pstart: unique per task of this process
    return f"UPID:{node}:{pid:08X}:{tag:08X}:{int(start):08X}:{kind}:{target}:root@pam:"


class TaskRegistry:
    """Running and finished tasks of one node."""

    def __init__(
        self,
        root: str,
        node: str,
        notify: Callable[[Task, int], None] = lambda task, since: None,
        *,
        timeout: float = TASK_TIMEOUT,
    ) -> None:
        self.root = root
        self.node = node
        self.notify = notify
        self.timeout = timeout
        self.tasks: OrderedDict[str, Task] = OrderedDict()
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._runners: set[asyncio.Task[None]] = set()

    def running(self) -> int:
        return sum(1 for task in self.tasks.values() if task.running)

    def get(self, upid: str) -> Task | None:
        return self.tasks.get(upid)

    def start(self, kind: str, target: str, argv: list[str], stdin: str | None = None) -> Task:
        """Start ``pycorosync-pvecm --root R ARGV...`` as a task; RuntimeError when busy."""
        if self.running() >= MAX_RUNNING:
            raise RuntimeError(f"too many running tasks ({MAX_RUNNING}); wait for one to end")
        now = time.time()
        task = Task(_upid(self.node, os.getpid(), now, kind, target), kind, target, argv, now)
        self.tasks[task.upid] = task
        while len(self.tasks) > KEEP:
            oldest = next(iter(self.tasks.values()))
            if oldest.running:
                break
            self.tasks.popitem(last=False)
        runner = asyncio.get_running_loop().create_task(self._run(task, stdin))
        self._runners.add(runner)
        runner.add_done_callback(self._runners.discard)
        return task

    def _append(self, task: Task, line: str) -> None:
        since = len(task.lines)
        task.lines.append(line)
        self.notify(task, since)

    async def _run(self, task: Task, stdin: str | None) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        argv = [sys.executable, "-m", "pvecluster.web.worker", "--root", self.root, *task.argv]
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=self.root,
                env=env,
                start_new_session=True,
            )
        except OSError as err:
            self._finish(task, None, f"unable to start pycorosync-pvecm: {err}")
            return
        task.pid = process.pid
        self._processes[task.upid] = process
        self.notify(task, 0)
        try:
            if stdin is not None and process.stdin is not None:
                with contextlib.suppress(ConnectionError):
                    process.stdin.write(stdin.encode() + b"\n")
                    await process.stdin.drain()
                process.stdin.close()
            assert process.stdout is not None
            reader = process.stdout
            deadline = asyncio.get_running_loop().time() + self.timeout
            partial = b""
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    self._kill(process)
                    self._append(task, f"task timed out after {self.timeout:g} s")
                    break
                try:
                    chunk = await asyncio.wait_for(reader.read(4096), remaining)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                partial += chunk
                *complete, partial = partial.split(b"\n")
                for raw in complete:
                    self._append(task, raw.decode(errors="replace"))
            if partial:
                self._append(task, partial.decode(errors="replace"))
            code = await process.wait()
        except asyncio.CancelledError:
            self._kill(process)
            await process.wait()
            self._finish(task, process.returncode, "task aborted: the server stopped")
            raise
        finally:
            self._processes.pop(task.upid, None)
        self._finish(task, code, None)

    def _finish(self, task: Task, code: int | None, error: str | None) -> None:
        task.returncode = code
        if error is None and code == 0:
            task.exitstatus = "OK"
        else:
            last = error or next((line for line in reversed(task.lines) if line.strip()), "")
            task.exitstatus = last.strip() or f"command failed with exit status {code}"
        line = "TASK OK" if task.exitstatus == "OK" else f"TASK ERROR: {task.exitstatus}"
        self._append(task, line)

    @staticmethod
    def _kill(process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)

    async def wait(self, upid: str) -> Task:
        """Wait for a task to end (tests)."""
        while True:
            task = self.tasks[upid]
            if not task.running:
                return task
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Abort the running tasks (the server stops): SIGTERM to each task's process group."""
        runners = list(self._runners)
        for runner in runners:
            runner.cancel()
        for runner in runners:
            with contextlib.suppress(asyncio.CancelledError):
                await runner
