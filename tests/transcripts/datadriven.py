"""A reader and writer of datadriven test files (the format of cockroachdb/datadriven, which
etcd-io/raft's ``testdata/`` uses).

A file is a sequence of blocks::

    # comments and blank lines, kept as they are
    command arg key=value key=(a,b)
    input line
    input line
    ----
    expected output
    (ends at the first blank line)

An expected output that itself holds blank lines is written between doubled separators::

    command
    ----
    ----
    first paragraph

    second paragraph
    ----
    ----

:func:`parse` reads a file into :class:`Case` blocks that remember the text before them, and
:func:`render` writes the file back with new outputs: a file rendered with the outputs it
holds is the same text, so rewriting a transcript changes nothing but what changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = ["Arg", "Case", "DataDrivenError", "parse", "render", "run_file"]

SEPARATOR = "----"
_ARG = re.compile(r"(?P<key>[^\s=()]+)(?:=(?:\((?P<list>[^)]*)\)|(?P<val>[^\s()]*)))?")


class DataDrivenError(ValueError):
    """A malformed file or a failing command: ``str()`` starts with ``file:line:``."""


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument of a command line: ``key``, ``key=value`` or ``key=(v1,v2)``."""

    key: str
    vals: tuple[str, ...] = ()


@dataclass(slots=True)
class Case:
    """One block: the command, its input and its expected output."""

    path: str
    line: int
    """Line number (1-based) of the command line."""
    command: str
    args: list[Arg]
    input: str
    expected: str
    before: list[str] = field(default_factory=list)
    """The comment and blank lines between the previous block and this one."""
    raw_command: str = ""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def has(self, key: str) -> bool:
        return any(a.key == key for a in self.args)

    def get(self, key: str, default: str | None = None) -> str | None:
        for arg in self.args:
            if arg.key == key:
                return ",".join(arg.vals) if arg.vals else arg.key
        return default

    def vals(self, key: str) -> tuple[str, ...]:
        for arg in self.args:
            if arg.key == key:
                return arg.vals
        return ()

    def positional(self) -> list[str]:
        """The bare words (arguments without ``=``)."""
        return [a.key for a in self.args if not a.vals]

    def fail(self, message: str) -> DataDrivenError:
        return DataDrivenError(f"{self.where}: {self.command}: {message}")


def parse_args(text: str, where: str) -> list[Arg]:
    args: list[Arg] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        match = _ARG.match(text, pos)
        if match is None or match.end() == pos:
            raise DataDrivenError(f"{where}: cannot read the arguments at {text[pos:]!r}")
        if match.group("list") is not None:
            vals = tuple(v.strip() for v in match.group("list").split(",") if v.strip())
        elif match.group("val") is not None:
            vals = (match.group("val"),)
        else:
            vals = ()
        args.append(Arg(match.group("key"), vals))
        pos = match.end()
    return args


def parse(text: str, path: str = "<text>") -> tuple[list[Case], list[str]]:
    """The blocks of a file, and the comment/blank lines after the last one."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    cases: list[Case] = []
    before: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            before.append(line)
            i += 1
            continue
        start = i
        command, _, rest = line.strip().partition(" ")
        args = parse_args(rest, f"{path}:{i + 1}")
        i += 1
        inputs: list[str] = []
        while i < len(lines) and lines[i] != SEPARATOR:
            inputs.append(lines[i])
            i += 1
        if i == len(lines):
            raise DataDrivenError(f"{path}:{start + 1}: {command}: no {SEPARATOR} line")
        i += 1
        output: list[str] = []
        if i < len(lines) and lines[i] == SEPARATOR:  # doubled: ends at a doubled separator
            i += 1
            while i + 1 < len(lines) and not (lines[i] == SEPARATOR == lines[i + 1]):
                output.append(lines[i])
                i += 1
            if i + 1 >= len(lines):
                raise DataDrivenError(f"{path}:{start + 1}: {command}: unterminated ----/----")
            i += 2
            if i < len(lines) and not lines[i].strip():
                i += 1  # the blank line closing the block
        else:
            while i < len(lines) and lines[i].strip():
                output.append(lines[i])
                i += 1
            if i < len(lines):
                i += 1  # the blank line closing the block
        cases.append(
            Case(
                path=path,
                line=start + 1,
                command=command,
                args=args,
                input="\n".join(inputs),
                expected="\n".join(output),
                before=before,
                raw_command=line,
            )
        )
        before = []
    return cases, before


def render(cases: Iterable[tuple[Case, str]], trailer: Iterable[str] = ()) -> str:
    """The file text with each case's output replaced by the one given."""
    out: list[str] = []
    for case, output in cases:
        out.extend(case.before)
        out.append(case.raw_command)
        if case.input:
            out.extend(case.input.split("\n"))
        out.append(SEPARATOR)
        body = output.rstrip("\n")
        if any(not line.strip() for line in body.split("\n")) and body:
            out.append(SEPARATOR)
            out.extend(body.split("\n"))
            out.extend([SEPARATOR, SEPARATOR])
        elif body:
            out.extend(body.split("\n"))
        out.append("")
    out.extend(trailer)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def run_file(path: str, text: str, run: Callable[[Case], str]) -> str:
    """Run every block of ``text`` through ``run`` and return the file with the actual outputs.

    An exception raised by ``run`` becomes a :class:`DataDrivenError` naming the block."""
    cases, trailer = parse(text, path)
    results: list[tuple[Case, str]] = []
    for case in cases:
        try:
            output = run(case)
        except DataDrivenError:
            raise
        except Exception as err:
            raise DataDrivenError(f"{case.where}: {case.command}: {err!r}") from err
        results.append((case, output))
    return render(results, trailer)
