"""The live feed: the node's status, refreshed on the engine's events, pushed to browsers.

The monitor keeps one connection to the engine's control socket (``R/run``), subscribed to
its ``membership`` and ``events`` topics: a configuration change, a quorum change or a
quorum device event makes it look again at once (membership is known within token +
consensus of a failure, when the engine knows). Between events it looks every
``interval`` seconds (link latency, the filesystem's own state, an engine that stopped or
came back). Each look builds a snapshot (:func:`pvecluster.web.status.build_snapshot`); a
snapshot that differs from the last one is published to every subscriber, with the
timeline entries it brings. The timeline keeps the last :data:`TIMELINE_LENGTH` entries.

Subscribers are the browsers' event streams (:mod:`pvecluster.web.handlers`); each gets an
``asyncio.Queue`` of ``(event, data)`` pairs, which is dropped when it falls too far behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from pvecluster.web.status import TimelineEntry, build_snapshot, qdevice_configured, timeline
from totem.node.async_client import AsyncControlClient
from totem.node.client import NodeUnavailable, RequestFailed

__all__ = ["ENGINE_TOPICS", "TIMELINE_LENGTH", "Monitor"]

TIMELINE_LENGTH = 200
ENGINE_TOPICS = ["membership", "events", "qdevice"]
QUEUE_LIMIT = 256
REQUEST_TIMEOUT = 5.0
Event = tuple[str, Any]
NodeView = Callable[[], tuple[dict[str, Any], bytes | None]]


def _comparable(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in snapshot.items() if key != "time"}


class Monitor:
    """Watches one node; ``view()`` gives the filesystem's status and corosync.conf."""

    def __init__(
        self,
        run_dir: str,
        view: NodeView,
        *,
        interval: float = 1.0,
        idle_interval: float = 5.0,
    ) -> None:
        self.run_dir = run_dir
        self.view = view
        self.interval = interval
        self.idle_interval = idle_interval
        self.snapshot: dict[str, Any] | None = None
        self.entries: deque[TimelineEntry] = deque(maxlen=TIMELINE_LENGTH)
        self.subscribers: set[asyncio.Queue[Event | None]] = set()
        self.looks = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._events_task: asyncio.Task[None] | None = None
        self._engine: AsyncControlClient | None = None

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        for task in (self._task, self._events_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._events_task = None
        await self._drop_engine()
        for queue in list(self.subscribers):
            self._close(queue)

    def poke(self) -> None:
        """Look again now (after an action of the panel, say)."""
        self._wake.set()

    # ------------------------------------------------------------------ subscribers
    def subscribe(self) -> asyncio.Queue[Event | None]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.subscribers.add(queue)
        self._wake.set()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event | None]) -> None:
        self.subscribers.discard(queue)

    def publish(self, event: str, data: Any) -> None:
        for queue in list(self.subscribers):
            if queue.qsize() >= QUEUE_LIMIT:
                self._close(queue)  # too slow a reader: it reconnects and starts afresh
                continue
            queue.put_nowait((event, data))

    def _close(self, queue: asyncio.Queue[Event | None]) -> None:
        self.subscribers.discard(queue)
        queue.put_nowait(None)

    def close_subscribers(self) -> None:
        """End every event stream (the server is shutting down)."""
        for queue in list(self.subscribers):
            self._close(queue)

    # ------------------------------------------------------------------ the engine
    async def _connect_engine(self) -> AsyncControlClient | None:
        if self._engine is not None:
            return self._engine
        try:
            client = await AsyncControlClient(self.run_dir).connect()
        except NodeUnavailable:
            return None
        try:
            await asyncio.wait_for(client.call("subscribe", topics=ENGINE_TOPICS), REQUEST_TIMEOUT)
        except (RequestFailed, NodeUnavailable, TimeoutError):
            await client.close()
            return None
        self._engine = client
        self._events_task = asyncio.get_running_loop().create_task(self._engine_events(client))
        return client

    async def _engine_events(self, client: AsyncControlClient) -> None:
        async for _event in client.events():
            self._wake.set()
        if self._engine is client:  # the connection closed: the engine stopped?
            self._engine = None
            await client.close()
        self._wake.set()

    async def _drop_engine(self) -> None:
        client, self._engine = self._engine, None
        if client is not None:
            await client.close()

    async def _ask(self, client: AsyncControlClient, op: str) -> Any:
        return await asyncio.wait_for(client.call(op), REQUEST_TIMEOUT)

    async def _engine_view(self, with_qdevice: bool) -> tuple[Any, Any, Any]:
        client = await self._connect_engine()
        if client is None:
            return None, None, None
        try:
            engine = await self._ask(client, "status")
            quorum = await self._ask(client, "quorum.status")
        except (NodeUnavailable, RequestFailed, TimeoutError, ConnectionError):
            await self._drop_engine()
            return None, None, None
        qdevice = None
        if with_qdevice:
            with contextlib.suppress(RequestFailed):  # its agent did not start
                answer = await self._ask(client, "qdevice.status")
                if isinstance(answer, dict):
                    qdevice = answer.get("status")
        return engine, quorum, qdevice

    # ------------------------------------------------------------------ looking
    async def look(self) -> dict[str, Any]:
        """Build a snapshot now; publish it and its timeline entries if anything changed."""
        node, conf_text = self.view()
        engine = quorum = qdevice = None
        if conf_text and not node.get("local_mode"):
            try:
                engine, quorum, qdevice = await self._engine_view(qdevice_configured(conf_text))
            except (NodeUnavailable, TimeoutError, ConnectionError):
                await self._drop_engine()
        elif self._engine is not None:
            await self._drop_engine()
        snapshot = build_snapshot(
            now=time.time(),
            node=node,
            conf_text=conf_text,
            engine=engine,
            quorum=quorum,
            qdevice=qdevice,
        )
        self.looks += 1
        previous = self.snapshot
        if previous is not None and _comparable(previous) == _comparable(snapshot):
            return previous
        entries = timeline(previous, snapshot)
        self.snapshot = snapshot
        self.entries.extend(entries)
        self.publish("status", snapshot)
        for entry in entries:
            self.publish("timeline", entry.to_json())
        return snapshot

    async def _run(self) -> None:
        while True:
            try:
                await self.look()
            except Exception as err:  # the feed must outlive a bad look
                self.publish("error", f"status unavailable: {err!r}")
            interval = self.interval if self.subscribers else self.idle_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            if self._wake.is_set():
                self._wake.clear()
                await asyncio.sleep(0.05)  # let a burst of events settle into one look
