"""pycorosync against real corosync 3.1.7 over knet (libknet 1.25), clear and encrypted (root).

    python -m bench knet [--nodes 3 5] [--crypto none aes256/sha256] [--json FILE]

The measurements of ``python -m bench corosync`` (:mod:`bench.corosync`) with corosync 3's
default transport: for each ring size and each crypto setting, one ring of real corosync
nodes and one of pycorosync nodes in the same namespaces topology, from the same generated
corosync.conf (``transport: knet``, default timers, a fresh authkey when crypto is on),
measured turn by turn in the same run: start to quorate, failover after a SIGKILL (and from
the token-loss notice), restart, throughput of 100-byte CPG messages with one sender and
with all senders, the daemons' CPU per message, delivery latency p50/p99 at a fixed rate,
idle CPU and memory. Every run checks that all processes delivered every message in the
same order.

The defaults are lighter than ``bench corosync``'s (3 start and failover runs, 2 of the
others, 20 000 messages per sender, 20 s idle) because four configurations are measured.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench.corosync import Result, _log, _terminate, run, table
from bench.machine import describe
from tests.interop.harness import environment_problem

__all__ = ["main"]


def _target(metric: str, crypto: str) -> str:
    """The knet targets: one-sender throughput >= 0.75x corosync's with crypto, latency
    p99 <= 2x, failover within 5%."""
    if metric.startswith("throughput, 1 sender"):
        return ">= 0.75x" if crypto != "none" else ""
    if metric.startswith("latency p99"):
        return "<= 2x"
    if metric.startswith("failover: SIGKILL"):
        return "within 5%"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench knet", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--nodes", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--crypto", nargs="+", default=["none", "aes256/sha256"])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--start-repeat", type=int, default=3)
    parser.add_argument("--failover-repeat", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--msgs", type=int, default=20_000, help="messages per sender")
    parser.add_argument("--rate", type=int, default=1000, help="latency: messages per second")
    parser.add_argument("--latency-msgs", type=int, default=2000)
    parser.add_argument(
        "--only", help="comma-separated subset of start,failover,idle,throughput,latency"
    )
    parser.add_argument("--json", type=Path, help="also write every sample here")
    args = parser.parse_args(argv)
    if (problem := environment_problem()) is not None:
        print(f"bench knet: cannot run: {problem}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    info = describe()
    _log(f"machine: {info}")
    results: list[Result] = []
    for crypto in args.crypto:
        _log(f"knet, crypto {crypto}")
        run_args = argparse.Namespace(**vars(args))
        run_args.transport = "knet"
        run_args.crypto = crypto
        for result in run(run_args):
            result.target = _target(result.metric, crypto)
            result.metric = f"{result.metric}, crypto {crypto}"
            results.append(result)
    print(
        f"\n{info['date']}; {info['cpu']}, {info['cores']} cores, {info['memory']}; "
        f"kernel {info['kernel']}; Python {info['python']}; {info['corosync']}; knet\n"
    )
    print(table(results))
    for r in results:
        for kind, note in r.notes.items():
            print(f"* {r.metric}, {r.nodes} nodes, {kind}: {note}")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "args": vars(args) | {"json": str(args.json)},
                    "results": [asdict(r) for r in results],
                },
                indent=1,
            )
        )
    return 0
