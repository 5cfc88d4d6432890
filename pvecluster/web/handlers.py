"""The panel's HTTP handlers: status and its live feed, the actions, the editor, the tasks.

Reads come from the node itself (the filesystem daemon's state, the engine's answers through
:class:`~pvecluster.web.monitor.Monitor`). Every action is ``pycorosync-pvecm`` run as a
worker task (:mod:`pvecluster.web.tasks`); the answer is the task's UPID, and its log goes
to the browsers on the live feed. An action that writes the replicated filesystem (remove
a node, quorum device setup and removal) is refused at once when this node is not quorate,
with the filesystem's message (``cluster not ready - no quorum?``); ``expected`` stays
allowed, it is the way out of a lost quorum. The editor's checks and its save are
:mod:`pvecluster.web.editor`; the save runs over this node's filesystem socket, as pvecm.

Answers are Proxmox-shaped JSON (``{"data": ...}``, errors ``{"message", "errors"}``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pvecluster.api.login import DAEMON_KEY
from pvecluster.client.cfs import CfsClient, CfsError, CfsUnavailable
from pvecluster.corosync.conf import MAX_LINK_INDEX, config_version
from pvecluster.pvecm.cluster import NODE_NAME_RE, ClusterError
from pvecluster.web.editor import check_edit, digest_of, save
from pvecluster.web.joininfo import join_info_json, join_string, parse_join_string
from pvecluster.web.panel import PANEL_KEY, Panel
from pvecluster.web.security import error, require_ticket, ticket_of

if TYPE_CHECKING:
    from pvecluster.cfsd.host import CfsHost

__all__ = ["ROUTES", "events"]

KEEPALIVE = 15.0
NO_QUORUM = "cluster not ready - no quorum?"


def _panel(request: web.Request) -> Panel:
    return request.app[PANEL_KEY]


def _daemon(request: web.Request) -> CfsHost:
    return request.app[DAEMON_KEY]


def _data(value: Any) -> web.Response:
    return web.json_response({"data": value})


async def _params(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _param_error(errors: dict[str, str]) -> web.Response:
    return error(400, "Parameter verification failed.", errors)


def _quorate(daemon: CfsHost) -> bool:
    return daemon.node is not None and daemon.node.quorate


async def _with_client(daemon: CfsHost, function: Any, *args: Any) -> Any:
    def run() -> Any:
        with CfsClient(daemon.root, timeout=120) as client:
            return function(client, daemon.root, *args)

    return await asyncio.to_thread(run)


# ---------------------------------------------------------------------- status
@require_ticket
async def status(request: web.Request) -> web.Response:
    """``GET /panel/api/status``: the snapshot and the timeline (newest last)."""
    monitor = _panel(request).monitor
    snapshot = monitor.snapshot or await monitor.look()
    return _data({"status": snapshot, "timeline": [entry.to_json() for entry in monitor.entries]})


def _sse(event: str, data: Any) -> bytes:
    text = json.dumps(data, separators=(",", ":"))
    return f"event: {event}\ndata: {text}\n\n".encode()


async def events(request: web.Request) -> web.StreamResponse:
    """``GET /panel/api/events``: the live feed (server-sent events).

    ``status`` (a whole snapshot), ``timeline`` (one entry), ``task`` (a task's new log
    lines), then the same as they happen; a comment every 15 s keeps proxies from closing
    it; ``logout`` when the ticket expires."""
    ticket = ticket_of(request)
    if ticket is None:
        return error(401, "No ticket")
    panel = _panel(request)
    monitor = panel.monitor
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    queue = monitor.subscribe()
    try:
        snapshot = monitor.snapshot or await monitor.look()
        await response.write(_sse("status", snapshot))
        await response.write(_sse("timeline-all", [e.to_json() for e in monitor.entries]))
        await response.write(_sse("tasks", [t.to_json() for t in panel.tasks.tasks.values()]))
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), KEEPALIVE)
            except TimeoutError:
                if ticket_of(request) is None:
                    await response.write(_sse("logout", "ticket expired"))
                    break
                await response.write(b": keep-alive\n\n")
                continue
            if item is None:
                break
            await response.write(_sse(*item))
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        monitor.unsubscribe(queue)
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


# ---------------------------------------------------------------------- join information
@require_ticket
async def join_information(request: web.Request) -> web.Response:
    """``GET /panel/api/joininfo``: address, fingerprint, links and the join string."""
    from pvecluster.pvecm.cluster import join_info_of

    daemon = _daemon(request)
    try:
        info = await _with_client(daemon, join_info_of, daemon.name)
    except ClusterError as err:
        return error(err.status, err.message, err.errors)
    except CfsUnavailable as err:
        return error(503, str(err))
    data = join_info_json(info, daemon.api_port)
    data["joinString"] = join_string(info, daemon.api_port)
    return _data(data)


# ---------------------------------------------------------------------- actions
def _start(
    request: web.Request, kind: str, target: str, argv: list[str], stdin: str | None = None
) -> web.Response:
    panel = _panel(request)
    try:
        task = panel.tasks.start(kind, target, argv, stdin)
    except RuntimeError as err:
        return error(503, str(err))
    return _data({"upid": task.upid, "task": task.to_json()})


def _links(params: dict[str, Any], errors: dict[str, str]) -> list[str]:
    argv: list[str] = []
    for number in range(MAX_LINK_INDEX + 1):
        value = params.get(f"link{number}")
        if value in (None, ""):
            continue
        if not isinstance(value, str) or any(c.isspace() for c in value):
            errors[f"link{number}"] = "value must be [address=]IP[,priority=N]"
            continue
        argv += [f"--link{number}", value]
    return argv


@require_ticket
async def create(request: web.Request) -> web.Response:
    """``POST /panel/api/cluster/create {clustername, link0..7}``: ``pvecm create``."""
    params = await _params(request)
    name = params.get("clustername")
    errors: dict[str, str] = {}
    if not isinstance(name, str) or not name:
        errors["clustername"] = "property is missing and it is not optional"
    links = _links(params, errors)
    if errors:
        return _param_error(errors)
    assert isinstance(name, str)
    return _start(request, "clustercreate", name, ["create", name, *links])


@require_ticket
async def join(request: web.Request) -> web.Response:
    """``POST /panel/api/cluster/join {information, password, link0..7}``: ``pvecm add``."""
    params = await _params(request)
    errors: dict[str, str] = {}
    try:
        info = parse_join_string(str(params.get("information") or ""))
    except ValueError as err:
        errors["information"] = str(err)
        info = None
    password = params.get("password")
    if not isinstance(password, str) or not password:
        errors["password"] = "property is missing and it is not optional"
    links = _links(params, errors)
    if errors or info is None:
        return _param_error(errors)
    assert isinstance(password, str)
    argv = ["add", info.address, "--fingerprint", info.fingerprint]
    argv += ["--password-file", "/dev/stdin", "--port", str(info.port), *links]
    return _start(request, "clusterjoin", info.address, argv, stdin=password)


@require_ticket
async def expected(request: web.Request) -> web.Response:
    """``POST /panel/api/cluster/expected {expected}``: ``pvecm expected N``."""
    params = await _params(request)
    value = params.get("expected")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        return _param_error({"expected": f"type check ('integer') failed - got '{value}'"})
    return _start(request, "expected", str(value), ["expected", str(value)])


@require_ticket
async def delnode(request: web.Request) -> web.Response:
    """``DELETE /panel/api/cluster/nodes/{node}``: ``pvecm delnode``."""
    name = request.match_info["node"]
    if not NODE_NAME_RE.match(name):
        return _param_error({"node": "value does not look like a valid node name"})
    if not _quorate(_daemon(request)):
        return error(500, NO_QUORUM)
    return _start(request, "delnode", name, ["delnode", name])


@require_ticket
async def qdevice_setup(request: web.Request) -> web.Response:
    """``POST /panel/api/cluster/qdevice {address, qnetd_certs, port, force}``:
    ``pvecm qdevice setup``."""
    params = await _params(request)
    errors: dict[str, str] = {}
    address = params.get("address")
    if not isinstance(address, str) or not address or any(c.isspace() for c in address):
        errors["address"] = "property is missing and it is not optional"
    argv = ["qdevice", "setup", str(address)]
    certs = params.get("qnetd_certs")
    if certs not in (None, ""):
        if not isinstance(certs, str):
            errors["qnetd_certs"] = "value must be a directory"
        else:
            argv += ["--qnetd-certs", certs]
    port = params.get("port")
    if port not in (None, ""):
        try:
            number = int(str(port))
        except ValueError:
            number = 0
        if not 0 < number < 65536:
            errors["port"] = "value must be a port number"
        argv += ["--port", str(port)]
    if params.get("force") in (True, 1, "1", "on"):
        argv.append("--force")
    if errors:
        return _param_error(errors)
    if not _quorate(_daemon(request)):
        return error(500, NO_QUORUM)
    return _start(request, "qdevicesetup", str(address), argv)


@require_ticket
async def qdevice_remove(request: web.Request) -> web.Response:
    """``DELETE /panel/api/cluster/qdevice``: ``pvecm qdevice remove``."""
    if not _quorate(_daemon(request)):
        return error(500, NO_QUORUM)
    return _start(request, "qdeviceremove", "", ["qdevice", "remove"])


# ---------------------------------------------------------------------- tasks
@require_ticket
async def tasks(request: web.Request) -> web.Response:
    """``GET /panel/api/tasks``: the node's tasks, newest first, without their logs."""
    listing = []
    for task in reversed(_panel(request).tasks.tasks.values()):
        entry = task.to_json(len(task.lines))
        entry.pop("lines")
        listing.append(entry)
    return _data(listing)


