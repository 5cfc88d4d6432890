"""The daemon's agents across reloads (``totem.node.agents``), with fake agents."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from totem.node.agents import AgentReload, AgentSet


class FakeAgent:
    def __init__(self, log: list[str], tag: str, answer: AgentReload | None) -> None:
        self.log, self.tag, self.answer = log, tag, answer

    async def start(self) -> None:
        self.log.append(f"start {self.tag}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.tag}")

    def config_reloaded(self, config: Any) -> AgentReload | None:
        self.log.append(f"reload {self.tag} {config}")
        return self.answer


def test_reloads_start_keep_restart_and_stop_agents_in_order() -> None:
    async def run() -> list[str]:
        log: list[str] = []
        wanted: dict[str, AgentReload | None] = {}
        created = {"n": 0}

        def factory(daemon: Any) -> FakeAgent | None:
            if daemon.config not in wanted:
                return None
            created["n"] += 1
            return FakeAgent(log, f"#{created['n']}", wanted[daemon.config])

        def broken(daemon: Any) -> None:
            raise RuntimeError("no way")

        daemon = SimpleNamespace(config="none", loop=asyncio.get_running_loop())
        agents = AgentSet(daemon, {"dev": factory, "bad": broken})
        await agents.start()
        assert len(agents) == 0
        for config, answer in (
            ("a", AgentReload.KEEP),
            ("b", AgentReload.RESTART),
            ("c", AgentReload.STOP),
        ):
            wanted[config] = None if answer is AgentReload.KEEP else answer
            daemon.config = config
            agents.config_reloaded(config)
            await agents.settled()
            if config == "a":
                wanted["b"] = AgentReload.RESTART
                agents.running["dev"].answer = AgentReload.KEEP  # type: ignore[attr-defined]
                agents.config_reloaded("a")  # kept: nothing starts or stops
                await agents.settled()
                agents.running["dev"].answer = AgentReload.RESTART  # type: ignore[attr-defined]
            elif config == "b":
                agents.running["dev"].answer = AgentReload.STOP  # type: ignore[attr-defined]
        await agents.stop()
        assert agents.status() == {
            "running": [],
            "changes": {"started": 1, "stopped": 1, "restarted": 1},
        }
        return log

    assert asyncio.run(run()) == [
        "start #1",  # a: no agent ran, the factory gives one
        "reload #1 a",  # a again: kept
        "reload #1 b",  # b: restart with the new settings
        "stop #1",
        "start #2",
        "reload #2 c",  # c: no longer configured
        "stop #2",
    ]
