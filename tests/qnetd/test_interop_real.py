"""Differential tests: the same byte streams to pycorosync-qnetd and the real corosync-qnetd.

Every scenario is replayed against both servers (``-s off``, 127.0.0.1, private lock file and
control socket) and the bytes each connection receives must be identical, message for message.
Skipped when corosync-qnetd is not installed.
"""

from __future__ import annotations

import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from qnetd.protocol import (
    AskForVote,
    EchoRequest,
    HeuristicsChange,
    Init,
    KeepActivePartitionTieBreaker,
    NodeInfo,
    NodeList,
    NodeListType,
    NodeState,
    Preinit,
    Quorate,
    RingId,
    SetOption,
    StartTls,
    TieBreaker,
    TieBreakerMode,
    VoteInfoReply,
)
from qnetd.protocol.constants import DecisionAlgorithm, Heuristics

from .servers import REAL_QNETD, REAL_TOOL, RawClient, ServerProcess, start_ours, start_real

pytestmark = [
    pytest.mark.sockets,
    pytest.mark.skipif(REAL_QNETD is None, reason="corosync-qnetd not installed"),
]

LOWEST = TieBreaker(TieBreakerMode.LOWEST)
FFSPLIT = DecisionAlgorithm.FFSPLIT


def tlv(opt: int, value: bytes) -> bytes:
    return struct.pack(">HH", opt, len(value)) + value


def frame(msg_type: int, body: bytes) -> bytes:
    return struct.pack(">HI", msg_type, len(body)) + body


def u32(v: int) -> bytes:
    return v.to_bytes(4, "big")


@dataclass
class Scenario:
    """Steps: (conn, bytes to send, {conn: frames expected}) or ("close", conn)."""

    name: str
    steps: list[tuple[object, ...]] = field(default_factory=list)

    def send(self, conn: int, data: bytes | object, expect: dict[int, int] | int = 1) -> None:
        raw = data if isinstance(data, bytes) else data.encode()  # type: ignore[attr-defined]
        exp = {conn: expect} if isinstance(expect, int) else expect
        self.steps.append(("send", conn, raw, exp))

    def close(self, conn: int, expect: dict[int, int] | None = None) -> None:
        self.steps.append(("close", conn, b"", expect or {}))

    def sleep(self, seconds: float, expect: dict[int, int] | None = None) -> None:
        self.steps.append(("sleep", seconds, b"", expect or {}))


def run(scenario: Scenario, port: int) -> list[tuple[int, int, list[str]]]:
    clients: dict[int, RawClient] = {}
    transcript: list[tuple[int, int, list[str]]] = []
    try:
        for i, (op, arg, data, expect) in enumerate(scenario.steps):
            assert isinstance(expect, dict)
            if op == "send":
                assert isinstance(arg, int) and isinstance(data, bytes)
                if arg not in clients:
                    clients[arg] = RawClient(port)
                clients[arg].send(data)
            elif op == "close":
                assert isinstance(arg, int)
                clients.pop(arg).close()
            else:
                assert isinstance(arg, float | int)
                time.sleep(arg)
            for conn, count in sorted(expect.items()):
                frames = clients[conn].frames(count)
                transcript.append((i, conn, [f.hex() for f in frames]))
        for conn, client in sorted(clients.items()):
            transcript.append((-1, conn, ["quiet" if client.quiet(0.25) else "extra"]))
            transcript.append((-2, conn, ["closed" if client.closed else "open"]))
    finally:
        for client in clients.values():
            client.close()
    return transcript


def session(s: Scenario, conn: int, cluster: bytes, node: int, **kw: object) -> None:
    """PREINIT + INIT with the defaults of a real qdevice; 1 reply each."""
    s.send(conn, Preinit(cluster, 1))
    init = dict(
        node_id=node,
        decision_algorithm=FFSPLIT,
        heartbeat_interval=8000,
        tie_breaker=LOWEST,
        ring_id=RingId(1, 5),
        seq_number=2,
    )
    init.update(kw)
    s.send(conn, Init(**init))  # type: ignore[arg-type]


