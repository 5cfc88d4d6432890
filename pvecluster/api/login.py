"""Logging in to the node's API: the ticket, and what the API and the web panel share.

``POST /api2/json/access/ticket`` (:func:`login`) checks root's password against the
node's scrypt file, or through PAM with ``--auth pam``, and answers a ticket with its
``CSRFPreventionToken`` (ref cluster-manager.md 2.1). The application keys, the cookie
name and the error and log helpers live here too, so the web panel
(:mod:`pvecluster.web`) uses them without importing the API server that mounts it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from pvecluster.api.auth import Tickets, check_password
from pvecluster.cfsd.host import CfsHost, log_line
from totem.srp.events import LogLevel, LogRecord

__all__ = [
    "COOKIE",
    "DAEMON_KEY",
    "TICKETS_KEY",
    "error_response",
    "log",
    "login",
    "read_body",
]

COOKIE = "PVEAuthCookie"
DAEMON_KEY: web.AppKey[CfsHost] = web.AppKey("daemon")
TICKETS_KEY: web.AppKey[Tickets] = web.AppKey("tickets")


def error_response(status: int, message: str, errors: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"data": None, "message": message, "errors": errors or {}},
        status=status,
        reason=message.splitlines()[0] if message else None,
    )


def log(message: str, level: LogLevel = LogLevel.NOTICE) -> None:
    log_line(LogRecord(level, "pveproxy", message))


async def read_body(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        data = await request.json()
        return dict(data) if isinstance(data, dict) else {}
    form = await request.post()
    return {key: str(value) for key, value in form.items()}


async def login(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON_KEY]
    params = await read_body(request)
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
        log(f"authentication failure; rhost={peer} user={username} msg=wrong password")
        return error_response(401, "authentication failure")
    log(f"successful auth for user '{username}' from {peer}")
    tickets = request.app[TICKETS_KEY]
    ticket = tickets.issue(time.time())
    csrf = tickets.csrf_token(ticket)
    return web.json_response(
        {"data": {"ticket": ticket, "username": username, "CSRFPreventionToken": csrf}}
    )


async def _pam_check(daemon: CfsHost, password: str) -> bool:
    """``root``'s password through PAM (``--auth pam``), in a thread (PAM may be slow)."""
    from pvecluster.api.pam import PamUnavailable, pam_authenticate

    try:
        return await asyncio.to_thread(
            pam_authenticate, "root", password, daemon.pam_service, daemon.pam_confdir
        )
    except PamUnavailable as err:
        log(f"PAM authentication unavailable: {err}", LogLevel.ERROR)
        return False
