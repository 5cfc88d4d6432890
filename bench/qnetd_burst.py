"""qnetd split bursts, many per run: decision latency and the server's CPU per burst, ours vs real.

``qnetd_capacity``'s decision phase takes one burst per server start from the shared swarm;
this one sets up N two-node ffsplit clusters once (KAP on, lowest tie-breaker, the message
sequence of a real qdevice) and then plays R bursts on them: every node reports a 50:50
split at once (membership = itself, its own new ring id), each gets its ACK or NACK (the
loser's VOTE_INFO is answered, which releases the winner's ACK), then the clusters heal.
For each burst it records every node's time to its decision and the server's CPU time
(``/proc/PID/task/*/schedstat``, nanoseconds on a CPU) from the first split until the burst
is answered, and prints medians over the bursts for both servers, measured turn by turn::

    python -m bench qnetd_burst                        # 100 clusters, 20 bursts, both servers
    python -m bench qnetd_burst --bursts 50 --only ours

CPU time counts only the server's own work, so it stays comparable when other jobs share the
machine; latency does not (it includes waiting for a CPU), which is why both are shown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import struct
import sys
import time
from collections.abc import Callable
from typing import Any, cast

import uvloop

from bench.qnetd_capacity import Server
from qnetd.protocol import (
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
    TieBreaker,
    TieBreakerMode,
    VoteInfoReply,
)
from qnetd.protocol.constants import DecisionAlgorithm, MsgType, Vote
from qnetd.protocol.decoder import decode_message

_HEADER = struct.Struct(">HI")


def server_cpu_ns(pid: int) -> int:
    """Time the process's threads have spent on a CPU, in nanoseconds."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            continue
    return total


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (as the swarm computes it)."""
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100.0 * len(ordered) + 0.5) - 1))
    return ordered[k]


class Node(asyncio.Protocol):
    """One fake qdevice: node 1 or 2 of its cluster."""

    def __init__(self, run: Burster, cluster: bytes, node_id: int) -> None:
        self.run = run
        self.cluster = cluster
        self.node_id = node_id
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.seq = 1
        self.ring_seq = 5
        self.replies_due = 0
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.sent_quorate = False
        self.t0: float | None = None
        self.decided_at: float | None = None
        self.acks = 0

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.send(Preinit(self.cluster, 1).encode())

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while len(self.buf) >= 6:
            _, length = _HEADER.unpack_from(self.buf)
            if len(self.buf) < 6 + length:
                return
            frame = bytes(self.buf[: 6 + length])
            del self.buf[: 6 + length]
            self.on_message(frame)

    def on_message(self, frame: bytes) -> None:
        msg = decode_message(frame)
        kind = msg.msg_type
        if kind == MsgType.PREINIT_REPLY:
            tie = TieBreaker(TieBreakerMode.LOWEST)
            algorithm = DecisionAlgorithm.FFSPLIT
            ring = RingId(1, 5)
            self.send(Init(self.node_id, algorithm, self.run.hb, tie, ring, self._next()).encode())
        elif kind == MsgType.INIT_REPLY:
            if msg.reply_error_code:
                self.ready.set_result(False)
                return
            both = (NodeInfo(1), NodeInfo(2))
            quorum = tuple(NodeInfo(n, node_state=NodeState.MEMBER) for n in (1, 2))
            kap = KeepActivePartitionTieBreaker.ENABLED
            self.send(
                SetOption(self._next(), None, kap).encode()
                + NodeList(self._next(), NodeListType.INITIAL_CONFIG, both).encode()
                + NodeList(
                    self._next(), NodeListType.MEMBERSHIP, both, ring_id=RingId(1, 5)
                ).encode()
                + NodeList(
                    self._next(), NodeListType.QUORUM, quorum, quorate=Quorate.INQUORATE
                ).encode()
            )
            self.replies_due = 4
        elif kind in (MsgType.SET_OPTION_REPLY, MsgType.NODE_LIST_REPLY):
            if msg.vote is not None:
                self.vote(msg.vote)
            if self.replies_due:
                self.replies_due -= 1
                if not self.replies_due and not self.ready.done():
                    self.ready.set_result(True)
        elif kind == MsgType.VOTE_INFO:
            assert msg.seq_number is not None and msg.vote is not None
            self.send(VoteInfoReply(msg.seq_number).encode())
            self.vote(msg.vote)
            if msg.vote == Vote.ACK and not self.sent_quorate and self.t0 is None:
                self.sent_quorate = True
                quorum = tuple(NodeInfo(n, node_state=NodeState.MEMBER) for n in (1, 2))
                self.send(
                    NodeList(
                        self._next(), NodeListType.QUORUM, quorum, quorate=Quorate.QUORATE
                    ).encode()
                )

    def vote(self, vote: Vote) -> None:
        if vote == Vote.ACK:
            self.acks += 1
        if self.t0 is not None and self.decided_at is None and vote in (Vote.ACK, Vote.NACK):
            self.decided_at = time.perf_counter()
            self.run.decided()

    def split(self) -> None:
        self.ring_seq += 1
        self.t0 = time.perf_counter()
        self.decided_at = None
        self.send(
            NodeList(
                self._next(),
                NodeListType.MEMBERSHIP,
                (NodeInfo(self.node_id),),
                ring_id=RingId(self.node_id, self.ring_seq),
            ).encode()
        )

    def heal(self, ring_seq: int) -> None:
        self.t0 = None
        self.ring_seq = ring_seq
        both = (NodeInfo(1), NodeInfo(2))
        self.send(
            NodeList(
                self._next(), NodeListType.MEMBERSHIP, both, ring_id=RingId(1, ring_seq)
            ).encode()
        )


def _factory(node: Node) -> Callable[[], Node]:
    return lambda: node


class Burster:
    def __init__(self, port: int, pid: int, clusters: int, hb: int) -> None:
        self.port = port
        self.pid = pid
        self.clusters = clusters
        self.hb = hb
        self.nodes: list[Node] = []
        self.pending = 0
        self.done: asyncio.Future[bool] | None = None

    def decided(self) -> None:
        self.pending -= 1
        if self.pending == 0 and self.done is not None and not self.done.done():
            self.done.set_result(True)

    async def setup(self) -> None:
        loop = asyncio.get_running_loop()
        for i in range(self.clusters):
            for node_id in (1, 2):
                node = Node(self, f"burst{i:05d}".encode(), node_id)
                self.nodes.append(node)
                await loop.create_connection(_factory(node), "127.0.0.1", self.port)
        ok = await asyncio.wait_for(asyncio.gather(*(n.ready for n in self.nodes)), 60)
        if not all(ok):
            raise SystemExit("a client's INIT was refused")
        await self._settle(expect_acks=self.clusters * 2)

    async def _settle(self, expect_acks: int) -> None:
        """Wait until every node holds its ACK again, then until the server is quiet."""
        deadline = time.monotonic() + 10
        while sum(n.acks for n in self.nodes) < expect_acks and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)

    async def burst(self) -> tuple[list[float], float]:
        """One burst: every node's decision time (s) and the server's CPU for it (s)."""
        loop = asyncio.get_running_loop()
        self.pending = len(self.nodes)
        self.done = loop.create_future()
        cpu0 = server_cpu_ns(self.pid)
        for node in self.nodes:
            node.split()
        await asyncio.wait_for(self.done, 30)
        await asyncio.sleep(0.05)  # the winners' VOTE_INFO_REPLYs, then quiet
        cpu = (server_cpu_ns(self.pid) - cpu0) / 1e9
        latencies = [n.decided_at - n.t0 for n in self.nodes if n.decided_at is not None and n.t0]
        acks = sum(n.acks for n in self.nodes)
        ring_seq = max(n.ring_seq for n in self.nodes) + 1
        for node in self.nodes:
            node.heal(ring_seq)
        await self._settle(expect_acks=acks + len(self.nodes))
        return latencies, cpu


async def measure(server: Server, clusters: int, bursts: int, hb: int) -> dict[str, Any]:
    run = Burster(server.port, server.proc.pid, clusters, hb)
    await run.setup()
    per_burst = []
    pooled: list[float] = []
    for _ in range(bursts):
        latencies, cpu = await run.burst()
        pooled += latencies
        per_burst.append(
            {
                "p50_ms": 1000 * pct(latencies, 50),
                "p99_ms": 1000 * pct(latencies, 99),
                "cpu_ms": 1000 * cpu,
            }
        )
    for node in run.nodes:
        if node.transport is not None:
            node.transport.close()
    return {
        "bursts": per_burst,
        "median_p50_ms": statistics.median(b["p50_ms"] for b in per_burst),
        "median_p99_ms": statistics.median(b["p99_ms"] for b in per_burst),
        "median_cpu_ms": statistics.median(b["cpu_ms"] for b in per_burst),
        "pooled_p99_ms": 1000 * pct(pooled, 99),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench qnetd_burst", description=__doc__)
    ap.add_argument("--clusters", type=int, default=100)
    ap.add_argument("--bursts", type=int, default=20)
    ap.add_argument("--hb", type=int, default=8000, help="heartbeat the clients ask for (ms)")
    ap.add_argument("--rounds", type=int, default=2, help="server starts per side, turn by turn")
    ap.add_argument("--only", choices=["ours", "real"], default=None)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args(argv)
    sides = [w for w in ("ours", "real") if not args.only or w == args.only]
    results: dict[str, list[dict[str, Any]]] = {w: [] for w in sides}
    for _ in range(args.rounds):
        for which in sides:
            print(f"== {which}: {args.clusters} clusters, {args.bursts} bursts", file=sys.stderr)
            server = Server(which, args.python)
            try:
                results[which].append(
                    uvloop.run(measure(server, args.clusters, args.bursts, args.hb))
                )
            finally:
                server.stop()
    print(
        f"\n{args.clusters} clusters split 50:50 at once, {args.bursts} bursts x {args.rounds} "
        "server starts (medians over bursts)"
    )
    print(f"{'metric':34} {'ours':>10} {'real':>10} {'ours/real':>10}")
    for key, label in (
        ("median_cpu_ms", "server CPU per burst (ms)"),
        ("median_p50_ms", "decision p50 (ms)"),
        ("median_p99_ms", "decision p99 (ms)"),
        ("pooled_p99_ms", "decision p99, all bursts (ms)"),
    ):
        vals = {}
        for which in sides:
            if key == "pooled_p99_ms":
                vals[which] = statistics.median(r[key] for r in results[which])
            else:
                vals[which] = statistics.median(
                    b[key.removeprefix("median_")] for r in results[which] for b in r["bursts"]
                )
        a, b = vals.get("ours"), vals.get("real")
        ratio = f"{a / b:.2f}" if a is not None and b else "-"
        fa = "-" if a is None else f"{a:.2f}"
        fb = "-" if b is None else f"{b:.2f}"
        print(f"{label:34} {fa:>10} {fb:>10} {ratio:>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