def nl(seq: int, kind: NodeListType, *nodes: int, **kw: object) -> NodeList:
    state = NodeState.MEMBER if kind == NodeListType.QUORUM else NodeState.NOT_SET
    return NodeList(seq, kind, tuple(NodeInfo(n, node_state=state) for n in nodes), **kw)  # type: ignore[arg-type]


CONFIG, MEMB, QUORUM = NodeListType.INITIAL_CONFIG, NodeListType.MEMBERSHIP, NodeListType.QUORUM


def scenarios() -> Iterator[Scenario]:
    s = Scenario("captured-session")
    session(s, 1, b"probe", 1)
    s.send(1, SetOption(3, None, KeepActivePartitionTieBreaker.ENABLED))
    s.send(
        1,
        nl(4, CONFIG, 1, 2).encode()
        + nl(5, MEMB, 1, ring_id=RingId(1, 5)).encode()
        + nl(6, QUORUM, 1, quorate=Quorate.INQUORATE).encode(),
        4,
    )
    s.send(1, VoteInfoReply(1), 0)
    s.send(1, nl(7, QUORUM, 1, quorate=Quorate.QUORATE))
    s.send(1, EchoRequest(1))
    yield s

    s = Scenario("framing-and-decoding-errors")
    s.send(1, Preinit(b"framing", 1))
    s.send(1, frame(18, b""))
    s.send(1, frame(0xFFFF, b"abcd"))
    s.send(1, struct.pack(">HI", 8, 40000) + b"\0" * 40000)
    s.send(1, struct.pack(">HI", 8, 32762) + tlv(0, u32(3)) + b"\0" * (32762 - 8))
    s.send(1, frame(8, b""))
    s.send(1, frame(8, tlv(0, u32(7)) + tlv(9, b"\0")))
    s.send(1, frame(10, tlv(0, u32(8)) + tlv(19, b"\0")))
    s.send(1, frame(10, tlv(0, u32(9)) + b"\0\0"))
    s.send(1, frame(10, tlv(0, u32(10)) + struct.pack(">HH", 1, 50) + b"x"))
    s.send(1, frame(10, tlv(0, u32(11)) + tlv(17, tlv(15, u32(2)))))
    s.send(1, frame(10, tlv(0, u32(12)) + tlv(17, b"")))
    s.send(1, frame(10, tlv(0, u32(13)) + tlv(4, b"\0\1\0")))
    s.send(1, frame(8, tlv(0, u32(14)) + tlv(200, b"\xde\xad")))  # before INIT: 11
    yield s

    s = Scenario("init-checks")
    s.send(1, frame(3, tlv(0, u32(2)) + tlv(9, u32(1))))  # no preinit, no HB: 13
    s.send(1, frame(3, tlv(0, u32(2)) + tlv(9, u32(1)) + tlv(12, u32(8000))))  # 6
    s.send(1, Preinit(b"initchecks", 1))
    base = {
        0: u32(3),
        4: b"\0\0\0\1",
        9: u32(1),
        11: b"\0\1",
        12: u32(8000),
        21: b"\1\0\0\0\0",
        13: struct.pack(">IQ", 1, 5),
    }
    for missing in (9, 13, 12, 21, 11):
        s.send(1, frame(3, b"".join(tlv(k, v) for k, v in base.items() if k != missing)))
    for hb in (999, 120001):
        s.send(1, frame(3, b"".join(tlv(k, u32(hb) if k == 12 else v) for k, v in base.items())))
    s.send(1, frame(3, b"".join(tlv(k, b"\0\4" if k == 11 else v) for k, v in base.items())))
    s.send(
        1,
        frame(3, b"".join(tlv(k, b"\0\7" if k == 11 else v) for k, v in base.items() if k != 9)),
    )
    s.send(1, frame(3, b"".join(tlv(k, v) for k, v in base.items())))
    yield s

    s = Scenario("requests-before-init")
    s.send(1, frame(0, tlv(0, u32(1))))  # preinit without name: 7
    s.send(1, StartTls(2))  # before preinit: 6
    s.send(1, Preinit(b"beforeinit", 3))
    for msg in (
        SetOption(4, 8000),
        EchoRequest(5),
        nl(6, CONFIG, 1),
        AskForVote(7),
        VoteInfoReply(8),
        HeuristicsChange(9, Heuristics.PASS),
    ):
        s.send(1, msg)
    for t in (1, 4, 5, 7, 9, 11, 13, 14, 17):
        s.send(1, frame(t, tlv(0, u32(100 + t))))
    yield s

    # (test algorithm: two ffsplit clients leaving before sending config lists crash the real
    # corosync-qnetd 3.0.3, see test_empty_config_disconnect_does_not_crash)
    s = Scenario("cluster-checks")
    test_alg = DecisionAlgorithm.TEST
    session(s, 1, b"checks", 1, decision_algorithm=test_alg)
    session(
        s,
        2,
        b"checks",
        2,
        decision_algorithm=test_alg,
        tie_breaker=TieBreaker(TieBreakerMode.HIGHEST),
    )
    s.send(2, Init(2, DecisionAlgorithm.LMS, 8000, LOWEST, RingId(1, 5), 3))
    s.send(2, Init(1, test_alg, 8000, LOWEST, RingId(1, 5), 4))
    s.send(2, Init(2, test_alg, 8000, LOWEST, RingId(1, 5), 5))
    s.send(1, Init(3, test_alg, 8000, LOWEST, RingId(1, 5), 6))  # INIT again
    s.send(1, EchoRequest(1))
    session(
        s,
        3,
        b"checks",
        3,
        decision_algorithm=test_alg,
        tie_breaker=TieBreaker(TieBreakerMode.NODE_ID, 1),
    )
    yield s

    s = Scenario("ffsplit-split-and-disconnect")
    for c in (1, 2):
        session(s, c, b"split", c)
        s.send(c, SetOption(3, None, KeepActivePartitionTieBreaker.ENABLED))
        s.send(c, nl(4, CONFIG, 1, 2))
        s.send(c, nl(5, MEMB, 1, 2, ring_id=RingId(1, 5)), {1: 1, c: 2} if c == 2 else 2)
    s.send(1, VoteInfoReply(1), 0)
    s.send(1, VoteInfoReply(2), 0)
    s.send(2, VoteInfoReply(1), 0)
    s.send(1, nl(6, MEMB, 1, ring_id=RingId(1, 6)))  # unstable: wait
    s.send(2, nl(6, MEMB, 2, ring_id=RingId(2, 6)), 2)  # NACK to 2 first
    s.send(2, VoteInfoReply(2), {1: 1})  # then ACK to 1
    s.send(1, VoteInfoReply(3), 0)
    s.send(2, HeuristicsChange(7, Heuristics.PASS), {2: 1, 1: 1})  # 2 now wins: NACK 1
    s.send(1, VoteInfoReply(4), {2: 1})
    s.close(2, {1: 1})  # node 2 leaves: node 1 alone gets ACK
    s.send(1, AskForVote(7))
    yield s

    s = Scenario("lms-split")
    for c in (1, 2):
        session(s, c, b"lms", c, decision_algorithm=DecisionAlgorithm.LMS, heartbeat_interval=1000)
        s.send(c, nl(3, CONFIG, 1, 2))
        s.send(c, nl(4, MEMB, 1, 2, ring_id=RingId(1, 5)))
        s.send(c, nl(5, QUORUM, 1, 2, quorate=Quorate.QUORATE))
    s.send(1, nl(6, MEMB, 1, ring_id=RingId(1, 6)))
    s.send(2, nl(6, MEMB, 2, ring_id=RingId(2, 6)))
    s.sleep(0.4, {1: 1, 2: 1})  # algorithm timers (250 ms) push the decision
    s.send(1, nl(7, QUORUM, 1, quorate=Quorate.QUORATE))
    s.send(2, AskForVote(7))
    s.send(2, HeuristicsChange(8, Heuristics.FAIL))
    yield s

    s = Scenario("2nodelms")
    for c in (1, 2):
        session(s, c, b"twonode", c, decision_algorithm=DecisionAlgorithm.TWO_NODE_LMS)
        s.send(c, AskForVote(3))
        s.send(c, nl(4, CONFIG, 1, 2))
        s.send(c, nl(5, MEMB, 1, 2, ring_id=RingId(1, 5)))
    s.send(1, nl(6, MEMB, 1, ring_id=RingId(1, 6)))
    s.send(2, nl(6, MEMB, 2, ring_id=RingId(2, 6)))
    s.send(2, nl(7, CONFIG, 1, 2, 3))
    s.close(1)
    s.sleep(0.3)  # let the server see the disconnect before the next list
    s.send(2, nl(8, MEMB, 2, ring_id=RingId(2, 7)))
    yield s

    s = Scenario("test-algorithm-and-options")
    session(s, 1, b"testalg", 1, decision_algorithm=DecisionAlgorithm.TEST)
    s.send(1, nl(3, CONFIG, 1, config_version=7))
    s.send(1, nl(4, MEMB, 1, ring_id=RingId(1, 5), heuristics=Heuristics.FAIL))
    s.send(1, AskForVote(5))
    s.send(1, SetOption(6, 999))
    s.send(1, SetOption(7, 2000, KeepActivePartitionTieBreaker.DISABLED))
    s.send(1, frame(6, tlv(0, u32(8))))
    s.send(1, frame(6, tlv(12, u32(3000))))
    s.send(1, frame(16, tlv(0, u32(9))))
    s.send(1, frame(10, tlv(18, b"\0")))
    s.send(1, frame(10, tlv(0, u32(10)) + tlv(18, b"\2")))
    s.send(1, frame(10, tlv(0, u32(11)) + tlv(18, b"\3")))
    s.send(1, frame(12, tlv(1, b"x")))
    s.send(1, frame(15, tlv(1, b"x")))
    yield s

    s = Scenario("ffsplit-list-validation")
    session(s, 1, b"valid", 1)
    s.send(1, nl(3, CONFIG, 2, 3))
    s.send(1, nl(4, CONFIG))
    s.send(1, nl(5, MEMB, 1, ring_id=RingId(1, 5)))  # no config yet: ask later
    s.send(1, nl(6, MEMB, 2, ring_id=RingId(1, 6)))
    s.send(1, nl(7, CONFIG, 1, 2), 2)  # CHANGED? no: INITIAL -> ask later... then decide
    yield s


