"""What the node daemon tells the operator's tools: systemd's status line and the metrics
endpoint (:mod:`totem.node.sdnotify`, :mod:`totem.node.metrics_http`).

* :func:`status_line`: the ``STATUS=`` text of ``systemctl status`` --
  ``Ring 1.d: 3 members (1 2 3), quorate`` once the node has a ring (``synchronising`` while
  its services sync; ``quorate``/``not quorate`` from the quorum service, id 3, as
  ``corosync-quorumtool`` says it), ``Forming the ring: waiting for the first membership``
  before;
* :func:`start_metrics`: ``/metrics`` of a node status source on ``(host, port)``; an
  address that cannot be bound is logged with its reason (``Address already in use``) and
  the node does not start, as for its ring address.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from totem.node.logsys import emit
from totem.node.metrics_http import MetricsServer, new_registry
from totem.srp.events import LogLevel, LogRecord

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from totem.node.stack import NodeStack

__all__ = ["start_metrics", "status_line"]

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
