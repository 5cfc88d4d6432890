"""What the node daemon tells the operator's tools: systemd's status line and the metrics
endpoint (:mod:`totem.node.sdnotify`, :mod:`totem.node.metrics_http`).

* :func:`status_line`: the ``STATUS=`` text of ``systemctl status`` --
  ``Ring 1.d: 3 members (1 2 3), quorate`` once the node has a ring (``synchronising`` while
  its services sync; ``quorate``/``not quorate`` from the quorum service, id 3, as
  ``corosync-quorumtool`` says it), ``Forming the ring: waiting for the first membership``
  before;
* :func:`start_metrics`: ``/metrics`` of a node status source on ``(host, port)``; an
  address that cannot be bound is logged with its reason (``Address already in use``) and
  the node does not start, as for its ring address;
* :class:`Operating`: both for one daemon -- ``READY=1`` with the first
  :class:`~totem.sync.SyncCompleted` (corosync's ``corosync_sync_completed``), ``STATUS=`` on
  every later event, the watchdog from the loop, ``STOPPING=1`` when it leaves.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from totem.node.logsys import emit
from totem.node.metrics_http import MetricsServer, new_registry
from totem.node.sdnotify import SystemdNotifier
from totem.srp.events import LogLevel, LogRecord
from totem.sync import SyncCompleted

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from totem.node.stack import NodeStack

__all__ = ["Operating", "start_metrics", "status_line"]

QUORUM_SERVICE_ID = 3


def status_line(stack: NodeStack) -> str:
    """One line for ``systemctl status`` (systemd's ``STATUS=``)."""
    if stack.ring_id is None:
        return "Forming the ring: waiting for the first membership"
    quorum = next((s for s in stack.services if s.service_id == QUORUM_SERVICE_ID), None)
    quorate = getattr(quorum, "quorate", None)
    members = " ".join(str(m) for m in stack.members)
    text = f"Ring {stack.ring_id}: {len(stack.members)} members ({members})"
    if not stack.synced:
        text += ", synchronising"
    if quorate is not None:
        text += ", quorate" if quorate else ", not quorate"
    return text


async def start_metrics(
    address: tuple[str, int], status: Callable[[], dict[str, Any]]
) -> MetricsServer | None:
    """Serve the metrics of ``status`` (:mod:`totem.node.metrics`, built at the first
    scrape) on ``address``; None (logged) when the address cannot be bound."""

    def registry() -> CollectorRegistry:
        from totem.node.metrics import StatusCollector

        return new_registry(StatusCollector(status))

    host, port = address
    server = MetricsServer(registry, host, port)
    try:
        await server.start()
    except OSError as err:
        reason = os.strerror(err.errno) if err.errno else str(err)
        message = f"cannot serve metrics on {host or '*'}:{port}: {reason}"
        emit(LogRecord(LogLevel.ERROR, "MAIN", message))
        return None
    where = server.address
    emit(
        LogRecord(
            LogLevel.NOTICE, "MAIN", f"Serving metrics on http://{where[0]}:{where[1]}/metrics"
        )
    )
    return server


class Operating:
    """systemd's notifications and the metrics endpoint of one node daemon."""

    def __init__(
        self,
        stack: NodeStack,
        status: Callable[[], dict[str, Any]],
        metrics_address: tuple[str, int] | None,
        notifier: SystemdNotifier,
    ) -> None:
        self.stack = stack
        self._status = status
        self.metrics_address = metrics_address
        """Where to serve ``/metrics`` (None: nowhere)."""
        self.metrics: MetricsServer | None = None
        self.notifier = notifier

    async def start(self) -> bool:
        """Serve ``/metrics`` when asked to; False (logged) when the address cannot be bound."""
        if self.metrics_address is None:
            return True
        self.metrics = await start_metrics(self.metrics_address, self._status)
        return self.metrics is not None

    def running(self, loop: asyncio.AbstractEventLoop) -> None:
        """The node forms its ring: first status line, and the watchdog's pings from now on."""
        self.notifier.status(status_line(self.stack))
        self.notifier.start_watchdog(loop)

    def on_event(self, event: object) -> None:
        if not self.notifier.enabled:
            return
        if isinstance(event, SyncCompleted) and not self.notifier.ready_sent:
            self.notifier.ready(status_line(self.stack))
        elif self.notifier.ready_sent:
            self.notifier.status(status_line(self.stack))

    async def stop(self) -> None:
        self.notifier.stopping("Leaving the ring")
        if self.metrics is not None:
            await self.metrics.stop()

    def status(self) -> dict[str, Any] | None:
        """The endpoint for the node's status (None without one)."""
        if self.metrics is None:
            return None
        return {"address": list(self.metrics.address), "scrapes": self.metrics.scrapes}
