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

from pvecluster.api.auth import Tickets, check_password
from pvecluster.api.tls import fingerprint_of_pem_file
from pvecluster.client.cfs import CfsClient
from totem.srp.events import LogLevel, LogRecord

if TYPE_CHECKING:
    from pvecluster.cfsd.daemon import CfsDaemon

__all__ = ["API_PREFIX", "COOKIE", "ApiServer", "build_app"]

API_PREFIX = "/api2/json"
COOKIE = "PVEAuthCookie"
DAEMON_KEY: web.AppKey[CfsDaemon] = web.AppKey("daemon")
TICKETS_KEY: web.AppKey[Tickets] = web.AppKey("tickets")


def _error(status: int, message: str, errors: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"data": None, "message": message, "errors": errors or {}},
        status=status,
        reason=message.splitlines()[0] if message else None,
    )


def _log(message: str, level: LogLevel = LogLevel.NOTICE) -> None:
    from pvecluster.cfsd.daemon import log_line

    log_line(LogRecord(level, "pveproxy", message))


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        data = await request.json()
        return dict(data) if isinstance(data, dict) else {}
    form = await request.post()
    return {key: str(value) for key, value in form.items()}


async def login(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON_KEY]
    params = await _body(request)
    username = str(params.get("username", ""))
    password = str(params.get("password", ""))
    peer = request.remote or "?"
    if daemon.auth == "pam":
        ok = username == "root@pam" and await _pam_check(daemon, password)
    else:
        try:
            with open(daemon.root.passwd, encoding="utf-8") as handle:
                stored = handle.read()
        except OSError:
            stored = ""
        ok = username == "root@pam" and bool(stored) and check_password(stored, password)
    if not ok:
        _log(f"authentication failure; rhost={peer} user={username} msg=wrong password")
        return _error(401, "authentication failure")
    _log(f"successful auth for user '{username}' from {peer}")
    tickets = request.app[TICKETS_KEY]
    ticket = tickets.issue(time.time())
    csrf = tickets.csrf_token(ticket)
    return web.json_response(
        {"data": {"ticket": ticket, "username": username, "CSRFPreventionToken": csrf}}
    )


async def _pam_check(daemon: CfsDaemon, password: str) -> bool:
    """``root``'s password through PAM (``--auth pam``), in a thread (PAM may be slow)."""
    from pvecluster.api.pam import PamUnavailable, pam_authenticate

    try:
        return await asyncio.to_thread(
            pam_authenticate, "root", password, daemon.pam_service, daemon.pam_confdir
        )
    except PamUnavailable as err:
        _log(f"PAM authentication unavailable: {err}", LogLevel.ERROR)
        return False


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
        return _error(err.status, err.message, err.errors)
    return web.json_response({"data": info})


def _with_client(daemon: CfsDaemon, function: Any, *args: Any, **kwargs: Any) -> Any:
    with CfsClient(daemon.root) as client:
        return function(client, daemon.root, *args, **kwargs)


async def addnode(request: web.Request) -> web.Response:
    from pvecluster.pvecm.cluster import ClusterError, addnode_request

    if not _authorized(request):
        return _error(401, "permission denied - invalid PVE ticket")
    daemon = request.app[DAEMON_KEY]
    params = await _body(request)
    name = request.match_info["node"]
    try:
        result = await asyncio.to_thread(_with_client, daemon, addnode_request, name, params)
    except ClusterError as err:
        _log(f"addnode {name} refused: {err.message}", LogLevel.WARNING)
        return _error(err.status, err.message, err.errors)
    return web.json_response({"data": result})


async def delnode(request: web.Request) -> web.Response:
    from pvecluster.pvecm.cluster import ClusterError
    from pvecluster.pvecm.cluster import delnode as do_delnode

    if not _authorized(request):
        return _error(401, "permission denied - invalid PVE ticket")
    daemon = request.app[DAEMON_KEY]
    name = request.match_info["node"]
    try:
        await asyncio.to_thread(_with_client, daemon, do_delnode, daemon.name, name)
    except ClusterError as err:
        return _error(err.status, err.message, err.errors)
    return web.json_response({"data": None})


def build_app(daemon: CfsDaemon) -> web.Application:
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

    def __init__(self, daemon: CfsDaemon) -> None:
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
