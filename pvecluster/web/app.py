"""The panel on the node's HTTPS server: :func:`setup_web` mounts it.

It adds to the join API's aiohttp application (:func:`pvecluster.api.server.build_app`):
the page (``/``) and its static files (``/panel/static/``, shipped in the package), the
JSON and event-stream routes of :mod:`pvecluster.web.handlers`, the login routes and the
CSRF, TLS and header guards of :mod:`pvecluster.web.security`, and the
:class:`~pvecluster.web.panel.Panel`'s life cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from pvecluster.web.handlers import ROUTES, events
from pvecluster.web.panel import PANEL_KEY, STATIC, Panel
from pvecluster.web.security import (
    csrf_middleware,
    login,
    logout,
    security_headers,
    session,
    tls_middleware,
)

if TYPE_CHECKING:
    from pvecluster.cfsd.host import CfsHost

__all__ = ["setup_web"]


async def index(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


def setup_web(app: web.Application, daemon: CfsHost) -> Panel:
    """Add the panel to ``app`` (before the server starts); returns its state."""
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
