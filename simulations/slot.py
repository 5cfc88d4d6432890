"""One node id of a simulated cluster across its incarnations: its process state, the
datagrams waiting in a paused process's socket, its clock and its application traffic."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from simulations.nodes import SimNode
from simulations.traffic import Traffic

__all__ = ["NodeSlot"]


@dataclass(slots=True)
class NodeSlot:
    """One node id of the nodelist, across its incarnations."""

    node_id: int
    node: SimNode | None = None
    incarnation: int = 0
    paused: bool = False
    pause_generation: int = 0
    buffer: deque[tuple[bytes, int]] = field(default_factory=deque)
    """Datagrams (and their ring) waiting in a paused process's socket."""
    buffer_bytes: int = 0
    deferred: list[Callable[[SimNode, float], None]] = field(default_factory=list)
    """Other input (TCP data) that reached a paused process, in arrival order."""
    armed: float | None = None
    clock_offset: float = 0.0
    clock_rate: float = 1.0
    local_last: float = float("-inf")
    app_sent: int = 0
    """Application messages accepted from this incarnation."""
    app_refused: int = 0
    app_delivered: int = 0
    """Application messages this incarnation delivered."""
    traffic: Traffic | None = None

    @property
    def alive(self) -> bool:
        return self.node is not None
