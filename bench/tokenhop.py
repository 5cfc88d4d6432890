"""Token hop: how long each node holds the ORF token, pycorosync against corosync 3.1.7 (root).

    python -m bench tokenhop [--nodes 3] [--seconds 5] [--rate 1000] [--json FILE]

One ring of real corosync nodes and one of pycorosync nodes (network namespaces, the same
generated corosync.conf, ``transport: udpu``, no crypto, default timers), measured turn by
turn: while node 1 multicasts 100-byte CPG messages at ``--rate`` per second (the latency
workload of ``python -m bench corosync``; 0: an idle ring), tcpdump on the ring's bridge
records every datagram as it leaves its sender. A node's **hop** is the time from the token
entering the bridge on its way to the node until the node's own token leaves for the next
one: the node's receive, its work on the token (messages released, sent, retransmitted)
and its send, plus two passes through the bridge (a few microseconds, the same on both
sides). The **rotation** is the time between two tokens sent by the same node. An idle
representative holds the token for ``hold`` on purpose; those hops (longer than 10 ms) are
counted apart. Totem's delivery latency is bounded below by the hop time: a message waits
for the token to reach its sender, half a rotation on average.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.corosync import KINDS, CpgClients, _log, _terminate, compile_bytecode
from bench.machine import describe, settle
from bench.rings import Ring, open_ring
from tests.interop.harness import environment_problem
from tests.interop.pcap import read_udp_frames

__all__ = ["hops", "main"]

HELD = 0.010
"""Hops longer than this are the representative's deliberate hold on an idle ring."""


def hops(frames: Sequence[tuple[float, str, str, bytes]]) -> tuple[dict[str, list[float]], int]:
    """Per node address, the hop times (seconds) of the ORF tokens in ``frames`` (time,
    source, destination, UDP payload; capture order), and how many were held (> ``HELD``).

    A token sent to address A followed by A's next token: A held it for the difference.
    """
    arrived: dict[str, float] = {}
    out: dict[str, list[float]] = {}
    held = 0
    for when, src, dst, payload in frames:
        if len(payload) < 4 or payload[3] != 0 or src == dst:  # ORF tokens only
            continue
        start = arrived.pop(src, None)
        if start is not None:
            if when - start > HELD:
                held += 1
            else:
                out.setdefault(src, []).append(when - start)
        arrived[dst] = when
    return out, held


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * (len(ordered) - 1) + 0.5))]


def measure(
    ring: Ring, clients: CpgClients, seconds: float, rate: int, pcap: Path
) -> dict[str, float]:
    """Capture ``seconds`` of the ring under the latency workload; hop and rotation figures."""
    settle()
    capture = ring.cluster.capture(pcap)
    handles = []
    if rate:
        count = int(rate * (seconds + 1))
        for i in ring.nodes:
            args = (
                ["send", "-r", str(rate), "-n", str(count), "-m", str(ring.n)]
                if i == 1
                else ["recv"]
            )
            argv = clients.argv(ring, "cpglat", [*args, "-t", "5"])
            handles.append(
                ring.cluster.spawn(i, f"hop{int(time.time() * 1000)}", argv, env=ring.mixed.env)
            )
    time.sleep(seconds + 1.5)
    capture.stop()
    for handle in handles:
        if handle.wait(30) is None:
            ring.cluster.stop(handle)
    frames, _ = read_udp_frames(pcap)
    per_node, held = hops([(f.time, f.src, f.dst, f.payload) for f in frames])
    every = [h for values in per_node.values() for h in values]
    if not every:
        return {"hops": 0}
    sent_by = [f.time for f in frames if f.payload[3:4] == b"\x00" and f.src == min(per_node)]
    rotations = [b - a for a, b in itertools.pairwise(sent_by) if b - a <= HELD]
    return {
        "hops": len(every),
        "held": held,
        "hop_p50_us": 1e6 * statistics.median(every),
        "hop_p10_us": 1e6 * _pct(every, 0.1),
        "hop_p90_us": 1e6 * _pct(every, 0.9),
        "rotation_p50_us": 1e6 * statistics.median(rotations) if rotations else 0.0,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench tokenhop", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--nodes", type=int, nargs="+", default=[3])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=1000, help="messages per second (0: idle)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write every sample here")
    args = parser.parse_args(argv)
    if (problem := environment_problem()) is not None:
        print(f"bench tokenhop: cannot run: {problem}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    info = describe()
    _log(f"machine: {info}")
    compile_bytecode()
    work = Path(tempfile.mkdtemp(prefix="pycorosync-bench-hop-"))
    try:
        return _run(args, info, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the client tools and the captures


def _run(args: argparse.Namespace, info: dict[str, str], work: Path) -> int:
    clients = CpgClients(work)
    samples: list[dict[str, object]] = []
    for n in args.nodes:
        for kind in KINDS:
            with open_ring(kind, n) as ring:
                ring.time_to_view(ring.nodes, set(ring.nodes), ring.start_all())
                time.sleep(1.0)
                for trial in range(args.repeat):
                    figures = measure(
                        ring, clients, args.seconds, args.rate, work / f"{kind}{n}-{trial}.pcap"
                    )
                    samples.append({"kind": kind, "nodes": n, **figures})
                    _log(f"token hop {ring.label} x{n}, run {trial + 1}: {figures}")
    print(f"\n{info['date']}; {info['cpu']}, {info['cores']} cores; Python {info['python']}\n")
    print("| nodes | program | hop p10 / p50 / p90 (us) | rotation p50 (us) | hops |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for s in samples:
        label = "pycorosync" if s["kind"] == "ours" else "corosync 3.1.7"
        hop = " / ".join(f"{s.get(f'hop_p{p}_us', 0):.0f}" for p in (10, 50, 90))
        rotation = s.get("rotation_p50_us", 0)
        print(f"| {s['nodes']} | {label} | {hop} | {rotation:.0f} | {s['hops']} |")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "args": vars(args) | {"json": str(args.json)},
                    "samples": samples,
                },
                indent=1,
            )
        )
    return 0
