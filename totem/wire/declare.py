"""Compiled construct declarations, built on first use.

Every Totem format is declared with construct (``FORMAT`` in each codec module)
and decoded on the hot path by an equivalent precompiled ``struct`` (the tests
prove the two byte-identical). Compiling a construct declaration costs about
10 ms, and only the reference codecs (tests, benchmarks) need the compiled form,
so a daemon does not pay for it at start-up.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compiled"]

_compiled: dict[int, Any] = {}


def compiled(declaration: Any) -> Any:
    """``declaration.compile()``, once per declaration."""
    key = id(declaration)
    result = _compiled.get(key)
    if result is None:
        result = _compiled[key] = declaration.compile()
    return result
