"""The ``/metrics`` endpoint of a daemon (Prometheus' text format, or OpenMetrics on request).

    server = MetricsServer(registry, "127.0.0.1", 9664)
    await server.start()        # serves GET /metrics from the daemon's own event loop
    ...
    await server.stop()

Scrapes are answered on the daemon's event loop, between two of its turns, so the collectors
read the protocol state while nothing changes it (``prometheus_client``'s own server answers
from a thread, which would race the loop). aiohttp, the project's HTTP server, is imported
only when an endpoint is asked for. :func:`new_registry` holds the standard process metrics
(``process_resident_memory_bytes``, ``process_open_fds``, ``process_cpu_seconds_total``...)
beside the daemon's own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder

__all__ = ["MetricsServer", "new_registry"]


def new_registry() -> CollectorRegistry:
    """A registry with the process, platform and garbage-collector metrics of this process."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class MetricsServer:
    """GET ``/metrics`` on ``host:port`` (every address when ``host`` is empty)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        host: str,
        port: int,
        *,
        before_scrape: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self.before_scrape = before_scrape
        """Awaited before each scrape (a daemon that must first ask another one)."""
        self.scrapes = 0
        self.errors = 0
        self._runner: Any = None

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (the real port when ``port`` was 0)."""
        if self._runner is not None:
            for site in self._runner.sites:
                server = getattr(site, "_server", None)
                if server is not None and server.sockets:
                    sockname = server.sockets[0].getsockname()
                    return str(sockname[0]), int(sockname[1])
        return self.host, self.port

    async def start(self) -> None:
        """Listen; OSError when the address cannot be bound."""
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/", self._index)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host or None, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _index(self, _request: Any) -> Any:
        from aiohttp import web

        return web.Response(text="Metrics are at /metrics\n")

    async def _metrics(self, request: Any) -> Any:
        from aiohttp import web

        try:
            if self.before_scrape is not None:
                await self.before_scrape()
            encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
            body = encoder(self.registry)
        except Exception as err:  # a collector bug answers 500, the daemon carries on
            self.errors += 1
            return web.Response(status=500, text=f"cannot collect metrics: {err!r}\n")
        self.scrapes += 1
        return web.Response(body=body, headers={"Content-Type": content_type})
