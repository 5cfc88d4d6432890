"""Heuristics: the ``exec_*`` commands of ``quorum.device.heuristics`` (ref section 8).

corosync-qdevice 3.0.3 runs heuristics in a worker process (``qdevice-heuristics-worker*.c``,
``process-list.c``): every command of the exec list is started at once, without a shell
(``execv``: the first word is the program, a path); the result is PASS when all of them exit
with status 0 within the timeout, FAIL as soon as one fails or the timeout expires (the others
are then killed). Commands are split by :func:`parse_command`, the ``DYNAR_SIMPLE_LEX_TYPE_QUOTE``
lexer: blanks separate words, a backslash takes the next character literally, double quotes
group (inside them ``\\\\`` and ``\\"`` are escapes and any other backslash stays), the end of
the first line ends the command.

:func:`run_heuristics` is the asyncio side; the client core only asks for a run
(:class:`~votequorum.qdevice.events.RunHeuristics`) and consumes the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence

from votequorum.qdevice.events import HeuristicsResult

__all__ = ["parse_command", "run_heuristics"]

_SPACE = " \f\n\r\t\v"


def parse_command(command: str) -> list[str]:
    """The argv of one ``exec_`` command (empty when there is no word)."""
    words: list[str] = []
    pos = 0
    size = len(command)
    while True:
        # skip blanks; a line end ends the command
        while pos < size and command[pos] in _SPACE and command[pos] not in "\r\n":
            pos += 1
        if pos >= size or command[pos] in "\r\n":
            return words
        token: list[str] = []
        quoted = False
        while pos < size:
            ch = command[pos]
            if quoted:
                if ch in "\r\n":
                    break
                pos += 1
                if ch == '"':
                    quoted = False
                elif ch == "\\":
                    if pos >= size or command[pos] in "\r\n":
                        break
                    nxt = command[pos]
                    pos += 1
                    token.append(nxt if nxt in '\\"' else "\\" + nxt)
                else:
                    token.append(ch)
                continue
            if ch in _SPACE:
                break
            pos += 1
            if ch == "\\":
                if pos >= size or command[pos] in "\r\n":
                    break
                token.append(command[pos])
                pos += 1
            elif ch == '"':
                quoted = True
            else:
                token.append(ch)
        word = "".join(token)
        if not word:
            return words
        words.append(word)
        if pos >= size or command[pos] in "\r\n":
            return words


def _program(argv0: str) -> str:
    """``execv`` semantics: a name without a slash is looked up in the current directory."""
    return argv0 if "/" in argv0 else os.path.join(os.curdir, argv0)


async def _kill(procs: Sequence[asyncio.subprocess.Process]) -> None:
    for proc in procs:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    for proc in procs:
        with contextlib.suppress(Exception):
            await proc.wait()


async def run_heuristics(
    execs: Sequence[tuple[str, str]], timeout_ms: int
) -> tuple[HeuristicsResult, str]:
    """Run every ``(name, command)``; return the result and a line saying why."""
    if not execs:
        return HeuristicsResult.DISABLED, "no heuristics commands"
    procs: list[asyncio.subprocess.Process] = []
    names: dict[asyncio.subprocess.Process, str] = {}
    try:
        for name, command in execs:
            argv = parse_command(command)
            if not argv:
                return HeuristicsResult.FAIL, f"exec_{name}: empty command"
            try:
                proc = await asyncio.create_subprocess_exec(
                    _program(argv[0]),
                    *argv[1:],
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
            except OSError as err:
                return HeuristicsResult.FAIL, f"exec_{name}: cannot execute: {err.strerror}"
            procs.append(proc)
            names[proc] = name
        pending = {asyncio.ensure_future(p.wait()): p for p in procs}
        deadline = asyncio.get_running_loop().time() + timeout_ms / 1000.0
        while pending:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                for task in pending:
                    task.cancel()
                return HeuristicsResult.FAIL, f"timeout after {timeout_ms} ms"
            done, _ = await asyncio.wait(
                pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                proc = pending.pop(task)
                if task.result() != 0:
                    for other in pending:
                        other.cancel()
                    return (
                        HeuristicsResult.FAIL,
                        f"exec_{names[proc]} exited with status {proc.returncode}",
                    )
        return HeuristicsResult.PASS, "all commands succeeded"
    finally:
        await _kill(procs)
