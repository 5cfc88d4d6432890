"""Where a message's delivery latency goes in a ring of pycorosync daemons, step by step.

    python -m bench latency_trace [--nodes 3] [--rate 1000] [--count 3000]

The latency workload of ``python -m bench corosync`` (one node multicasts 100-byte CPG
messages at ``--rate`` through the Python latency client, every node's client stamps what
it receives) on a ring of our daemons whose interpreters load a tracer first (a
``sitecustomize`` module on their ``PYTHONPATH``; the daemon's code is not changed). The
tracer wraps five entry points -- a datagram received, the deferred delivery pass, a
client's multicast request, the frames written to a client, a datagram sent -- and keeps a
monotonic stamp of each; at exit every daemon writes its stamps. Stamps are
``CLOCK_MONOTONIC`` in every process, so the client's own stamp inside each message (the
latency header) lines up with the daemon's. The report: the client's hand-over to the
daemon, the wait for the token, the sender's token visit, the path from a received
multicast to the frame written to the client, and what the clients themselves add. The
wrappers cost a few microseconds per step: figures are a little above an untraced run's.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.corosync import CpgClients, _log, compile_bytecode, run_cpg
from bench.machine import describe
from bench.rings import open_ring
from tests.interop.harness import environment_problem

__all__ = ["main", "report"]

_TRACER = '''
"""Stamps of a pycorosync daemon's steps, written at exit (bench/latency_trace.py)."""
import atexit, importlib.abc, importlib.util, os, struct, sys, time

_stamps = []
_now = time.monotonic_ns
_STAMP = struct.Struct("<Q")
_KIND = {0: "token", 1: "mcast"}


def _write():
    folder = os.environ.get("PYCOROSYNC_LATENCY_TRACE")
    if folder and _stamps:
        with open(os.path.join(folder, f"{os.getpid()}.trace"), "w") as f:
            f.writelines(f"{t} {what}\\n" for t, what in _stamps)


atexit.register(_write)


def _age(data, at):
    """Nanoseconds since the client's stamp in a latency message, or -1."""
    return _now() - _STAMP.unpack_from(data, at + 24)[0] if at >= 0 else -1


def _driver(module):
    cls = module.NodeDriver
    received, deferred = cls.datagram_received, cls._process_deferred

    def datagram_received(self, data, link=0, source=None):
        _stamps.append((_now(), _KIND.get(data[3], "other") + "_in"))
        return received(self, data, link, source)

    def _process_deferred(self):
        _stamps.append((_now(), "deferred"))
        return deferred(self)

    cls.datagram_received, cls._process_deferred = datagram_received, _process_deferred


def _cpg_api(module):
    cls = module.CpgControl
    request, frames = cls._mcast_frame, cls._send_frames

    def _mcast_frame(self, connection, body):
        _stamps.append((_now(), f"request {_age(body, body.find(b'clat'))}"))
        return request(self, connection, body)

    def _send_frames(handle, owner, batch):
        payload = batch[0][3]
        _stamps.append((_now(), f"write {_age(payload, 0 if payload[:4] == b'clat' else -1)}"))
        return frames(handle, owner, batch)

    cls._mcast_frame, cls._send_frames = _mcast_frame, staticmethod(_send_frames)


def _udpu(module):
    cls = module.UdpuTransport
    send = cls.send

    def traced(self, dest, data):
        _stamps.append((_now(), _KIND.get(data[3], "other") + "_out"))
        return send(self, dest, data)

    cls.send = traced


_WRAP = {"totem.node.driver": _driver, "totem.node.cpg_api": _cpg_api,
         "totem.transport.udpu": _udpu}


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in _WRAP:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        inner = spec.loader

        class Loader(importlib.abc.Loader):
            def create_module(self, spec):
                return inner.create_module(spec)

            def exec_module(self, module):
                inner.exec_module(module)
                _WRAP[name](module)

        spec.loader = Loader()
        return spec


