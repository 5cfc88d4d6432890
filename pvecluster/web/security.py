"""Login, tickets and CSRF for the panel, and the headers every response carries.

* **Login** (``POST /panel/api/login``, ``root@pam`` and the node's root password, checked
  by the join API's own login: the password file of ``pycorosync-cfsd --set-password-file``):
  the ticket is set as the ``PVEAuthCookie`` cookie, ``HttpOnly`` (scripts never see it),
  ``Secure`` (TLS only) and ``SameSite=Strict`` (no cross-site request carries it), valid two
  hours; the answer holds the ticket's CSRF prevention token, which the page keeps in
  memory. A wrong password is ``401 authentication failure`` after a second, as Proxmox
  hides the reason.
* **CSRF** (:func:`csrf_middleware`, on the whole server): a request that may change
  something (not GET/HEAD/OPTIONS) and carries the ticket cookie must also carry the
  ticket's ``CSRFPreventionToken`` header, else ``401 Permission denied - invalid csrf
  token``; the panel's writes need both.
* **TLS only**: the server listens with TLS only; a request that did not come over TLS is
  refused (:func:`tls_middleware`), and every response says ``Strict-Transport-Security``
  (:func:`security_headers`). HTML pages come with a Content-Security-Policy that allows
  this origin only (no inline script, no CDN).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from pvecluster.api.auth import TICKET_LIFETIME, Tickets
from pvecluster.api.login import COOKIE, DAEMON_KEY, TICKETS_KEY
from pvecluster.api.login import login as api_login

if TYPE_CHECKING:
    from pvecluster.cfsd.host import CfsHost

__all__ = [
    "CSRF_HEADER",
    "csrf_middleware",
    "error",
    "login",
    "logout",
    "require_ticket",
    "security_headers",
    "session",
    "ticket_of",
    "tls_middleware",
]

CSRF_HEADER = "CSRFPreventionToken"
USERNAME = "root@pam"
"""The one user of the panel, as of the join API (``root@pam``)."""
FAILED_LOGIN_DELAY = 1.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_PATHS = frozenset({"/panel/api/login", "/api2/json/access/ticket"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str, errors: dict[str, str] | None = None) -> web.Response:
    """Proxmox's error shape: ``{"data": null, "message", "errors"}``."""
    return web.json_response(
        {"data": None, "message": message, "errors": errors or {}},
        status=status,
        reason=message.splitlines()[0][:80] if message else None,
    )


def ticket_of(request: web.Request) -> str | None:
    ticket = request.cookies.get(COOKIE)
    if ticket and request.app[TICKETS_KEY].valid(ticket, time.time()):
        return ticket
    return None


def require_ticket(handler: Handler) -> Handler:
    """The handler runs only with a valid ticket cookie (401 otherwise)."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        if ticket_of(request) is None:
            return error(401, "No ticket")
        return await handler(request)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in SAFE_METHODS or request.path in LOGIN_PATHS:
        return await handler(request)
    ticket = request.cookies.get(COOKIE)
    if ticket is not None:
        tickets: Tickets = request.app[TICKETS_KEY]
        if not tickets.csrf_valid(ticket, request.headers.get(CSRF_HEADER)):
            return error(401, "Permission denied - invalid csrf token")
    return await handler(request)


@web.middleware
async def tls_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.secure:
        return error(403, "TLS required: connect with https://")
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: HSTS and the browser-side guards on every answer."""
    headers = response.headers
    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/panel/api/"):
        headers.setdefault("Cache-Control", "no-store")
    if request.path == "/" or response.content_type == "text/html":
        headers.setdefault("Content-Security-Policy", CSP)


async def login(request: web.Request) -> web.Response:
    """``POST /panel/api/login {username: root@pam, password}``: the ticket cookie.

    The join API's own login checks the password (:func:`pvecluster.api.login.login`: the
    node's password file, or whatever that login is configured to use) and issues the
    ticket; the panel puts the ticket in the cookie and gives the page its CSRF token
    only."""
    answer = await api_login(request)
    body = answer.body
    if answer.status != 200 or not isinstance(body, bytes):
        await asyncio.sleep(FAILED_LOGIN_DELAY)
        return answer
    data = json.loads(body)["data"]
    daemon: CfsHost = request.app[DAEMON_KEY]
    response = web.json_response(
        {
            "data": {
                "username": data["username"],
                "CSRFPreventionToken": data["CSRFPreventionToken"],
                "node": daemon.name,
            }
        }
    )
    response.set_cookie(
        COOKIE,
        str(data["ticket"]),
        path="/",
        max_age=int(TICKET_LIFETIME),
        secure=True,
        httponly=True,
        samesite="Strict",
    )
    return response


async def logout(request: web.Request) -> web.Response:
    """``POST /panel/api/logout``: the ticket is revoked and the cookie cleared."""
    request.app[TICKETS_KEY].revoke(request.cookies.get(COOKIE))
    response = web.json_response({"data": None})
    response.del_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
    return response


async def session(request: web.Request) -> web.Response:
    """``GET /panel/api/session``: who is logged in, and the CSRF token (after a reload)."""
    ticket = ticket_of(request)
    if ticket is None:
        return error(401, "No ticket")
    daemon: CfsHost = request.app[DAEMON_KEY]
    return web.json_response(
        {
            "data": {
                "username": USERNAME,
                "CSRFPreventionToken": request.app[TICKETS_KEY].csrf_token(ticket),
                "node": daemon.name,
            }
        }
    )
