"""What every transcript interpreter shares: command dispatch, argument helpers, the output.

An interpreter is an object with one ``cmd_<name>`` method per command (``-`` in a command
name becomes ``_``); each method reads its :class:`Case` and writes lines with :meth:`out`.
The lines written during one command are that block's output; with the ``silent`` argument
(any command) the output is ``ok``: a set-up step the story does not need to show.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from tests.transcripts.datadriven import Case

__all__ = ["Interpreter", "hexdump", "ms", "node_ids"]


def ms(seconds: float) -> str:
    """A virtual time for the left column: milliseconds, one decimal."""
    return f"{seconds * 1000:9.1f}"


def hexdump(data: bytes, width: int = 16) -> list[str]:
    """Whole bytes, ``width`` a line, with offsets: for the few places where every byte matters."""
    return [f"{off:04x}  {data[off : off + width].hex(' ')}" for off in range(0, len(data), width)]


def node_ids(text: str) -> list[int]:
    """``1,2,3`` or ``1 2 3`` -> [1, 2, 3]."""
    return [int(t) for t in text.replace(",", " ").split()]


class Interpreter:
    """Dispatch a case to ``cmd_<command>``; collect its output lines."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        """The one source of randomness of a transcript (seeded: runs are identical)."""
        self._lines: list[str] = []

    def out(self, line: str) -> None:
        self._lines.append(line.rstrip())

    def run(self, case: Case) -> str:
        handler: Callable[[Case], None] | None = getattr(
            self, "cmd_" + case.command.replace("-", "_"), None
        )
        if handler is None:
            raise case.fail("unknown command")
        self._lines = []
        handler(case)
        self.finish()
        lines, self._lines = self._lines, []
        if case.has("silent"):
            return "ok"  # a set-up step: run, print nothing
        return "\n".join(lines) if lines else "ok"

    def finish(self) -> None:
        """Called after each command, before its output is collected."""

    # helpers for commands -------------------------------------------------------------------
    @staticmethod
    def int_arg(case: Case, key: str, default: int | None = None) -> int:
        value = case.get(key)
        if value is None:
            if default is None:
                raise case.fail(f"needs {key}=")
            return default
        return int(value, 0)

    @staticmethod
    def float_arg(case: Case, key: str, default: float | None = None) -> float:
        value = case.get(key)
        if value is None:
            if default is None:
                raise case.fail(f"needs {key}=")
            return default
        return float(value)

    @staticmethod
    def node_words(case: Case) -> list[int]:
        """The node ids among the bare words (``1 2 3`` or ``1,2,3``); flags are skipped."""
        words = [w for w in case.positional() if w.replace(",", "").isdigit()]
        return node_ids(" ".join(words))

    @staticmethod
    def ids_arg(case: Case, key: str) -> list[int]:
        return [int(v) for v in case.vals(key)]

    def cmd_seed(self, case: Case) -> None:
        """``seed N``: reseed the transcript's random source."""
        self.rng.seed(int(case.positional()[0]))
