"""The node's HTTPS API for the join (ref cluster-manager.md 2.1-2.5, 5.3), on aiohttp.

Routes (JSON, ``{"data": ...}`` as Proxmox's API):

* ``POST /api2/json/access/ticket`` ``{username: root@pam, password}``: a ticket, or
  ``401 authentication failure`` (the reason is only logged); the password is checked
  against the node's scrypt file, or with ``--auth pam`` through PAM;
* ``GET /api2/json/cluster/config/apiversion``: the join API version (1);
* ``GET /api2/json/cluster/config/join``: the join information, or 424 when not clustered;
* ``POST /api2/json/cluster/config/nodes/{node}``: ``addnode`` (a ticket is required);
* ``DELETE /api2/json/cluster/config/nodes/{node}``: ``delnode``.

An operation the cluster refuses answers status 500 with ``{"message", "errors"}`` (the
joiner prints them as ``An error occurred on the cluster node: ...``). The application is
built by :func:`build_app`, which also adds the web panel (:mod:`pvecluster.web`) and its
CSRF guard: a write authenticated by the ticket cookie needs the ticket's
``CSRFPreventionToken`` header. Cluster operations run in a thread over the node's own
control socket, the same code ``pycorosync-pvecm addnode``/``delnode`` runs.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pvecluster.api.auth import Tickets
from pvecluster.api.login import (
    COOKIE,
    DAEMON_KEY,
    TICKETS_KEY,
    error_response,
    log,
    login,
    read_body,
)
from pvecluster.api.tls import fingerprint_of_pem_file
from pvecluster.client.cfs import CfsClient
from totem.srp.events import LogLevel

if TYPE_CHECKING:
    from pvecluster.cfsd.host import CfsHost

__all__ = ["API_PREFIX", "COOKIE", "ApiServer", "build_app"]

API_PREFIX = "/api2/json"


def _authorized(request: web.Request) -> bool:
    ticket = request.cookies.get(COOKIE)
    return request.app[TICKETS_KEY].valid(ticket, time.time())


async def apiversion(request: web.Request) -> web.Response:
    from pvecluster.pvecm.cluster import JOIN_API_VERSION

    return web.json_response({"data": JOIN_API_VERSION})


async def join_info(request: web.Request) -> web.Response:
    from pvecluster.pvecm.cluster import ClusterError, join_info_of

    daemon = request.app[DAEMON_KEY]
    try:
        info = await asyncio.to_thread(_with_client, daemon, join_info_of, daemon.name)
    except ClusterError as err:
        return error_response(err.status, err.message, err.errors)
    return web.json_response({"data": info})


def _with_client(daemon: CfsHost, function: Any, *args: Any, **kwargs: Any) -> Any:
    with CfsClient(daemon.root) as client:
        return function(client, daemon.root, *args, **kwargs)


async def addnode(request: web.Request) -> web.Response:
    from pvecluster.pvecm.cluster import ClusterError, addnode_request

    if not _authorized(request):
        return error_response(401, "permission denied - invalid PVE ticket")
    daemon = request.app[DAEMON_KEY]
    params = await read_body(request)
    name = request.match_info["node"]
    try:
        result = await asyncio.to_thread(_with_client, daemon, addnode_request, name, params)
    except ClusterError as err:
        log(f"addnode {name} refused: {err.message}", LogLevel.WARNING)
        return error_response(err.status, err.message, err.errors)
    return web.json_response({"data": result})


async def delnode(request: web.Request) -> web.Response:
    from pvecluster.pvecm.cluster import ClusterError
    from pvecluster.pvecm.cluster import delnode as do_delnode

    if not _authorized(request):
        return error_response(401, "permission denied - invalid PVE ticket")
    daemon = request.app[DAEMON_KEY]
    name = request.match_info["node"]
    try:
        await asyncio.to_thread(_with_client, daemon, do_delnode, daemon.name, name)
    except ClusterError as err:
        return error_response(err.status, err.message, err.errors)
    return web.json_response({"data": None})


def build_app(daemon: CfsHost) -> web.Application:
    """The API application, with the web panel (:mod:`pvecluster.web`) on the same server."""
    from pvecluster.web import setup_web

    app = web.Application()
    app[DAEMON_KEY] = daemon
    app[TICKETS_KEY] = Tickets()
    setup_web(app, daemon)
    app.router.add_post(f"{API_PREFIX}/access/ticket", login)
    app.router.add_get(f"{API_PREFIX}/cluster/config/apiversion", apiversion)
    app.router.add_get(f"{API_PREFIX}/cluster/config/join", join_info)
    app.router.add_post(f"{API_PREFIX}/cluster/config/nodes/{{node}}", addnode)
    app.router.add_delete(f"{API_PREFIX}/cluster/config/nodes/{{node}}", delnode)
    return app


class ApiServer:
    """The HTTPS server of one node on ``IP:--api-port``."""

    def __init__(self, daemon: CfsHost) -> None:
        self.daemon = daemon
        self.app = build_app(daemon)
        self.runner: web.AppRunner | None = None
        self.fingerprint = fingerprint_of_pem_file(daemon.root.api_cert)

    async def start(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.daemon.root.api_cert, self.daemon.root.api_key)
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.daemon.ip, self.daemon.api_port, ssl_context=context)
        await site.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
