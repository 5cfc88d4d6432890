"""The /metrics endpoint's HTTP: what a scraper gets, and what a bad client gets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily

from totem.node import metrics_http
from totem.node.metrics_http import MetricsServer, new_registry

pytestmark = pytest.mark.sockets


class _Gauge:
    def __init__(self) -> None:
        self.value = 1.0
        self.fail = False

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.fail:
            raise RuntimeError("collector bug")
        family = GaugeMetricFamily("pycorosync_test_value", "A test value")
        family.add_metric([], self.value)
        yield family


async def _exchange(port: int, request: bytes, *, pause: float = 0.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    if pause:
        await asyncio.sleep(pause)
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


def test_scrapes_and_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    gauge = _Gauge()
    built: list[CollectorRegistry] = []

    def registry() -> CollectorRegistry:
        built.append(new_registry(gauge))  # type: ignore[arg-type]
        return built[-1]

    async def run() -> None:
        server = MetricsServer(registry, "127.0.0.1", 0)
        await server.start()
        port = server.address[1]
        assert built == []  # nothing of prometheus_client until the first scrape
        answer = await _exchange(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Content-Type: text/plain; version=0.0.4" in head
        assert b"Connection: close" in head
        assert b"pycorosync_test_value 1.0\n" in body
        assert b"process_open_fds" in body
        assert f"Content-Length: {len(body)}".encode() in head
        gauge.value = 2.0
        answer = await _exchange(port, b"HEAD /metrics HTTP/1.0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"\r\n\r\n")
        assert len(built) == 1 and server.scrapes == 2

        answer = await _exchange(port, b"POST /metrics HTTP/1.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 405 ") and b"Allow: GET, HEAD" in answer
        assert (await _exchange(port, b"GET /x HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404 ")
        assert (await _exchange(port, b"\x16\x03\x01 junk\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
        too_long = b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 10000 + b"\r\n\r\n"
        assert (await _exchange(port, too_long)).startswith(b"HTTP/1.1 400 ")
        assert server.bad_requests == 2
        gauge.fail = True
        answer = await _exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 500 ") and b"collector bug" in answer
        gauge.fail = False
        monkeypatch.setattr(metrics_http, "REQUEST_TIMEOUT", 0.1)
        answer = await _exchange(port, b"GET /metrics HTTP/1.1\r\n", pause=0.3)
        assert answer.startswith(b"HTTP/1.1 408 ")
        answer = await _exchange(port, b"GET /metrics?x=1 HTTP/1.1\r\n\r\n")
        assert (
            b"pycorosync_test_value 1.0\n" not in answer
            and b"pycorosync_test_value 2.0\n" in answer
        )
        assert (server.scrapes, server.errors) == (3, 1)
        await server.stop()

    asyncio.run(run())
