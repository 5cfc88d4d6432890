"""The panel's state on the node's HTTPS server, and its life cycle.

The :class:`Panel` holds the live feed's monitor and the worker tasks; it starts with the
server, ends the browsers' event streams when the server shuts down and stops the tasks'
processes when it stops. :mod:`pvecluster.web.app` mounts it with its routes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pvecluster.web.monitor import Monitor
from pvecluster.web.tasks import Task, TaskRegistry

if TYPE_CHECKING:
    from pvecluster.cfsd.host import CfsHost

__all__ = ["PANEL_KEY", "STATIC", "Panel"]

STATIC = Path(__file__).resolve().parent / "static"


class Panel:
    """The web panel of one node."""

    def __init__(self, daemon: CfsHost, *, interval: float = 1.0) -> None:
        self.daemon = daemon
        self.monitor = Monitor(daemon.root.run_dir, self.node_view, interval=interval)
        self.tasks = TaskRegistry(daemon.root.root, daemon.name, self._task_changed)

    def node_view(self) -> tuple[dict[str, Any], bytes | None]:
        """The filesystem daemon's status and the replicated corosync.conf."""
        daemon = self.daemon
        if daemon.node is None or daemon.memdb is None:
            return {"name": daemon.name, "ip": daemon.ip}, None
        entry = daemon.memdb.lookup("corosync.conf")
        conf = None if entry is None or entry.is_dir else bytes(entry.data)
        return daemon.status(), conf

    def _task_changed(self, task: Task, since: int) -> None:
        self.monitor.publish("task", task.to_json(since))
        if not task.running:
            self.monitor.poke()

    async def on_startup(self, _app: web.Application) -> None:
        self.monitor.start()

    async def on_shutdown(self, _app: web.Application) -> None:
        self.monitor.close_subscribers()

    async def on_cleanup(self, _app: web.Application) -> None:
        await self.tasks.stop()
        await self.monitor.stop()


PANEL_KEY: web.AppKey[Panel] = web.AppKey("panel", Panel)
