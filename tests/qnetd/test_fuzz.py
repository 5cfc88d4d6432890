"""Malformed input never breaks the server: sans-IO fuzzing and fuzzed frames over TCP."""

from __future__ import annotations

import random
import struct
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qnetd.protocol import (
    EchoRequest,
    Init,
    NodeInfo,
    NodeList,
    NodeListType,
    Preinit,
    RingId,
    TieBreaker,
    TieBreakerMode,
    parse_message,
)
from qnetd.protocol.constants import DecisionAlgorithm
from qnetd.server.events import Close, Send, StartTls
from qnetd.server.instance import QnetdServer
from qnetd.server.settings import ServerConfig

from .harness import Harness
from .servers import REPO, RawClient, start_ours

LOWEST = TieBreaker(TieBreakerMode.LOWEST)


def option(draw_type: int, value: bytes) -> bytes:
    return struct.pack(">HH", draw_type, len(value)) + value


tlv_value = st.one_of(
    st.binary(max_size=14),
    st.integers(0, 2**32 - 1).map(lambda v: v.to_bytes(4, "big")),
    st.integers(0, 5).map(lambda v: bytes([v])),
)
tlvs = st.lists(
    st.builds(option, st.integers(0, 26), tlv_value)
    | st.builds(
        lambda inner: option(17, inner),
        st.lists(st.builds(option, st.sampled_from([9, 15, 16, 3]), tlv_value), max_size=3).map(
            b"".join
        ),
    ),
    max_size=8,
).map(b"".join)
frames = st.builds(
    lambda t, body, junk: struct.pack(">HI", t, len(body)) + body + junk,
    st.integers(0, 19),
    tlvs,
    st.sampled_from([b"", b"", b"", b"\x00", b"\x00\x0a\x00"]),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(frames, min_size=1, max_size=12), st.integers(1, 3))
def test_core_survives_arbitrary_frames(stream: list[bytes], conns: int) -> None:
    h = Harness(QnetdServer(ServerConfig()))
    for conn in range(1, conns + 1):
        assert h.connect(conn)
        h.join(conn + 10, b"fuzz", conn, algorithm=conn % 4)
    for i, data in enumerate(stream):
        conn = 1 + i % conns
        h.server.receive(conn, data, h.now)
        for out in h.server.outbox():
            if isinstance(out, Send):
                parse_message(out.data)  # everything we send is well-formed
            else:
                assert isinstance(out, Close | StartTls)
        h.now += 0.5
        h.server.on_deadline(h.now)
    h.server.shutdown(h.now)
    assert h.server.connections == {}


@pytest.mark.sockets
@pytest.mark.timeout(120)
def test_fuzzed_frames_over_tcp_leave_other_clients_unaffected() -> None:
    server = start_ours("-s", "off")
    rng = random.Random(5403)
    try:
        good = RawClient(server.port)
        good.send(
            Preinit(b"steady", 1),
            Init(1, DecisionAlgorithm.FFSPLIT, 8000, LOWEST, RingId(1, 5), 2),
            NodeList(3, NodeListType.INITIAL_CONFIG, (NodeInfo(1), NodeInfo(2))),
            NodeList(4, NodeListType.MEMBERSHIP, (NodeInfo(1),), ring_id=RingId(1, 5)),
        )
        assert len(good.frames(5)) == 5
        answered = disconnected = 0
        for i in range(40):
            bad = RawClient(server.port)
            payload = b""
            for _ in range(rng.randint(1, 6)):
                kind = rng.random()
                if kind < 0.3:  # random bytes
                    payload += rng.randbytes(rng.randint(1, 64))
                elif kind < 0.5:  # huge declared length, partially sent
                    payload += struct.pack(">HI", rng.randint(0, 30), rng.randint(32763, 2**32 - 1))
                    payload += rng.randbytes(rng.randint(0, 200))
                else:  # header + random TLVs
                    body = b"".join(
                        option(
                            rng.randint(0, 30), rng.randbytes(rng.choice([0, 1, 2, 4, 5, 8, 12]))
                        )
                        for _ in range(rng.randint(0, 5))
                    )
                    payload += struct.pack(">HI", rng.randint(0, 20), len(body)) + body
            if i % 3 == 0:
                payload = Preinit(b"steady", 1).encode() + payload
            bad.send(payload)
            got = bad.frames(1, timeout=0.2)
            if got:
                answered += 1
            if bad.closed:
                disconnected += 1
            bad.close()
            if i % 10 == 0:
                good.send(EchoRequest(i))
                assert good.frames(1) == [b"\x00\x09" + EchoRequest(i).encode()[2:]]
        assert answered > 10
        assert server.proc.poll() is None
        good.send(EchoRequest(1000))
        assert len(good.frames(1)) == 1
        status = subprocess.run(
            [sys.executable, "-m", "qnetd.tool", "-s", "-p", server.ipc_socket],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=REPO,
        )
        assert status.returncode == 0 and "Connected clusters:\t\t1\n" in status.stdout
        good.close()
        assert "Traceback" not in server.log()
    finally:
        server.stop()
