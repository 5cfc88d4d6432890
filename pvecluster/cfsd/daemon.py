"""``pycorosync-cfsd``: the pmxcfs of a node (ref cluster-manager.md 4, 5.3).

    pycorosync-cfsd --root R --name NAME --ip IP [-f] [-l] [--api-port 8006] [--no-fuse]
                    [--auth password|pam [--pam-service S] [--pam-confdir DIR]]
                    [--metrics HOST:PORT]
    pycorosync-cfsd --root R --set-password-file F

Start-up, as pmxcfs: open (or create) ``R/var/lib/pve-cluster/config.db``; a new database
imports ``R/etc/corosync/corosync.conf`` unless ``-l``. With a ``corosync.conf`` in the
database and no ``-l`` the node runs in **cluster mode**: the replicated corosync.conf is
written to the local file (propagation rules), the engine is started
(:mod:`pvecluster.cfsd.engine`) and the filesystem joins the process group ``pve_dcdb_v1``
(:mod:`pvecluster.cfsd.group`). Otherwise it runs in **local mode** (quorate, no engine):
``forcing local mode (although corosync.conf exists)`` with ``-l``, ``using local mode
(corosync.conf does not exist)`` without a cluster.

It serves ``R/run/cfsd.sock`` (:mod:`pvecluster.cfsd.ops`), the HTTPS join API on
``IP:--api-port`` (:mod:`pvecluster.api.server`) and, where ``/dev/fuse`` exists and pyfuse3
is installed, the filesystem at ``R/etc/pve`` (:mod:`pvecluster.cfsd.fuse`). SIGTERM stops
the engine and the daemon. An engine that dies is restarted with a growing delay (one that
exits with status 0, such as one killed by ``pvecm delnode``, stays down).

``--metrics HOST:PORT`` serves Prometheus metrics: the filesystem's and its engine's
(:mod:`pvecluster.cfsd.metrics`). Under systemd (``Type=notify``) it sends ``READY=1`` once
it serves (socket, API, filesystem), ``STATUS=`` with its mode, quorum, sync and engine,
``WATCHDOG=1`` when ``WatchdogSec=`` is set and ``STOPPING=1``; the engine it starts is not
given systemd's socket (:mod:`totem.node.sdnotify`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import sys
import time
from typing import Any

from pvecluster.api.auth import write_password
from pvecluster.api.tls import ensure_certificate
from pvecluster.cfs.database import SqliteBackend, backup_database
from pvecluster.cfs.dcdb import CorosyncConfUpdated, TreeUpdated
from pvecluster.cfs.dfsm import Mode, ModeChanged
from pvecluster.cfs.memdb import LOCK_TIMEOUT, DbLoadError, MemDb
from pvecluster.cfs.node import DEFAULT_VERIFY_INTERVAL, CfsNode, FsOp, OpDone
from pvecluster.cfs.wire import DcdbOp
from pvecluster.cfsd.engine import EngineError, EngineSupervisor
from pvecluster.cfsd.group import GroupDriver
from pvecluster.cfsd.host import log_line
from pvecluster.corosync.conf import ConfError, parse_conf
from pvecluster.corosync.propagate import plan_sync
from pvecluster.paths import QDEVICE_CERT_TREE, NodeRoot
from totem.config.values import parse_listen
from totem.node.async_client import AsyncControlClient
from totem.node.sdnotify import SystemdNotifier
from totem.srp.events import LogLevel, LogRecord

__all__ = ["CfsDaemon", "main"]

EXIT_ALREADY_RUNNING = 18
RELOAD_DELAY = 1.0
ENGINE_RESTART_MIN = 1.0
ENGINE_RESTART_MAX = 60.0
ENGINE_STABLE = 60.0
"""Seconds an engine must run before a crash restarts it after the shortest delay again."""
"""Seconds the originator waits before the cluster-wide reload (pmxcfs's heuristic)."""


def atomic_write(path: str, data: bytes, mode: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class CfsDaemon:
    """One node's filesystem daemon."""

    def __init__(
        self,
        root: NodeRoot,
        name: str,
        ip: str,
        *,
        force_local: bool = False,
        verify_interval: float = DEFAULT_VERIFY_INTERVAL,
        api_port: int = 8006,
        fuse: bool = True,
        manage_engine: bool = True,
        auth: str = "password",
        pam_service: str = "proxmox-ve-auth",
        pam_confdir: str | None = None,
        lock_expiry: float = LOCK_TIMEOUT,
        metrics: tuple[str, int] | None = None,
        notifier: SystemdNotifier | None = None,
    ) -> None:
        self.root = root
        self.name = name
        self.ip = ip
        self.force_local = force_local
        self.verify_interval = verify_interval
        self.api_port = api_port
        self.want_fuse = fuse
        self.manage_engine = manage_engine
        self.auth = auth
        """How the join API checks root's password: ``password`` (the scrypt file) or ``pam``."""
        self.pam_service = pam_service
        self.pam_confdir = pam_confdir
        self.engine_restarts = 0
        self.lock_expiry = lock_expiry
        self.loop = asyncio.get_running_loop()
        self.memdb: MemDb | None = None
        self.backend: SqliteBackend | None = None
        self.node: CfsNode | None = None
        self.group: GroupDriver | None = None
        self.engine = EngineSupervisor(root, name)
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._effects: asyncio.Queue[object] = asyncio.Queue()
        self._stopped: asyncio.Future[None] = self.loop.create_future()
        self.reloads_triggered = 0
        self.api: Any = None
        self.fuse: Any = None
        self.control: Any = None
        self._effects_task: asyncio.Task[None] | None = None
        self._engine_watch: asyncio.Task[None] | None = None
        self._lock_handle: Any = None
        self.metrics_address = metrics
        self.metrics: Any = None
        self.notifier = notifier if notifier is not None else SystemdNotifier({})
        self.exit_status = 0
        self._status_timer: asyncio.TimerHandle | None = None

    def log(self, level: LogLevel, message: str, subsys: str = "main") -> None:
        log_line(LogRecord(level, subsys, message))

    # ------------------------------------------------------------------ database
    def open_database(self) -> None:
        root = self.root
        created = not os.path.exists(root.db)
        self.backend = SqliteBackend(root.db)
        self.memdb = MemDb(self.backend, now=time.time())
        self.memdb.lock_timeout = self.lock_expiry
        if created and not self.force_local and os.path.exists(root.corosync_conf):
            with open(root.corosync_conf, "rb") as handle:
                data = handle.read()
            mtime = int(time.time())
            self.memdb.create("corosync.conf", 0, mtime)
            self.memdb.write("corosync.conf", 0, mtime, data, 0, truncate=True)
            self.log(LogLevel.NOTICE, f"imported {root.corosync_conf} into the new database")

    def close_database(self) -> None:
        if self.backend is not None:
            self.backend.close()
        self.backend = None

    # ------------------------------------------------------------------ modes
    def has_cluster_conf(self) -> bool:
        assert self.memdb is not None
        entry = self.memdb.lookup("corosync.conf")
        return entry is not None and not entry.is_dir

    async def enter_mode(self) -> None:
        """Local or cluster mode, from the database (pmxcfs's start-up decision)."""
        memdb = self.memdb
        assert memdb is not None
        cluster = self.has_cluster_conf()
        if self.force_local:
            if cluster:
                self.log(LogLevel.NOTICE, "forcing local mode (although corosync.conf exists)")
            else:
                self.log(LogLevel.NOTICE, "using local mode (corosync.conf does not exist)")
        elif not cluster:
            self.log(LogLevel.NOTICE, "using local mode (corosync.conf does not exist)")
        local = self.force_local or not cluster
        self.node = CfsNode(
            memdb,
            0,
            os.getpid(),
            local_mode=local,
            verify_interval=self.verify_interval,
            watched=(QDEVICE_CERT_TREE,),
        )
        if local:
            return
        entry = memdb.lookup("corosync.conf")
        assert entry is not None
        self._sync_corosync_conf(CorosyncConfUpdated(entry.data, False))
        if self.manage_engine:
            try:
                nodeid = await self.engine.start()
            except EngineError as err:
                self.log(LogLevel.ERROR, f"unable to start the engine: {err}")
            else:
                self.log(LogLevel.NOTICE, f"started the engine as node {nodeid}")
                self._engine_watch = self.loop.create_task(self._watch_engine())
        self.group = GroupDriver(self.node, self.root.run_dir, self._after_input, log_line)
        self.group.start()

    async def leave_mode(self) -> None:
        if self.group is not None:
            await self.group.stop()
            self.group = None
        if self._engine_watch is not None:
            self._engine_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._engine_watch
            self._engine_watch = None
        await self.engine.stop()
        self._fail_pending()

    async def _watch_engine(self) -> None:
        """Supervise the engine as systemd's ``Restart=on-failure`` would: an engine that
        dies (a signal, a non-zero status) is started again after a delay that doubles from
        :data:`ENGINE_RESTART_MIN` to :data:`ENGINE_RESTART_MAX` seconds (back to the
        minimum once it ran :data:`ENGINE_STABLE` seconds); one that exits with status 0 (a
        shutdown, or killed by another node's ``cfg.kill_node``, ``pvecm delnode``) stays
        down. The filesystem reconnects to the new engine by itself."""
        delay = ENGINE_RESTART_MIN
        while True:
            started = time.monotonic()
            status = await self.engine.wait()
            if status == 0:
                self.log(LogLevel.NOTICE, "the engine exited with status 0; not restarting it")
                return
            if time.monotonic() - started >= ENGINE_STABLE:
                delay = ENGINE_RESTART_MIN
            while True:
                self.log(
                    LogLevel.WARNING,
                    f"the engine exited with status {status}; restarting it in {delay:g} s",
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, ENGINE_RESTART_MAX)
                try:
                    nodeid = await self.engine.start()
                except EngineError as err:
                    self.log(LogLevel.ERROR, f"unable to restart the engine: {err}")
                    status = -1
                    continue
                break
            self.engine_restarts += 1
            self.log(LogLevel.NOTICE, f"restarted the engine as node {nodeid}")

    async def restart(self) -> str:
        """``systemctl restart corosync pve-cluster``: re-decide the mode and start again."""
        await self.leave_mode()
        await self.enter_mode()
        assert self.node is not None
        return "local" if self.node.local_mode else "cluster"

    async def reset_database(self) -> str:
        """``finish_join``: stop, back the database up, delete it, start from the local
        corosync.conf (a new database imports it; the cluster's tree replaces the rest)."""
        await self.leave_mode()
        self.close_database()
        root = self.root
        try:
            backup = backup_database(root.db, time.time())
        except Exception as err:
            backup = ""
            self.log(LogLevel.ERROR, f"failed to create backup of pre-join config database - {err}")
            os.replace(root.db, f"{root.db}.{int(time.time())}.bak")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(root.db + suffix)
        force_local, self.force_local = self.force_local, False
        try:
            self.open_database()
        finally:
            self.force_local = force_local
        await self.enter_mode()
        return backup

    # ------------------------------------------------------------------ core I/O
    def _after_input(self) -> None:
        node = self.node
        if node is None:
            return
        for event in node.events():
            self._effects.put_nowait(event)

    async def _effects_loop(self) -> None:
        """Side effects of the core's events, one after another, in order."""
        while True:
            event = await self._effects.get()
            try:
                if isinstance(event, OpDone):
                    future = self._pending.pop(event.count, None)
                    if future is not None and not future.done():
                        future.set_result(event.result)
                elif isinstance(event, CorosyncConfUpdated):
                    if self._sync_corosync_conf(event):
                        await asyncio.sleep(RELOAD_DELAY)
                        await self._reload_cluster()
                    elif event.after_sync and await self._engine_nodelist_is_stale(event.data):
                        self.log(
                            LogLevel.NOTICE,
                            "the engine runs another nodelist than the cluster's corosync.conf",
                        )
                        await self._reload_cluster()
                elif isinstance(event, TreeUpdated):
                    self._mirror_tree(event)
                elif isinstance(event, ModeChanged):
                    if event.mode in (Mode.ERROR, Mode.VERSION_ERROR):
                        self._fail_pending()
                elif isinstance(event, LogRecord):
                    log_line(event)
            except Exception as err:  # a side effect must never stop the daemon
                self.log(LogLevel.ERROR, f"internal error handling {event!r}: {err!r}")

    def _sync_corosync_conf(self, event: CorosyncConfUpdated) -> bool:
        """Apply the propagation rules to the local file; True: reload the cluster now."""
        path = self.root.corosync_conf
        try:
            with open(path, "rb") as handle:
                old: bytes | None = handle.read()
        except FileNotFoundError:
            old = None
        except OSError as err:
            self.log(LogLevel.ERROR, f"unable to read cluster config file '{path}' - {err}")
            old = None
        plan = plan_sync(event.data, old, event.notify, path)
        if plan.write:
            try:
                atomic_write(path, event.data, 0o644)
            except OSError as err:
                self.log(LogLevel.ERROR, f"unable to write '{path}' - {err}")
                return False
        if plan.message is not None and plan.level is not None:
            self.log(plan.level, plan.message)
        return plan.write and plan.reload

    async def _engine_nodelist_is_stale(self, data: bytes) -> bool:
        """After a sync wrote the cluster's corosync.conf here: does the running engine still
        have another nodelist? (A joiner whose engine started from the file its join got,
        while another join changed the cluster: its ring could never form with the others.)
        pmxcfs never reloads after a sync; a changed nodelist is the one case where we do:
        other changes (timers, versions) follow at the next cluster-wide reload, as there."""
        if not self.engine.running or data != self._local_conf():
            return False
        try:
            wanted = {
                (int(entry.get("nodeid", 0)), str(entry.get("ring0_addr")))
                for entry in parse_conf(data).nodelist.values()
            }
        except (ConfError, ValueError):
            return False
        try:
            client = await AsyncControlClient(self.root.run_dir).connect()
            try:
                status = await asyncio.wait_for(client.call("status"), 10)
            finally:
                await client.close()
        except Exception:
            return False
        running = {
            (int(node["node_id"]), str((node.get("addresses") or [None])[0]))
            for node in status.get("nodelist", [])
        }
        return running != wanted

    def _local_conf(self) -> bytes | None:
        try:
            with open(self.root.corosync_conf, "rb") as handle:
                return handle.read()
        except OSError:
            return None

    def _mirror_tree(self, event: TreeUpdated) -> None:
        """Keep ``R/etc/corosync/qdevice/net`` equal to the replicated certificates (Proxmox
        imports them on every node; ``qdevice remove`` deletes the local directory)."""
        if event.prefix != QDEVICE_CERT_TREE:
            return
        root = self.root
        if event.files is None:
            if os.path.isdir(root.qdevice_dir):
                shutil.rmtree(root.qdevice_dir, ignore_errors=True)
                self.log(LogLevel.NOTICE, f"removed '{root.qdevice_dir}'", "qdevice")
            return
        target = root.qdevice_cert_dir
        os.makedirs(target, mode=0o700, exist_ok=True)
        names = set()
        for name, data in event.files:
            if "/" in name or name.startswith("."):
                continue  # only the flat PEM files the client reads
            names.add(name)
            try:
                atomic_write(
                    os.path.join(target, name), data, 0o600 if name.endswith(".key") else 0o644
                )
            except OSError as err:
                self.log(LogLevel.ERROR, f"unable to write '{target}/{name}' - {err}", "qdevice")
        for name in os.listdir(target):
            if name not in names and not name.startswith("."):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(target, name))
        listed = ", ".join(sorted(names)) or "nothing"
        self.log(LogLevel.NOTICE, f"updated '{target}' ({listed})", "qdevice")

    async def _reload_cluster(self) -> None:
        """``corosync-cfgtool -R``: every node of the cluster reloads its corosync.conf."""
        self.reloads_triggered += 1
        self.log(LogLevel.NOTICE, "run corosync-cfgtool -R")
        try:
            client = await AsyncControlClient(self.root.run_dir).connect()
            try:
                await asyncio.wait_for(client.call("cfg.reload"), 90)
            finally:
                await client.close()
        except Exception as err:
            self.log(LogLevel.ERROR, f"corosync-cfgtool -R failed: {err}")

    def _fail_pending(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_result(-16)  # EBUSY: never applied
        self._pending.clear()

    async def submit(self, op: FsOp) -> int:
        """Run one file operation; its result (>= 0) or ``-errno``."""
        node = self.node
        if node is None:
            return -5
        outcome = node.submit(op, time.time())
        if isinstance(outcome, OpDone):
            if node.local_mode:
                self._after_input()
            return outcome.result
        future: asyncio.Future[int] = self.loop.create_future()
        self._pending[outcome] = future
        if self.group is not None:
            self.group.flush()
        return await future

    async def write_file(self, path: str, data: bytes) -> int:
        """Whole-file write: CREATE when missing, then WRITE with truncation."""
        assert self.memdb is not None
        if self.memdb.lookup(path) is None:
            result = await self.submit(FsOp(DcdbOp.CREATE, path))
            if result < 0 and result != -17:
                return result
        return await self.submit(FsOp(DcdbOp.WRITE, path, data=data, flags=1))

    # ------------------------------------------------------------------ views
    def members(self) -> dict[str, Any]:
        """``.members``: this node, the cluster and every configured node's state."""
        memdb = self.memdb
        node = self.node
        assert memdb is not None and node is not None
        entry = memdb.lookup("corosync.conf")
        result: dict[str, Any] = {"nodename": self.name, "version": memdb.root.version}
        if entry is None or entry.is_dir:
            return result
        try:
            conf = parse_conf(entry.data)
        except ConfError:
            return result
        online_ids = {nodeid for nodeid, _pid in (self.group.members if self.group else [])}
        nodelist = {}
        for name, item in conf.nodelist.items():
            try:
                nodeid = int(item.get("nodeid", 0))
            except ValueError:
                nodeid = 0
            online = name == self.name if node.local_mode else nodeid in online_ids
            nodelist[name] = {"id": nodeid, "online": online, "ip": item.get("ring0_addr")}
        result["cluster"] = {
            "name": conf.totem.get("cluster_name"),
            "version": conf.version(),
            "nodes": len(nodelist),
            "quorate": node.quorate,
        }
        result["nodelist"] = nodelist
        return result

    def status(self) -> dict[str, Any]:
        node = self.node
        assert node is not None and self.memdb is not None
        return {
            "name": self.name,
            "ip": self.ip,
            "pid": os.getpid(),
            "local_mode": node.local_mode,
            "quorate": node.quorate,
            "synced": node.synced,
            "dfsm": node.dfsm.status(),
            "leader": list(node.dcdb.leader) if node.dcdb.leader else None,
            "version": self.memdb.root.version,
            "engine_running": self.engine.running,
            "engine_nodeid": self.engine.nodeid,
            "engine_restarts": self.engine_restarts,
            "engine_pid": self.engine.process.pid
            if self.engine.running and self.engine.process
            else None,
            "reloads_triggered": self.reloads_triggered,
            "refused_inquorate": node.refused_inquorate,
            "send_queue": self.group.send_queue_length if self.group is not None else 0,
            "group": dict(self.group.counters) if self.group is not None else None,
            "fuse": self.fuse is not None and getattr(self.fuse, "mounted", False),
            "api_port": self.api_port,
        }

    # ------------------------------------------------------------------ operating
    def status_line(self) -> str:
        """One line for ``systemctl status`` (systemd's ``STATUS=``)."""
        node = self.node
        if node is None:
            return "Starting"
        if node.local_mode:
            return "Local mode"
        engine = (
            f"engine running as node {self.engine.nodeid}"
            if self.engine.running
            else "engine not running"
        )
        quorate = "quorate" if node.quorate else "not quorate"
        synced = "synced" if node.synced else "synchronising"
        return f"Cluster mode, {quorate}, {synced}, {engine}"

    def _refresh_status(self) -> None:
        self.notifier.status(self.status_line())
        self._status_timer = self.loop.call_later(1.0, self._refresh_status)

    async def _start_metrics(self) -> bool:
        if self.metrics_address is None:
            return True
        from pvecluster.cfsd.metrics import CfsCollector, EngineStatus
        from totem.node.metrics_http import MetricsServer, new_registry

        engine = EngineStatus(self.root.run_dir)
        host, port = self.metrics_address
        self.metrics = MetricsServer(
            lambda: new_registry(CfsCollector(self, engine)),
            host,
            port,
            before_scrape=engine.refresh,
        )
        try:
            await self.metrics.start()
        except OSError as err:
            reason = os.strerror(err.errno) if err.errno else str(err)
            self.log(LogLevel.ERROR, f"cannot serve metrics on {host or '*'}:{port}: {reason}")
            self.metrics = None
            return False
        where = self.metrics.address
        self.log(LogLevel.NOTICE, f"serving metrics on http://{where[0]}:{where[1]}/metrics")
        return True

    # ------------------------------------------------------------------ run
    def _lock(self) -> bool:
        os.makedirs(self.root.run_dir, exist_ok=True)
        handle = open(self.root.pid_file, "a+")  # noqa: SIM115 - held open
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_handle = handle
        return True

    def stop(self) -> None:
        if not self._stopped.done():
            self._stopped.set_result(None)

    async def run(self) -> int:
        from pvecluster.api.server import ApiServer
        from pvecluster.cfsd.ops import ControlOps

        if not self._lock():
            self.log(LogLevel.ERROR, "unable to acquire pmxcfs lock - another instance is running")
            return EXIT_ALREADY_RUNNING
        try:
            self.open_database()
        except DbLoadError as err:
            self.log(LogLevel.ERROR, f"{err}")
            self.log(LogLevel.ERROR, f"DB load failed: {self.root.db} (move it away to start over)")
            return 1
        ensure_certificate(self.root.api_cert, self.root.api_key, self.name, self.ip)
        self._effects_task = self.loop.create_task(self._effects_loop())
        self.control = ControlOps(self)
        await self.control.start()
        await self.enter_mode()
        self.api = ApiServer(self)
        try:
            await self.api.start()
        except OSError as err:
            self.log(LogLevel.ERROR, f"cannot serve the API on {self.ip}:{self.api_port}: {err}")
            self.api = None
        if self.want_fuse:
            from pvecluster.cfsd.fuse import start_fuse

            self.fuse = await start_fuse(self)
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(signum, self.stop)
        if await self._start_metrics():
            self.log(LogLevel.NOTICE, f"pycorosync-cfsd started on {self.root.root} as {self.name}")
            self.notifier.ready(self.status_line())
            self.notifier.start_watchdog(self.loop)
            if self.notifier.enabled:
                self._refresh_status()
        else:
            self.exit_status = 1
            self.stop()
        try:
            await self._stopped
        finally:
            if self._status_timer is not None:
                self._status_timer.cancel()
            self.notifier.stopping("Stopping")
            if self.metrics is not None:
                await self.metrics.stop()
            self.log(LogLevel.NOTICE, "teardown filesystem")
            if self.fuse is not None:
                await self.fuse.stop()
            if self.api is not None:
                await self.api.stop()
            await self.leave_mode()
            await self.control.stop()
            if self._effects_task is not None:
                self._effects_task.cancel()
            self.close_database()
            self.log(LogLevel.NOTICE, f"exit proxmox configuration filesystem ({self.exit_status})")
        return self.exit_status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pycorosync-cfsd", description="The replicated configuration filesystem of a node."
    )
    parser.add_argument("--root", default="/", help="the node root (default /)")
    parser.add_argument("--name", help="this node's name (default: the host name)")
    parser.add_argument("--ip", help="this node's address (default: the host name's address)")
    parser.add_argument("-f", "--foreground", action="store_true", help="do not daemonize")
    parser.add_argument(
        "-l", "--local", action="store_true", help="force local mode (ignore corosync.conf)"
    )
    parser.add_argument("-d", "--debug", action="store_true", help="debug messages")
    parser.add_argument("--api-port", type=int, default=8006, help="HTTPS port (default 8006)")
    parser.add_argument("--no-fuse", action="store_true", help="do not mount R/etc/pve")
    parser.add_argument(
        "--auth",
        choices=["password", "pam"],
        default="password",
        help="join API logins: the password file (default) or the system's PAM",
    )
    parser.add_argument(
        "--pam-service", default="proxmox-ve-auth", help="PAM service (default proxmox-ve-auth)"
    )
    parser.add_argument(
        "--pam-confdir", help="read the PAM service file from this directory (tests, containers)"
    )
    parser.add_argument(
        "--verify-interval",
        type=float,
        default=DEFAULT_VERIFY_INTERVAL,
        help="seconds between checksum verifications (default 3600)",
    )
    parser.add_argument(
        "--lock-expiry",
        type=float,
        default=LOCK_TIMEOUT,
        help=f"seconds after which a cluster lock expires (default {LOCK_TIMEOUT}; tests)",
    )
    parser.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve Prometheus metrics (the filesystem's and its engine's) at "
        "http://HOST:PORT/metrics",
    )
    parser.add_argument(
        "--set-password-file",
        metavar="F",
        help="set the root password of the join API from the first line of F, then exit",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    metrics: tuple[str, int] | None = None
    if args.metrics is not None:
        try:
            metrics = parse_listen(args.metrics)
        except ValueError as err:
            parser.error(f"--metrics: {err}")
    notifier = SystemdNotifier()  # the engine started below must not inherit the socket
    root = NodeRoot(os.path.abspath(args.root))
    if args.set_password_file:
        try:
            with open(args.set_password_file, encoding="utf-8") as handle:
                password = handle.readline().rstrip("\n")
        except OSError as err:
            print(f"pycorosync-cfsd: {args.set_password_file}: {err.strerror}", file=sys.stderr)
            return 1
        if not password:
            print("pycorosync-cfsd: the password must not be empty", file=sys.stderr)
            return 1
        write_password(root.passwd, password)
        return 0
    import socket

    name = args.name or socket.gethostname().split(".")[0]
    ip = args.ip
    if ip is None:
        try:
            ip = socket.gethostbyname(name)
        except OSError:
            print(f"pycorosync-cfsd: cannot resolve {name}; pass --ip", file=sys.stderr)
            return 1

    async def run() -> int:
        daemon = CfsDaemon(
            root,
            name,
            ip,
            force_local=args.local,
            verify_interval=args.verify_interval,
            api_port=args.api_port,
            fuse=not args.no_fuse,
            auth=args.auth,
            pam_service=args.pam_service,
            pam_confdir=args.pam_confdir,
            lock_expiry=args.lock_expiry,
            metrics=metrics,
            notifier=notifier,
        )
        return await daemon.run()

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
