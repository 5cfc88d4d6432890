"""Request checks and routing to a service's library table, sans-IO (``cs_ipcs_msg_process``).

A request reaches a service's handler only if (corosync 3.1.7 ``exec/ipc_glue.c`` and
``corosync_sending_allowed`` in ``exec/main.c``; ref libqb-ipc/README.md section 8):

* it is at least a request header long and its header ``size`` is the length received;
* its id names an entry of the table -- else a bare 24-byte header with id 0 and
  ``CS_ERR_INVALID_PARAM`` answers it (``invalid_request`` is counted);
* it is at least as long as the request struct of that entry (corosync would read past
  the end of the buffer; we give the same answer as for a bad id);
* for an entry subject to flow control, the node may send now (not synchronising, send
  queue not critical) -- else ``CS_ERR_TRY_AGAIN`` in a bare header (``overload``).

Requests whose library does not wait for an answer (cpg MCAST) get no answer at all, not
even a refusal; they skip the sending gate and are queued for after the synchronisation
rather than dropped (corosync drops the few that race past the flow-control flag).
``QB_IPC_MSG_DISCONNECT`` asks for the connection to be closed. A handler that raises is
logged and answered ``CS_ERR_LIBRARY`` if it had not answered yet: a bug in a service never
takes the daemon down.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from totem.ipc.engine import LibConnection, LibHandler
from totem.ipc.wire import (
    QB_IPC_MSG_DISCONNECT,
    REQUEST_HEADER,
    REQUEST_HEADER_SIZE,
    CsError,
    error_response,
)
from totem.srp.events import LogLevel

__all__ = ["ConnectionStats", "DispatchTarget", "LibDispatcher", "SendingAllowed"]

SendingAllowed = Callable[[int], bool]
"""``(request size) -> bool``: may a flow-controlled request of this service run now?"""
LogFn = Callable[[LogLevel, str], None]


@dataclass(slots=True)
class ConnectionStats:
    """Per-connection figures of ``stats.ipcs.service<id>.<pid>.<conn>.*`` (``-m stats``)."""

    requests: int = 0
    responses: int = 0
    dispatched: int = 0
    """Events delivered to the client."""
    send_retries: int = 0
    recv_retries: int = 0
    flow_control: int = 0
    """The flow-control value the client currently sees (0, 1 or 2)."""
    flow_control_count: int = 0
    invalid_request: int = 0
    overload: int = 0
    queued: int = 0
    """Events waiting in this connection's queue."""
    queueing: bool = False
    sent: int = 0
    """Events sent since the queue last became non-empty."""


class DispatchTarget(LibConnection, Protocol):
    """A connection as the dispatcher needs it: the library view plus its statistics."""

    @property
    def stats(self) -> ConnectionStats: ...


class LibDispatcher:
    """Routes the requests of one IPC service to its library table."""

    def __init__(
        self,
        name: str,
        handlers: Sequence[LibHandler],
        sending_allowed: SendingAllowed,
        log: LogFn | None = None,
        clock: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.name = name
        self._clock = clock
        self.handlers = tuple(handlers)
        self._sending_allowed = sending_allowed
        self._log = log

    def dispatch(self, conn: DispatchTarget, data: bytes) -> bool:
        """Serve one request; False when the client asked to disconnect."""
        stats = conn.stats
        stats.requests += 1
        length = len(data)
        if length < REQUEST_HEADER_SIZE:
            self._refuse(conn, CsError.ERR_INVALID_PARAM, f"request of {length} bytes")
            return True
        message_id, size = REQUEST_HEADER.unpack_from(data)
        if message_id == QB_IPC_MSG_DISCONNECT:
            return False
        if size != length:
            self._refuse(
                conn,
                CsError.ERR_INVALID_PARAM,
                f"request {message_id}: header says {size} bytes, {length} received",
            )
            return True
        handlers = self.handlers
        if not 0 <= message_id < len(handlers):
            self._refuse(conn, CsError.ERR_INVALID_PARAM, f"unknown request id {message_id}")
            return True
        entry = handlers[message_id]
        if length < entry.request_size:
            if entry.responds:
                self._refuse(
                    conn,
                    CsError.ERR_INVALID_PARAM,
                    f"request {message_id} of {length} bytes (at least {entry.request_size})",
                )
            else:
                stats.invalid_request += 1
            return True
        if entry.responds and entry.flow_control and not self._sending_allowed(length):
            stats.overload += 1
            conn.respond(error_response(CsError.ERR_TRY_AGAIN))
            return True
        answered = stats.responses
        try:
            entry.handler(conn, data, self._clock())
        except Exception as err:  # a service bug must not take the daemon down
            if self._log is not None:
                self._log(
                    LogLevel.ERROR,
                    f"{self.name}: request {message_id} failed: {err!r}\n"
                    + "".join(traceback.format_exception(err)).rstrip(),
                )
            if entry.responds and stats.responses == answered and not conn.closed:
                conn.respond(error_response(CsError.ERR_LIBRARY))
        return True

    def _refuse(self, conn: DispatchTarget, error: CsError, why: str) -> None:
        conn.stats.invalid_request += 1
        if self._log is not None:
            self._log(LogLevel.DEBUG, f"{self.name}: invalid request ({why})")
        conn.respond(error_response(error))
