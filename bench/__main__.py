"""``python -m bench``: list, pick and run the benchmarks (see ``bench/__init__.py``)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

BENCHMARKS: dict[str, str] = {
    "wire_codec": "bench.wire_codec",
    "corosync": "bench.versus",
}
"""Benchmark name -> module with a ``main(argv) -> int`` and a one-line docstring summary."""


def _load(name: str) -> tuple[Callable[[list[str]], int], str]:
    module = importlib.import_module(BENCHMARKS[name])
    summary = (module.__doc__ or "").strip().splitlines()[0]
    main: Callable[[list[str]], int] = module.main
    return main, summary


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
    if args and args[0] == "--list":
        for name in BENCHMARKS:
            print(f"{name:<12} {_load(name)[1]}")
        return 0
    if args:
        name, rest = args[0], args[1:]
        if name not in BENCHMARKS:
            print(f"python -m bench: no benchmark {name!r} (try --list)", file=sys.stderr)
            return 2
        return _load(name)[0](rest)
    status = 0
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        status = max(status, _load(name)[0]([]))
    return status


if __name__ == "__main__":
    sys.exit(main())
