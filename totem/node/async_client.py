"""The asyncio client of the node's control socket (see ``totem.node.control``).

Concurrent requests, plus the stream of events the daemon pushes after a ``subscribe``
(membership, quorum, process-group deliveries and their binary frames).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from totem.node.client import NodeUnavailable, RequestFailed, socket_path
from totem.node.framing import FRAME, MAX_LINE

__all__ = ["AsyncControlClient"]


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
