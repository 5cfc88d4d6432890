"""``pycorosync``: the node daemon.

    pycorosync -f -c /etc/corosync/corosync.conf [--run-dir /run/pycorosync] [--nodeid N]
               [--state-dir DIR] [--qdevice-cert-dir DIR] [--metrics HOST:PORT] [-d]
    pycorosync -t -c FILE [--nodeid N]     # check the configuration, as corosync -t

Reads corosync.conf and runs the start-up check (:mod:`totem.config.check`: host names
resolved, this node found in the nodelist, the transport and crypto key usable; ``-t``
stops there, with corosync -t's output), binds its ring address
(both, with ``rrp_mode: passive``: one transport per ring), forms or joins the
ring and serves the control socket in ``--run-dir`` (so
several daemons on one machine, e.g. on 127.0.0.1/.2/.3, each need their own
run directory and ``--nodeid``). SIGTERM or SIGINT leaves the ring gracefully
(the LEAVE message lets the others re-form at once, ref 7).

A cfg RELOAD_CONFIG from any node (``pycorosync-cfgtool -R``, or a real node's
``corosync-cfgtool -R``) makes the daemon re-read its corosync.conf and apply what may
change at run time (``totem.node.reload``); a file that does not load or cannot be
applied is refused (``file:line`` in the log and in the tool's answer) and the node
carries on with its old configuration (the daemon's part: :mod:`totem.node.daemon_reload`).
The agents beside the stack (the qdevice client) follow the reloaded file: a reload that
adds ``quorum.device`` starts the client, one that removes it stops it
(``totem.node.agents``), as ``systemctl start|stop corosync-qdevice``.

``--metrics HOST:PORT`` (or ``system { metrics: HOST:PORT }`` in corosync.conf, which real
corosync stores and ignores) serves Prometheus metrics at ``http://HOST:PORT/metrics``
(``totem.node.metrics``: ha_cluster_exporter's ``ha_cluster_corosync_*`` and our
``pycorosync_*``). Under systemd (``Type=notify``) the daemon sends ``READY=1`` once its
services completed their first synchronisation, as corosync does, ``STATUS=`` lines on
membership and quorum changes, ``WATCHDOG=1`` when ``WatchdogSec=`` is set and ``STOPPING=1``
when it leaves (``totem.node.sdnotify``).

Exit codes follow corosync where it has one: 8 for a configuration that
cannot be read, 18 when another instance holds the run directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import errno
import fcntl
import itertools
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

from totem import __version__
from totem.config import (
    ConfigError,
    CorosyncConfig,
    NodeConfig,
    effective_mcastport,
)
from totem.config.check import EXIT_CONFIG, checked_start, exit_normally
from totem.config.values import parse_listen
from totem.net.crypto import boot_epoch
from totem.node.agents import AGENT_ENTRY_POINT_GROUP, Agent, AgentSet
from totem.node.assemble import (
    Transport,
    build_net,
    build_stack,
    kernel_mtu_lookup,
    knet_reload_slot,
    make_transports,
)
from totem.node.client import DEFAULT_RUN_DIR
from totem.node.control import SOCKET_NAME, ControlConnection, ControlServer
from totem.node.cpg_api import CpgControl
from totem.node.daemon_reload import DaemonReload
from totem.node.driver import NodeDriver
from totem.node.events import NodeEvent
from totem.node.logsys import configure_logging, emit
from totem.node.operating import Operating
from totem.node.ringid_store import load_ring_seq, store_ring_seq
from totem.node.sdnotify import SystemdNotifier
from totem.node.services import load_services
from totem.node.stack import NodeStack
from totem.ringid import RingId
from totem.service import ServiceContext
from totem.services.cfg import (
    CfgCryptoReconfig,
    CfgKilled,
    CfgReloadRequested,
    CfgShutdown,
)
from totem.services.cpg import CpgService
from totem.srp.events import ConfigurationChange, LogLevel, LogRecord, RingSeqChanged
from totem.transport.base import BindError, new_event_loop

if TYPE_CHECKING:
    from totem.node.libqb import LibqbIpc

__all__ = [
    "AGENT_ENTRY_POINT_GROUP",
    "EXIT_ALREADY_RUNNING",
    "EXIT_CONFIG",
    "Agent",
    "Daemon",
    "load_agents",
    "main",
]

EXIT_ALREADY_RUNNING = 18
PID_FILE = "pycorosync.pid"
NO_IPC_ENV = "PYCOROSYNC_NO_IPC"
"""Set (not ``0``) in the environment: as ``--no-ipc`` (for programs that start daemons,
e.g. several test nodes in one network namespace)."""


def load_agents(daemon: Daemon, group: str = AGENT_ENTRY_POINT_GROUP) -> list[Agent]:
    """``factory(daemon) -> Agent | None`` of every entry point of ``group`` (once per name).

    A factory that fails is logged and skipped: an agent never stops the node.
    """
    return list(AgentSet.load(daemon, group))


def to_json(value: Any) -> Any:
    """Events and snapshots as JSON-able values (ring ids as ``"1.5"``, bytes as hex)."""
    if isinstance(value, RingId):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
        out["event"] = type(value).__name__
        return out
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "name") and hasattr(value, "value"):  # enums
        return value.name
    return value


class Daemon(DaemonReload):
    """One running node: stack, transport, driver, control socket."""

    def __init__(
        self,
        config: CorosyncConfig,
        local_node: NodeConfig,
        run_dir: str,
        state_dir: str,
        *,
        debug: bool = False,
        qdevice_cert_dir: str | None = None,
        ipc: bool = True,
        metrics: tuple[str, int] | None = None,
        notifier: SystemdNotifier | None = None,
    ) -> None:
        self.config = config
        """The configuration in effect (replaced by every accepted reload)."""
        self.local_node = local_node
        self.run_dir = run_dir
        self.state_dir = state_dir
        self.debug = debug
        """``--debug``: debug logging whatever ``logging.debug`` says."""
        self.qdevice_cert_dir = qdevice_cert_dir
        """``--qdevice-cert-dir``: the quorum device client's PEM files (agents read it)."""
        self._reload_ids = itertools.count(1)
        self._reload_replies: dict[int, asyncio.Future[Any]] = {}
        self.reloads = {"accepted": 0, "refused": 0}
        self._link_tasks: set[asyncio.Task[None]] = set()
        self.last_reload: dict[str, Any] | None = None
        self.loop = asyncio.get_running_loop()
        self._stopped: asyncio.Future[None] = self.loop.create_future()
        self._pid_handle: Any = None
        self.control = ControlServer(os.path.join(run_dir, SOCKET_NAME))
        services = load_services(
            ServiceContext(
                config, local_node, daemon=self, random_bytes=os.urandom, wall_clock=time.time
            )
        )
        # the daemon brings the randomness and time its sans-IO layers are built with
        net = build_net(
            config,
            local_node,
            salt_source=os.urandom,
            epoch=boot_epoch(time.time_ns(), int.from_bytes(os.urandom(2), "big")),
            kernel_mtu=kernel_mtu_lookup(config),
            clock_ns=time.monotonic_ns,
        )
        self.stack: NodeStack = build_stack(
            config, local_node, services, load_ring_seq(state_dir, local_node.nodeid), net=net
        )
        self.knet_reload = knet_reload_slot(net, config)
        """knet: the crypto slot in use, for crypto changes by reload."""
        self.driver = NodeDriver(self.stack, self._send, self.loop)
        self.transports: dict[int, Transport] = make_transports(
            config, local_node, self.driver.datagram_received, loop=self.loop
        )
        """One per ring (udp/udpu) or link (knet), by link number."""
        self.driver.add_listener(self._on_event)
        cpg = next((s for s in services if isinstance(s, CpgService)), None)
        self.cpg_control = (
            CpgControl(cpg, self.driver.poke, self.loop.call_soon) if cpg is not None else None
        )
        if self.cpg_control is not None:
            # deliveries go to their clients in the loop turn that delivered them
            self.driver.add_flusher(self.cpg_control.flush)
        self.agents = AgentSet.load(self)
        """The agents beside the stack (the qdevice client), started and stopped by the
        configuration (``totem.node.agents``)."""
        self.libqb: LibqbIpc | None = None
        if ipc:
            from totem.node.libqb import LibqbIpc

            self.libqb = LibqbIpc(self)
        """libqb IPC for corosync's client libraries (None with ``--no-ipc``)."""
        self.operating = Operating(
            self.stack,
            self.status,
            metrics if metrics is not None else config.system.metrics,
            notifier if notifier is not None else SystemdNotifier({}),
        )
        """``/metrics`` (``--metrics``, else ``system.metrics``) and systemd's notifications
        (inert unless started by systemd with ``Type=notify``)."""

    @property
    def transport(self) -> Transport:
        """The first ring's (link's) transport."""
        return self.transports[min(self.transports)]

    # ------------------------------------------------------------------------------------
    def _send(self, dest: int | None, data: bytes, link: int = 0) -> None:
        transport = self.transports.get(link)
        if transport is not None:
            transport.send(dest, data)

    def _on_event(self, event: NodeEvent) -> None:
        if isinstance(event, LogRecord):
            emit(event)
            return
        if isinstance(event, RingSeqChanged):
            try:
                store_ring_seq(self.state_dir, self.local_node.nodeid, event.seq)
            except OSError as err:
                emit(LogRecord(LogLevel.ERROR, "TOTEM", f"cannot store ring id: {err}"))
            return
        if self.cpg_control is not None and self.cpg_control.route(event):
            return
        self.operating.on_event(event)
        if isinstance(event, CfgShutdown) and event.local:
            self.stop()
        elif isinstance(event, CfgKilled):
            self.kill()
        elif isinstance(event, CfgReloadRequested):
            self._reload_requested(event)
        elif isinstance(event, CfgCryptoReconfig) and self.knet_reload is not None:
            for record in self.knet_reload.phase(event.phase):
                emit(record)
        message = to_json(event)
        if isinstance(event, ConfigurationChange):
            self.control.publish("membership", message)
            return
        self.control.publish(type(event).__name__, message)
        self.control.publish("events", message)

    # ------------------------------------------------------------------------------------
    def _lock_run_dir(self) -> bool:
        os.makedirs(self.run_dir, exist_ok=True)
        handle = open(os.path.join(self.run_dir, PID_FILE), "a+")  # noqa: SIM115 - held open
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._pid_handle = handle
        return True

    def _register_ops(self) -> None:
        self.control.register("status", lambda _c, _r: self.status())
        self.control.register("cfg.shutdown", self._op_shutdown)
        self.control.register("cfg.reload", self._op_reload)
        if self.cpg_control is not None:
            self.cpg_control.register(self.control)
        for service in self.stack.services:
            for op, handler in service.control_ops().items():
                self.control.register(op, self._service_op(handler))

    def _service_op(self, handler: Any) -> Any:
        def run(_connection: ControlConnection, request: dict[str, Any]) -> Any:
            try:
                return to_json(handler(request))
            finally:
                self.driver.poke()

        return run

    def _op_shutdown(self, _connection: ControlConnection, _request: dict[str, Any]) -> str:
        """``-H``: announce the shutdown to the cluster (cfg SHUTDOWN), then leave.

        The node leaves when its own announcement is delivered, or after a second
        if the ring cannot deliver it (no quorum of the network, say).
        """
        cfg = next((s for s in self.stack.services if s.service_id == 1), None)
        if cfg is not None and self.stack.synced:
            cfg.control_ops()["cfg.shutdown_cluster_notice"]({})
            self.driver.poke()
            self.loop.call_later(1.0, self.stop)
        else:
            self.loop.call_soon(self.stop)
        return "shutting down"

    def reconfigure_logging(self) -> None:
        logging = self.config.logging
        logfile = logging.logfile if logging.to_logfile else None
        try:
            configure_logging(debug=self.debug or logging.debug != "off", logfile=logfile)
        except OSError as err:
            configure_logging(debug=self.debug or logging.debug != "off")
            emit(LogRecord(LogLevel.ERROR, "MAIN", f"cannot open log file {logfile}: {err}"))

    # ------------------------------------------------------------------------------------
    def _bind_failure(self, link: int, err: OSError, node: NodeConfig | None = None) -> str:
        """Why ring ``link`` of ``node`` (this node's entry) cannot be bound, and what to
        do about it."""
        node = node or self.local_node
        if isinstance(err, BindError):
            where = f"{err.address} port {err.port}"
        else:
            where = f"{node.address(link)} port {effective_mcastport(self.config.totem, link)}"
        reason = err.strerror or str(err)
        if err.errno is not None:
            reason = f"{reason} (errno {err.errno}, {errno.errorcode.get(err.errno, '?')})"
        message = f"cannot bind {where} for ring {link} of node {node.nodeid}: {reason}"
        if err.errno == errno.EADDRINUSE:
            message += (
                "; another process uses it: is this node already running? Several nodes on "
                "one machine need one --nodeid N each (and their own --run-dir)"
            )
        elif err.errno == errno.EADDRNOTAVAIL:
            message += (
                f"; {node.address(link)} is not an address of this machine: is this machine "
                f"node {node.nodeid}? (--nodeid N picks the nodelist entry; without it the node "
                "is found by host name or address)"
            )
        return message

    def status(self) -> dict[str, Any]:
        """Everything the tools show."""
        config = self.config
        return {
            "version": __version__,
            "pid": os.getpid(),
            "cluster_name": config.totem.cluster_name,
            "transport": config.totem.transport,
            "node_id": self.local_node.nodeid,
            "netmtu": config.totem.netmtu,
            "node": to_json(self.stack.status()),
            "links": [self.transports[link].status() for link in sorted(self.transports)],
            "rrp_mode": config.totem.rrp_mode,
            "crypto": {"cipher": config.totem.crypto_cipher, "hash": config.totem.crypto_hash},
            "nodelist": [
                {
                    "node_id": n.nodeid,
                    "name": n.name,
                    "addresses": list(n.addresses),
                    "links": {str(link): addr for link, addr in n.link_addresses.items()},
                }
                for n in config.nodes
            ],
            "timers": to_json(config.timers),
            "loop_lag_max_ms": round(self.driver.loop_lag_max * 1000, 3),
            "config_warnings": list(config.warnings),
            "config_file": config.path,
            "reloads": {**self.reloads, "last": self.last_reload},
            "control_bad_requests": self.control.bad_requests,
            "control_connections": len(self.control.connections),
            "ipc": None if self.libqb is None else self.libqb.status(),
            "agents": self.agents.status(),
            "metrics": self.operating.status(),
        }

    # ------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Leave the ring gracefully and stop."""
        if not self._stopped.done():
            self._stopped.set_result(None)

    def kill(self) -> None:
        """Exit at once without a LEAVE, as corosync does when another node kills it."""
        emit(LogRecord(LogLevel.NOTICE, "MAIN", "Corosync Cluster Engine exiting with status 0"))
        os._exit(0)

    async def run(self) -> int:
        if not self._lock_run_dir():
            emit(
                LogRecord(
                    LogLevel.ERROR,
                    "MAIN",
                    f"Another pycorosync instance is already running in {self.run_dir}.",
                )
            )
            return EXIT_ALREADY_RUNNING
        if self.libqb is not None:
            try:
                self.libqb.start()
            except OSError as err:
                emit(LogRecord(LogLevel.ERROR, "MAIN", f"Can't initialize IPC: {err}"))
                return EXIT_ALREADY_RUNNING
        opened: list[Transport] = []
        for link, transport in sorted(self.transports.items()):
            try:
                await transport.open()
            except OSError as err:
                emit(LogRecord(LogLevel.ERROR, "TOTEM", self._bind_failure(link, err)))
                for done in opened:
                    done.close()
                if self.libqb is not None:
                    self.libqb.stop()
                return 1
            opened.append(transport)
        await self.control.start()
        if not await self.operating.start():
            await self.control.stop()
            for done in opened:
                done.close()
            if self.libqb is not None:
                self.libqb.stop()
            return 1
        self._register_ops()
        await self.agents.start()
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(signum, self.stop)
        emit(
            LogRecord(
                LogLevel.NOTICE,
                "MAIN",
                f"Corosync Cluster Engine ('pycorosync {__version__}'): started and ready "
                "to provide service.",
            )
        )
        totem = self.config.totem
        name = "Kronosnet" if totem.transport == "knet" else totem.transport
        for link in self.config.links:
            emit(
                LogRecord(
                    LogLevel.NOTICE,
                    "TOTEM",
                    f"Initializing transport ({name}) on "
                    f"{self.local_node.address(link)} (link {link}), "
                    f"node id {self.local_node.nodeid}, token {self.config.timers.token} ms, "
                    f"consensus {self.config.timers.consensus} ms",
                )
            )
        if totem.rrp_mode == "passive":
            emit(LogRecord(LogLevel.NOTICE, "TOTEM", "RRP mode set to passive."))
        if totem.transport == "knet":
            if totem.crypto_enabled:
                emit(
                    LogRecord(
                        LogLevel.NOTICE,
                        "TOTEM",
                        f"Configuring crypto {totem.crypto_model}/{totem.crypto_cipher}/"
                        f"{totem.crypto_hash} on index 1",
                    )
                )
        elif totem.crypto_enabled:
            emit(
                LogRecord(
                    LogLevel.NOTICE,
                    "TOTEM",
                    f"Initializing transmit/receive security: cipher {totem.crypto_cipher}, "
                    f"hash {totem.crypto_hash} (pycorosync framing; real corosync nodes "
                    "cannot join this ring)",
                )
            )
        self.driver.start()
        self.driver.watch_scheduling(lambda: self.config.timers.token)
        if self.libqb is not None:
            self.libqb.ready()
        self.operating.running(self.loop)
        try:
            await self._stopped
        finally:
            emit(LogRecord(LogLevel.NOTICE, "MAIN", "Node was shut down by a signal"))
            await self.operating.stop()
            await self.agents.stop()
            if self.libqb is not None:
                self.libqb.stop()
            self.driver.leave()
            await asyncio.sleep(0.01)  # let the LEAVE datagrams go out
            await self.control.stop()
            for transport in self.transports.values():
                transport.close()
            emit(LogRecord(LogLevel.NOTICE, "MAIN", "Corosync Cluster Engine exiting normally"))
            if self._pid_handle is not None:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.run_dir, PID_FILE))
                self._pid_handle.close()
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pycorosync", description="A pure-Python corosync node (Totem over knet, udp, udpu)."
    )
    parser.add_argument(
        "-f",
        "--foreground",
        action="store_true",
        help="run in the foreground: the only mode (accepted as corosync accepts it; use systemd)",
    )
    parser.add_argument("-c", "--config", default="/etc/corosync/corosync.conf")
    parser.add_argument("--run-dir", default=DEFAULT_RUN_DIR, help="control socket and pid file")
    parser.add_argument("--state-dir", help="ring id files (default: system.state_dir)")
    parser.add_argument("--nodeid", type=int, help="which nodelist entry this daemon is")
    parser.add_argument(
        "--qdevice-cert-dir",
        metavar="DIR",
        help="TLS files of the quorum device client: ca.crt, cluster.crt, cluster.key "
        "(default $PYCOROSYNC_QDEVICE_CERT_DIR, else /etc/corosync/qdevice/net; "
        "pycorosync-qnetd-certutil --setup writes them)",
    )
    parser.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (':PORT': every address; "
        "default: system.metrics of corosync.conf, else none)",
    )
    parser.add_argument("-d", "--debug", action="store_true", help="log debug messages")
    parser.add_argument("-t", "--test", action="store_true", help="check the config and exit")
    parser.add_argument(
        "--no-ipc",
        action="store_true",
        help="serve no libqb IPC (corosync's client libraries); for several nodes sharing "
        f"one network namespace (also: {NO_IPC_ENV}=1 in the environment)",
    )
    parser.add_argument("-v", "--version", action="version", version=__version__)
    return parser


