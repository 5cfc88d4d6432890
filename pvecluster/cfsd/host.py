"""What the API, the web panel, the control operations and FUSE use of the cluster
filesystem daemon (:class:`pvecluster.cfsd.daemon.CfsDaemon`), as a protocol.

The daemon builds those front ends and hands itself over; they see it through
:class:`CfsHost`, so none of them imports the daemon. :func:`log_line` is the one log
format they all write (pmxcfs's syslog lines).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Protocol

from pvecluster.cfs.memdb import MemDb
from pvecluster.cfs.node import CfsNode, FsOp
from pvecluster.paths import NodeRoot
from totem.srp.events import LogLevel, LogRecord

__all__ = ["CfsHost", "log_line"]

_LEVEL_WORDS = {
    LogLevel.ERROR: "crit",
    LogLevel.WARNING: "warning",
    LogLevel.NOTICE: "notice",
    LogLevel.INFO: "info",
    LogLevel.DEBUG: "debug",
}


def log_line(record: LogRecord) -> None:
    """``[dcdb] notice: ...`` on standard error, as pmxcfs's syslog lines."""
    stamp = time.strftime("%b %d %H:%M:%S")
    level = _LEVEL_WORDS.get(record.level, "notice")
    sys.stderr.write(
        f"{stamp} pmxcfs[{os.getpid()}]: [{record.subsys}] {level}: {record.message}\n"
    )
    sys.stderr.flush()


class CfsHost(Protocol):
    """The running cluster filesystem daemon, as its front ends use it."""

    name: str
    """This node's name."""
    root: NodeRoot
    ip: str
    api_port: int
    auth: str
    """How the join API checks root's password: ``password`` or ``pam``."""
    pam_service: str
    pam_confdir: str | None
    memdb: MemDb | None
    """The database, once open."""
    node: CfsNode | None
    """The DFSM/DCDB core, once the daemon runs in cluster mode."""

    def log(self, level: LogLevel, message: str, subsys: str = "main") -> None: ...

    async def submit(self, op: FsOp) -> int:
        """Apply one filesystem operation cluster-wide (or locally); an errno, 0 on success."""
        ...

    async def write_file(self, path: str, data: bytes) -> int: ...

    def members(self) -> dict[str, Any]: ...

    def status(self) -> dict[str, Any]: ...

    async def restart(self) -> str: ...

    async def reset_database(self) -> str: ...

    def stop(self) -> None: ...
