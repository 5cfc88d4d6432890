"""The corosync.conf line grammar (ref totem-wire.md section 12; ``coroparse.c:parse_section``).

The grammar is line based and deliberately tiny:

* A line holds at most 510 bytes before its newline ("line too long" otherwise); one
  trailing ``\\r`` is dropped, then trailing blanks (space and tab only).
* A line whose first non-blank character is ``#`` is a comment; an empty line is skipped.
  There are no trailing comments: a ``#`` after a value is part of the value.
* A line containing ``{`` opens a section.  The name is the text before the ``{`` with blanks
  and any trailing ``:``/``{`` removed; nothing may follow the ``{``.  This test runs before the
  ``:`` test, so a value containing ``{`` is read as a section opening.
* Otherwise a line containing ``:`` is ``key: value``, split at the *first* colon (IPv6
  values work); both sides are trimmed of blanks.
* Otherwise a line containing ``}`` must be exactly ``}`` and closes the current section.
* Anything else is an error.  There is no include directive.

Keys also obey the cmap name rules corosync enforces when it stores them: only letters,
digits and ``._-/:``, and the dotted path (``totem.interface.mcastport``) stays below 255
characters.

The result is a tree of :class:`Section` and :class:`Item` with the line number of every
entry.  Any problem raises :class:`~totem.config.errors.ConfigError` whose text is
``<file>:<line>: <message>``; no input text raises anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from totem.config.errors import ConfigError

__all__ = [
    "KEYNAME_MAXLEN",
    "LINE_MAX",
    "Item",
    "Section",
    "c_bytes",
    "parse",
]

LINE_MAX = 510
"""Longest accepted line in bytes, newline excluded (corosync reads with ``fgets(line, 512)``)."""

KEYNAME_MAXLEN = 255
"""``ICMAP_KEYNAME_MAXLEN``: a dotted key path must be strictly shorter than this."""

_BLANKS = " \t"
_VALID_KEY = re.compile(r"[A-Za-z0-9._\-/:]*")


def c_bytes(text: str) -> bytes:
    """The bytes corosync would see for ``text`` (UTF-8; undecodable bytes round-trip)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


@dataclass(frozen=True, slots=True)
class Item:
    """One ``key: value`` line."""

    key: str
    value: str
    line: int


@dataclass(frozen=True, slots=True)
class Section:
    """One ``name { ... }`` block; the root section has the empty name and line 0."""

    name: str
    path: str
    """Dotted path from the root, as cmap spells it (``totem.interface``)."""
    line: int
    """Line of the opening ``{`` (0 for the root)."""
    end_line: int
    """Line of the closing ``}`` (for the root: the number of lines read)."""
    entries: tuple[Item | Section, ...]
    """Items and subsections in file order."""

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(e for e in self.entries if isinstance(e, Item))

    @property
    def sections(self) -> tuple[Section, ...]:
        return tuple(e for e in self.entries if isinstance(e, Section))


def _trim_name(text: str) -> str:
    """``remove_whitespace(s, 1)``: strip blanks, then trailing blanks, ``:`` and ``{``.

    Like corosync, the first character is never removed by the trailing pass.
    """
    text = text.lstrip(_BLANKS)
    end = len(text)
    while end > 1 and text[end - 1] in " \t:{":
        end -= 1
    return text[:end]


class _Open:
    """A section being read."""

    __slots__ = ("entries", "line", "name", "path")

    def __init__(self, name: str, path: str, line: int) -> None:
        self.name = name
        self.path = path
        self.line = line
        self.entries: list[Item | Section] = []


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def parse(text: str, path: str) -> Section:
    """Parse corosync.conf ``text`` read from ``path`` into a tree of sections.

    Raises :class:`ConfigError` (and nothing else) on any grammar error.
    """
    stack: list[_Open] = [_Open("", "", 0)]
    line_no = 0
    for raw in _split_lines(text):
        line_no += 1
        if len(c_bytes(raw)) > LINE_MAX:
            raise ConfigError(path, line_no, "line too long")
        if "\0" in raw:
            raise ConfigError(path, line_no, "line contains a NUL character")
        line = raw[:-1] if raw.endswith("\r") else raw
        line = line.rstrip(_BLANKS)
        content = line.lstrip(_BLANKS)
        if not content or content[0] == "#":
            continue
        current = stack[-1]

        brace = line.find("{")
        if brace >= 0:
            name = _trim_name(line[:brace])
            after = line[brace + 1 :].strip(_BLANKS)
            if not name:
                raise ConfigError(path, line_no, "missing section name before opening bracket '{'")
            if after:
                raise ConfigError(path, line_no, "extra characters after opening bracket '{'")
            new_path = f"{current.path}.{name}" if current.path else name
            if len(new_path) >= KEYNAME_MAXLEN:
                raise ConfigError(path, line_no, "start of section makes total cmap path too long")
            stack.append(_Open(name, new_path, line_no))
            continue

        colon = line.find(":")
        if colon >= 0:
            key = _trim_name(line[:colon])
            value = line[colon + 1 :].strip(_BLANKS)
            key_path = f"{current.path}.{key}" if current.path else key
            if len(key_path) >= KEYNAME_MAXLEN:
                raise ConfigError(path, line_no, "new key makes total cmap path too long")
            if not key:
                raise ConfigError(path, line_no, "missing key name before ':'")
            if _VALID_KEY.fullmatch(key) is None:
                raise ConfigError(
                    path,
                    line_no,
                    f"invalid key name {key!r} (allowed: letters, digits and '._-/:')",
                )
            current.entries.append(Item(key, value, line_no))
            continue

        if "}" in line:
            if content != "}":
                raise ConfigError(
                    path, line_no, "extra characters before or after closing bracket '}'"
                )
            if len(stack) == 1:
                raise ConfigError(path, line_no, "unexpected closing brace")
            stack.pop()
            stack[-1].entries.append(
                Section(current.name, current.path, current.line, line_no, tuple(current.entries))
            )
            continue

        raise ConfigError(path, line_no, "line is not opening or closing section or key value")

    if len(stack) > 1:
        raise ConfigError(path, stack[-1].line, "missing closing brace")
    root = stack[0]
    return Section("", "", 0, line_no, tuple(root.entries))
