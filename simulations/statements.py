"""The statements of the scenario language, one frozen dataclass each.

:mod:`simulations.scenario` parses text into them (its docstring is the
language reference) and :mod:`simulations.runner` carries them out. Node ids
are the nodelist's; :data:`~simulations.network.QNETD_ID` stands for the qnetd
host where a statement may name it (network statements, life cycle, ``stat``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulations.latency import Delay

__all__ = [
    "ClockStmt",
    "Crash",
    "Expect",
    "Heal",
    "Latency",
    "LinkFault",
    "Nodes",
    "Oneway",
    "Partition",
    "Pause",
    "Qnetd",
    "Restart",
    "Rings",
    "Run",
    "Scenario",
    "Seed",
    "Send",
    "Start",
    "Statement",
    "Stop",
]


@dataclass(frozen=True, slots=True)
class Statement:
    line: int
    text: str


Rings = tuple[int, ...] | None
"""The rings a network statement applies to (``ring=1``); None: all of them."""


@dataclass(frozen=True, slots=True)
class Nodes(Statement):
    count: int
    totem: tuple[tuple[str, int], ...] = ()
    quorum: tuple[tuple[str, str], ...] = ()
    autostart: bool = True
    stack: str = "full"
    """``full``: the daemon's node stack with votequorum; ``srp``: bare Totem SRP."""
    rings: int = 1
    """2: passive redundant rings (``rrp_mode: passive``), each its own network."""
    crypto: bool = False
    """Datagram crypto (aes256 + sha256) between the nodes."""
    transport: str = "udpu"
    """``knet``: corosync 3's transport (``rings`` is then the number of knet links)."""


@dataclass(frozen=True, slots=True)
class Seed(Statement):
    value: int


@dataclass(frozen=True, slots=True)
class Partition(Statement):
    groups: tuple[tuple[int, ...], ...]
    rings: Rings = None


@dataclass(frozen=True, slots=True)
class Oneway(Statement):
    pairs: tuple[tuple[int, int], ...]
    rings: Rings = None


@dataclass(frozen=True, slots=True)
class Heal(Statement):
    pairs: tuple[tuple[int, int], ...] | None
    rings: Rings = None


@dataclass(frozen=True, slots=True)
class Latency(Statement):
    pairs: tuple[tuple[int, int], ...]
    delay: Delay
    rings: Rings = None


@dataclass(frozen=True, slots=True)
class LinkFault(Statement):
    """``loss``, ``dup``, ``reorder`` or ``mtu`` on some links."""

    fault: str
    pairs: tuple[tuple[int, int], ...]
    value: float
    """Probability (0..1) or, for ``mtu``, bytes."""
    extra: float = 0.0
    """``reorder``: the added delay in seconds."""
    kinds: tuple[int, ...] | None = None
    rings: Rings = None


@dataclass(frozen=True, slots=True)
class Pause(Statement):
    nodes: tuple[int, ...]
    duration: float


@dataclass(frozen=True, slots=True)
class Crash(Statement):
    nodes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Stop(Statement):
    nodes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Start(Statement):
    nodes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Restart(Statement):
    nodes: tuple[int, ...]
    keep_state: bool = True


@dataclass(frozen=True, slots=True)
class ClockStmt(Statement):
    node: int
    jump: float = 0.0
    """Seconds the node's clock jumps ahead (before the node starts: its epoch)."""
    rate: float = 1.0


@dataclass(frozen=True, slots=True)
class Send(Statement):
    nodes: tuple[int, ...]
    rate: float | None = None
    """Messages per second; None for a burst of ``count``; 0 stops."""
    count: int = 0
    size: int = 100
    safe: bool = False
    poisson: bool = False


@dataclass(frozen=True, slots=True)
class Run(Statement):
    duration: float


@dataclass(frozen=True, slots=True)
class Expect(Statement):
    what: str
    """``members``, ``quorate``, ``inquorate``, ``state``, ``delivered``, ``votes``,
    ``qdevice``, ``stat``."""
    nodes: tuple[int, ...]
    negate: bool = False
    on: tuple[int, ...] | None = None
    within: float | None = None
    throughout: float | None = None
    state: str = ""
    """``state``: the membership state; ``qdevice``: ``connected`` or ``voting``; ``file``:
    the path."""
    stat: str = ""
    op: str = ""
    value: float = 0.0


@dataclass(frozen=True, slots=True)
class Qnetd(Statement):
    """The cluster's quorum device: its ``quorum.device`` settings and the arbiter host."""

    algorithm: str = "ffsplit"
    """``ffsplit``, ``lms``, ``2nodelms`` or ``test`` (qnetd's ACK-everything negative control)."""
    tie_breaker: str = "lowest"
    """``lowest``, ``highest`` or a node id."""
    keep_active_partition: bool | None = None
    """``net.keep_active_partition_tie_breaker``; None: the client's default (on)."""
    votes: int | None = None
    """``quorum.device.votes``; None: 1 for ffsplit, votequorum's default otherwise."""
    timeout_ms: int | None = None
    sync_timeout_ms: int | None = None
    connect_timeout_ms: int | None = None
    start: bool = True
    """Start the arbiter here (``start=no``: configured, started later by ``start qnetd``)."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """A parsed, validated scenario."""

    path: str
    text: str
    nodes: Nodes
    statements: tuple[Statement, ...]
    seed: int | None = None
    quorum_line: int = 0
    """First line that needs a quorum provider (votequorum); 0 if none."""
    uses: frozenset[str] = field(default_factory=frozenset)
    """Statement keywords used (``partition``, ``pause``...), for reports."""
    qnetd: Qnetd | None = None
    """The quorum device, when the scenario has a ``qnetd`` statement."""

    @property
    def node_ids(self) -> tuple[int, ...]:
        return tuple(range(1, self.nodes.count + 1))

    @property
    def simulated_length(self) -> float:
        """Virtual seconds the statements take at most (``run`` + ``within``/``throughout``)."""
        total = 0.0
        for statement in self.statements:
            if isinstance(statement, Run):
                total += statement.duration
            elif isinstance(statement, Expect):
                total += statement.within or statement.throughout or 0.0
        return total