def _pick_state_dir(args: argparse.Namespace, config: CorosyncConfig) -> str:
    if args.state_dir:
        os.makedirs(args.state_dir, exist_ok=True)
        return str(args.state_dir)
    state_dir = config.system.state_dir
    try:
        os.makedirs(state_dir, exist_ok=True)
        if os.access(state_dir, os.W_OK):
            return state_dir
    except OSError:
        pass
    os.makedirs(args.run_dir, exist_ok=True)
    return str(args.run_dir)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    metrics: tuple[str, int] | None = None
    if args.metrics is not None:
        try:
            metrics = parse_listen(args.metrics)
        except ValueError as err:
            parser.error(f"--metrics: {err}")
    notifier = SystemdNotifier()  # reads and unsets NOTIFY_SOCKET before anything else runs
    checked = checked_start(args.config, args.nodeid, debug=args.debug)
    if checked is None:
        return EXIT_CONFIG
    if args.test:
        return exit_normally()
    config, local_node = checked.config, checked.local_node
    state_dir = _pick_state_dir(args, config)
    loop = new_event_loop()
    asyncio.set_event_loop(loop)

    async def run() -> int:
        try:
            daemon = Daemon(
                config,
                local_node,
                args.run_dir,
                state_dir,
                debug=args.debug,
                qdevice_cert_dir=args.qdevice_cert_dir,
                ipc=not (args.no_ipc or os.environ.get(NO_IPC_ENV, "0") not in ("", "0")),
                metrics=metrics,
                notifier=notifier,
            )
        except ConfigError as err:
            print(f"pycorosync: {err}", file=sys.stderr)
            return EXIT_CONFIG
        return await daemon.run()

    try:
        return loop.run_until_complete(run())
    finally:
        loop.close()


if __name__ == "__main__":
    sys.exit(main())
