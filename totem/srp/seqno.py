"""Serial arithmetic on 32-bit Totem sequence numbers (ref totem-wire.md 6.1, ``sq.h``).

corosync compares sequence numbers with a rollover adjustment: when either
value is above ``0x80000000`` both are shifted down by ``0x10000`` (mod 2**32)
before an unsigned compare. So ``0xFFFFFFFF`` sorts before ``0``, which is what
the initial ORF token (``aru = 0xFFFFFFFF``) and the recovery token sequence
(``my_token_seq = 0xFFFFFFFF``) rely on.
"""

from __future__ import annotations

__all__ = ["U32", "seq_lt", "seq_lte", "seq_max", "seq_min"]

U32 = 0xFFFFFFFF
_ROLLOVER_POINT = 0x80000000
_ROLLOVER_VALUE = 0x10000


def seq_lt(a: int, b: int) -> bool:
    """``a < b`` in Totem serial order."""
    if a > _ROLLOVER_POINT or b > _ROLLOVER_POINT:
        return ((a - _ROLLOVER_VALUE) & U32) < ((b - _ROLLOVER_VALUE) & U32)
    return a < b


def seq_lte(a: int, b: int) -> bool:
    """``a <= b`` in Totem serial order."""
    if a > _ROLLOVER_POINT or b > _ROLLOVER_POINT:
        return ((a - _ROLLOVER_VALUE) & U32) <= ((b - _ROLLOVER_VALUE) & U32)
    return a <= b


def seq_max(a: int, b: int) -> int:
    """The later of two sequence numbers."""
    return b if seq_lt(a, b) else a


def seq_min(a: int, b: int) -> int:
    """The earlier of two sequence numbers."""
    return a if seq_lt(a, b) else b
