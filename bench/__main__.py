"""``python -m bench``: list, pick and run the benchmarks (see ``bench/__init__.py``).

Every module of this package with a ``main(argv) -> int`` is a benchmark named after the
module (``bench/wire_codec.py`` is ``wire_codec``); its docstring's first line is its summary.
Helper modules (no ``main``) are not listed.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

Main = Callable[[list[str]], int]


def benchmarks() -> list[str]:
    """Names of the benchmark candidates (modules of ``bench/``), sorted."""
    here = str(Path(__file__).resolve().parent)
    return sorted(m.name for m in pkgutil.iter_modules([here]) if not m.name.startswith("_"))


def _load(name: str) -> tuple[Main | None, str]:
    """The benchmark's ``main`` (None for a helper module) and its summary."""
    try:
        module: ModuleType = importlib.import_module(f"bench.{name}")
    except ImportError as err:
        return None, f"(cannot be imported here: {err})"
    main = getattr(module, "main", None)
    summary = (module.__doc__ or "").strip().splitlines()
    return (main if callable(main) else None), (summary[0] if summary else "")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(
            "usage: python -m bench [--list | NAME [ARGS...]]\n"
            "  --list      name and summary of every benchmark\n"
            "  NAME ARGS   run one benchmark (NAME --help for its options)\n"
            "  (nothing)   run every benchmark with its defaults"
        )
        return 0
    found = {name: _load(name) for name in benchmarks()}
    runnable = {name: (fn, summary) for name, (fn, summary) in found.items() if fn is not None}
    if args and args[0] == "--list":
        for name, (_, summary) in runnable.items():
            print(f"{name:<14} {summary}")
        return 0
    if args:
        name, rest = args[0], args[1:]
        if name not in runnable:
            print(f"python -m bench: no benchmark {name!r} (try --list)", file=sys.stderr)
            return 2
        fn = runnable[name][0]
        assert fn is not None
        return fn(rest)
    status = 0
    for name, (fn, _) in runnable.items():
        assert fn is not None
        print(f"== {name}", flush=True)
        try:
            status = max(status, fn([]))
        except SystemExit as stop:  # one that needs arguments (soak): say so, go on
            code = stop.code if isinstance(stop.code, int) else 1
            print(f"== {name} stopped with status {code}", flush=True)
            status = max(status, code)
    return status


if __name__ == "__main__":
    sys.exit(main())
