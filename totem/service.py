"""Service engines: what plugs into a node above Totem (ref totem-wire.md sections 9-10).

As in corosync, a node runs a set of *service engines* (cmap, cfg, cpg, quorum,
votequorum, ...). Each has a service id; its *exec messages* travel in totempg
group ``"a"`` behind a 16-byte ``qb_ipc_request_header`` whose ``id`` is
``service_id << 16 | fn_id`` (ref 9), and are delivered to every node in agreed
order. Services that define ``sync_init`` take part in the sync protocol of
ref 10 after every REGULAR configuration.

A service may also serve client libraries over libqb IPC: it names its IPC service
(``ipc_name``: ``cmap``, ``cfg``, ``cpg``, ``quorum``, ``votequorum``) and declares its
library handlers beside its exec handlers (``lib_handlers``, ``lib_init``, ``lib_exit``),
as corosync's ``lib_engine`` tables do; ``totem.ipc`` serves them without knowing the
service (ref libqb-ipc/README.md section 4).

Services are sans-IO like everything else: the node stack calls them with an
explicit ``now`` and drains their events. ``totem`` never imports a service;
the daemon finds them through the ``pycorosync.services`` entry-point group
(see ``pyproject.toml``), as corosync loads its service engines.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from totem.ipc.engine import LibConnection, LibHandler
from totem.ringid import RingId
from totem.srp.events import ConfigurationChange, LogLevel

if TYPE_CHECKING:
    from totem.config.model import CorosyncConfig, NodeConfig

__all__ = ["Service", "ServiceContext", "ServiceFactory", "ServiceHost"]


class ServiceHost(Protocol):
    """What a service may ask of the node it runs in."""

    @property
    def node_id(self) -> int:
        """This node's id."""
        ...

    def mcast(self, service_id: int, fn_id: int, body: bytes) -> None:
        """Queue an exec message (header added by the host) for agreed-order delivery to all."""
        ...

    def log(self, level: LogLevel, subsys: str, message: str) -> None:
        """Emit an operator log line, e.g. subsys ``"QUORUM"``."""
        ...


class Service(abc.ABC):
    """A service engine. Subclasses set ``service_id``, ``name`` and ``sync_participant``."""

    service_id: int
    name: str
    sync_participant: bool = False
    """True if the service defines sync_init (cmap, cpg, quorum, votequorum; ref 10.1)."""
    ipc_name: str | None = None
    """The libqb IPC service name clients connect to (``cs_ipcs_serv_short_name``); None
    when the service has no library."""

    def __init__(self) -> None:
        self.host: ServiceHost | None = None

    def attach(self, host: ServiceHost) -> None:
        """Bind the service to its node; called once before anything else."""
        self.host = host

    def bind(self, services: Sequence[Service]) -> None:  # noqa: B027
        """All services of the node are attached; link to the ones this one works with."""

    @property
    def exec_function_count(self) -> int:
        """Number of exec functions; ``fn_id`` at or above this is discarded (ref 9)."""
        return 0

    def exec_deliver(self, sender: int, fn_id: int, body: bytes, now: float) -> None:  # noqa: B027
        """An exec message of this service, in agreed order. ``body`` excludes the 16-byte header.

        Malformed bodies must be dropped (and counted), never raise.
        """

    def confchg(self, change: ConfigurationChange, now: float) -> None:  # noqa: B027
        """A TRANSITIONAL or REGULAR configuration change (ref 5.5)."""

    # --- sync protocol participation (ref 10.2) -------------------------------------------
    def sync_init(  # noqa: B027
        self,
        trans_members: Sequence[int],
        members: Sequence[int],
        ring_id: RingId,
        now: float,
    ) -> None:
        """A sync round for ``ring_id`` begins; ``members`` is the new regular membership."""

    def sync_process(self, now: float) -> bool:
        """Send this service's sync messages; return True when done (corosync returns 0)."""
        return True

    def sync_activate(self, now: float) -> None:  # noqa: B027
        """Every member passed this service's barrier: make the synced state current."""

    def sync_abort(self) -> None:  # noqa: B027
        """A new configuration interrupted sync; forget the round."""

    def sync_completed(self, now: float) -> None:  # noqa: B027
        """Every service of the round is active: the node provides service again
        (``corosync_sync_completed``: the IPC flow control that held local requests back
        since the configuration change is lifted, and totempg sends normal traffic)."""

    # --- timers and events (sans-IO) --------------------------------------------------------
    def next_deadline(self) -> float | None:
        """The earliest time this service wants ``on_deadline``; None if no timer runs."""
        return None

    def on_deadline(self, now: float) -> None:  # noqa: B027
        """Time has reached ``next_deadline()``."""

    def events(self) -> list[Any]:
        """Drain the service's events (frozen dataclasses)."""
        return []

    def status(self) -> dict[str, Any]:
        """A JSON-able snapshot for the control socket and tools."""
        return {}

    # --- library side (libqb IPC) -------------------------------------------------------------
    def lib_handlers(self) -> Sequence[LibHandler]:
        """The library table, indexed by request id (corosync's ``lib_engine``)."""
        return ()

    def lib_init(self, conn: LibConnection) -> None:  # noqa: B027
        """A client connected (``lib_init_fn``): set up ``conn.private``."""

    def lib_exit(self, conn: LibConnection) -> None:  # noqa: B027
        """A client left or died (``lib_exit_fn``): forget everything it held."""

    def control_ops(self) -> Mapping[str, Callable[[dict[str, Any]], Any]]:
        """Operations this service serves on the node's control socket, by name.

        A handler takes the request object and returns a JSON-able result; it
        raises ``ValueError`` with an operator-facing message to refuse.
        """
        return {}


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """What a service factory may read: the configuration and who we are."""

    config: CorosyncConfig
    local_node: NodeConfig
    daemon: Any = None
    """The running daemon (for services that must act on it, e.g. cfg shutdown); None in tests."""
    random_bytes: Callable[[int], bytes] = bytes
    """``n`` -> ``n`` random bytes (``os.urandom`` in the daemon). A service never reads the
    OS's randomness itself; the default, zeros, keeps a simulation a function of its seed."""
    wall_clock: Callable[[], float] | None = None
    """Seconds since 1970 (``time.time`` in the daemon), for what services show people
    (dates in tool output); None where there is no wall clock (tests, the simulator)."""


class ServiceFactory(Protocol):
    def __call__(self, context: ServiceContext) -> Service | None: ...
