"""The IPC server on real sockets, driven by libqb's own client (``tests.ipc.qbclient``).

Each test serves a throw-away service under a unique abstract name, with the connection
files in the test's own directory; the server runs its loop in a thread while the client
blocks in libqb, as a real client program would.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.ipc.qbclient import LIBQB, QbClient, QbError
from totem.ipc.engine import LibConnection, LibHandler
from totem.ipc.server import IpcAddressInUse, IpcServer, IpcService, ServerLimits
from totem.ipc.setup import Credentials, corosync_access_allowed
from totem.ipc.wire import REQUEST_HEADER, CsError, IpcType, response_header

pytestmark = [
    pytest.mark.sockets,
    pytest.mark.skipif(LIBQB is None, reason="libqb (libqb100) is not installed"),
]
REPO = Path(__file__).resolve().parents[2]
TRANSPORTS = [IpcType.SOCKET, IpcType.SHM]


class Echo:
    """A service: 0 echoes, 1 sends ``n`` events of ``size`` bytes then answers, 2 answers
    later (``pending``); ``exits`` counts lib_exit."""

    def __init__(self) -> None:
        self.pending: list[LibConnection] = []
        self.exits: list[int] = []
        self.conns: list[LibConnection] = []

    def echo(self, conn: LibConnection, data: bytes, now: float) -> None:
        conn.respond(response_header(100, 24 + len(data) - 16) + data[16:])

    def events(self, conn: LibConnection, data: bytes, now: float) -> None:
        count, size = (int(x) for x in data[16:].decode().split())
        for i in range(count):
            body = i.to_bytes(4, "little") + bytes(size - 28)
            conn.dispatch(response_header(200, size) + body)
        conn.respond(response_header(101, 24))

    def later(self, conn: LibConnection, data: bytes, now: float) -> None:
        self.pending.append(conn)

    def service(self, name: str) -> IpcService:
        handlers = [
            LibHandler(self.echo, 16),
            LibHandler(self.events, 16),
            LibHandler(self.later, 16),
        ]
        return IpcService(name, 99, handlers, self.conns.append, lambda c: self.exits.append(c.id))


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A short directory (abstract socket names are cut at 106 bytes, as /dev/shm's are short)."""
    path = Path(tempfile.mkdtemp(prefix="pyqb-", dir="/tmp"))
    path.chmod(0o1777)  # as /dev/shm: clients of any uid reach their own directory
    yield path
    shutil.rmtree(path, ignore_errors=True)


@contextmanager
def serving(
    kind: IpcType, tmp_path: Path, echo: Echo, **options: Any
) -> Iterator[tuple[IpcServer, str, list[str]]]:
    name = f"pyqbtest-{uuid.uuid4().hex[:12]}"
    logs: list[str] = []
    loop = asyncio.new_event_loop()
    server = IpcServer(
        loop,
        [echo.service(name)],
        ipc_type=kind,
        sending_allowed=lambda service, size: True,
        log=lambda level, message: logs.append(f"{level.name} {message}"),
        shm_dir=str(tmp_path),
        **options,
    )
    server.start()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield server, name, logs
    finally:
        loop.call_soon_threadsafe(server.stop)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def request(message_id: int, body: bytes = b"") -> bytes:
    return REQUEST_HEADER.pack(message_id, 16 + len(body)) + body