SCENARIOS = list(scenarios())


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ServerProcess, ServerProcess]]:
    ours = start_ours("-s", "off")
    try:
        real = start_real("-s", "off")
    except Exception:
        ours.stop()
        raise
    try:
        yield ours, real
    finally:
        ours.stop()
        real.stop()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_same_bytes_as_corosync_qnetd(
    servers: tuple[ServerProcess, ServerProcess], scenario: Scenario
) -> None:
    ours, real = servers
    expected = run(scenario, real.port)
    got = run(scenario, ours.port)
    assert got == expected


@pytest.mark.timeout(60)
def test_starttls_without_tls_closes_like_the_real_server(
    servers: tuple[ServerProcess, ServerProcess],
) -> None:
    results = []
    for server in servers:
        c = RawClient(server.port)
        c.send(Preinit(b"notls", 1))
        reply = c.frames(1)
        c.send(StartTls(2))
        results.append((reply, c.wait_closed(3.0)))
        c.close()
    assert results[0] == results[1]
    assert results[0][1] is True


@pytest.mark.timeout(60)
def test_dead_peer_detection_matches() -> None:
    ours = start_ours("-s", "off")
    real = start_real("-s", "off")
    try:
        timings = []
        for server in (ours, real):
            c = RawClient(server.port)
            c.send(Preinit(b"dpd", 1), Init(1, FFSPLIT, 1000, LOWEST, RingId(1, 5), 2))
            assert len(c.frames(2)) == 2
            t0 = time.monotonic()
            assert c.wait_closed(5.0)
            timings.append(time.monotonic() - t0)
            c.close()
        for t in timings:
            assert 1.3 < t < 2.6  # 1.5 x 1000 ms, plus poll granularity
    finally:
        ours.stop()
        real.stop()


