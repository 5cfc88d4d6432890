"""The scenario library shipped in ``simulations/scenarios/``.

Each ``*.txt`` there is a scenario named by its file stem (``token-loss``);
its first comment line says what it shows. ``pycorosync-sim list`` prints
them, ``pycorosync-sim run token-loss`` runs one, and the test suite runs
them all with their expectations and the checker.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SCENARIO_DIR", "library_path", "library_scenarios"]

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"


def library_scenarios() -> list[tuple[str, Path]]:
    """(name, path) of every library scenario, sorted by name."""
    return sorted((path.stem, path) for path in SCENARIO_DIR.glob("*.txt"))


def library_path(name: str) -> Path | None:
    """The path of the library scenario ``name`` (with or without ``.txt``), if it exists."""
    stem = name[:-4] if name.endswith(".txt") else name
    if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        return None
    path = SCENARIO_DIR / f"{stem}.txt"
    return path if path.is_file() else None
