"""The agents a node daemon runs beside its services, and their life cycle across reloads.

An agent (the qdevice-net client) comes from an entry point of the ``pycorosync.agents``
group: ``factory(daemon) -> Agent | None``, None when the configuration does not ask for it.
corosync runs such a client as a separate daemon that systemd starts and stops
(``systemctl start|stop corosync-qdevice``); here the configuration decides, at start-up and
again at every accepted reload (cfg RELOAD_CONFIG):

* a running agent is asked ``config_reloaded(config)`` and answers :class:`AgentReload`:
  ``KEEP`` (it applied what it follows, e.g. the node list), ``RESTART`` (settings it reads
  only at start changed: it is stopped and its factory asked again) or ``STOP`` (it is no
  longer configured); an agent without the hook is kept;
* a name without a running agent has its factory asked again with the new configuration,
  and what it returns is started.

Starting and stopping are asynchronous; :meth:`AgentSet.config_reloaded` decides at once
(inside the reload) and applies the decisions on the loop, one reload after another.
A factory or an agent that fails is logged and skipped: an agent never stops the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from totem.node.entrypoints import entry_points
from totem.node.logsys import emit
from totem.srp.events import LogLevel, LogRecord

__all__ = ["AGENT_ENTRY_POINT_GROUP", "Agent", "AgentReload", "AgentSet", "load_factories"]

AGENT_ENTRY_POINT_GROUP = "pycorosync.agents"

Factory = Callable[[Any], Any]


class Agent(Protocol):
    """Something that runs beside the stack: it sees the daemon's events through
    ``daemon.driver.add_listener`` and may serve control operations; ``stop`` undoes what
    ``start`` registered, so that a new agent of the same kind can start after it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class AgentReload(enum.Enum):
    """A running agent's answer to a reload."""

    KEEP = "keep"
    RESTART = "restart"
    STOP = "stop"


def _log(level: LogLevel, message: str) -> None:
    emit(LogRecord(level, "MAIN", message))


def load_factories(group: str = AGENT_ENTRY_POINT_GROUP) -> dict[str, Factory]:
    """The factory of every entry point of ``group``, by name (the first of a name wins)."""
    factories: dict[str, Factory] = {}
    for entry_point in entry_points(group=group):
        if entry_point.name in factories:
            continue
        try:
            factories[entry_point.name] = entry_point.load()
        except Exception as err:  # a broken plugin must not take the node down
            _log(LogLevel.ERROR, f"agent {entry_point.name}: {err!r}")
    return factories


class AgentSet:
    """The daemon's agents by entry-point name."""

    def __init__(self, daemon: Any, factories: dict[str, Factory]) -> None:
        self.daemon = daemon
        self.factories = factories
        self.running: dict[str, Agent] = {}
        self._started = False
        self._pending: list[tuple[str, AgentReload | None]] = []
        self._task: asyncio.Task[None] | None = None
        self.changes = {"started": 0, "stopped": 0, "restarted": 0}

    @classmethod
    def load(cls, daemon: Any, group: str = AGENT_ENTRY_POINT_GROUP) -> AgentSet:
        """The agents the configuration asks for now (created, not started)."""
        agents = cls(daemon, load_factories(group))
        for name in agents.factories:
            agent = agents._create(name)
            if agent is not None:
                agents.running[name] = agent
        return agents

    def __iter__(self) -> Iterator[Agent]:
        return iter(list(self.running.values()))

    def __len__(self) -> int:
        return len(self.running)

    def _create(self, name: str) -> Agent | None:
        try:
            agent: Agent | None = self.factories[name](self.daemon)
        except Exception as err:
            _log(LogLevel.ERROR, f"agent {name}: {err!r}")
            return None
        return agent

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        """Start every agent (the daemon is up: control socket, driver)."""
        self._started = True
        for name, agent in list(self.running.items()):
            if not await self._start_one(name, agent):
                self.running.pop(name, None)

    async def stop(self) -> None:
        """Stop every agent, newest first (after any reload still being applied)."""
        self._started = False
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for name in reversed(list(self.running)):
            await self._stop_one(name, self.running.pop(name))

    async def _start_one(self, name: str, agent: Agent) -> bool:
        try:
            await agent.start()
        except Exception as err:
            _log(LogLevel.ERROR, f"agent {name} did not start: {err!r}")
            with contextlib.suppress(Exception):
                await agent.stop()
            return False
        return True

    async def _stop_one(self, name: str, agent: Agent) -> None:
        try:
            await agent.stop()
        except Exception as err:
            _log(LogLevel.ERROR, f"agent {name} did not stop cleanly: {err!r}")

    # ------------------------------------------------------------------ reload
    def config_reloaded(self, config: Any) -> dict[str, str]:
        """Decide for every agent after an accepted reload (``daemon.config`` is ``config``);
        the starts and stops run on the loop right after. Returns the decisions by name."""
        decisions: dict[str, str] = {}
        for name in self.factories:
            agent = self.running.get(name)
            if agent is None:
                self._pending.append((name, None))
                continue
            hook = getattr(agent, "config_reloaded", None)
            answer = AgentReload.KEEP
            if hook is not None:
                try:
                    answer = hook(config) or AgentReload.KEEP
                except Exception as err:
                    _log(LogLevel.ERROR, f"agent {name}: reload failed: {err!r}")
            decisions[name] = answer.value
            if answer is not AgentReload.KEEP:
                self._pending.append((name, answer))
        if self._pending and self._started and self._task is None:
            self._task = self.daemon.loop.create_task(self._apply())
        return decisions

    async def _apply(self) -> None:
        try:
            while self._pending and self._started:
                name, answer = self._pending.pop(0)
                agent = self.running.get(name)
                if answer is None:
                    if agent is not None:
                        continue  # started meanwhile
                    new = self._create(name)
                    if new is not None and await self._start_one(name, new):
                        self.running[name] = new
                        self.changes["started"] += 1
                        _log(LogLevel.NOTICE, f"agent {name} started by the configuration")
                    continue
                if agent is None:
                    continue
                del self.running[name]
                await self._stop_one(name, agent)
                if answer is AgentReload.STOP:
                    self.changes["stopped"] += 1
                    _log(LogLevel.NOTICE, f"agent {name} stopped: no longer configured")
                    continue
                new = self._create(name)
                if new is not None and await self._start_one(name, new):
                    self.running[name] = new
                    self.changes["restarted"] += 1
                    _log(LogLevel.NOTICE, f"agent {name} restarted with its new settings")
                else:
                    self.changes["stopped"] += 1
        finally:
            self._task = None
            if self._pending and self._started:
                self._task = self.daemon.loop.create_task(self._apply())

    async def settled(self) -> None:
        """Wait until the decisions of the reloads so far are applied (tests, tools)."""
        while self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(self._task)

    def status(self) -> dict[str, Any]:
        return {"running": sorted(self.running), "changes": dict(self.changes)}
