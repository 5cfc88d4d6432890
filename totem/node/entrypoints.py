"""Entry points of installed distributions, read without ``importlib.metadata``.

The daemon finds its service engines (``pycorosync.services``) and agents
(``pycorosync.agents``) through entry points, as DESIGN.md says ("as corosync loads
its service engines"). ``importlib.metadata`` costs tens of milliseconds of imports
(email, zipfile, csv, pathlib, ...) at every start, several times what reading the
one ``entry_points.txt`` takes. This module finds the same entry points the same way,
for the common case:

* every ``sys.path`` entry that is a directory is listed; each child whose name ends in
  ``.dist-info`` or ``.egg-info`` (any case) is a distribution, named by its stem up to
  the first ``-``;
* a distribution name seen earlier on ``sys.path`` hides later ones (PEP 503 normalised,
  as ``importlib.metadata.entry_points`` does);
* ``entry_points.txt`` is read as ``importlib.metadata`` reads it (``[group]`` lines,
  ``name = value`` pairs, ``#`` comments).

Anything else -- a zip archive on ``sys.path``, or an import hook that serves its own
distributions (a meta path finder with ``find_distributions``) -- is left to
``importlib.metadata`` itself, so the answer is always the one it would give.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["EntryPoint", "entry_points"]

_NORMALIZE = re.compile(r"[-_.]+")
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")
_STANDARD_FINDERS = frozenset({"BuiltinImporter", "FrozenImporter", "PathFinder"})


@dataclass(frozen=True, slots=True)
class EntryPoint:
    """One ``name = module:attr`` line of a group (what ``importlib.metadata`` calls so)."""

    name: str
    value: str
    group: str

    def load(self) -> Any:
        """The object named by ``value``: the module, or its attribute path."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point {self.name}: malformed value {self.value!r}")
        target: Any = importlib.import_module(match.group("module"))
        for attr in filter(None, (match.group("attr") or "").split(".")):
            target = getattr(target, attr)
        return target


def entry_points(group: str) -> list[EntryPoint]:
    """The entry points of ``group`` of every distribution, in ``sys.path`` order."""
    if not _plain_path():
        return _from_importlib(group)
    found: list[EntryPoint] = []
    seen: set[str] = set()
    for root in sys.path:
        try:
            children = os.listdir(root or ".")
        except OSError:
            continue
        for child in children:
            low = child.lower()
            if not low.endswith((".dist-info", ".egg-info")):
                continue
            name = _normalize(low.rpartition(".")[0].partition("-")[0])
            if name in seen:
                continue
            seen.add(name)
            try:
                with open(os.path.join(root or ".", child, "entry_points.txt")) as handle:
                    text = handle.read()
            except OSError:  # no entry points, or an egg-info file (not a directory)
                continue
            found.extend(_parse(text, group))
    return found


def _plain_path() -> bool:
    """Only directories on ``sys.path`` and only the standard finders: the fast path is exact."""
    if any(
        hasattr(finder, "find_distributions")
        and getattr(finder, "__name__", type(finder).__name__) not in _STANDARD_FINDERS
        for finder in sys.meta_path
    ):
        return False
    return not any(entry and os.path.isfile(entry) for entry in sys.path)


def _normalize(name: str) -> str:
    return _NORMALIZE.sub("-", name).lower().replace("-", "_")


def _parse(text: str, group: str) -> list[EntryPoint]:
    found: list[EntryPoint] = []
    section: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section != group:
            continue
        name, sep, value = line.partition("=")
        if sep:
            found.append(EntryPoint(name.strip(), value.strip(), section))
    return found


def _from_importlib(group: str) -> list[EntryPoint]:
    from importlib.metadata import entry_points as metadata_entry_points

    return [EntryPoint(ep.name, ep.value, ep.group) for ep in metadata_entry_points(group=group)]
