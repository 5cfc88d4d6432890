"""The live feed's monitor against a stand-in engine on a real control socket: an engine
event makes it look again at once, not at its next period; an engine that goes away is
noticed; the timeline follows."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pvecluster.web.monitor import Monitor
from totem.node.client import socket_path
from totem.node.control import ControlServer

from .confs import conf_text
from .test_status import NODE, engine, quorum


class StandInEngine:
    """``status``, ``quorum.status`` and the published topics of a node's engine."""

    def __init__(self, run_dir: str) -> None:
        self.members = [1, 2, 3]
        self.server = ControlServer(socket_path(run_dir))
        self.server.register("status", lambda _c, _r: engine(self.members))
        self.server.register("quorum.status", lambda _c, _r: quorum(self.members))

    def change(self, members: list[int]) -> None:
        self.members = members
        self.server.publish("membership", {"event": "ConfigurationChange"})


async def next_event(queue: asyncio.Queue[Any], kind: str, timeout: float = 2.0) -> Any:
    while True:
        item = await asyncio.wait_for(queue.get(), timeout)
        assert item is not None
        if item[0] == kind:
            return item[1]


def test_an_engine_event_is_seen_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        stand_in = StandInEngine(str(tmp_path))
        await stand_in.server.start()
        monitor = Monitor(str(tmp_path), lambda: (NODE, conf_text()), interval=60, idle_interval=60)
        queue = monitor.subscribe()
        monitor.start()
        try:
            first = await next_event(queue, "status")
            assert [n["online"] for n in first["nodes"]] == [True, True, True]
            assert (await next_event(queue, "timeline"))["text"] == (
                "3 of 3 nodes online, quorate (3 of 3 votes, quorum 2)"
            )
            while monitor.subscribers and not any(
                c.topics for c in stand_in.server.connections
            ):  # the monitor has subscribed
                await asyncio.sleep(0.01)
            loop = asyncio.get_running_loop()
            changed = loop.time()
            stand_in.change([1, 2])
            status = await next_event(queue, "status", timeout=1.0)
            assert loop.time() - changed < 1.0  # not the 60 s period
            assert [n["online"] for n in status["nodes"]] == [True, True, False]
            entry = await next_event(queue, "timeline")
            assert (entry["kind"], entry["text"]) == ("membership", "node3 left the membership")
            assert [e.text for e in monitor.entries][-1] == "node3 left the membership"
            # the engine goes away: the connection closing is an event too
            await stand_in.server.stop()
            status = await next_event(queue, "status", timeout=2.0)
            assert status["quorum"] is None and not status["node"]["engine_running"]
            entry = await next_event(queue, "timeline")
            assert entry["text"] == "the engine of this node stopped"
        finally:
            await monitor.stop()
            await stand_in.server.stop()
        assert await queue.get() is None  # the stream of a subscriber ends with the monitor

    asyncio.run(scenario())


def test_nothing_is_published_when_nothing_changed(tmp_path: Path) -> None:
    async def scenario() -> None:
        stand_in = StandInEngine(str(tmp_path))
        await stand_in.server.start()
        monitor = Monitor(str(tmp_path), lambda: (NODE, conf_text()), interval=60)
        queue = monitor.subscribe()
        try:
            await monitor.look()
            first = queue.qsize()
            for _ in range(3):
                await monitor.look()
            assert queue.qsize() == first and monitor.looks == 4
        finally:
            await monitor.stop()
            await stand_in.server.stop()

    asyncio.run(scenario())