@require_ticket
async def task_log(request: web.Request) -> web.Response:
    """``GET /panel/api/tasks/{upid}``: one task with its whole log."""
    task = _panel(request).tasks.get(request.match_info["upid"])
    if task is None:
        return error(404, "no such task")
    return _data(task.to_json())


# ---------------------------------------------------------------------- the editor
def _current_conf(daemon: CfsHost) -> bytes | None:
    memdb = daemon.memdb
    if memdb is None:
        return None
    entry = memdb.lookup("corosync.conf")
    return None if entry is None or entry.is_dir else bytes(entry.data)


@require_ticket
async def conf_get(request: web.Request) -> web.Response:
    """``GET /panel/api/corosync.conf``: the replicated file, its digest and version."""
    daemon = _daemon(request)
    current = _current_conf(daemon)
    if current is None:
        return error(
            424,
            "Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node "
            "part of a cluster?",
        )
    return _data(
        {
            "text": current.decode(errors="replace"),
            "digest": digest_of(current),
            "config_version": config_version(current),
            "writable": _quorate(daemon),
        }
    )


@require_ticket
async def conf_check(request: web.Request) -> web.Response:
    """``POST /panel/api/corosync.conf/check {text}``: the checks, the final text, the diff."""
    params = await _params(request)
    text = params.get("text")
    if not isinstance(text, str):
        return _param_error({"text": "property is missing and it is not optional"})
    current = _current_conf(_daemon(request))
    check = await asyncio.to_thread(check_edit, current, text)
    result = check.to_json()
    result["digest"] = digest_of(current)
    return _data(result)