def files(tmp_path: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("kind", TRANSPORTS, ids=lambda k: k.name)
def test_requests_responses_events_and_cleanup(kind: IpcType, tmp_path: Path) -> None:
    echo = Echo()
    with serving(kind, tmp_path, echo) as (server, name, _logs), QbClient(name) as client:
        assert client.call(request(0, b"ping")) == response_header(100, 28) + b"ping"
        assert client.call(request(1, b"5 64")) == response_header(101, 24)
        events = [client.event(1000) for _ in range(5)]
        assert [int.from_bytes(e[24:28], "little") for e in events] == [0, 1, 2, 3, 4]
        assert all(len(e) == 64 for e in events)
        paths = files(tmp_path)
        if kind is IpcType.SHM:
            assert len(paths) == 7  # the directory and three rings of two files
            assert any(p.endswith(f"-request-{name}-header") for p in paths)
        else:
            assert len(paths) == 2  # the directory and the control file
            assert paths[1].endswith(f"/qb-control-{name}")
        client.close()
        wait_for(lambda: server.stats["closed"] == 1)
        assert echo.exits != []
        assert files(tmp_path) == []


@pytest.mark.parametrize("kind", TRANSPORTS, ids=lambda k: k.name)
def test_unknown_short_and_missized_requests_get_invalid_param(
    kind: IpcType, tmp_path: Path
) -> None:
    invalid = response_header(0, 24, CsError.ERR_INVALID_PARAM)
    with serving(kind, tmp_path, Echo()) as (server, name, _), QbClient(name) as client:
        assert client.call(request(7)) == invalid
        assert client.call(request(-5)) == invalid
        lying = REQUEST_HEADER.pack(0, 4000) + b"abc"
        assert client.call(lying) == invalid
        assert client.call(request(0, b"ok")) == response_header(100, 26) + b"ok"
        [conn] = server.connections.values()
        assert conn.stats.invalid_request == 3


def test_refused_before_the_node_is_ready(tmp_path: Path) -> None:
    with serving(IpcType.SHM, tmp_path, Echo(), ready=lambda: False) as (_, name, logs):
        with pytest.raises(QbError) as refused:
            QbClient(name)
        assert refused.value.errno == errno.EAGAIN
        assert any("not ready" in line for line in logs)
    assert files(tmp_path) == []


CLIENT = """
import sys
sys.path.insert(0, {repo!r})
import os
from tests.ipc.qbclient import QbClient, QbError  # (imported before the uid changes)
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
try:
    QbClient({name!r}).close()
    print("connected")
except QbError as err:
    print("refused", err.errno)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another uid")
def test_non_root_client_refused_unless_uidgid_allows_it(tmp_path: Path) -> None:
    allowed: dict[str, int] = {}

    def access(creds: Credentials) -> bool:
        return corosync_access_allowed(creds.uid, creds.gid, allowed.get)

    with serving(IpcType.SHM, tmp_path, Echo(), access=access) as (server, name, logs):
        script = CLIENT.format(repo=str(REPO), name=name)
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
        )
        assert out.stdout.split() == ["refused", str(errno.EACCES)], out.stderr
        assert "ERROR Denied connection attempt from 65534:65534" in logs
        allowed["uidgid.gid.65534"] = 1
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
        )
        assert out.stdout.split() == ["connected"], out.stderr
        assert server.stats["refused"] == 1


def test_second_server_on_the_same_names_is_refused(tmp_path: Path) -> None:
    with serving(IpcType.SOCKET, tmp_path, Echo()) as (_, name, _logs):
        other = IpcServer(
            asyncio.new_event_loop(),
            [Echo().service(name)],
            ipc_type=IpcType.SOCKET,
            sending_allowed=lambda s, n: True,
        )
        with pytest.raises(IpcAddressInUse, match=f"'{name}' is already served"):
            other.start()


DYING = """
import sys
sys.path.insert(0, {repo!r})
from tests.ipc.qbclient import QbClient
from totem.ipc.wire import REQUEST_HEADER
client = QbClient({name!r})
print("connected", flush=True)
client.send(REQUEST_HEADER.pack(2, 16))   # answered later
sys.stdin.read()
"""


@pytest.mark.parametrize("kind", TRANSPORTS, ids=lambda k: k.name)
def test_client_dying_mid_request(kind: IpcType, tmp_path: Path) -> None:
    echo = Echo()
    with serving(kind, tmp_path, echo) as (server, name, _logs):
        child = subprocess.Popen(
            [sys.executable, "-c", DYING.format(repo=str(REPO), name=name)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "connected"
            wait_for(lambda: echo.pending != [])
            child.send_signal(signal.SIGKILL)
            child.wait(5)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        wait_for(lambda: server.stats["closed"] == 1)
        conn = echo.pending[0]
        assert conn.closed
        server.loop.call_soon_threadsafe(conn.respond, response_header(102, 24))  # too late
        time.sleep(0.05)
        assert files(tmp_path) == []
        with QbClient(name) as client:  # the others carry on
            assert client.call(request(0, b"x")) == response_header(100, 25) + b"x"


@pytest.mark.parametrize("kind", TRANSPORTS, ids=lambda k: k.name)
def test_full_event_queue_back_pressure_then_disconnect(kind: IpcType, tmp_path: Path) -> None:
    limits = ServerLimits(queue_high=256 << 10, queue_low=64 << 10, queue_limit=4 << 20)
    echo = Echo()
    with serving(kind, tmp_path, echo, limits=limits) as (server, name, logs):
        client = QbClient(name)
        try:
            assert client.call(request(1, b"40 65536")) == response_header(101, 24)
            [conn] = server.connections.values()
            wait_for(lambda: conn.stats.flow_control == 2)  # queue over queue_high
            # libcpg's mcast (fc_enable_max 2) is refused by the library itself now
            client.fc_enable_max(2)
            assert client.send(request(0, b"m")) == -errno.EAGAIN
            client.fc_enable_max(1)
            for _ in range(40):  # the client reads: the queue drains, the flag drops
                client.event(2000)
            wait_for(lambda: conn.stats.flow_control == 0)
            assert conn.stats.dispatched == 40
            client.call(request(1, b"120 65536"))  # never read: over queue_limit
            wait_for(lambda: conn.closed)
            assert any("does not read its events" in line for line in logs)
            wait_for(lambda: files(tmp_path) == [])
        finally:
            client.close()


def test_flow_control_value_reaches_the_client(tmp_path: Path) -> None:
    with (
        serving(IpcType.SOCKET, tmp_path, Echo()) as (server, name, _logs),
        QbClient(name) as client,
    ):
        server.loop.call_soon_threadsafe(server.set_flow_control, 1)
        [conn] = server.connections.values()
        wait_for(lambda: conn.stats.flow_control == 1)
        assert client.send(request(0, b"x")) == -errno.EAGAIN
        server.loop.call_soon_threadsafe(server.set_flow_control, 0)
        wait_for(lambda: conn.stats.flow_control == 0)
        assert client.call(request(0, b"y")) == response_header(100, 25) + b"y"
