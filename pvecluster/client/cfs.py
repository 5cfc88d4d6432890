"""A blocking client of ``R/run/cfsd.sock`` (see :mod:`pvecluster.cfsd.ops`).

Refusals raise :class:`CfsError` with the errno the daemon reported, so callers can print
``Permission denied`` (EACCES) as a filesystem would.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import itertools
import json
import os
import socket
from typing import Any

from pvecluster.paths import NodeRoot

__all__ = ["CfsClient", "CfsError", "CfsUnavailable"]

_MAX_LINE = 8 * 1024 * 1024


class CfsUnavailable(Exception):
    """The node's cfsd is not running."""


class CfsError(Exception):
    """A refused operation; ``errno`` as the daemon named it (0 if it gave no errno)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        name, _, _text = message.partition(":")
        self.errno = getattr(errno, name, 0) if name.isupper() else 0

    @property
    def strerror(self) -> str:
        return os.strerror(self.errno) if self.errno else str(self)


class CfsClient:
    """One connection to a node's cfsd."""

    def __init__(self, root: str | NodeRoot, timeout: float = 30.0) -> None:
        self.root = root if isinstance(root, NodeRoot) else NodeRoot(root)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(self.root.socket)
        except OSError as err:
            self._sock.close()
            raise CfsUnavailable(
                f"cannot connect to {self.root.socket}: {err.strerror or err} "
                "(is pycorosync-cfsd running?)"
            ) from None
        self._file = self._sock.makefile("rb")
        self._ids = itertools.count(1)

    def call(self, op: str, **args: Any) -> Any:
        request_id = next(self._ids)
        line = json.dumps({"id": request_id, "op": op, **args}).encode() + b"\n"
        try:
            self._sock.sendall(line)
            while True:
                reply = self._file.readline(_MAX_LINE)
                if not reply:
                    raise CfsUnavailable("pycorosync-cfsd closed the connection")
                message = json.loads(reply)
                if message.get("id") == request_id:
                    break
        except OSError as err:
            raise CfsUnavailable(f"{self.root.socket}: {err}") from None
        if not message.get("ok"):
            raise CfsError(str(message.get("error")))
        return message.get("result")

    # convenience
    def read(self, path: str) -> bytes:
        return base64.b64decode(self.call("read", path=path))

    def read_or_none(self, path: str) -> bytes | None:
        try:
            return self.read(path)
        except CfsError as err:
            if err.errno == errno.ENOENT:
                return None
            raise

    def write(self, path: str, data: bytes) -> int:
        result: int = self.call("write", path=path, data=base64.b64encode(data).decode())
        return result

    def exists(self, path: str) -> bool:
        try:
            self.call("stat", path=path)
        except CfsError as err:
            if err.errno == errno.ENOENT:
                return False
            raise
        return True

    def mkdir(self, path: str) -> None:
        self.call("mkdir", path=path)

    def delete(self, path: str) -> None:
        self.call("delete", path=path)

    def rename(self, path: str, to: str) -> None:
        self.call("rename", path=path, to=to)

    def utime(self, path: str, mtime: int) -> None:
        self.call("utime", path=path, mtime=mtime)

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("status")
        return result

    def members(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("members")
        return result

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
            self._sock.close()

    def __enter__(self) -> CfsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