@require_ticket
async def conf_save(request: web.Request) -> web.Response:
    """``PUT /panel/api/corosync.conf {text, digest}``: write a checked edit."""
    params = await _params(request)
    text, digest = params.get("text"), params.get("digest")
    errors = {}
    if not isinstance(text, str):
        errors["text"] = "property is missing and it is not optional"
    if not isinstance(digest, str):
        errors["digest"] = "property is missing and it is not optional"
    if errors:
        return _param_error(errors)
    daemon = _daemon(request)
    if not _quorate(daemon):
        return error(500, NO_QUORUM)
    try:
        check = await _with_client(daemon, save, text, digest)
    except ClusterError as err:
        return error(err.status, err.message, err.errors)
    except CfsError as err:
        return error(500, f"unable to write '/etc/pve/corosync.conf' - {err.strerror}")
    except CfsUnavailable as err:
        return error(503, str(err))
    _panel(request).monitor.poke()
    return _data({"config_version": check.version, "time": time.time()})


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/panel/api/status", status),
    ("GET", "/panel/api/events", events),
    ("GET", "/panel/api/joininfo", join_information),
    ("POST", "/panel/api/cluster/create", create),
    ("POST", "/panel/api/cluster/join", join),
    ("POST", "/panel/api/cluster/expected", expected),
    ("DELETE", "/panel/api/cluster/nodes/{node}", delnode),
    ("POST", "/panel/api/cluster/qdevice", qdevice_setup),
    ("DELETE", "/panel/api/cluster/qdevice", qdevice_remove),
    ("GET", "/panel/api/tasks", tasks),
    ("GET", "/panel/api/tasks/{upid}", task_log),
    ("GET", "/panel/api/corosync.conf", conf_get),
    ("POST", "/panel/api/corosync.conf/check", conf_check),
    ("PUT", "/panel/api/corosync.conf", conf_save),
]
