"""The engine supervisor: ``pycorosync`` as a child of ``pycorosync-cfsd`` (ref 5.3).

systemd starts corosync beside pve-cluster on a Proxmox host; here cfsd starts the node's
engine itself, from the node root::

    pycorosync -f -c R/etc/corosync/corosync.conf --nodeid N --run-dir R/run
               --state-dir R/var/lib/corosync

with ``PYCOROSYNC_AUTHKEY=R/etc/corosync/authkey`` and
``PYCOROSYNC_QDEVICE_CERT_DIR=R/etc/corosync/qdevice/net``; its log goes to
``R/var/log/corosync.log``. The node id is this node's entry of the nodelist, by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

from pvecluster.corosync.conf import ConfError, parse_conf
from pvecluster.paths import NodeRoot
from totem.config.model import AUTHKEY_ENV
from votequorum.qdevice.settings import CERT_DIR_ENV

__all__ = ["EngineError", "EngineSupervisor", "local_nodeid"]

STOP_TIMEOUT = 5.0


class EngineError(Exception):
    """The engine cannot be started (the message says why)."""


def local_nodeid(conf_text: bytes, name: str) -> int:
    """This node's id in the nodelist (by name, else by ``ring0_addr``)."""
    try:
        conf = parse_conf(conf_text)
    except ConfError as err:
        raise EngineError(f"unable to parse corosync.conf: {err}") from None
    node = conf.nodelist.get(name)
    if node is None or "nodeid" not in node:
        raise EngineError(f"this node ({name}) is not in the nodelist of corosync.conf")
    try:
        return int(node["nodeid"])
    except ValueError:
        raise EngineError(f"invalid nodeid for node {name}") from None


class EngineSupervisor:
    """Start, watch and stop the node's engine."""

    def __init__(self, root: NodeRoot, name: str) -> None:
        self.root = root
        self.name = name
        self.process: asyncio.subprocess.Process | None = None
        self.nodeid: int | None = None
        self.exits: list[int] = []
        """Exit statuses of the engines this supervisor started."""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> int:
        """Start the engine; returns its node id. EngineError if it cannot start."""
        if self.running:
            assert self.nodeid is not None
            return self.nodeid
        root = self.root
        try:
            with open(root.corosync_conf, "rb") as handle:
                text = handle.read()
        except OSError as err:
            raise EngineError(f"cannot read {root.corosync_conf}: {err.strerror}") from None
        nodeid = local_nodeid(text, self.name)
        for directory in (root.run_dir, root.state_dir, root.log_dir):
            os.makedirs(directory, exist_ok=True)
        env = dict(os.environ)
        env[AUTHKEY_ENV] = root.authkey
        env[CERT_DIR_ENV] = root.qdevice_cert_dir
        log = open(root.engine_log, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "totem.node.daemon",
                "-f",
                "-c",
                root.corosync_conf,
                "--nodeid",
                str(nodeid),
                "--run-dir",
                root.run_dir,
                "--state-dir",
                root.state_dir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        finally:
            log.close()
        self.nodeid = nodeid
        return nodeid

    async def wait(self) -> int:
        process = self.process
        if process is None:
            return 0
        status = await process.wait()
        return status

    async def stop(self) -> None:
        """SIGTERM (a graceful leave), then SIGKILL after a few seconds."""
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if process.returncode is not None:
            self.exits.append(process.returncode)
        self.process = None
