"""The node daemon's side of a configuration reload (``pycorosync-cfgtool -R``).

A cfg RELOAD_CONFIG from any node makes every node re-read its corosync.conf; the plan of
what changes, and its application to the sans-IO stack, is :mod:`totem.node.reload`.
What is the daemon's: answering the control socket's ``cfg.reload`` once this node's own
request is delivered (corosync answers the library so), cmap's ``config.reload_in_progress``
around it, binding the sockets of knet links the file adds (before anything changes, so a
link that cannot be bound refuses the reload), closing those it removes, new member lists
for the transports, knet crypto changes, logging, and the agents (the qdevice client
follows ``quorum.device``). :class:`DaemonReload` is that part of
:class:`~totem.node.daemon.Daemon`; :class:`_Daemon` is what it uses of the rest.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any, Protocol

from totem.config import ConfigError, CorosyncConfig, NodeConfig, load, read_authkey
from totem.config.resolve import system_lookup
from totem.ipc.wire import CsError
from totem.node.agents import AgentSet
from totem.node.assemble import Transport, kernel_mtu_lookup, make_knet_socket
from totem.node.control import ControlConnection, ControlError
from totem.node.driver import NodeDriver
from totem.node.logsys import emit
from totem.node.stack import NodeStack
from totem.services.cfg import CfgReloadRequested, CfgService
from totem.services.cmap import CmapService
from totem.srp.events import LogLevel, LogRecord
from totem.transport.udpu import UdpuTransport

if TYPE_CHECKING:
    from totem.knet.reload import KnetReload
    from totem.node.reload import ReloadPlan
    from totem.transport.knet import KnetLinkSocket

__all__ = ["RELOAD_REPLY_TIMEOUT", "DaemonReload"]

RELOAD_REPLY_TIMEOUT = 60.0
"""Seconds a ``cfg.reload`` request waits for its RELOAD_CONFIG to be delivered."""


class _Daemon(Protocol):
    """The node daemon as its reload part uses it."""

    config: CorosyncConfig
    local_node: NodeConfig
    stack: NodeStack
    driver: NodeDriver
    loop: asyncio.AbstractEventLoop
    transports: dict[int, Transport]
    knet_reload: KnetReload | None
    agents: AgentSet
    reloads: dict[str, int]
    last_reload: dict[str, Any] | None
    _reload_ids: itertools.count[int]
    _reload_replies: dict[int, asyncio.Future[Any]]
    _link_tasks: set[asyncio.Task[None]]

    def reload_config(self) -> dict[str, Any]: ...
    def reconfigure_logging(self) -> None: ...
    def _cmap(self) -> CmapService | None: ...
    def _bind_added_links(self, plan: ReloadPlan) -> dict[int, KnetLinkSocket]: ...
    def _reconfigure_transports(
        self, plan: ReloadPlan, added_links: dict[int, KnetLinkSocket] | None = None
    ) -> None: ...
    async def _open_added_link(self, link: int, sock: KnetLinkSocket) -> None: ...
    def _bind_failure(self, link: int, err: OSError, node: NodeConfig | None = None) -> str: ...


class DaemonReload:
    """Configuration reloads of :class:`~totem.node.daemon.Daemon`."""

    config: CorosyncConfig
    """The configuration in effect (replaced by every accepted reload)."""
    local_node: NodeConfig
    last_reload: dict[str, Any] | None

    def _op_reload(
        self: _Daemon, _connection: ControlConnection, _request: dict[str, Any]
    ) -> asyncio.Future[Any]:
        """``-R``: ask every node to reload (cfg RELOAD_CONFIG); answer with this node's
        outcome once its own request is delivered, as corosync answers the library."""
        cfg = next((s for s in self.stack.services if isinstance(s, CfgService)), None)
        if cfg is None:
            raise ControlError("the cfg service is not running")
        conn = next(self._reload_ids)
        reply: asyncio.Future[Any] = self.loop.create_future()
        self._reload_replies[conn] = reply
        cfg.request_reload(conn)
        self.driver.poke()

        def expire() -> None:
            if self._reload_replies.pop(conn, None) is not None and not reply.done():
                reply.set_exception(
                    ControlError(
                        f"CS_ERR_TRY_AGAIN: the reload request was not delivered within "
                        f"{RELOAD_REPLY_TIMEOUT:g} s (is the ring operational?)"
                    )
                )

        self.loop.call_later(RELOAD_REPLY_TIMEOUT, expire)
        return reply

    def _reload_requested(self: _Daemon, event: CfgReloadRequested) -> None:
        cmap = self._cmap()
        if cmap is not None:
            cmap.reload_begin()
        status = CsError.OK
        try:
            result: Any = self.reload_config()
        except ConfigError as err:
            result = ControlError(f"CS_ERR_INVALID_PARAM: {err}")
            self.last_reload = {"by": event.by, "ok": False, "error": str(err)}
            status = CsError.ERR_INVALID_PARAM
        except Exception as err:  # a bug must not take the node down with the reload
            emit(LogRecord(LogLevel.ERROR, "CFG", f"configuration reload failed: {err!r}"))
            result = ControlError(f"CS_ERR_LIBRARY: configuration reload failed: {err!r}")
            self.last_reload = {"by": event.by, "ok": False, "error": repr(err)}
            status = CsError.ERR_LIBRARY
        else:
            self.last_reload = {"by": event.by, "ok": True, "error": None}
        if cmap is not None:
            cmap.reload_end(status)
        if event.local:
            reply = self._reload_replies.pop(event.conn, None)
            if reply is not None and not reply.done():
                if isinstance(result, Exception):
                    reply.set_exception(result)
                else:
                    reply.set_result(result)
        # what the services queued and logged goes out on the next turn of the loop
        self.loop.call_soon(self.driver.poke)

    def reload_config(self: _Daemon) -> dict[str, Any]:
        """Re-read the configuration file and apply it (``totem.node.reload``).

        Returns what changed; raises :class:`ConfigError` (``file:line: why``) when the
        file does not load or cannot be applied -- nothing is changed then.
        """
        # the reload planner is loaded by the first reload, not at every start
        from totem.node.reload import ReloadRefused, apply_to_stack, plan_log, plan_reload

        try:
            new = load(self.config.path, lookup=system_lookup)
        except ConfigError as err:
            self.reloads["refused"] += 1
            emit(LogRecord(LogLevel.ERROR, "CFG", f"Unable to reload config file: {err}"))
            raise
        cmap = self._cmap()
        if cmap is not None:
            cmap.reload_parsed()
        try:
            plan = plan_reload(self.config, new, self.local_node)
        except ReloadRefused as err:
            self.reloads["refused"] += 1
            emit(
                LogRecord(
                    LogLevel.ERROR, "CFG", f"Cannot configure new interface definitions: {err}"
                )
            )
            raise
        key: bytes | None = None
        if self.knet_reload is not None:
            try:
                key = read_authkey(plan.config.totem)
            except ConfigError as err:
                self.reloads["refused"] += 1
                emit(LogRecord(LogLevel.ERROR, "CFG", f"Crypto configuration is not valid: {err}"))
                raise
        try:
            added_links = self._bind_added_links(plan)
        except ReloadRefused as err:
            self.reloads["refused"] += 1
            emit(
                LogRecord(
                    LogLevel.ERROR, "CFG", f"Cannot configure new interface definitions: {err}"
                )
            )
            raise
        for warning in new.warnings:
            emit(LogRecord(LogLevel.WARNING, "MAIN", warning))
        for record in plan_log(plan):
            emit(record)
        self._reconfigure_transports(plan, added_links)
        apply_to_stack(self.stack, plan)
        if self.knet_reload is not None:
            from totem.knet.reload import apply_reload

            crypto_changed, records = apply_reload(
                self.knet_reload,
                self.config,
                plan.config,
                plan.local_node,
                key,
                kernel_mtu_lookup(plan.config),
            )
            for record in records:
                emit(record)
            if crypto_changed:
                cfg = next((s for s in self.stack.services if isinstance(s, CfgService)), None)
                if cfg is not None:
                    cfg.request_crypto_phase(1)
        self.config = plan.config
        self.local_node = plan.local_node
        self.reconfigure_logging()
        self.agents.config_reloaded(plan.config)
        self.reloads["accepted"] += 1
        summary = plan.summary()
        emit(
            LogRecord(
                LogLevel.NOTICE,
                "CFG",
                f"Configuration reloaded: nodelist {summary['nodes']}, token "
                f"{plan.config.timers.token} ms, consensus {plan.config.timers.consensus} ms",
            )
        )
        return summary

    def _cmap(self: _Daemon) -> CmapService | None:
        return next((s for s in self.stack.services if isinstance(s, CmapService)), None)

    def _bind_added_links(self: _Daemon, plan: ReloadPlan) -> dict[int, KnetLinkSocket]:
        """knet: the sockets of the links ``plan`` adds, bound (ReloadRefused, with the
        line of this node's entry, when one cannot be: nothing is changed then)."""
        from totem.node.reload import ReloadRefused

        sockets: dict[int, KnetLinkSocket] = {}
        for link in plan.links_added:
            sock = make_knet_socket(
                plan.config, plan.local_node, self.driver.datagram_received, link, self.loop
            )
            try:
                sock.bind()
            except OSError as err:
                for done in sockets.values():
                    done.close()
                raise ReloadRefused(
                    plan.config.path,
                    plan.local_node.line,
                    self._bind_failure(link, err, plan.local_node),
                ) from None
            sockets[link] = sock
        return sockets

    def _reconfigure_transports(
        self: _Daemon, plan: ReloadPlan, added_links: dict[int, KnetLinkSocket] | None = None
    ) -> None:
        """New member lists (udpu sends to them; ``block_unlisted_ips`` follows them);
        knet: the sockets of removed links closed, those of added links served."""
        config = plan.config
        for link in plan.links_removed:
            transport = self.transports.pop(link, None)
            if transport is not None:
                transport.close()
        for link, sock in (added_links or {}).items():
            self.transports[link] = sock
            task = self.loop.create_task(self._open_added_link(link, sock))
            self._link_tasks.add(task)
            task.add_done_callback(self._link_tasks.discard)
        if config.totem.transport == "udpu":
            for change in plan.removed:
                emit(
                    LogRecord(
                        LogLevel.NOTICE, "TOTEM", f"removing UDPU member {{{change.address}}}"
                    )
                )
            for change in plan.added:
                emit(
                    LogRecord(
                        LogLevel.NOTICE, "TOTEM", f"adding new UDPU member {{{change.address}}}"
                    )
                )
        for link, transport in self.transports.items():
            transport.set_members(plan.members(link))
            if isinstance(transport, UdpuTransport):
                transport.block_unlisted_ips = config.totem.block_unlisted_ips

    async def _open_added_link(self: _Daemon, link: int, sock: KnetLinkSocket) -> None:
        try:
            await sock.open()
        except OSError as err:
            emit(LogRecord(LogLevel.ERROR, "TOTEM", self._bind_failure(link, err)))
