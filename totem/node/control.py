"""The node's local control socket: tools and applications talk to the daemon here.

corosync serves its tools and libraries over libqb IPC; we serve one unix
stream socket, ``<run-dir>/pycorosync.sock``, speaking newline-delimited JSON:

    -> {"id": 1, "op": "status"}
    <- {"id": 1, "ok": true, "result": {...}}
    <- {"id": 2, "ok": false, "error": "expected votes must be at least 1"}
    <- {"event": "QuorumChanged", ...}          (pushed to subscribers)

Operations are registered by name (``srp.*``, ``quorum.*``, ``cpg.*``). A
handler receives the connection and the request; it returns a JSON-able
result or raises ``ControlError`` with a message for the operator. A handler
whose answer comes later (``cfg.reload`` waits for its message to go round the
ring) returns an ``asyncio.Future``: the reply is sent when it is done. Payloads in
JSON travel base64-encoded. A client that sends something unparsable or
oversized gets an error and is disconnected; the others carry on.

Bulk data may instead travel in *binary frames*, in either direction, between
JSON lines (a JSON line never starts with a NUL byte)::

    0x00 | u8 kind | u32 length (little-endian) | body[length]

The frame kinds belong to the services that register them (``FRAME_*`` in
``totem.node.cpg_api``). A request frame is answered by a JSON line with the
request id the frame carries; a frame of an unknown kind is a bad request.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import struct
from collections.abc import Callable
from typing import Any

from totem.node.framing import FRAME, MAX_LINE, SOCKET_NAME

__all__ = [
    "FRAME",
    "MAX_LINE",
    "SOCKET_NAME",
    "ControlConnection",
    "ControlError",
    "ControlServer",
    "Handler",
]


class ControlError(Exception):
    """A request the daemon refuses; the message is shown to the operator as is.

    Handlers may equally raise ``ValueError``; ``KeyError``/``TypeError`` mean a
    malformed request and are reported as such.
    """


Handler = Callable[["ControlConnection", dict[str, Any]], Any]
FrameHandler = Callable[["ControlConnection", bytes], tuple[Any, Any]]
"""Takes a frame body; returns ``(request id, result)`` for the JSON reply."""


class ControlConnection:
    """One connected client: its subscriptions and resources (e.g. CPG handles)."""

    _ids = itertools.count(1)

    def __init__(self, server: ControlServer, writer: asyncio.StreamWriter) -> None:
        self.id = next(self._ids)
        self.server = server
        self.writer = writer
        self.topics: set[str] = set()
        self.features: set[str] = set()
        """Options the client asked for, e.g. ``cpg-frames`` (binary CPG deliveries)."""
        self.closed = False
        self.on_close: list[Callable[[ControlConnection], None]] = []

    def send(self, message: dict[str, Any]) -> None:
        """Queue one JSON line to the client; a client that does not read is dropped."""
        self._write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def send_frame(self, kind: int, body: bytes) -> None:
        """Queue one binary frame to the client."""
        self._write(FRAME.pack(kind, len(body)) + body)

    def _write(self, data: bytes) -> None:
        if self.closed:
            return
        if self.writer.transport.get_write_buffer_size() > 16 * MAX_LINE:
            self.close()  # a client that does not read: never buffer without bound
            return
        self.writer.write(data)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for callback in self.on_close:
            callback(self)
        self.writer.close()


class ControlServer:
    """The unix-socket server with its operation registry."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._handlers: dict[str, Handler] = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "ops": lambda _c, _r: sorted(self._handlers),
        }
        self._frame_handlers: dict[int, FrameHandler] = {}
        self._server: asyncio.AbstractServer | None = None
        self.connections: set[ControlConnection] = set()
        self.bad_requests = 0

    def register(self, op: str, handler: Handler) -> None:
        """Serve ``op`` with ``handler``."""
        if op in self._handlers:
            raise ValueError(f"control operation {op!r} registered twice")
        self._handlers[op] = handler

    def unregister(self, op: str) -> None:
        """Stop serving ``op`` (an agent that stops); unknown operations are ignored."""
        if op not in ("subscribe", "unsubscribe", "ops"):
            self._handlers.pop(op, None)

    def register_frame(self, kind: int, handler: FrameHandler) -> None:
        """Serve binary request frames of ``kind`` with ``handler``."""
        if kind in self._frame_handlers or not 0 < kind < 256:
            raise ValueError(f"binary frame kind {kind} registered twice or out of range")
        self._frame_handlers[kind] = handler

    async def start(self) -> None:
        """Bind the socket (replacing a stale one left by a killed daemon)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._server = await asyncio.start_unix_server(self._serve, path=self.path, limit=MAX_LINE)
        os.chmod(self.path, 0o660)

    async def stop(self) -> None:
        for connection in list(self.connections):
            connection.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        """Push an event to every client subscribed to ``topic``."""
        for connection in self.connections:
            if topic in connection.topics:
                connection.send(message)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = ControlConnection(self, writer)
        self.connections.add(connection)
        try:
            while not connection.closed:
                try:
                    first = await reader.read(1)
                    if first == b"\0":
                        header = first + await reader.readexactly(FRAME.size - 1)
                        kind, length = FRAME.unpack(header)
                        if length > MAX_LINE:
                            self._refuse(connection, None, f"frame longer than {MAX_LINE} bytes")
                            break
                        self._handle_frame(connection, kind, await reader.readexactly(length))
                    else:
                        line = first + await reader.readline() if first else b""
                        if not line:
                            break
                        self._handle_line(connection, line)
                except (ValueError, asyncio.LimitOverrunError):
                    self._refuse(connection, None, f"request longer than {MAX_LINE} bytes")
                    break
                except (ConnectionError, asyncio.IncompleteReadError):
                    break
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
        finally:
            self.connections.discard(connection)
            connection.close()

    def _handle_line(self, connection: ControlConnection, line: bytes) -> None:
        try:
            request = json.loads(line)
        except ValueError:
            self._refuse(connection, None, "request is not JSON")
            return
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            self._refuse(connection, None, 'request must be an object with an "op" string')
            return
        request_id = request.get("id")
        handler = self._handlers.get(request["op"])
        if handler is None:
            connection.send({"id": request_id, "ok": False, "error": f"unknown op {request['op']}"})
            return
        try:
            result = handler(connection, request)
        except (ControlError, ValueError) as err:
            connection.send({"id": request_id, "ok": False, "error": str(err)})
            return
        except (KeyError, TypeError) as err:
            connection.send({"id": request_id, "ok": False, "error": f"bad request: {err}"})
            return
        if isinstance(result, asyncio.Future):
            result.add_done_callback(lambda done: self._answer_later(connection, request_id, done))
            return
        connection.send({"id": request_id, "ok": True, "result": result})

    @staticmethod
    def _answer_later(
        connection: ControlConnection, request_id: Any, done: asyncio.Future[Any]
    ) -> None:
        """The reply of a handler that returned a future (dropped if the client left)."""
        if done.cancelled():
            connection.send({"id": request_id, "ok": False, "error": "request cancelled"})
            return
        error = done.exception()
        if error is None:
            connection.send({"id": request_id, "ok": True, "result": done.result()})
        elif isinstance(error, (ControlError, ValueError)):
            connection.send({"id": request_id, "ok": False, "error": str(error)})
        else:
            connection.send({"id": request_id, "ok": False, "error": f"internal error: {error!r}"})

    def _handle_frame(self, connection: ControlConnection, kind: int, body: bytes) -> None:
        handler = self._frame_handlers.get(kind)
        if handler is None:
            self._refuse(connection, None, f"unknown binary frame kind {kind}")
            return
        try:
            request_id, result = handler(connection, body)
        except (struct.error, IndexError):
            self._refuse(connection, None, f"malformed binary frame of kind {kind}")
            return
        except (ControlError, ValueError) as err:
            connection.send({"id": _frame_request_id(body), "ok": False, "error": str(err)})
            return
        connection.send({"id": request_id, "ok": True, "result": result})

    def _refuse(self, connection: ControlConnection, request_id: Any, error: str) -> None:
        self.bad_requests += 1
        connection.send({"id": request_id, "ok": False, "error": error})
        connection.close()

    def _subscribe(self, connection: ControlConnection, request: dict[str, Any]) -> list[str]:
        topics = request.get("topics")
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            raise ControlError('"topics" must be a list of strings')
        connection.topics.update(topics)
        return sorted(connection.topics)

    def _unsubscribe(self, connection: ControlConnection, request: dict[str, Any]) -> list[str]:
        connection.topics.difference_update(request.get("topics") or [])
        return sorted(connection.topics)


def _frame_request_id(body: bytes) -> int | None:
    """Request frames start with a u32 request id."""
    return int.from_bytes(body[:4], "little") if len(body) >= 4 else None
