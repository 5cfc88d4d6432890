"""Start pycorosync-qnetd or the real corosync-qnetd on 127.0.0.1, and a raw socket client.

Servers run as subprocesses on a free port with their lock file and control socket in a
private temporary directory; they are stopped by PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from qnetd.protocol import Frame, FrameReader, Message, parse_message
from qnetd.protocol.header import SkippedFrame

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REAL_QNETD = shutil.which("corosync-qnetd")
REAL_TOOL = shutil.which("corosync-qnetd-tool")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    tmpdir: str
    ipc_socket: str
    log_path: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def _wait_ready(server: ServerProcess, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {server.log()}")
        if os.path.exists(server.ipc_socket):
            try:
                with socket.create_connection(("127.0.0.1", server.port), timeout=0.5):
                    return
            except OSError:
                pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{server.name} did not start: {server.log()}")


def start_ours(*args: str, cert_dir: str | None = None) -> ServerProcess:
    tmp = tempfile.mkdtemp(prefix="qnt-ours-")
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "qnetd.server.daemon",
        "-f",
        "-l",
        "127.0.0.1",
        "-p",
        str(port),
        "--run-dir",
        tmp,
        *args,
    ]
    if cert_dir is not None:
        cmd += ["--cert-dir", cert_dir]
    log_path = os.path.join(tmp, "log")
    env = dict(os.environ, PYTHONPATH=REPO)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    server = ServerProcess(
        "pycorosync-qnetd", proc, port, tmp, os.path.join(tmp, "pycorosync-qnetd.sock"), log_path
    )
    _wait_ready(server)
    return server


def start_real(*args: str, settings: str = "") -> ServerProcess:
    assert REAL_QNETD is not None
    tmp = tempfile.mkdtemp(prefix="qnt-real-")
    port = free_port()
    sock = os.path.join(tmp, "qnetd.sock")
    s_opts = f"lock_file={tmp}/qnetd.pid,local_socket_file={sock}"
    if settings:
        s_opts += "," + settings
    cmd = [REAL_QNETD, "-f", "-l", "127.0.0.1", "-p", str(port), "-S", s_opts, *args]
    log_path = os.path.join(tmp, "log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    server = ServerProcess("corosync-qnetd", proc, port, tmp, sock, log_path)
    _wait_ready(server)
    return server


@contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    try:
        yield server
    finally:
        server.stop()


class RawClient:
    """A blocking client speaking raw frames (optionally upgraded to TLS)."""

    def __init__(self, port: int, timeout: float = 3.0) -> None:
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection(
            ("127.0.0.1", port), timeout=timeout
        )
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = FrameReader(1 << 24)
        self.pending: list[Frame | SkippedFrame] = []
        self.closed = False

    def send(self, *items: Message | bytes) -> None:
        data = b"".join(i if isinstance(i, bytes) else i.encode() for i in items)
        self.sock.sendall(data)

    def start_tls(self, ctx: ssl.SSLContext, server_hostname: str = "Qnetd Server") -> None:
        assert isinstance(self.sock, socket.socket)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)

    def _fill(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        except (ConnectionError, ssl.SSLError, OSError):
            self.closed = True
            return False
        if not data:
            self.closed = True
            return False
        self.pending += self.reader.feed(data)
        return True

    def frames(self, count: int, timeout: float = 3.0) -> list[bytes]:
        """Exactly ``count`` frames (raw bytes); fewer if the connection ends or times out."""
        deadline = time.monotonic() + timeout
        while len(self.pending) < count and not self.closed and self._fill(deadline):
            pass
        out, self.pending = self.pending[:count], self.pending[count:]
        return [f.raw for f in out if isinstance(f, Frame)]

    def messages(self, count: int, timeout: float = 3.0) -> list[Message]:
        return [parse_message(raw) for raw in self.frames(count, timeout)]

    def quiet(self, wait: float = 0.2) -> bool:
        """True if nothing more arrives within ``wait`` seconds (and the socket stays open)."""
        deadline = time.monotonic() + wait
        while not self.closed and self._fill(deadline):
            pass
        return not self.pending

    def wait_closed(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self._fill(deadline)
        return self.closed

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
