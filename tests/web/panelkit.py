"""A node's panel in-process for the handler tests: a real ``CfsDaemon`` (no engine), its
application on an aiohttp test server over TLS, and a client with a cookie jar.

``local=True`` runs the filesystem in local mode (quorate, writes apply at once);
``local=False`` with a ``corosync.conf`` runs it in cluster mode with no engine to talk to:
never quorate, every write refused, as on a node that lost quorum.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from pvecluster.api.auth import write_password
from pvecluster.api.server import build_app
from pvecluster.api.tls import ensure_certificate
from pvecluster.cfsd.daemon import CfsDaemon
from pvecluster.cfsd.ops import ControlOps
from pvecluster.client.cfs import CfsClient
from pvecluster.paths import NodeRoot
from pvecluster.web.panel import PANEL_KEY, Panel

from .confs import conf_text

PASSWORD = "pw-node1"
__all__ = ["PASSWORD", "PanelEnv", "conf_text", "panel_env"]


@dataclass
class PanelEnv:
    daemon: CfsDaemon
    client: TestClient[Any, Any]
    root: NodeRoot
    panel: Panel

    async def login(self) -> str:
        response = await self.client.post(
            "/panel/api/login", json={"username": "root@pam", "password": PASSWORD}
        )
        assert response.status == 200, await response.text()
        return str((await response.json())["data"]["CSRFPreventionToken"])

    async def read(self, path: str) -> bytes:
        """A file of the replicated filesystem, over the daemon's socket (from a thread: the
        daemon answers on this event loop)."""

        def read() -> bytes:
            with CfsClient(self.root, timeout=10) as client:
                return client.read(path)

        return await asyncio.to_thread(read)

    async def write(self, path: str, data: bytes) -> None:
        await asyncio.to_thread(_put, self.root, data, path)


def server_context(root: NodeRoot) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(root.api_cert, root.api_key)
    return context


@contextlib.asynccontextmanager
async def panel_env(
    base: Path, *, local: bool = True, conf: bytes | None = None, tls: bool = True
) -> AsyncIterator[PanelEnv]:
    root = NodeRoot(str(base / "n1"))
    write_password(root.passwd, PASSWORD)
    if conf is not None and not local:
        Path(root.corosync_dir).mkdir(parents=True, exist_ok=True)
        Path(root.corosync_conf).write_bytes(conf)
    ensure_certificate(root.api_cert, root.api_key, "node1", "127.0.0.1")
    Path(root.run_dir).mkdir(parents=True, exist_ok=True)
    daemon = CfsDaemon(root, "node1", "127.0.0.1", force_local=local, fuse=False,
                       manage_engine=False)  # fmt: skip
    daemon.open_database()
    effects = asyncio.get_running_loop().create_task(daemon._effects_loop())
    daemon.control = ControlOps(daemon)
    await daemon.control.start()
    await daemon.enter_mode()
    if conf is not None and local:
        await asyncio.to_thread(_put, root, conf)
    app = build_app(daemon)
    server = TestServer(app)
    await server.start_server(ssl=server_context(root) if tls else None)
    client: TestClient[Any, Any] = TestClient(server, connector=aiohttp.TCPConnector(ssl=False))
    await client.start_server()
    try:
        yield PanelEnv(daemon, client, root, app[PANEL_KEY])
    finally:
        await client.close()
        await daemon.leave_mode()
        await daemon.control.stop()
        effects.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await effects
        daemon.close_database()


def _put(root: NodeRoot, data: bytes, path: str = "corosync.conf") -> None:
    with CfsClient(root, timeout=10) as client:
        client.write(path, data)
