"""The blocking client of the node's control socket (see ``totem.node.control``).

``ControlClient`` is what the command-line tools use; it needs no event loop, so a tool
starts without asyncio. Programs that run one and also want pushed events (membership,
quorum, process-group deliveries) use ``totem.node.async_client.AsyncControlClient``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
from typing import Any

from totem.node.framing import MAX_LINE, SOCKET_NAME

__all__ = [
    "DEFAULT_RUN_DIR",
    "ControlClient",
    "NodeUnavailable",
    "RequestFailed",
    "socket_path",
]

DEFAULT_RUN_DIR = "/run/pycorosync"


class NodeUnavailable(Exception):
    """The daemon is not running (or not reachable) in this run directory."""


class RequestFailed(Exception):
    """The daemon refused a request; the message says why."""


def socket_path(run_dir: str | None) -> str:
    """The control socket of the daemon using ``run_dir``."""
    return os.path.join(run_dir or DEFAULT_RUN_DIR, SOCKET_NAME)


class ControlClient:
    """A blocking request/response client."""

    def __init__(self, run_dir: str | None = None, timeout: float = 10.0) -> None:
        self.path = socket_path(run_dir)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(self.path)
        except OSError as err:
            self._sock.close()
            raise NodeUnavailable(
                f"cannot connect to {self.path}: {err.strerror or err} (is pycorosync running?)"
            ) from None
        self._file = self._sock.makefile("rb")
        self._ids = itertools.count(1)

    def call(self, op: str, **args: Any) -> Any:
        """Run one operation; return its result or raise ``RequestFailed``."""
        request_id = next(self._ids)
        line = json.dumps({"id": request_id, "op": op, **args}).encode() + b"\n"
        try:
            self._sock.sendall(line)
            while True:
                reply = self._file.readline(MAX_LINE + 1)
                if not reply:
                    raise NodeUnavailable("the daemon closed the connection")
                message = json.loads(reply)
                if message.get("id") == request_id:
                    break
        except OSError as err:
            raise NodeUnavailable(f"{self.path}: {err}") from None
        if not message.get("ok"):
            raise RequestFailed(str(message.get("error")))
        return message.get("result")

    def events(self) -> Any:
        """Yield pushed events forever (after a ``subscribe``)."""
        self._sock.settimeout(None)
        while True:
            line = self._file.readline(MAX_LINE + 1)
            if not line:
                return
            message = json.loads(line)
            if "event" in message:
                yield message

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
            self._sock.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
