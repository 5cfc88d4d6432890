"""Per-link delay distributions, drawn from numpy in batches.

A link's one-way delay is ``base + jitter * x`` where ``x`` comes from a
standard distribution chosen per link:

``normal``
    ``x ~ N(0, 1)``: ``50ms±10ms`` is a mean of 50 ms with a 10 ms standard deviation.
``uniform``
    ``x ~ U(-1, 1)``: delays spread evenly over ``[base - jitter, base + jitter]``.
``exponential``
    ``x ~ Exp(1)``: never below ``base``, a long tail (a busy cloud network).
``pareto``
    ``x ~ Pareto(2)`` (Lomax): rarer but much longer stalls than exponential.

Delays never go below :data:`MIN_DELAY`. Samples come from one seeded
``numpy.random.Generator`` in batches of :data:`BATCH` per distribution, so
the per-packet cost is one list index and a multiply-add, and a run is exactly
reproducible from its seed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["BATCH", "MIN_DELAY", "Delay", "DelaySampler", "Distribution"]

BATCH = 4096
MIN_DELAY = 1e-6
"""One microsecond: no datagram arrives in zero time."""


class Distribution(enum.Enum):
    """The shape of a link's jitter."""

    NORMAL = "normal"
    UNIFORM = "uniform"
    EXPONENTIAL = "exponential"
    PARETO = "pareto"


@dataclass(frozen=True, slots=True)
class Delay:
    """A one-way delay distribution, in seconds."""

    base: float
    jitter: float = 0.0
    distribution: Distribution = Distribution.NORMAL

    def __post_init__(self) -> None:
        if not (self.base >= 0.0 and self.jitter >= 0.0):
            raise ValueError("delay and jitter must be non-negative")

    def __str__(self) -> str:
        text = _fmt(self.base)
        if self.jitter:
            text += "±" + _fmt(self.jitter)
        if self.distribution is not Distribution.NORMAL:
            text += f" dist={self.distribution.value}"
        return text


def _fmt(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:g}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:g}ms"
    return f"{seconds * 1e6:g}us"


_DISTRIBUTIONS = tuple(Distribution)
_NORMAL, _UNIFORM, _EXPONENTIAL, _PARETO = _DISTRIBUTIONS


class DelaySampler:
    """Draws delays for any :class:`Delay` from one seeded generator."""

    __slots__ = ("_buffers", "_generator", "_positions")

    def __init__(self, seed: int) -> None:
        self._generator = np.random.Generator(np.random.PCG64(seed))
        # per distribution, by its index in Distribution (a draw hashes no enum member)
        self._buffers: list[list[float]] = [[] for _ in _DISTRIBUTIONS]
        self._positions: list[int] = [0 for _ in _DISTRIBUTIONS]
        for index in range(len(_DISTRIBUTIONS)):
            self._refill(index)

    def _refill(self, index: int) -> None:
        distribution = _DISTRIBUTIONS[index]
        generator = self._generator
        batch: Any
        if distribution is Distribution.NORMAL:
            batch = generator.standard_normal(BATCH)
        elif distribution is Distribution.UNIFORM:
            batch = generator.uniform(-1.0, 1.0, BATCH)
        elif distribution is Distribution.EXPONENTIAL:
            batch = generator.standard_exponential(BATCH)
        else:
            batch = generator.pareto(2.0, BATCH)
        self._buffers[index] = batch.tolist()
        self._positions[index] = 0

    def draw(self, delay: Delay) -> float:
        """One delay in seconds."""
        jitter = delay.jitter
        if not jitter:
            return delay.base if delay.base > MIN_DELAY else MIN_DELAY
        distribution = delay.distribution
        if distribution is _NORMAL:
            index = 0
        elif distribution is _UNIFORM:
            index = 1
        elif distribution is _EXPONENTIAL:
            index = 2
        else:
            index = 3
        position = self._positions[index]
        if position == BATCH:
            self._refill(index)
            position = 0
        self._positions[index] = position + 1
        value = delay.base + jitter * self._buffers[index][position]
        return value if value > MIN_DELAY else MIN_DELAY
