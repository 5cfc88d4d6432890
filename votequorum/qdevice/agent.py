"""The qdevice-net client as an agent of the node daemon (``pycorosync.agents`` entry point).

corosync runs corosync-qdevice as a separate daemon talking to votequorum over IPC; pycorosync
runs the same client inside the node daemon, beside votequorum. :func:`agent_factory` is the
``qdevice`` entry point of the ``pycorosync.agents`` group: the daemon calls it with itself
after loading its services, and gets a :class:`QdeviceAgent` when ``quorum.device.model`` is
``net`` (None otherwise, or when the configuration would stop corosync-qdevice, which is then
logged).

The agent owns a sans-IO :class:`~votequorum.qdevice.net_client.QdeviceNetClient`, its
:class:`~votequorum.qdevice.bridge.VotequorumBridge` to the node's votequorum service and the
:class:`~votequorum.qdevice.driver.ClientDriver`. It sees the node's events through
``daemon.driver.add_listener`` and serves ``qdevice.status`` on the control socket
(``pycorosync-qdevice-tool``)::

    -> {"op": "qdevice.status", "verbose": true}
    <- {"text": "Qdevice information\\n...", "status": {...}}

State changes are published on the control socket under the topic ``qdevice``.
"""

from __future__ import annotations

import dataclasses
import random
import time
from typing import Any

from totem.node.agents import AgentReload
from totem.node.logsys import emit
from totem.srp.events import LogLevel, LogRecord
from votequorum.qdevice.bridge import VOTEQUORUM_EVENTS, VotequorumBridge
from votequorum.qdevice.driver import ClientDriver
from votequorum.qdevice.events import (
    Disconnected,
    Output,
    Poll,
    StateChanged,
    Stopped,
)
from votequorum.qdevice.net_client import QdeviceNetClient
from votequorum.qdevice.settings import (
    QdeviceNetSettings,
    QdeviceSettingsError,
    settings_from_config,
)
from votequorum.qdevice.status import render_status, snapshot, status_json
from votequorum.service import VotequorumService

__all__ = ["QdeviceAgent", "agent_factory"]

STATUS_OP = "qdevice.status"
TOPIC = "qdevice"


def _cert_dir(daemon: Any) -> str | None:
    """The daemon's ``--qdevice-cert-dir`` (None: the environment, else the default)."""
    directory = getattr(daemon, "qdevice_cert_dir", None)
    return directory if isinstance(directory, str) else None


def agent_factory(daemon: Any) -> QdeviceAgent | None:
    """Entry point: the agent when ``quorum.device.model`` is ``net``."""
    device = daemon.config.quorum.device
    if device is None or device.model != "net":
        return None
    votequorum = next((s for s in daemon.stack.services if isinstance(s, VotequorumService)), None)
    if votequorum is None:
        emit(
            LogRecord(
                LogLevel.ERROR,
                "QDEVICE",
                "quorum.device is configured but votequorum is not running "
                "(set quorum.provider: corosync_votequorum)",
            )
        )
        return None
    try:
        settings = settings_from_config(
            daemon.config, daemon.local_node.nodeid, cert_dir=_cert_dir(daemon)
        )
    except QdeviceSettingsError as err:
        emit(LogRecord(LogLevel.ERROR, "QDEVICE", f"quorum device not started: {err}"))
        return None
    return QdeviceAgent(daemon, settings, votequorum)


