"""What the invariant checker keeps: per-process records, delivery epochs, the first move
from one configuration to the next, the violations it reports, and the ring ids it sets
apart when a representative loses its ring id file (:mod:`simulations.checker`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from totem.ringid import RingId
from totem.srp.events import ConfigurationChange

__all__ = ["Crossing", "Epoch", "ProcessKey", "ProcessRecord", "RetiredRing", "Violation"]

ProcessKey = tuple[int, int]
"""(node id, incarnation): one process."""


@dataclass(frozen=True, slots=True)
class RetiredRing(RingId):
    """A ring id formed before its representative lost its ring sequence file.

    Equal ring ids of two lives of that file are two different rings (see
    :meth:`simulations.checker.Checker._retire_rings_of`): this type keeps the earlier
    one apart, and it never equals a plain :class:`RingId`."""

    life: int = 0

    def __str__(self) -> str:
        return f"{self.rep:x}.{self.seq:x} (before node {self.rep}'s ring id file was lost)"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant."""

    invariant: str
    time: float
    nodes: tuple[int, ...]
    message: str

    def __str__(self) -> str:
        return f"t={self.time:.6f}s {self.invariant}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        """A JSON-able form."""
        return {
            "invariant": self.invariant,
            "time": round(self.time, 9),
            "nodes": list(self.nodes),
            "message": self.message,
        }


@dataclass(slots=True)
class Epoch:
    """What a process delivered in one phase (regular or transitional) of a configuration."""

    count: int = 0
    digest: int = 0
    first: int | None = None
    last: int | None = None

    def add(self, ring: RingId, seq: int) -> None:
        self.count += 1
        self.digest = (self.digest + hash((ring.rep, ring.seq, seq))) & 0xFFFFFFFFFFFFFFFF
        if self.first is None:
            self.first = seq
        self.last = seq

    def describe(self) -> str:
        if not self.count:
            return "no messages"
        return f"{self.count} messages (seq {self.first:x}..{self.last:x})"


@dataclass(slots=True)
class ProcessRecord:
    node: int
    incarnation: int
    alive: bool = True
    regular: RingId | None = None
    regular_members: tuple[int, ...] = ()
    transitional: ConfigurationChange | None = None
    regular_epoch: Epoch = field(default_factory=Epoch)
    trans_epoch: Epoch = field(default_factory=Epoch)
    last_ring: RingId | None = None
    last_seq: int = 0
    own_high: int = 0
    fifo: dict[ProcessKey, int] = field(default_factory=dict)
    gaps: dict[ProcessKey, list[tuple[int, int]]] = field(default_factory=dict)
    gather_window: float = float("-inf")
    """Start of the current one-second window of GATHER entries."""
    gather_count: int = 0
    aliases: dict[RingId, RingId] = field(default_factory=dict)
    """Ring ids this process knew before their representative lost its ring id file, and
    the retired id each stands for in what the process reports afterwards."""


@dataclass(slots=True)
class Crossing:
    """The first process seen moving from one configuration to the next."""

    node: int
    trans_members: tuple[int, ...]
    regular: Epoch
    trans: Epoch
