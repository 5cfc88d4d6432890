"""What a service engine declares to be served over libqb IPC (corosync's ``lib_engine``).

corosync gives each service engine a table of *library handlers*, indexed by the request
id a client library sends (``struct corosync_lib_handler``: the handler and whether it is
subject to flow control), and two hooks run when a client connects and leaves
(``lib_init_fn``, ``lib_exit_fn``). Our services declare the same beside their exec
handlers (:class:`totem.service.Service`: ``ipc_name``, ``lib_handlers``, ``lib_init``,
``lib_exit``); the IPC layer (``totem.ipc``) serves every service that has them and knows
nothing else about it, so a new service needs no change to the IPC layer.

A handler receives the connection, the whole request (header included) and the time
(services are sans-IO: a timer they start counts from it), and answers
with :meth:`LibConnection.respond` -- at once, or later when the cluster has acted
(a deferred answer, as corosync's cfg shutdown and votequorum qdevice registration do).
Events go out with :meth:`LibConnection.dispatch` (``ipc_dispatch_send``): they are queued
per connection and never dropped (ref libqb-ipc/README.md section 8).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["LibConnection", "LibHandler"]


class LibConnection(Protocol):
    """One client connection as a service sees it (``void *conn`` in corosync)."""

    @property
    def id(self) -> int:
        """Unique for the life of the daemon (what ``mar_message_source_t.conn`` carries)."""
        ...

    @property
    def pid(self) -> int: ...

    @property
    def uid(self) -> int: ...

    @property
    def gid(self) -> int: ...

    @property
    def closed(self) -> bool:
        """True once the client is gone (``lib_exit`` has run or is about to)."""
        ...

    private: Any
    """The service's per-connection state (``ipc_private_data_get``); set by ``lib_init``."""

    def respond(self, message: bytes) -> None:
        """Send the response to the request being served (exactly one per request)."""
        ...

    def dispatch(self, message: bytes) -> None:
        """Queue an event for the client (``ipc_dispatch_send``); never dropped."""
        ...

    def disconnect(self) -> None:
        """Close the connection (deferred to the next loop turn; ``lib_exit`` follows)."""
        ...

    def __hash__(self) -> int:
        """Connections are hashable (by identity): services key their state by them."""
        ...


@dataclass(frozen=True, slots=True)
class LibHandler:
    """One entry of a service's library table (index = request id)."""

    handler: Callable[[LibConnection, bytes, float], None]
    """``handler(conn, request, now)``: ``now`` is the time of the request (sans-IO)."""
    request_size: int
    """``sizeof`` the request struct: a shorter request is answered ``CS_ERR_INVALID_PARAM``."""
    flow_control: bool = False
    """``CS_LIB_FLOW_CONTROL_REQUIRED``: refused with ``CS_ERR_TRY_AGAIN`` while the node is
    synchronising or its send queue is full."""
    responds: bool = True
    """False for requests the library sends without waiting for an answer (cpg MCAST):
    nothing is sent back for them, not even a refusal."""