class QdeviceAgent:
    """One node's qdevice-net client, driven on the daemon's loop."""

    name = "qdevice"

    def __init__(
        self, daemon: Any, settings: QdeviceNetSettings, votequorum: VotequorumService
    ) -> None:
        self.daemon = daemon
        self.settings = settings
        self.loop = daemon.loop
        self.client = QdeviceNetClient(settings, random.Random())
        self.bridge = VotequorumBridge(votequorum, self.client)
        self.driver = ClientDriver(
            self.client, self.loop, execute_polls=self._execute_polls, on_event=self._on_event
        )
        self._running = False
        self._registered = False
        self._poke_scheduled = False
        self.errors = 0
        """Exceptions caught while following the node (a bug; logged at ERROR)."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Register the device and start following the node (before the ring forms)."""
        self._running = True
        self._registered = True
        self.daemon.driver.add_listener(self._on_node_event)
        self.daemon.control.register(STATUS_OP, self._op_status)
        emit(
            LogRecord(
                LogLevel.NOTICE,
                "QDEVICE",
                f"Quorum device model net: qnetd {self.settings.host}:{self.settings.port}, "
                f"cluster {self.settings.cluster_name}, TLS {self.settings.tls.name.lower()}",
            )
        )
        self.bridge.start(self.loop.time())
        self._after_bridge()

    async def stop(self) -> None:
        """Disconnect from qnetd, unregister the device and everything :meth:`start`
        registered on the daemon (another agent may start after this one)."""
        if self._registered:
            self._registered = False
            self.daemon.driver.remove_listener(self._on_node_event)
            self.daemon.control.unregister(STATUS_OP)
        if not self._running:
            await self.driver.close()
            return
        self._running = False
        self.bridge.stop(self.loop.time())
        self._after_bridge()
        await self.driver.close()
        self.daemon.driver.poke()

    def config_reloaded(self, config: Any) -> AgentReload:
        """The daemon reloaded corosync.conf (cfg RELOAD_CONFIG).

        No ``net`` device any more: STOP (``systemctl stop corosync-qdevice``). Settings the
        client reads at start changed (host, algorithm, TLS, timeouts, heuristics...):
        RESTART. Otherwise, as corosync-qdevice does when cmap's nodelist changes after a
        reload, qnetd is sent the new node list (CHANGED_CONFIG) if it differs: KEEP.
        """
        device = config.quorum.device
        if device is None or device.model != "net":
            return AgentReload.STOP
        try:
            settings = settings_from_config(
                config, self.settings.node_id, cert_dir=self.settings.cert_dir
            )
        except QdeviceSettingsError as err:
            emit(LogRecord(LogLevel.ERROR, "QDEVICE", f"quorum device stopped: {err}"))
            return AgentReload.STOP
        same_start = dataclasses.replace(
            settings,
            config_nodes=self.settings.config_nodes,
            config_version=self.settings.config_version,
        )
        if same_start != self.settings:
            return AgentReload.RESTART
        if not self._running or settings.config_nodes == self.client.config_nodes:
            return AgentReload.KEEP
        emit(LogRecord(LogLevel.DEBUG, "QDEVICE", "Node list changed"))
        try:
            self.client.config_node_list_changed(
                settings.config_nodes,
                settings.config_version,
                self.loop.time(),
                self.bridge.vote_count_problem(),
            )
            self._after_bridge()
        except Exception as err:  # never let the device break the node's reload
            self.errors += 1
            emit(LogRecord(LogLevel.ERROR, "QDEVICE", f"internal error on reload: {err!r}"))
        return AgentReload.KEEP

    # ------------------------------------------------------------------ plumbing

    def _after_bridge(self) -> None:
        for record in self.bridge.log_records():
            emit(record)
        self.driver.flush()
        self._poke_node()

    def _poke_node(self) -> None:
        """votequorum may have queued messages: let the node driver send them (soon, never
        from inside its own event dispatch)."""
        if not self._poke_scheduled:
            self._poke_scheduled = True
            self.loop.call_soon(self._poke_now)

    def _poke_now(self) -> None:
        self._poke_scheduled = False
        self.daemon.driver.poke()

    def _execute_polls(self, outputs: list[Output], now: float) -> list[Output]:
        polled = any(isinstance(o, Poll) for o in outputs)
        rest = self.bridge.execute(outputs, now)
        for record in self.bridge.log_records():
            emit(record)
        if polled:
            self._poke_node()
        return rest

    def _on_node_event(self, event: Any) -> None:
        if not self._running or not isinstance(event, VOTEQUORUM_EVENTS):
            return
        try:
            self.bridge.on_event(event, self.loop.time())
            self._after_bridge()
        except Exception as err:  # never let the device break the node's event dispatch
            self.errors += 1
            emit(LogRecord(LogLevel.ERROR, "QDEVICE", f"internal error on {event!r}: {err!r}"))

    def _on_event(self, event: object) -> None:
        if isinstance(event, LogRecord):
            emit(event)
        elif isinstance(event, StateChanged):
            self.daemon.control.publish(
                TOPIC, {"event": "QdeviceStateChanged", "state": event.state.name}
            )
        elif isinstance(event, Disconnected):
            self.daemon.control.publish(
                TOPIC,
                {"event": "QdeviceDisconnected", "reason": event.reason.name},
            )
        elif isinstance(event, Stopped) and self._running:
            # corosync-qdevice exits here: the device leaves votequorum
            self._running = False
            self.bridge.stop(self.loop.time())
            for record in self.bridge.log_records():
                emit(record)
            self._poke_node()

    # ------------------------------------------------------------------ status

    def status(self, verbose: bool = False) -> dict[str, Any]:
        now = self.loop.time()
        offset = time.time() - now
        snap = snapshot(self.client, now, lambda t: t + offset)
        data = status_json(snap)
        data.update(self.bridge.status())
        return {"text": render_status(snap, verbose), "status": data}

    def _op_status(self, _connection: Any, request: dict[str, Any]) -> dict[str, Any]:
        return self.status(bool(request.get("verbose", False)))
