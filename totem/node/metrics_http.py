"""The ``/metrics`` endpoint of a daemon (Prometheus' text format, or OpenMetrics on request).

    server = MetricsServer(new_registry_with_my_collectors, "127.0.0.1", 9664)
    await server.start()        # serves GET /metrics from the daemon's own event loop
    ...
    await server.stop()

Scrapes are answered on the daemon's event loop, between two of its turns, so the collectors
read the protocol state while nothing changes it (``prometheus_client``'s own server answers
from a thread, which would race the loop).

The HTTP side is the least a scraper needs -- ``GET`` (and ``HEAD``) of ``/metrics``, one
request per connection, the answer closes it -- on ``asyncio.start_server``: a daemon with
``--metrics`` starts as fast as one without, where an HTTP framework would cost a fifth of a
second of CPU before the node can form its ring (start to quorate is one of the node's
targets). For the same reason ``prometheus_client`` is imported, and the registry built, at
the first scrape. A request that is not HTTP, too long, or too slow to arrive is answered
400 or 408, or dropped; the daemon carries on. :func:`new_registry` holds the standard
process metrics (``process_resident_memory_bytes``, ``process_open_fds``,
``process_cpu_seconds_total``...) beside the daemon's own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.registry import Collector

__all__ = ["HEAD_LIMIT", "REQUEST_TIMEOUT", "MetricsServer", "new_registry"]

HEAD_LIMIT = 8192
"""Longest request head (request line and headers) accepted, in bytes."""
REQUEST_TIMEOUT = 10.0
"""Seconds a client has to send its request head."""

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    500: "Internal Server Error",
}


def new_registry(*collectors: Collector) -> CollectorRegistry:
    """A registry with ``collectors``, and the process, platform and garbage-collector
    metrics of this process."""
    from prometheus_client import (
        CollectorRegistry,
        GCCollector,
        PlatformCollector,
        ProcessCollector,
    )

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    for collector in collectors:
        registry.register(collector)
    return registry


class MetricsServer:
    """GET ``/metrics`` on ``host:port`` (every address when ``host`` is empty)."""

    def __init__(
        self,
        registry: Callable[[], CollectorRegistry],
        host: str,
        port: int,
        *,
        before_scrape: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._make_registry = registry
        """Builds the registry at the first scrape."""
        self._registry: CollectorRegistry | None = None
        self.host = host
        self.port = port
        self.before_scrape = before_scrape
        """Awaited before each scrape (a daemon that must first ask another one)."""
        self.scrapes = 0
        self.errors = 0
        self.bad_requests = 0
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (the real port when ``port`` was 0)."""
        if self._server is not None and self._server.sockets:
            sockname = self._server.sockets[0].getsockname()
            return str(sockname[0]), int(sockname[1])
        return self.host, self.port

    async def start(self) -> None:
        """Listen; OSError when the address cannot be bound."""
        self._server = await asyncio.start_server(
            self._serve, self.host or None, self.port, reuse_address=True, limit=HEAD_LIMIT
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
            except TimeoutError:
                await self._answer(writer, 408, b"request head not received in time\n")
                return
            except (asyncio.LimitOverrunError, asyncio.IncompleteReadError, ValueError):
                self.bad_requests += 1
                await self._answer(writer, 400, b"bad request\n")
                return
            await self._request(head, writer)
        except (ConnectionError, OSError):
            pass  # the client went away
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _request(self, head: bytes, writer: asyncio.StreamWriter) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self.bad_requests += 1
            await self._answer(writer, 400, b"bad request\n")
            return
        method, target, _version = parts
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if method not in ("GET", "HEAD"):
            await self._answer(writer, 405, b"only GET and HEAD\n", extra=("Allow: GET, HEAD",))
            return
        path = target.split("?", 1)[0]
        if path == "/":
            await self._answer(writer, 200, b"Metrics are at /metrics\n", head=method == "HEAD")
            return
        if path != "/metrics":
            await self._answer(writer, 404, b"not found: metrics are at /metrics\n")
            return
        try:
            if self.before_scrape is not None:
                await self.before_scrape()
            from prometheus_client.exposition import choose_encoder

            if self._registry is None:
                self._registry = self._make_registry()
            encoder, content_type = choose_encoder(headers.get("accept", ""))
            body = encoder(self._registry)
        except Exception as err:  # a collector bug answers 500, the daemon carries on
            self.errors += 1
            await self._answer(writer, 500, f"cannot collect metrics: {err!r}\n".encode())
            return
        self.scrapes += 1
        await self._answer(writer, 200, body, content_type=content_type, head=method == "HEAD")

    async def _answer(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        *,
        content_type: str = "text/plain; charset=utf-8",
        head: bool = False,
        extra: tuple[str, ...] = (),
    ) -> None:
        lines = [
            f"HTTP/1.1 {status} {_REASONS[status]}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            "Connection: close",
            *extra,
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if not head:
            writer.write(body)
        await writer.drain()
