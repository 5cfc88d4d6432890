"""Clients of the node's control socket (see ``totem.node.control``).

``ControlClient`` is the blocking client the command-line tools use;
``AsyncControlClient`` is for asyncio programs that also want pushed events
(membership, quorum, process-group deliveries).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

from totem.node.control import FRAME, MAX_LINE, SOCKET_NAME

__all__ = [
    "DEFAULT_RUN_DIR",
    "AsyncControlClient",
    "ControlClient",
    "NodeUnavailable",
    "RequestFailed",
    "socket_path",
]

DEFAULT_RUN_DIR = "/run/pycorosync"


class NodeUnavailable(Exception):
    """The daemon is not running (or not reachable) in this run directory."""


class RequestFailed(Exception):
    """The daemon refused a request; the message says why."""


def socket_path(run_dir: str | None) -> str:
    """The control socket of the daemon using ``run_dir``."""
    return os.path.join(run_dir or DEFAULT_RUN_DIR, SOCKET_NAME)


class ControlClient:
    """A blocking request/response client."""

    def __init__(self, run_dir: str | None = None, timeout: float = 10.0) -> None:
        self.path = socket_path(run_dir)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(self.path)
        except OSError as err:
            self._sock.close()
            raise NodeUnavailable(
                f"cannot connect to {self.path}: {err.strerror or err} (is pycorosync running?)"
            ) from None
        self._file = self._sock.makefile("rb")
        self._ids = itertools.count(1)

    def call(self, op: str, **args: Any) -> Any:
        """Run one operation; return its result or raise ``RequestFailed``."""
        request_id = next(self._ids)
        line = json.dumps({"id": request_id, "op": op, **args}).encode() + b"\n"
        try:
            self._sock.sendall(line)
            while True:
                reply = self._file.readline(MAX_LINE + 1)
                if not reply:
                    raise NodeUnavailable("the daemon closed the connection")
                message = json.loads(reply)
                if message.get("id") == request_id:
                    break
        except OSError as err:
            raise NodeUnavailable(f"{self.path}: {err}") from None
        if not message.get("ok"):
            raise RequestFailed(str(message.get("error")))
        return message.get("result")

    def events(self) -> Any:
        """Yield pushed events forever (after a ``subscribe``)."""
        self._sock.settimeout(None)
        while True:
            line = self._file.readline(MAX_LINE + 1)
            if not line:
                return
            message = json.loads(line)
            if "event" in message:
                yield message

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
            self._sock.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncControlClient:
    """An asyncio client: concurrent requests plus a stream of pushed events."""

    def __init__(self, run_dir: str | None = None) -> None:
        self.path = socket_path(run_dir)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> AsyncControlClient:
        try:
            self._reader, self._writer = await asyncio.open_unix_connection(
                self.path, limit=MAX_LINE
            )
        except OSError as err:
            raise NodeUnavailable(f"cannot connect to {self.path}: {err}") from None
        self._task = asyncio.get_running_loop().create_task(self._read())
        return self

    async def _read(self) -> None:
        reader = self._reader
        assert reader is not None
        try:
            while True:
                first = await reader.read(1)
                if first == b"\0":  # a binary frame (see totem.node.control)
                    header = first + await reader.readexactly(FRAME.size - 1)
                    kind, length = FRAME.unpack(header)
                    body = await reader.readexactly(length)
                    await self._events.put({"frame": kind, "body": body})
                    continue
                line = first + await reader.readline() if first else b""
                if not line:
                    break
                message = json.loads(line)
                if "event" in message:
                    await self._events.put(message)
                    continue
                future = self._pending.pop(message.get("id"), None)
                if future is not None and not future.done():
                    future.set_result(message)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(NodeUnavailable("the daemon closed the connection"))
            await self._events.put(None)

    async def call(self, op: str, **args: Any) -> Any:
        """Run one operation; return its result or raise ``RequestFailed``."""
        assert self._writer is not None, "connect() first"
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._writer.write(json.dumps({"id": request_id, "op": op, **args}).encode() + b"\n")
        await self._writer.drain()
        message = await future
        if not message.get("ok"):
            raise RequestFailed(str(message.get("error")))
        return message.get("result")

    async def call_frame(self, kind: int, build: Callable[[int], bytes]) -> Any:
        """Send a binary request frame; ``build(request_id)`` makes its body."""
        assert self._writer is not None, "connect() first"
        request_id = next(self._ids)
        body = build(request_id)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._writer.write(FRAME.pack(kind, len(body)) + body)
        await self._writer.drain()
        message = await future
        if not message.get("ok"):
            raise RequestFailed(str(message.get("error")))
        return message.get("result")

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Pushed events, until the connection closes (binary frames as ``{"frame", "body"}``)."""
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
