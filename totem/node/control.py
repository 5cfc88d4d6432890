"""The node's local control socket: tools and applications talk to the daemon here.

corosync serves its tools and libraries over libqb IPC; we serve one unix
stream socket, ``<run-dir>/pycorosync.sock``, speaking newline-delimited JSON:

    -> {"id": 1, "op": "status"}
    <- {"id": 1, "ok": true, "result": {...}}
    <- {"id": 2, "ok": false, "error": "expected votes must be at least 1"}
    <- {"event": "QuorumChanged", ...}          (pushed to subscribers)

Operations are registered by name (``srp.*``, ``quorum.*``, ``cpg.*``). A
handler receives the connection and the request; it returns a JSON-able
result or raises ``ControlError`` with a message for the operator. Binary
payloads travel base64-encoded. A client that sends something unparsable or
oversized gets an error and is disconnected; the others carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
from collections.abc import Callable
from typing import Any

__all__ = [
    "MAX_LINE",
    "SOCKET_NAME",
    "ControlConnection",
    "ControlError",
    "ControlServer",
    "Handler",
]

SOCKET_NAME = "pycorosync.sock"
MAX_LINE = 4 * 1024 * 1024
"""Longest request line accepted (a base64 payload of 3 MiB)."""


class ControlError(Exception):
    """A request the daemon refuses; the message is shown to the operator as is.

    Handlers may equally raise ``ValueError``; ``KeyError``/``TypeError`` mean a
    malformed request and are reported as such.
    """


Handler = Callable[["ControlConnection", dict[str, Any]], Any]


class ControlConnection:
    """One connected client: its subscriptions and resources (e.g. CPG handles)."""

    _ids = itertools.count(1)

    def __init__(self, server: ControlServer, writer: asyncio.StreamWriter) -> None:
        self.id = next(self._ids)
        self.server = server
        self.writer = writer
        self.topics: set[str] = set()
        self.closed = False
        self.on_close: list[Callable[[ControlConnection], None]] = []

    def send(self, message: dict[str, Any]) -> None:
        """Queue one JSON line to the client; a client that does not read is dropped."""
        if self.closed:
            return
        transport = self.writer.transport
        if transport.get_write_buffer_size() > 64 * MAX_LINE // 4:
            self.close()
            return
        self.writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

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
        self._server: asyncio.AbstractServer | None = None
        self.connections: set[ControlConnection] = set()
        self.bad_requests = 0

    def register(self, op: str, handler: Handler) -> None:
        """Serve ``op`` with ``handler``."""
        if op in self._handlers:
            raise ValueError(f"control operation {op!r} registered twice")
        self._handlers[op] = handler

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
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    self._refuse(connection, None, f"request longer than {MAX_LINE} bytes")
                    break
                except ConnectionError:
                    break
                if not line:
                    break
                self._handle_line(connection, line)
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
