"""Processor-set helpers of the membership protocol (ref totem-wire.md 5.1).

corosync keeps processor lists as arrays in arrival order and compares them as
sets. We keep the order (it is visible on the wire, in JOIN messages) and give
the set operations names from the source: merge appends what is new, subtract
keeps the order of the left operand.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["merge", "set_equal", "subset", "subtract"]


def merge(into: list[int], items: Iterable[int]) -> bool:
    """Append the members of ``items`` not yet in ``into``; True if ``into`` grew."""
    grew = False
    present = set(into)  # one pass, not a list scan per item: JOINs of 128 nodes
    for item in items:
        if item not in present:
            into.append(item)
            present.add(item)
            grew = True
    return grew


def subtract(left: Sequence[int], right: Iterable[int]) -> list[int]:
    """``left`` without the members of ``right``, in ``left``'s order."""
    drop = set(right)
    return [item for item in left if item not in drop]


def set_equal(a: Sequence[int], b: Sequence[int]) -> bool:
    """Equal as sets, with equal entry counts (``memb_set_equal``)."""
    return len(a) == len(b) and set(a) == set(b)


def subset(part: Sequence[int], whole: Sequence[int]) -> bool:
    """Every member of ``part`` is in ``whole`` (``memb_set_subset``)."""
    return len(part) <= len(whole) and set(part) <= set(whole)
