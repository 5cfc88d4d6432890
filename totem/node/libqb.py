"""The daemon's libqb IPC: corosync's client libraries served on the node (``exec/ipc_glue.c``).

:class:`LibqbIpc` ties :class:`totem.ipc.server.IpcServer` to a running daemon:

* every service of the stack with an ``ipc_name`` and a library table is served on its
  name; the transport is ``system.qb_ipc_type`` (``socket``; ``native`` and ``shm`` = SHM);
* corosync's access rule, with the ``uidgid.*`` keys read from the node's cmap;
  connections are refused with ``-EAGAIN`` until the node runs;
* flow control as ``cs_ipcs_check_for_flow_control`` does it: while the node
  synchronises, or while its send queue is 75 % full (until it drops under 70 %), clients
  see the flow-control value 2 (CPG multicasts are refused by libcpg itself) and
  flow-controlled requests are answered ``CS_ERR_TRY_AGAIN``; votequorum is spared during
  synchronisation;
* the statistics map: ``stats.srp.*`` (cleared by ``stats.clear.totem``), ``stats.pg.*``,
  ``stats.ipcs.*`` (``stats.clear.ipc``), ``stats.schedmiss.*`` (``stats.clear.schedmiss``;
  the driver's :class:`~totem.node.schedmiss.SchedMissMonitor`), and whatever a transport
  contributes: a transport
  with ``cmap_stats()`` yielding ``(key, type, value)`` is registered under its
  ``cmap_stats_name`` (knet: ``"knet"``, so that ``stats.clear.knet`` calls its
  ``cmap_stats_clear()``) -- knet's ``stats.knet.*`` need nothing more here;
* what cfg needs of the node: node addresses, link status (a transport with
  ``node_status(nodeid)`` returning a :class:`~totem.services.cfg_lib.NodeStatus`
  answers for its nodes; udp/udpu as corosync does: one link, connected while the node is a
  member), reload answers, ``cfg.shutdown_timeout``;
* the hand-over of the quorum device from the node's own qdevice client to a real
  corosync-qdevice registering over IPC.

Two daemons in one network namespace cannot both serve: the second one stops with an error
(:class:`~totem.ipc.server.IpcAddressInUse`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from totem.config import CorosyncConfig, NodeConfig
from totem.ipc.server import IpcServer, IpcService
from totem.ipc.setup import Credentials, corosync_access_allowed
from totem.ipc.wire import CsError, IpcType
from totem.node.agents import AgentSet
from totem.node.assemble import Transport
from totem.node.driver import NodeDriver
from totem.node.events import NodeEvent
from totem.node.logsys import emit
from totem.node.schedmiss import SchedMissMonitor
from totem.node.stack import NodeStack
from totem.services.cfg import CfgReloadRequested, CfgService
from totem.services.cfg_lib import LinkStatus, NodeStatus
from totem.services.cmap import CmapService
from totem.services.cmap.stats import StatsEntry
from totem.services.cmap.store import ValueType
from totem.srp.events import ConfigurationChange, LogLevel, LogRecord
from totem.sync import SyncCompleted

if TYPE_CHECKING:
    from totem.knet.layer import KnetLayer

__all__ = ["IpcDaemon", "LibqbIpc", "ipc_type_of"]

QUEUE_CRITICAL = 0.75
QUEUE_RELEASE = 0.70
_RECHECK = 0.002
_STATS_POLL = 1.0
_VOTEQUORUM_ID = 5
_MCAST_HEADERS = 62
"""``2 * sizeof(struct mcast)`` in totemsrp.c."""
_SRP_U32 = ("continuous_gather",)
_SRP_COUNTERS = (
    "orf_token_tx",
    "orf_token_rx",
    "memb_merge_detect_tx",
    "memb_merge_detect_rx",
    "memb_join_tx",
    "memb_join_rx",
    "mcast_tx",
    "mcast_retx",
    "mcast_rx",
    "memb_commit_token_tx",
    "memb_commit_token_rx",
    "token_hold_cancel_tx",
    "token_hold_cancel_rx",
    "operational_entered",
    "operational_token_lost",
    "gather_entered",
    "gather_token_lost",
    "commit_entered",
    "commit_token_lost",
    "recovery_entered",
    "recovery_token_lost",
    "consensus_timeouts",
    "rx_msg_dropped",
)


def ipc_type_of(setting: str) -> IpcType:
    """``cs_get_ipc_type``: ``socket`` is SOCKET; ``native`` (the default) and ``shm`` SHM."""
    return IpcType.SOCKET if setting == "socket" else IpcType.SHM


class IpcDaemon(Protocol):
    """What the IPC layer reads of the node daemon (:class:`totem.node.daemon.Daemon`).

    Attributes, not copies: a reload replaces ``config`` and ``local_node`` under us.
    """

    config: CorosyncConfig
    local_node: NodeConfig
    last_reload: dict[str, Any] | None
    loop: asyncio.AbstractEventLoop
    stack: NodeStack
    driver: NodeDriver
    transports: dict[int, Transport]
    agents: AgentSet

    def reconfigure_logging(self) -> None:
        """Apply the logging section again, reopening the log file."""


class LibqbIpc:
    """libqb IPC for one daemon (see the module docstring)."""

    def __init__(self, daemon: IpcDaemon) -> None:
        self.daemon = daemon
        stack = daemon.stack
        self.cmap = next((s for s in stack.services if isinstance(s, CmapService)), None)
        self.cfg = next((s for s in stack.services if isinstance(s, CfgService)), None)
        services = [
            IpcService(
                s.ipc_name,
                s.service_id,
                s.lib_handlers(),
                s.lib_init,
                s.lib_exit,
                flow_controlled=s.service_id != _VOTEQUORUM_ID,
            )
            for s in stack.services
            if s.ipc_name is not None and s.lib_handlers()
        ]
        self.ipc_type = ipc_type_of(daemon.config.system.qb_ipc_type)
        self.server = IpcServer(
            daemon.loop,
            services,
            ipc_type=self.ipc_type,
            sending_allowed=self._sending_allowed,
            access=self._access,
            ready=lambda: self._ready,
            after_input=self._after_input,
            log=self._log,
        )
        self._ready = False
        self._critical = False
        self._fc: int | None = None
        self._recheck: Any = None
        self._stats_timer: Any = None
        daemon.driver.add_listener(self._on_event)
        self._wire_services()

    # --- life ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Bind every service name (``IpcAddressInUse`` if another daemon holds one)."""
        self.server.start()
        self._update_flow_control()

    def ready(self) -> None:
        """The node runs: accept clients (before this they get ``-EAGAIN``)."""
        self._ready = True
        self._schedule_stats_poll()

    def stop(self) -> None:
        self._ready = False
        for handle in (self._recheck, self._stats_timer):
            if handle is not None:
                handle.cancel()
        self.server.stop()

    def status(self) -> dict[str, Any]:
        return {
            "type": self.ipc_type.name.lower(),
            "connections": len(self.server.connections),
            "services": self._connections_by_service(),
            **self.server.stats,
            "flow_control": self._fc,
        }

    def _connections_by_service(self) -> dict[str, int]:
        counts = dict.fromkeys(self.server.services, 0)
        for conn in self.server.connections.values():
            counts[conn.service.name] = counts.get(conn.service.name, 0) + 1
        return counts

    # --- wiring ----------------------------------------------------------------------------------
    def _wire_services(self) -> None:
        daemon = self.daemon
        stack = daemon.stack
        if self.cmap is not None:
            stats = self.cmap.stats
            stats.register("totem", self._srp_stats, self._srp_clear)
            stats.register("pg", self._pg_stats)
            stats.register("ipc", self._ipc_stats, self._ipc_clear)
            schedmiss = daemon.driver.schedmiss
            stats.register("schedmiss", lambda: _schedmiss_stats(schedmiss), schedmiss.clear)
            layer = _knet_layer(daemon)
            if layer is not None:
                from totem.node.knet_status import knet_cmap_stats

                stats.register("knet", lambda: knet_cmap_stats(layer))
            for link, transport in daemon.transports.items():
                provider = getattr(transport, "cmap_stats", None)
                if provider is not None:
                    name = getattr(transport, "cmap_stats_name", f"transport{link}")
                    stats.register(name, provider, getattr(transport, "cmap_stats_clear", None))
            self.cmap.set_runtime_counters(self._runtime_counters)
        if self.cfg is not None:
            self.cfg.set_node_info(self)
            self.cfg.shutdown_timeout = self._shutdown_timeout
            self.cfg.rings_reenable = lambda: stack.net is not None and len(daemon.transports) > 1
            self.cfg.reopen_logs = self._reopen_logs
        for service in stack.services:
            lib = getattr(service, "lib", None)
            if lib is not None and hasattr(lib, "handover"):
                lib.handover = self._qdevice_handover

    def _log(self, level: LogLevel, message: str) -> None:
        emit(LogRecord(level, "QB", message))

    # --- access, gate, flow control --------------------------------------------------------------
    def _access(self, creds: Credentials) -> bool:
        cmap = self.cmap

        def lookup(key: str) -> int | None:
            if cmap is None:
                return None
            item = cmap.icmap.get(key)
            if item is None or item[0] is not ValueType.UINT8:
                return None
            return item[1][0]

        return corosync_access_allowed(creds.uid, creds.gid, lookup)

    def _sending_allowed(self, service_id: int, size: int) -> bool:
        """``corosync_sending_allowed`` for a flow-controlled request."""
        stack = self.daemon.stack
        if self._critical or not stack.send_ok(size):
            return False
        return stack.synced or service_id == _VOTEQUORUM_ID

    def _after_input(self) -> None:
        self.daemon.driver.poke()
        self._update_flow_control()

    def _update_flow_control(self) -> None:
        stack = self.daemon.stack
        used = stack.queue_used()
        if self._critical:
            self._critical = used >= QUEUE_RELEASE
        else:
            self._critical = used >= QUEUE_CRITICAL
        syncing = not stack.synced
        value = 2 if (self._critical or syncing) else 0
        if value != self._fc:
            self._fc = value
            spared = 2 if self._critical else 0
            flowed = [s.name for s in self.server.services.values() if s.flow_controlled]
            spare = [s.name for s in self.server.services.values() if not s.flow_controlled]
            self.server.set_flow_control(value, flowed)
            self.server.set_flow_control(spared, spare)
        if self._critical and self._recheck is None:
            self._recheck = self.daemon.loop.call_later(_RECHECK, self._recheck_queue)

    def _recheck_queue(self) -> None:
        self._recheck = None
        self._update_flow_control()

    def _on_event(self, event: NodeEvent) -> None:
        if isinstance(event, (ConfigurationChange, SyncCompleted)):
            self._update_flow_control()
        elif isinstance(event, CfgReloadRequested) and event.local and self.cfg is not None:
            last = self.daemon.last_reload or {}
            error = CsError.OK if last.get("ok") else CsError.ERR_INVALID_PARAM
            self.cfg.reload_finished(event.conn, error)

    # --- cfg's view of nodes and links (NodeInfo) ------------------------------------------------
    def node_addresses(self, nodeid: int) -> Sequence[str] | None:
        node = self.daemon.config.node_by_id(nodeid)
        return None if node is None else list(node.addresses)

    def node_status(self, nodeid: int) -> NodeStatus | None:
        layer = _knet_layer(self.daemon)
        if layer is not None:
            from totem.node.knet_status import knet_node_status

            return knet_node_status(layer, nodeid)
        for transport in self.daemon.transports.values():
            answer = getattr(transport, "node_status", None)
            if answer is not None:
                status: NodeStatus | None = answer(nodeid)
                return status
        daemon = self.daemon
        reachable = nodeid in daemon.stack.srp.members
        node = daemon.config.node_by_id(nodeid)
        if node is None:
            return NodeStatus(nodeid, reachable=reachable)
        faulty = self._faulty_rings() if len(node.addresses) > 1 else set()
        links = tuple(
            LinkStatus(
                enabled=link not in faulty,
                connected=reachable and link not in faulty,
                mtu=self._payload_mtu(address),
                src_ipaddr=address,
            )
            for link, address in enumerate(node.addresses)
        )
        return NodeStatus(nodeid, reachable=reachable, links=links)

    def _payload_mtu(self, address: str) -> int:
        """What corosync reports as a udp/udpu link's MTU: ``netmtu`` less the UDP/IP
        header (28 bytes, 48 for IPv6) and two Totem mcast headers (``totemsrp_net_mtu_adjust``)."""
        udpip = 48 if ":" in address else 28
        return self.daemon.config.totem.netmtu - udpip - _MCAST_HEADERS

    def _faulty_rings(self) -> set[int]:
        net = self.daemon.stack.net
        if net is None:
            return set()
        return {ring["ring"] for ring in net.status()["rings"] if ring["faulty"]}

    def ring_status(self) -> Sequence[tuple[str, str]]:
        daemon = self.daemon
        faulty = self._faulty_rings()
        return [
            (f"{link} {address}", "FAULTY" if link in faulty else "OK")
            for link, address in enumerate(daemon.local_node.addresses)
        ]

    def _reopen_logs(self) -> bool:
        """``corosync-cfgtool -L``: reopen the log file (after a rotation)."""
        try:
            self.daemon.reconfigure_logging()
        except OSError:
            return False
        return True

    def _shutdown_timeout(self) -> int | None:
        if self.cmap is None:
            return None
        value = self.cmap.icmap.get_value("cfg.shutdown_timeout")
        return value if isinstance(value, int) else None

    # --- the quorum device -----------------------------------------------------------------------
    def _qdevice_handover(self, then: Callable[[], None]) -> bool:
        """A corosync-qdevice registers: stop the node's own qdevice client first."""
        agents = [a for a in self.daemon.agents if getattr(a, "name", None) == "qdevice"]
        running = [a for a in agents if getattr(a, "_running", False)]
        if not running:
            return False
        emit(
            LogRecord(
                LogLevel.NOTICE,
                "QDEVICE",
                "corosync-qdevice registers over IPC: the node's own qdevice client stops",
            )
        )

        async def handover() -> None:
            for agent in running:
                await agent.stop()
            then()
            self.daemon.driver.poke()

        self.daemon.loop.create_task(handover())
        return True

    # --- statistics ------------------------------------------------------------------------------
    def _srp_stats(self) -> Iterator[StatsEntry]:
        stats = self.daemon.stack.srp.stats
        for name in _SRP_COUNTERS:
            yield f"stats.srp.{name}", ValueType.UINT64, int(getattr(stats, name))
        yield "stats.srp.continuous_gather", ValueType.UINT32, int(stats.continuous_gather)
        yield "stats.srp.continuous_sendmsg_failures", ValueType.UINT32, 0
        yield "stats.srp.firewall_enabled_or_nic_failure", ValueType.UINT8, 0
        yield "stats.srp.avg_backlog_calc", ValueType.UINT32, 0
        yield "stats.srp.avg_token_workload", ValueType.UINT32, 0
        yield "stats.srp.mtt_rx_token", ValueType.UINT32, int(stats.avg_rotation_ms)
        srp = self.daemon.stack.srp
        last = getattr(srp, "last_token_rx", None)
        since = 0 if last is None else max(0, int((self.daemon.loop.time() - last) * 1000))
        yield "stats.srp.time_since_token_last_received", ValueType.UINT64, since

    def _srp_clear(self) -> None:
        stats = self.daemon.stack.srp.stats
        for field in dataclasses.fields(stats):
            value = getattr(stats, field.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                setattr(stats, field.name, type(value)())
        stats.dropped.clear()

    def _pg_stats(self) -> Iterable[StatsEntry]:
        stack = self.daemon.stack
        yield "stats.pg.msg_queue_avail", ValueType.UINT32, max(0, stack.srp.avail())
        yield "stats.pg.msg_reserved", ValueType.UINT32, stack.counters.queued_packets

    def _ipc_stats(self) -> Iterator[StatsEntry]:
        server = self.server
        yield "stats.ipcs.global.active", ValueType.UINT64, server.stats["active"]
        yield "stats.ipcs.global.closed", ValueType.UINT64, server.stats["closed"]
        for conn in list(server.connections.values()):
            prefix = f"stats.ipcs.service{conn.service.service_id}.{conn.pid}.{conn.id:#x}"
            s = conn.stats
            yield f"{prefix}.dispatched", ValueType.UINT64, s.dispatched
            yield f"{prefix}.flow_control", ValueType.UINT32, s.flow_control
            yield f"{prefix}.flow_control_count", ValueType.UINT64, s.flow_control_count
            yield f"{prefix}.invalid_request", ValueType.UINT64, s.invalid_request
            yield f"{prefix}.overload", ValueType.UINT64, s.overload
            yield f"{prefix}.procname", ValueType.STRING, conn.procname
            yield f"{prefix}.queued", ValueType.UINT32, s.queued
            yield f"{prefix}.queueing", ValueType.INT32, int(s.queueing)
            yield f"{prefix}.recv_retries", ValueType.UINT64, s.recv_retries
            yield f"{prefix}.requests", ValueType.UINT64, s.requests
            yield f"{prefix}.responses", ValueType.UINT64, s.responses
            yield f"{prefix}.send_retries", ValueType.UINT64, s.send_retries
            yield f"{prefix}.sent", ValueType.UINT32, s.sent

    def _ipc_clear(self) -> None:
        server = self.server
        server.stats["active"] = len(server.connections)
        server.stats["closed"] = 0
        for conn in server.connections.values():
            s = conn.stats
            s.invalid_request = s.overload = s.sent = 0
            s.requests = s.responses = s.dispatched = s.send_retries = s.recv_retries = 0

    def _runtime_counters(self) -> dict[tuple[int, int], tuple[int, int]]:
        stack = self.daemon.stack
        rx = stack.dispatcher.rx
        out: dict[tuple[int, int], tuple[int, int]] = {}
        for service in stack.services:
            sid = service.service_id
            for fn in range(service.exec_function_count):
                out[(sid, fn)] = (rx.get((sid, fn), 0), stack.tx_counts.get(sid << 16 | fn, 0))
        return out

    def _schedule_stats_poll(self) -> None:
        if self.cmap is None:
            return
        self._stats_timer = self.daemon.loop.call_later(_STATS_POLL, self._poll_stats)

    def _poll_stats(self) -> None:
        self._stats_timer = None
        if self.cmap is not None and self.cmap.stats.tracking:
            self.cmap.stats.poll_tracks()
        if self._ready:
            self._schedule_stats_poll()


def _schedmiss_stats(monitor: SchedMissMonitor) -> Iterator[StatsEntry]:
    """``stats.schedmiss.<i>.timestamp`` (u64, ms) and ``.delay`` (flt, ms), newest first."""
    for i, (timestamp, delay) in enumerate(monitor.events()):
        yield f"stats.schedmiss.{i}.timestamp", ValueType.UINT64, timestamp
        yield f"stats.schedmiss.{i}.delay", ValueType.FLOAT, delay


def _knet_layer(daemon: IpcDaemon) -> KnetLayer | None:
    """The daemon's knet layer, or None when it runs udp/udpu: such a node never loads
    knet's code (``totem.node.assemble``), so the type is looked up only for knet."""
    if daemon.config.totem.transport != "knet":
        return None
    from totem.knet.layer import KnetLayer

    net = daemon.stack.net
    return net if isinstance(net, KnetLayer) else None