@pytest.mark.timeout(60)
def test_max_clients_matches() -> None:
    ours = start_ours("-s", "off", "-m", "2")
    real = start_real("-s", "off", "-m", "2")
    try:
        outcome = []
        for server in (ours, real):
            a, b, c = RawClient(server.port), RawClient(server.port), RawClient(server.port)
            closed = c.wait_closed(2.0)
            a.send(Preinit(b"max", 1))
            outcome.append((closed, len(a.frames(1))))
            for x in (a, b, c):
                x.close()
        assert outcome == [(True, 1), (True, 1)]
    finally:
        ours.stop()
        real.stop()


def _tool(socket_path: str, *args: str) -> str:
    assert REAL_TOOL is not None
    out = subprocess.run(
        [REAL_TOOL, "-p", socket_path, *args], capture_output=True, text=True, timeout=10
    )
    return out.stdout + out.stderr + f"rc={out.returncode}"


@pytest.mark.timeout(60)
@pytest.mark.skipif(REAL_TOOL is None, reason="corosync-qnetd-tool not installed")
def test_real_status_tool_reads_both_servers_identically() -> None:
    ours = start_ours("-s", "off")
    real = start_real("-s", "off")
    try:
        outputs = []
        for server in (ours, real):
            clients = []
            for node, kap in ((1, True), (2, True)):
                c = RawClient(server.port)
                c.send(
                    Preinit(b"tooltest", 1),
                    Init(node, FFSPLIT, 8000, LOWEST, RingId(1, 5), 2),
                    SetOption(3, None, KeepActivePartitionTieBreaker(int(kap))),
                    nl(4, CONFIG, 1, 2, config_version=3),
                    nl(5, MEMB, 1, 2, ring_id=RingId(1, 0x1F), heuristics=Heuristics.PASS),
                )
                c.frames(5)
                clients.append(c)
            c3 = RawClient(server.port)
            c3.send(Preinit(b'other "q"', 1), Init(7, 0, 9000, LOWEST, RingId(7, 1), 2))
            c3.frames(2)
            time.sleep(0.2)
            texts = []
            for args in (("-s",), ("-s", "-v"), ("-l",), ("-l", "-v"), ("-l", "-c", "tooltest")):
                text = _tool(server.ipc_socket, *args)
                for c in (*clients, c3):
                    port = c.sock.getsockname()[1]
                    text = text.replace(f"127.0.0.1:{port}", "CLIENT")
                texts.append(text.replace(f":{server.port}", ":PORT"))
            outputs.append(texts)
            for c in (*clients, c3):
                c.close()
        assert outputs[0] == outputs[1]
        assert "Vote:\t\t\tNo change (ACK)" in outputs[0][3] or "Vote:" in outputs[0][3]
    finally:
        ours.stop()
        real.stop()


@pytest.mark.timeout(60)
def test_empty_config_disconnect_does_not_crash() -> None:
    """Two ffsplit clients INIT; one leaves before any config list was sent.

    corosync-qnetd 3.0.3 dereferences the empty config list of the remaining client in the
    lowest/highest tie-breaker and dies (segfault). We answer the survivor with NACK and keep
    serving.
    """
    ours = start_ours("-s", "off")
    try:
        a, b = RawClient(ours.port), RawClient(ours.port)
        for node, c in ((1, a), (2, b)):
            c.send(Preinit(b"crash", 1), Init(node, FFSPLIT, 8000, LOWEST, RingId(1, 5), 2))
            assert len(c.frames(2)) == 2
        a.close()
        msgs = b.messages(1)
        assert [type(m).__name__ for m in msgs] == ["VoteInfo"]
        assert msgs[0].vote == 2  # type: ignore[union-attr]
        c = RawClient(ours.port)
        c.send(Preinit(b"alive", 1))
        assert len(c.frames(1)) == 1
        for x in (b, c):
            x.close()
        assert ours.proc.poll() is None
    finally:
        ours.stop()
