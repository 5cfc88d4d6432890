"""The panel's HTTP handlers, on a real filesystem daemon (no engine), through aiohttp's test
client over TLS: login and the ticket cookie, CSRF on every write, TLS only, the page and
its assets, status and the live feed, the editor end to end, writes refused without
quorum, and actions run as pycorosync-pvecm tasks with their log.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pvecluster.api.tls import fingerprint_of_pem_file
from pvecluster.pvecm import cli
from pvecluster.web import worker
from pvecluster.web.panel import STATIC
from pvecluster.web.security import CSP

from .panelkit import PanelEnv, conf_text, panel_env

NO_QUORUM = "cluster not ready - no quorum?"


def run(tmp_path: Path, scenario: Callable[[PanelEnv], Awaitable[None]], **options: Any) -> None:
    async def main() -> None:
        async with panel_env(tmp_path, **options) as env:
            await asyncio.wait_for(scenario(env), 60)

    asyncio.run(main())


async def answer(response: Any) -> tuple[int, Any]:
    return response.status, await response.json()


# ---------------------------------------------------------------------- login and security
def test_login_gives_a_secure_httponly_strict_cookie(tmp_path: Path) -> None:
    async def scenario(env: PanelEnv) -> None:
        c = env.client
        status, body = await answer(
            await c.post("/panel/api/login", json={"username": "root@pam", "password": "nope"})
        )
        assert (status, body["message"]) == (401, "authentication failure")
        assert not list(c.session.cookie_jar)
        status, body = await answer(
            await c.post("/panel/api/login", json={"username": "admin@pve", "password": "x"})
        )
        assert status == 401
        response = await c.post(
            "/panel/api/login", json={"username": "root@pam", "password": "pw-node1"}
        )
        assert response.status == 200
        header = response.headers["Set-Cookie"]
        assert re.match(r'^PVEAuthCookie="PVE:root@pam:[0-9a-f]{32}"; ', header)
        for attribute in ("HttpOnly", "Max-Age=7200", "Path=/", "SameSite=Strict", "Secure"):
            assert attribute in header.split("; ")
        data = (await response.json())["data"]
        assert data["username"] == "root@pam" and data["node"] == "node1"
        assert "ticket" not in data  # the page never holds the ticket itself
        assert re.fullmatch(r"[0-9a-f]{32}", data["CSRFPreventionToken"])
        status, body = await answer(await c.get("/panel/api/session"))
        assert body["data"]["CSRFPreventionToken"] == data["CSRFPreventionToken"]
        # logout revokes the ticket
        csrf = data["CSRFPreventionToken"]
        response = await c.post("/panel/api/logout", headers={"CSRFPreventionToken": csrf})
        assert response.status == 200
        assert (await c.get("/panel/api/session")).status == 401

    run(tmp_path, scenario)


def test_every_write_needs_the_csrf_token(tmp_path: Path) -> None:
    async def scenario(env: PanelEnv) -> None:
        c = env.client
        csrf = await env.login()
        writes = [
            ("PUT", "/panel/api/corosync.conf", {"text": "", "digest": ""}),
            ("POST", "/panel/api/corosync.conf/check", {"text": ""}),
            ("POST", "/panel/api/cluster/create", {"clustername": "demo"}),
            ("POST", "/panel/api/cluster/expected", {"expected": 1}),
            ("DELETE", "/panel/api/cluster/nodes/node2", None),
            ("DELETE", "/panel/api/cluster/qdevice", None),
            ("POST", "/panel/api/logout", None),
            # the join API's own writes too, when they come with the cookie
            ("DELETE", "/api2/json/cluster/config/nodes/node2", None),
        ]
        for method, path, body in writes:
            for headers in ({}, {"CSRFPreventionToken": "0" * 32}, {"CSRFPreventionToken": ""}):
                response = await c.request(method, path, json=body, headers=headers)
                assert await answer(response) == (
                    401,
                    {
                        "data": None,
                        "message": "Permission denied - invalid csrf token",
                        "errors": {},
                    },
                ), (method, path, headers)
        assert not env.panel.tasks.tasks  # nothing ran
        # without a ticket at all: no ticket
        c.session.cookie_jar.clear()
        status, body = await answer(
            await c.post(
                "/panel/api/cluster/create",
                json={"clustername": "x"},
                headers={"CSRFPreventionToken": csrf},
            )
        )
        assert (status, body["message"]) == (401, "No ticket")

    run(tmp_path, scenario, conf=conf_text())


def test_reads_need_a_ticket(tmp_path: Path) -> None:
    async def scenario(env: PanelEnv) -> None:
        for path in (
            "/panel/api/status",
            "/panel/api/events",
            "/panel/api/joininfo",
            "/panel/api/tasks",
            "/panel/api/corosync.conf",
            "/panel/api/session",
        ):
            status, body = await answer(await env.client.get(path))
            assert (status, body["message"]) == (401, "No ticket"), path

    run(tmp_path, scenario)


def test_plain_http_is_refused(tmp_path: Path) -> None:
    async def scenario(env: PanelEnv) -> None:
        for path in ("/", "/panel/api/session", "/panel/static/app.js"):
            status, body = await answer(await env.client.get(path))
            assert (status, body["message"]) == (403, "TLS required: connect with https://")
        response = await env.client.post(
            "/panel/api/login", json={"username": "root@pam", "password": "pw-node1"}
        )
        assert response.status == 403 and "Set-Cookie" not in response.headers

    run(tmp_path, scenario, tls=False)


def test_the_page_and_its_assets_come_from_this_node_only(tmp_path: Path) -> None:
    async def scenario(env: PanelEnv) -> None:
        response = await env.client.get("/")
        assert response.status == 200 and response.content_type == "text/html"
        assert response.headers["Content-Security-Policy"] == CSP
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert response.headers["X-Frame-Options"] == "DENY"
        page = await response.text()
        assets = re.findall(r'(?:src|href)="(/panel/static/[^"]+)"', page)
        assert sorted(assets) == ["/panel/static/app.css", "/panel/static/app.js"]
        for asset in assets:
            served = await env.client.get(asset)
            assert served.status == 200
            assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert (await env.client.get("/panel/static/../panel.py")).status in (403, 404)

    run(tmp_path, scenario)
    for asset in STATIC.iterdir():
        text = asset.read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), asset  # no CDN
        assert "<script>" not in text and " style=" not in text, asset  # CSP: no inline code


# ---------------------------------------------------------------------- status and feed
def test_status_and_the_live_feed(tmp_path: Path) -> None:
    async def scenario(env: PanelEnv) -> None:
        await env.login()
        status, body = await answer(await env.client.get("/panel/api/status"))
        assert status == 200
        snapshot = body["data"]["status"]
        assert snapshot["node"]["name"] == "node1" and snapshot["node"]["local_mode"]
        assert snapshot["cluster"]["name"] == "demo"
        assert [n["name"] for n in snapshot["nodes"]] == ["node1", "node2", "node3"]
        response = await env.client.get("/panel/api/events")
        assert response.headers["Content-Type"] == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-store"
        events = _sse_events(response)
        kind, data = await anext(events)
        assert kind == "status" and data["cluster"]["config_version"] == 3
        assert (await anext(events))[0] == "timeline-all"
        assert (await anext(events)) == ("tasks", [])
        # a change of the replicated file shows on the feed, with its timeline entry
        await env.write("corosync.conf", conf_text().replace(b"version: 3", b"version: 4"))
        env.panel.monitor.poke()
        seen: dict[str, Any] = {}
        while not ("status" in seen and "timeline" in seen):
            kind, data = await anext(events)
            seen[kind] = data
        assert seen["status"]["cluster"]["config_version"] == 4
        assert seen["timeline"]["text"] == "corosync.conf version 3 -> 4"
        response.close()

    run(tmp_path, scenario, conf=conf_text())


async def _sse_events(response: Any) -> Any:
    kind = None
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: "):
            yield kind, json.loads(line[len("data: ") :])


def test_join_information(tmp_path: Path) -> None:
    async def scenario(env: PanelEnv) -> None:
        await env.login()
        status, body = await answer(await env.client.get("/panel/api/joininfo"))
        assert status == 200
        info = body["data"]
        assert info["ipAddress"] == "127.0.0.1"
        assert info["fingerprint"] == fingerprint_of_pem_file(env.root.api_cert)
        assert info["peerLinks"] == {"0": "127.0.0.1"}

    run(tmp_path, scenario, conf=conf_text())


def test_join_information_of_a_standalone_node(tmp_path: Path) -> None:
    async def scenario(env: PanelEnv) -> None:
        await env.login()
        status, body = await answer(await env.client.get("/panel/api/joininfo"))
        assert (status, body["message"]) == (
            424,
            "node is not in a cluster, no join info available!",
        )

    run(tmp_path, scenario)


# ---------------------------------------------------------------------- the editor
def test_editor_check_then_save(tmp_path: Path) -> None:
    async def scenario(env: PanelEnv) -> None:
        c = env.client
        csrf = {"CSRFPreventionToken": await env.login()}
        status, body = await answer(await c.get("/panel/api/corosync.conf"))
        current = body["data"]
        assert current["config_version"] == 3 and current["writable"]
        text = current["text"].replace("  secauth: on\n", "  secauth on\n")
        status, body = await answer(
            await c.post("/panel/api/corosync.conf/check", json={"text": text}, headers=csrf)
        )
        assert status == 200 and not body["data"]["ok"]
        assert body["data"]["errors"] == [
            "/etc/pve/corosync.conf:38: line is not opening or closing section or key value"
        ]
        text = current["text"].replace(
            "  cluster_name: demo\n", "  cluster_name: demo\n  token: 5000\n"
        )
        status, body = await answer(
            await c.post("/panel/api/corosync.conf/check", json={"text": text}, headers=csrf)
        )
        check = body["data"]
        assert check["ok"] and check["config_version"] == 4
        assert "+  token: 5000\n" in check["diff"] and check["digest"] == current["digest"]
        # the unraised text is refused at save: the version must go up
        status, body = await answer(
            await c.put(
                "/panel/api/corosync.conf",
                json={"text": text, "digest": check["digest"]},
                headers=csrf,
            )
        )
        assert (status, body["message"]) == (
            400,
            "config_version must be above 3: check the edit again",
        )
        status, body = await answer(
            await c.put(
                "/panel/api/corosync.conf",
                json={"text": check["text"], "digest": check["digest"]},
                headers=csrf,
            )
        )
        assert (status, body["data"]["config_version"]) == (200, 4)
        assert (await env.read("corosync.conf")).decode() == check["text"]
        # a second save from the same base is stale
        status, body = await answer(
            await c.put(
                "/panel/api/corosync.conf",
                json={"text": check["text"], "digest": check["digest"]},
                headers=csrf,
            )
        )
        assert (status, body["message"]) == (
            409,
            "/etc/pve/corosync.conf was changed meanwhile (now version 4): check your edit "
            "against it",
        )

    run(tmp_path, scenario, conf=conf_text())


def test_the_editor_does_not_make_a_cluster(tmp_path: Path) -> None:
    async def scenario(env: PanelEnv) -> None:
        csrf = {"CSRFPreventionToken": await env.login()}
        status, body = await answer(await env.client.get("/panel/api/corosync.conf"))
        assert (status, body["message"]) == (
            424,
            "Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node "
            "part of a cluster?",
        )
        response = await env.client.put(
            "/panel/api/corosync.conf",
            json={"text": conf_text().decode(), "digest": ""},
            headers=csrf,
        )
        assert (await answer(response))[0] == 424
        status, body = await answer(await env.client.get("/panel/api/status"))
        assert body["data"]["status"]["cluster"] is None

    run(tmp_path, scenario)


def test_writes_are_refused_without_quorum(tmp_path: Path) -> None:
    """Cluster mode with no engine to talk to: the node is not quorate."""

    async def scenario(env: PanelEnv) -> None:
        c = env.client
        csrf = {"CSRFPreventionToken": await env.login()}
        status, body = await answer(await c.get("/panel/api/corosync.conf"))
        assert not body["data"]["writable"]
        text = body["data"]["text"].replace("config_version: 3", "config_version: 4")
        refused = [
            await c.put(
                "/panel/api/corosync.conf",
                json={"text": text, "digest": body["data"]["digest"]},
                headers=csrf,
            ),
            await c.delete("/panel/api/cluster/nodes/node2", headers=csrf),
            await c.post("/panel/api/cluster/qdevice", json={"address": "127.0.0.9"}, headers=csrf),
            await c.delete("/panel/api/cluster/qdevice", headers=csrf),
        ]
        for response in refused:
            assert await answer(response) == (
                500,
                {"data": None, "message": NO_QUORUM, "errors": {}},
            )
        assert not env.panel.tasks.tasks
        assert await env.read("corosync.conf") == conf_text()  # nothing written
        # pvecm expected is the way out of a lost quorum: it runs (and, with no engine, says so)
        status, body = await answer(
            await c.post("/panel/api/cluster/expected", json={"expected": 1}, headers=csrf)
        )
        assert status == 200
        task = await env.panel.tasks.wait(body["data"]["upid"])
        assert task.lines == [
            "Cannot initialize QUORUM service",
            "TASK ERROR: Cannot initialize QUORUM service",
        ]

    run(tmp_path, scenario, local=False, conf=conf_text())


# ---------------------------------------------------------------------- actions as tasks
def test_an_action_is_a_pvecm_task_with_its_log_on_the_feed(tmp_path: Path) -> None:
    async def scenario(env: PanelEnv) -> None:
        c = env.client
        csrf = {"CSRFPreventionToken": await env.login()}
        feed = await c.get("/panel/api/events")
        events = _sse_events(feed)
        status, body = await answer(
            await c.post(
                "/panel/api/cluster/create", json={"clustername": "bad_name"}, headers=csrf
            )
        )
        assert status == 200
        upid = body["data"]["upid"]
        assert re.fullmatch(
            r"UPID:node1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:clustercreate:bad_name:root@pam:", upid
        )
        lines: list[str] = []
        while not lines or not lines[-1].startswith("TASK "):
            kind, data = await anext(events)
            if kind == "task" and data["upid"] == upid:
                assert data["first_line"] == len(lines)
                lines += data["lines"]
        assert lines == [
            "400 Parameter verification failed.",
            "clustername: value does not look like a valid node name",
            "TASK ERROR: clustername: value does not look like a valid node name",
        ]
        status, body = await answer(await c.get(f"/panel/api/tasks/{upid}"))
        assert body["data"]["lines"] == lines and body["data"]["exitstatus"] == lines[-1][12:]
        assert body["data"]["command"] == "pvecm create bad_name"
        status, body = await answer(await c.get("/panel/api/tasks"))
        assert [t["upid"] for t in body["data"]] == [upid]
        feed.close()

    run(tmp_path, scenario)


def test_create_runs_pvecm_create(tmp_path: Path) -> None:
    async def scenario(env: PanelEnv) -> None:
        c = env.client
        csrf = {"CSRFPreventionToken": await env.login()}
        _, body = await answer(
            await c.post(
                "/panel/api/cluster/create",
                json={"clustername": "demo", "link0": "127.0.0.1"},
                headers=csrf,
            )
        )
        task = await env.panel.tasks.wait(body["data"]["upid"])
        assert task.lines == [
            "Writing corosync config to /etc/pve/corosync.conf",
            "Restart corosync and cluster filesystem",
            "TASK OK",
        ]
        assert task.argv == ["create", "demo", "--link0", "127.0.0.1"]
        assert b"cluster_name: demo" in await env.read("corosync.conf")

    run(tmp_path, scenario)


def test_action_parameters_are_checked(tmp_path: Path) -> None:
    async def scenario(env: PanelEnv) -> None:
        c = env.client
        csrf = {"CSRFPreventionToken": await env.login()}
        cases = [
            (
                "/panel/api/cluster/create",
                {},
                {"clustername": "property is missing and it is not optional"},
            ),
            (
                "/panel/api/cluster/create",
                {"clustername": "a", "link0": "1.2.3.4 --force"},
                {"link0": "value must be [address=]IP[,priority=N]"},
            ),
            (
                "/panel/api/cluster/join",
                {"information": "x", "password": ""},
                {
                    "information": "this is not join information (base64 of a JSON object)",
                    "password": "property is missing and it is not optional",
                },
            ),
            (
                "/panel/api/cluster/expected",
                {"expected": "two"},
                {"expected": "type check ('integer') failed - got 'two'"},
            ),
            (
                "/panel/api/cluster/qdevice",
                {"address": "", "port": "99999"},
                {
                    "address": "property is missing and it is not optional",
                    "port": "value must be a port number",
                },
            ),
        ]
        for path, params, errors in cases:
            assert await answer(await c.post(path, json=params, headers=csrf)) == (
                400,
                {"data": None, "message": "Parameter verification failed.", "errors": errors},
            ), path
        status, body = await answer(
            await c.delete("/panel/api/cluster/nodes/bad_name", headers=csrf)
        )
        assert (status, body["errors"]) == (
            400,
            {"node": "value does not look like a valid node name"},
        )
        assert not env.panel.tasks.tasks

    run(tmp_path, scenario)


def test_the_join_password_goes_to_stdin_not_the_command_line(tmp_path: Path) -> None:
    from pvecluster.web.joininfo import join_string

    info = {
        "nodelist": [
            {
                "name": "node9",
                "pve_addr": "127.0.0.9",
                "ring0_addr": "127.0.0.9",
                "pve_fp": "AB:" * 31 + "CD",
            }
        ],
        "preferred_node": "node9",
        "totem": {},
    }

    async def scenario(env: PanelEnv) -> None:
        csrf = {"CSRFPreventionToken": await env.login()}
        status, body = await answer(
            await env.client.post(
                "/panel/api/cluster/join",
                json={"information": join_string(info), "password": "s3cret"},
                headers=csrf,
            )
        )
        assert status == 200
        task = await env.panel.tasks.wait(body["data"]["upid"])
        assert task.argv == [
            "add",
            "127.0.0.9",
            "--fingerprint",
            "AB:" * 31 + "CD",
            "--password-file",
            "/dev/stdin",
            "--port",
            "8006",
        ]
        assert "s3cret" not in " ".join(task.argv) and "s3cret" not in "\n".join(task.lines)
        assert task.lines[-1].startswith("TASK ERROR: ")  # nobody listens on 127.0.0.9

    run(tmp_path, scenario)


def test_worker_reports_a_subcommand_not_in_this_build(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def not_yet(argv: list[str]) -> int:
        raise NotImplementedError

    monkeypatch.setattr(cli, "main", not_yet)
    assert worker.main(["--root", "/r", "qdevice", "setup", "10.0.0.9"]) == 255
    assert capsys.readouterr().err == (
        "pvecm qdevice setup: not available in this build of pycorosync-pvecm\n"
    )
