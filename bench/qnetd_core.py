"""qnetd server core CPU per 50:50 split burst (sans-IO, no sockets, no client swarm).

The same story as ``qnetd_capacity``'s decision burst, fed straight into
:class:`~qnetd.server.instance.QnetdServer` as the daemon runs it (events off, log level
info): N two-node ffsplit clusters set up as a real qdevice does (PREINIT, INIT, SET_OPTION
KAP, config / membership / quorum lists), then every node reports a split at once
(membership = itself, its own new ring id); each NACK pushed as VOTE_INFO is answered with
VOTE_INFO_REPLY, which releases the winner's ACK; then the clusters heal. The figure is the
core's CPU for one burst (the 2N split lists, the N replies and every output), without the
socket layer and without the swarm, so it is steady on a shared machine::

    python -m bench qnetd_core                    # 100 clusters, 50 bursts
    python -m bench qnetd_core --profile 25       # plus the 25 costliest functions
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import statistics
import time

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
from qnetd.server.events import Send
from qnetd.server.instance import QnetdServer
from qnetd.server.settings import ServerConfig


class Swarm:
    """2N clients of N clusters, as ``qnetd-swarm.py`` plays them, against one server core."""

    def __init__(self, clusters: int) -> None:
        logging.getLogger("qnetd").setLevel(logging.INFO)
        self.server = QnetdServer(ServerConfig(), record_events=False)
        self.now = 100.0
        self.clusters = clusters
        self.seq: dict[int, int] = {}
        self.ring_seq = 5
        self.acks = 0
        self.nacks = 0
        self.spent = 0.0
        """CPU seconds inside the server's calls (receive and outbox) since the last reset."""
        for i in range(clusters):
            for node in (1, 2):
                self._join(2 * i + node, f"cap{i:05d}".encode(), node)

    def _next(self, conn: int) -> int:
        self.seq[conn] += 1
        return self.seq[conn]

    def _feed(self, conn: int, data: bytes) -> list[tuple[int, bytes]]:
        t0 = time.process_time()
        self.server.receive(conn, data, self.now)
        out = self.server.outbox()
        self.spent += time.process_time() - t0
        return [(o.conn_id, o.data) for o in out if isinstance(o, Send)]

    def _answer(self, outputs: list[tuple[int, bytes]]) -> None:
        """Answer VOTE_INFO with VOTE_INFO_REPLY, counting ACKs and NACKs, until quiet."""
        while outputs:
            more: list[tuple[int, bytes]] = []
            for conn, data in outputs:
                msg = decode_message(data)
                if msg.msg_type != MsgType.VOTE_INFO:
                    continue
                if msg.vote == Vote.ACK:
                    self.acks += 1
                elif msg.vote == Vote.NACK:
                    self.nacks += 1
                assert msg.seq_number is not None
                more += self._feed(conn, VoteInfoReply(msg.seq_number).encode())
            outputs = more

    def _join(self, conn: int, cluster: bytes, node: int) -> None:
        assert self.server.accept(conn, f"127.0.0.1:{40000 + conn}", self.now)
        self.seq[conn] = 2
        both = (NodeInfo(1), NodeInfo(2))
        kap = KeepActivePartitionTieBreaker.ENABLED
        msgs = [
            Preinit(cluster, 1),
            Init(
                node,
                DecisionAlgorithm.FFSPLIT,
                8000,
                TieBreaker(TieBreakerMode.LOWEST),
                RingId(1, 5),
                2,
            ),
            SetOption(self._next(conn), None, kap),
            NodeList(self._next(conn), NodeListType.INITIAL_CONFIG, both),
            NodeList(self._next(conn), NodeListType.MEMBERSHIP, both, ring_id=RingId(1, 5)),
            NodeList(
                self._next(conn),
                NodeListType.QUORUM,
                tuple(NodeInfo(n, node_state=NodeState.MEMBER) for n in (1, 2)),
                quorate=Quorate.INQUORATE,
            ),
        ]
        outputs: list[tuple[int, bytes]] = []
        for m in msgs:
            outputs += self._feed(conn, m.encode())
        self._answer(outputs)

    def burst(self) -> float:
        """Every cluster splits at once; CPU seconds of the core until every ACK is out."""
        self.ring_seq += 1
        splits = []
        for conn in sorted(self.seq):
            node = 2 - conn % 2
            splits.append(
                (
                    conn,
                    NodeList(
                        self._next(conn),
                        NodeListType.MEMBERSHIP,
                        (NodeInfo(node),),
                        ring_id=RingId(node, self.ring_seq),
                    ).encode(),
                )
            )
        acks = self.acks
        self.spent = 0.0
        outputs: list[tuple[int, bytes]] = []
        for conn, data in splits:
            outputs += self._feed(conn, data)
        self._answer(outputs)
        spent = self.spent
        assert self.acks - acks == self.clusters, "every winner got its ACK"
        self.heal()
        return spent

    def heal(self) -> None:
        self.ring_seq += 1
        ring = RingId(1, self.ring_seq)
        outputs: list[tuple[int, bytes]] = []
        for conn in sorted(self.seq):
            msg = NodeList(
                self._next(conn),
                NodeListType.MEMBERSHIP,
                (NodeInfo(1), NodeInfo(2)),
                ring_id=ring,
            )
            outputs += self._feed(conn, msg.encode())
        self._answer(outputs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench qnetd_core", description=__doc__)
    ap.add_argument("--clusters", type=int, default=100)
    ap.add_argument("--bursts", type=int, default=50)
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="print N functions")
    args = ap.parse_args(argv)
    swarm = Swarm(args.clusters)
    swarm.burst()  # warm-up
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    times = [swarm.burst() for _ in range(args.bursts)]
    if profiler is not None:
        profiler.disable()
    med = statistics.median(times)
    messages = 3 * args.clusters
    print(
        f"qnetd core, {args.clusters} clusters split 50:50 at once ({messages} messages in, "
        f"{3 * args.clusters} out), {args.bursts} bursts"
    )
    print(f"  CPU per burst: median {1000 * med:.2f} ms, min {1000 * min(times):.2f} ms")
    print(f"  CPU per message handled: {1e6 * med / messages:.1f} us")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
