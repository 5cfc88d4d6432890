"""Construct declarations, built and compiled on first use.

Every Totem format is declared with construct (``FORMAT`` in each codec module)
and decoded on the hot path by an equivalent precompiled ``struct`` (the tests
prove the two byte-identical). Only the reference codecs (tests, benchmarks,
inspection tools) need the declarations, so a daemon pays for none of them at
start-up: each codec module builds its declarations in a cached ``_declare()``
that imports construct (about 40 ms of imports) and serves them as module
attributes (PEP 562 ``__getattr__``), so ``from totem.wire.mcast import FORMAT``
works as before. Compiling a declaration costs about 10 ms more: :func:`compiled`
does it once per declaration.
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
