"""The same libcpg program on pycorosync (over libqb IPC) and on corosync 3.1.7, same run.

    python -m bench libqb [--nodes 3] [--repeat 3] [--msgs 100000] [--json FILE]

One ring of real corosync nodes and one of pycorosync nodes (network namespaces, the same
generated corosync.conf, ``transport: udpu``, the default ``qb_ipc_type``: SHM) run the very
same C clients, built at run time against Debian's libcpg: ``cpgload`` (agreed-order
throughput of 100-byte messages, one sender then every node sending, order digests checked
equal on every node) and ``bench/cpglat.c`` (delivery latency p50/p99 of a paced sender,
1000 msg/s). On our side the clients reach the daemon exactly as they reach corosync -- libqb
IPC -- so this measures the whole path an application sees. ``python -m bench corosync``
measures the same traffic through our control socket instead.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench.corosync import (
    KINDS,
    CpgClients,
    Result,
    _log,
    _rings,
    _terminate,
    compile_bytecode,
    measure_latency,
    measure_throughput,
    table,
)
from bench.machine import describe
from bench.rings import Ring
from tests.interop.harness import environment_problem

__all__ = ["LibqbClients", "main"]


class LibqbClients(CpgClients):
    """The C clients on both kinds of node (ours serve libcpg over libqb IPC)."""

    def problem(self, ring: Ring, tool: str) -> str | None:
        return self.problems.get(tool)

    def argv(self, ring: Ring, tool: str, args: Sequence[str]) -> list[str]:
        return [str(self.binaries[tool]), *args]


def run(args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    compile_bytecode()
    workdir = Path(tempfile.mkdtemp(prefix="pycorosync-bench-libqb-"))
    try:
        clients = LibqbClients(workdir)
        for n in args.nodes:
            one = Result("libcpg throughput, 1 sender, 100 B", n, "msg/s", True, ">= 0.75x")
            every = Result(f"libcpg throughput, {n} senders, 100 B", n, "msg/s", True, ">= 0.75x")
            cost_sender = Result("daemon CPU per message, sending node", n, "us", False)
            cost_other = Result("daemon CPU per message, other nodes", n, "us", False)
            p50 = Result(f"libcpg latency p50 at {args.rate} msg/s", n, "ms", False)
            p99 = Result(f"libcpg latency p99 at {args.rate} msg/s", n, "ms", False)
            with _rings(n, "udpu") as rings:
                for kind in KINDS:
                    ring = rings[kind]
                    ring.start_all()
                    ring.time_to_view(ring.nodes, set(ring.nodes), min(ring.started_at.values()))
                measure_throughput(
                    rings, clients, args.repeat, args.msgs, one, every, (cost_sender, cost_other)
                )
                measure_latency(rings, clients, args.repeat, args.rate, args.latency_msgs, p50, p99)
            results += [one, every, cost_sender, cost_other, p50, p99]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench libqb", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--nodes", type=int, nargs="+", default=[3])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement")
    parser.add_argument("--msgs", type=int, default=100_000, help="messages per sender")
    parser.add_argument("--rate", type=int, default=1000, help="latency: messages per second")
    parser.add_argument("--latency-msgs", type=int, default=5000)
    parser.add_argument("--json", type=Path, help="also write every sample here")
    args = parser.parse_args(argv)
    if (problem := environment_problem()) is not None:
        print(f"bench libqb: cannot run: {problem}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    info = describe()
    _log(f"machine: {info}")
    results = run(args)
    print(
        f"\n{info['date']}; {info['cpu']}, {info['cores']} cores, {info['memory']}; "
        f"kernel {info['kernel']}; Python {info['python']}; {info['corosync']}\n"
    )
    print(table(results))
    for r in results:
        for kind, note in r.notes.items():
            print(f"* {r.metric}, {r.nodes} nodes, {kind}: {note}")
    if args.json is not None:
        payload = {"machine": info, "args": vars(args) | {"json": str(args.json)}}
        payload["results"] = [asdict(r) for r in results]
        args.json.write_text(json.dumps(payload, indent=1))
    return 0
