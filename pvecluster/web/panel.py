"""The panel on the node's HTTPS server: its state, its routes and its life cycle.

:func:`setup_web` adds to the join API's aiohttp application (:func:`pvecluster.api.server.
build_app`): the page (``/``) and its static files (``/panel/static/``, shipped in the
package), the JSON and event-stream routes of :mod:`pvecluster.web.handlers`, the login
routes and the CSRF, TLS and header guards of :mod:`pvecluster.web.security`. The
:class:`Panel` holds the live feed's monitor and the worker tasks; it starts with the
server, ends the browsers' event streams when the server shuts down and stops the tasks'
processes when it stops.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pvecluster.web.monitor import Monitor
from pvecluster.web.security import (
    csrf_middleware,
    login,
    logout,
    security_headers,
    session,
    tls_middleware,
)
from pvecluster.web.tasks import Task, TaskRegistry

if TYPE_CHECKING:
    from pvecluster.cfsd.daemon import CfsDaemon

__all__ = ["PANEL_KEY", "STATIC", "Panel", "setup_web"]

STATIC = Path(__file__).resolve().parent / "static"


class Panel:
    """The web panel of one node."""

    def __init__(self, daemon: CfsDaemon, *, interval: float = 1.0) -> None:
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


async def index(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


def setup_web(app: web.Application, daemon: CfsDaemon) -> Panel:
    """Add the panel to ``app`` (before the server starts); returns its state."""
    from pvecluster.web.handlers import ROUTES, events

    panel = Panel(daemon)
    app[PANEL_KEY] = panel
    app.middlewares.append(tls_middleware)
    app.middlewares.append(csrf_middleware)
    app.on_response_prepare.append(security_headers)
    app.on_startup.append(panel.on_startup)
    app.on_shutdown.append(panel.on_shutdown)
    app.on_cleanup.append(panel.on_cleanup)
    app.router.add_get("/", index)
    app.router.add_static("/panel/static/", STATIC)
    app.router.add_post("/panel/api/login", login)
    app.router.add_post("/panel/api/logout", logout)
    app.router.add_get("/panel/api/session", session)
    for method, path, handler in ROUTES:
        if handler is events:
            app.router.add_get(path, handler, allow_head=False)
        else:
            app.router.add_route(method, path, handler)
    return panel
