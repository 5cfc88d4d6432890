"""What the CPG engine exchanges with the node around it (ref libqb-ipc/README.md, cpg).

:class:`CpgEventSink` takes the engine's events as they happen (the control socket and
libcpg's connections); :class:`CpgLibrary` is libcpg's side of the service, which the node
builds and passes in (``CpgService(library=...)``), so the engine never imports it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Protocol

from totem.ipc.engine import LibConnection, LibHandler
from totem.services.cpg.events import CpgEvent

__all__ = ["CPG_MAX_ATOMIC_MSGSIZE", "CpgEventSink", "CpgLibrary"]

CPG_MAX_ATOMIC_MSGSIZE = 1024 * 1024 - 1024
"""libcpg's ``max_msg_size`` (``IPC_REQUEST_SIZE - 1024``): larger messages go as
PARTIAL_MCAST fragments of exactly this size (``cpg_mcast_joined``/``send_fragments``)."""


class CpgEventSink(Protocol):
    """Takes the service's events as they happen instead of ``events()`` (``set_event_sink``).

    ``deliver`` is a message for a handle, given as its fields rather than a ``CpgDeliver``
    (the hot path: one call per message and handle, no object); ``event`` is every other
    event. Both are called in the order the events happen.
    """

    def deliver(
        self, handle: Hashable, group: bytes, nodeid: int, pid: int, payload: bytes
    ) -> None: ...

    def event(self, event: CpgEvent) -> None: ...


class CpgLibrary(Protocol):
    """libcpg's side of the service (``totem.services.cpg.lib.CpgLib``), built by the node."""

    def handlers(self) -> Sequence[LibHandler]: ...

    def lib_init(self, conn: LibConnection) -> None: ...

    def lib_exit(self, conn: LibConnection) -> None: ...