sys.meta_path.insert(0, _Finder())
'''

Stamp = tuple[int, str]


def _load(path: Path) -> list[Stamp]:
    stamps = []
    for line in path.read_text().splitlines():
        t, what = line.split(" ", 1)
        stamps.append((int(t), what))
    return stamps


def _next(stamps: list[Stamp], i: int, want: Callable[[str], bool]) -> int | None:
    for j in range(i + 1, min(len(stamps), i + 1000)):
        if want(stamps[j][1]):
            return j
    return None


def _quantiles(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    n = len(ordered)
    return (
        f"{ordered[n // 10] / 1000:7.0f} {ordered[n // 2] / 1000:7.0f} "
        f"{ordered[9 * n // 10] / 1000:7.0f}   ({n})"
    )


def report(sender: list[Stamp], receivers: list[list[Stamp]]) -> list[tuple[str, str]]:
    """(step, "p10 p50 p90 (count)" in microseconds) rows from the daemons' stamps."""
    rows: list[tuple[str, Sequence[float]]] = []
    hand_over = [
        float(what.split()[1])
        for _, what in sender
        if what.startswith("request ") and int(what.split()[1]) >= 0
    ]
    rows.append(("client stamp -> its request read by the sender's daemon", hand_over))
    waits, to_mcast, visits, own = [], [], [], []
    for i, (t, what) in enumerate(sender):
        if not what.startswith("request"):
            continue
        token = _next(sender, i, lambda w: w == "token_in")
        mcast = _next(sender, i, lambda w: w == "mcast_out")
        if token is None or mcast is None:
            continue
        waits.append(sender[token][0] - t)
        to_mcast.append(sender[mcast][0] - sender[token][0])
        out = _next(sender, mcast, lambda w: w == "token_out")
        if out is not None:
            visits.append(sender[out][0] - sender[token][0])
        write = _next(sender, mcast, lambda w: w.startswith("write"))
        if write is not None:
            own.append(sender[write][0] - sender[mcast][0])
    rows.append(("request -> the token reaches the sender", waits))
    rows.append(("token in -> the message multicast (sender)", to_mcast))
    rows.append(("token in -> token out, a visit that multicasts", visits))
    empty = []
    for i, (t, what) in enumerate(sender):
        if what == "token_in":
            out = _next(sender, i, lambda w: w in ("token_out", "mcast_out"))
            if out is not None and sender[out][1] == "token_out":
                empty.append(sender[out][0] - t)
    rows.append(("token in -> token out, a visit with nothing to send", empty))
    arrivals = [t for t, what in sender if what == "token_in"]
    rotations = [b - a for a, b in itertools.pairwise(arrivals)]
    rows.append(("token rotation (token in -> token in)", rotations))
    rows.append(("multicast -> the sender's own delivery written", own))
    to_write = []
    for stamps in receivers:
        for i, (t, what) in enumerate(stamps):
            if what == "mcast_in":
                write = _next(stamps, i, lambda w: w.startswith("write"))
                if write is not None:
                    to_write.append(stamps[write][0] - t)
    rows.append(("multicast received -> written to the client (receivers)", to_write))
    for label, stamps in [("sender", sender), *(("receiver", r) for r in receivers)]:
        ages = [
            float(what.split()[1])
            for _, what in stamps
            if what.startswith("write ") and int(what.split()[1]) >= 0
        ]
        rows.append((f"client stamp -> delivery written ({label})", ages))
    return [(step, _quantiles(values)) for step, values in rows]


def unix_round_trip(count: int = 3000) -> tuple[float, float, float]:
    """p10/p50/p90 microseconds of a 100-byte round trip between two Python processes over
    a Unix socket (a uvloop echo server, a uvloop client waking every millisecond as the
    latency client does): the least a client-to-daemon-and-back hand-over costs in Python."""
    import asyncio
    import socket

    import uvloop

    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    child = os.fork()
    if child == 0:
        mine.close()

        async def echo() -> None:
            reader, writer = await asyncio.open_connection(sock=theirs)
            while data := await reader.read(65536):
                writer.write(data)

        uvloop.run(echo())
        os._exit(0)
    theirs.close()
    trips: list[int] = []

    async def ping() -> None:
        reader, writer = await asyncio.open_connection(sock=mine)
        for _ in range(count):
            began = time.monotonic_ns()
            writer.write(bytes(100))
            await reader.readexactly(100)
            trips.append(time.monotonic_ns() - began)
            await asyncio.sleep(0.001)
        writer.close()

    try:
        uvloop.run(ping())
    finally:
        os.waitpid(child, 0)
    trips.sort()
    n = len(trips)
    return trips[n // 10] / 1000, trips[n // 2] / 1000, trips[9 * n // 10] / 1000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench latency_trace", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args(argv)
    problem = environment_problem()
    if problem is not None:
        print(f"python -m bench latency_trace: skipped: {problem}", file=sys.stderr)
        return 0
    compile_bytecode()
    work = Path(tempfile.mkdtemp(prefix="pycorosync-latency-trace-"))
    try:
        (work / "sitecustomize.py").write_text(_TRACER)
        traces = work / "traces"
        traces.mkdir()
        _log(f"machine: {describe()}")
        with open_ring("ours", args.nodes) as ring:
            env = ring.mixed.env
            env["PYTHONPATH"] = f"{work}{os.pathsep}{env['PYTHONPATH']}"
            env["PYCOROSYNC_LATENCY_TRACE"] = str(traces)
            ring.start_all()
            pids = {i: ring.pid(i) for i in ring.nodes}
            time.sleep(3)
            clients = CpgClients(work)
            argvs = {
                i: (
                    ["send", "-r", str(args.rate), "-n", str(args.count), "-m", str(ring.n)]
                    if i == 1
                    else ["recv"]
                )
                + ["-t", "20"]
                for i in ring.nodes
            }
            reports, _ = run_cpg(ring, clients, "cpglat", argvs, timeout=120)
        stamps = {i: _load(traces / f"{pid}.trace") for i, pid in pids.items()}
        rows = report(stamps[1], [stamps[i] for i in sorted(stamps) if i != 1])
        width = max(len(step) for step, _ in rows)
        print(f"\n{'step':<{width}}     p10     p50     p90   (count), microseconds")
        for step, figures in rows:
            print(f"{step:<{width}} {figures}")
        floor = unix_round_trip()
        print(
            "a bare Python client/server round trip over a Unix socket, p10/p50/p90 (us): "
            + " / ".join(f"{value:.0f}" for value in floor)
        )
        print(
            "client-reported latency p50/p99 (us): "
            + ", ".join(f"node {i} {r['p50_us']}/{r['p99_us']}" for i, r in sorted(reports.items()))
        )
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
