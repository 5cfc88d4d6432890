"""Soak: a ring under steady CPG traffic with periodic kills and restarts, for N minutes.

    python -m bench soak --minutes N [--nodes 3] [--transport knet|udpu] [--rate 200]
        [--kill-every 60] [--down 5] [--sample-every 10] [--token 3000] [--mixed]
        [--json FILE] [--plot FILE.png] [--keep DIR]

Nodes 1..n run on 127.0.0.1..n (no privileges needed); with ``--mixed`` (root, Debian's
corosync) they run in network namespaces of the interop harness (``tests/interop``), the
even slots real corosync 3.1.7 and the odd ones ours. Every pycorosync node carries a CPG
client (:mod:`bench.soak_client`) multicasting ``--rate`` messages a second to the group
``soak`` and recording everything it delivers; real nodes order and relay that traffic but
run no client (a libcpg client would need C), so deliveries are checked at our nodes.

Every ``--kill-every`` seconds one node other than node 1 is stopped -- by turns SIGKILL (a
crash: the others wait for the token timeout) and SIGTERM (a graceful leave) -- the
survivors' new membership is awaited, and after ``--down`` seconds it is started again with
a new client. Node 1 is never stopped: its client's record is the reference order.

While it runs, every ``--sample-every`` seconds, each daemon's resident memory (VmRSS), open
file descriptors and CPU time are read from ``/proc``. At the end every client stops sending
and drains (:mod:`bench.soak_client`), and the records are checked
(:mod:`bench.soak_check`): every message sent was delivered once, in one order, everywhere;
messages a killed node had taken but not yet ordered are counted as in flight, not lost.

The report gives per node the RSS (first sample, after the warm-up, at the end, highest),
the RSS slope after the warm-up, open fds and average CPU, the kills with the time the
survivors took to re-form and the victim to rejoin, and the message counts. The exit status
is 0 when nothing was lost, duplicated or reordered. ``--plot`` draws RSS, fds and CPU over
time (matplotlib: ``pip install .[plots]``).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, cast

import numpy as np

from bench.machine import describe
from bench.soak_check import Session, Verdict, check

__all__ = ["main"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RING_TIMEOUT = 90.0
"""Seconds to wait for a membership (knet links take a few seconds to come up)."""


class Ring(Protocol):
    """The nodes of a soak: started, stopped and watched by slot."""

    nodes: list[int]

    def start(self, i: int) -> None: ...
    def stop(self, i: int, sig: int) -> None: ...
    def pid(self, i: int) -> int | None: ...
    def client_dir(self, i: int) -> str | None: ...
    def kind(self, i: int) -> str: ...
    def wait_ring(self, members: list[int], timeout: float) -> None: ...
    def close(self) -> None: ...


class LoopbackRing:
    """Our daemons on 127.0.0.1..n (``tests.node.cluster``)."""

    def __init__(self, workdir: Path, n: int, transport: str, token: int) -> None:
        from tests.node.cluster import LoopbackCluster

        self.cluster = LoopbackCluster(workdir, n, transport=transport, token=token)
        self.nodes = list(range(1, n + 1))

    def start(self, i: int) -> None:
        self.cluster.start(i)

    def stop(self, i: int, sig: int) -> None:
        self.cluster.kill(i, sig)

    def pid(self, i: int) -> int | None:
        proc = self.cluster.procs.get(i)
        return proc.pid if proc is not None and proc.poll() is None else None

    def client_dir(self, i: int) -> str | None:
        return self.cluster.run_dir(i)

    def kind(self, i: int) -> str:
        return "pycorosync"

    def wait_ring(self, members: list[int], timeout: float) -> None:
        self.cluster.wait_members(members, members, timeout=timeout)

    def close(self) -> None:
        self.cluster.close()


class MixedRing:
    """Real corosync in the even slots, ours in the odd ones, in network namespaces."""

    def __init__(self, workdir: Path, n: int, transport: str, token: int) -> None:
        from tests.interop.harness import Cluster
        from tests.interop.mixed import MixedCluster

        self.nodes = list(range(1, n + 1))
        ours = [i for i in self.nodes if i % 2 == 1]
        self.cluster = Cluster(
            n,
            cast(Literal["udpu", "knet"], transport),
            skip=ours,
            start=False,
            token=token,
            keep_logs=workdir / "logs",
        )
        self.cluster.__enter__()
        self.mixed = MixedCluster(self.cluster, ours)

    def start(self, i: int) -> None:
        self.mixed.start(i)

    def stop(self, i: int, sig: int) -> None:
        handle = self.mixed.handle(i)
        if handle is None:
            return
        handle.signal(sig)
        if handle.wait(15.0) is None:
            handle.signal(signal.SIGKILL)
            handle.wait(5.0)

    def pid(self, i: int) -> int | None:
        handle = self.mixed.handle(i)
        return handle.pid if handle is not None and handle.alive() else None

    def client_dir(self, i: int) -> str | None:
        return str(self.mixed.host_run_dir(i)) if self.mixed.is_ours(i) else None

    def kind(self, i: int) -> str:
        return "pycorosync" if self.mixed.is_ours(i) else "corosync"

    def wait_ring(self, members: list[int], timeout: float) -> None:
        self.mixed.wait_agree(members, set(members), timeout=timeout)

    def close(self) -> None:
        for i in self.nodes:
            with contextlib.suppress(Exception):
                self.stop(i, signal.SIGTERM)
        self.cluster.__exit__(None, None, None)


@dataclass(slots=True)
class Client:
    node: int
    prefix: str
    proc: subprocess.Popen[bytes]


@dataclass(slots=True)
class Kill:
    at: float
    node: int
    signal: str
    reformed_s: float
    rejoined_s: float


@dataclass(slots=True)
class Soak:
    """One run: the ring, its clients, the samples."""

    ring: Ring
    workdir: Path
    rate: float
    size: int
    t0: float = 0.0
    clients: dict[int, Client] = field(default_factory=dict)
    prefixes: list[tuple[int, str]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    started: dict[int, float] = field(default_factory=dict)
    """Start time (soak clock) of each daemon pid."""
    kills: list[Kill] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() - self.t0

    # -------------------------------------------------------------- nodes and clients
    def start_node(self, i: int) -> None:
        self.ring.start(i)
        pid = self.ring.pid(i)
        if pid is not None:
            with self.lock:
                self.started[pid] = self.now()

    def start_client(self, i: int) -> None:
        run_dir = self.ring.client_dir(i)
        if run_dir is None:
            return
        prefix = str(self.workdir / f"client{i}-{len(self.prefixes)}")
        log = open(prefix + ".log", "wb")  # noqa: SIM115 - the child's
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.soak_client",
                "--run-dir",
                run_dir,
                "--out",
                prefix,
                "--rate",
                str(self.rate),
                "--size",
                str(self.size),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        )
        log.close()
        self.clients[i] = Client(i, prefix, proc)
        self.prefixes.append((i, prefix))

    def wait_client_ready(self, i: int, timeout: float = 60.0) -> None:
        client = self.clients.get(i)
        if client is None:
            return
        deadline = time.monotonic() + timeout
        while not os.path.exists(client.prefix + ".ready"):
            if client.proc.poll() is not None:
                raise RuntimeError(f"the client of node {i} exited: see {client.prefix}.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the client of node {i} did not join within {timeout:g} s")
            time.sleep(0.05)

    def end_client(self, i: int, timeout: float = 30.0) -> None:
        """Wait for the client of a stopped node to notice and write its record."""
        client = self.clients.pop(i, None)
        if client is None:
            return
        try:
            client.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            client.proc.kill()
            client.proc.wait()

    # -------------------------------------------------------------- sampling
    def sample(self) -> None:
        from bench.rings import cpu_seconds, rss_kib

        t = round(self.now(), 3)
        for i in self.ring.nodes:
            pid = self.ring.pid(i)
            if pid is None:
                continue
            try:
                row = {
                    "t": t,
                    "node": i,
                    "pid": pid,
                    "rss_kib": rss_kib(pid),
                    "fds": len(os.listdir(f"/proc/{pid}/fd")),
                    "cpu_s": cpu_seconds(pid),
                }
            except Exception:  # the process went between two reads
                continue
            with self.lock:
                self.samples.append(row)

    def sampler(self, every: float, stop: threading.Event) -> None:
        while not stop.wait(every):
            self.sample()

    # -------------------------------------------------------------- the kills
    def kill_and_restart(self, victim: int, sig: int, down: float) -> None:
        at = self.now()
        self.ring.stop(victim, sig)
        self.end_client(victim)
        survivors = [i for i in self.ring.nodes if i != victim]
        self.ring.wait_ring(survivors, RING_TIMEOUT)
        reformed = self.now() - at
        time.sleep(down)
        back = self.now()
        self.start_node(victim)
        self.ring.wait_ring(self.ring.nodes, RING_TIMEOUT)
        rejoined = self.now() - back
        self.start_client(victim)
        self.wait_client_ready(victim)
        name = "SIGKILL" if sig == signal.SIGKILL else "SIGTERM"
        self.kills.append(Kill(round(at, 3), victim, name, round(reformed, 3), round(rejoined, 3)))
        print(
            f"  {at:7.1f} s  node {victim} {name}: survivors re-formed in {reformed:.2f} s, "
            f"rejoined {rejoined:.2f} s after its restart",
            flush=True,
        )


def _sessions(prefixes: list[tuple[int, str]]) -> tuple[list[Session], list[str]]:
    sessions, missing = [], []
    for node, prefix in prefixes:
        try:
            with open(prefix + ".json") as f:
                summary = json.load(f)
        except (OSError, ValueError):
            missing.append(f"node {node}: no summary in {prefix}.json (see {prefix}.log)")
            continue
        path = prefix + ".bin"
        raw = np.fromfile(path, dtype=np.uint32) if os.path.exists(path) else np.zeros(0)
        sessions.append(
            Session(
                summary["node"],
                summary["pid"],
                raw.astype(np.uint32).reshape(-1, 3),
                summary["attempted"],
                summary["acked"],
                summary["ended"],
            )
        )
    return sessions, missing


def node_summary(
    samples: list[dict[str, Any]], started: dict[int, float], warmup: float
) -> dict[int, dict[str, Any]]:
    """Per node: RSS at its first sample, after the warm-up, at the end and the highest (MiB),
    the RSS slope after the warm-up, open fds, average CPU and how many processes it took.

    "After the warm-up" and the slope are those of the node's longest-lived process, from
    ``warmup`` seconds after that process started (a restarted node's newest process may be
    too young to have them: then they are left out)."""
    out: dict[int, dict[str, Any]] = {}
    for node in sorted({s["node"] for s in samples}):
        rows = [s for s in samples if s["node"] == node]
        pids = list(dict.fromkeys(s["pid"] for s in rows))
        by_pid = {pid: [s for s in rows if s["pid"] == pid] for pid in pids}
        cpu = alive = 0.0
        for pid, mine in by_pid.items():
            cpu += mine[-1]["cpu_s"]
            alive += max(mine[-1]["t"] - started.get(pid, mine[0]["t"]), 1e-9)
        longest = max(pids, key=lambda p: by_pid[p][-1]["t"] - started.get(p, by_pid[p][0]["t"]))
        born = started.get(longest, by_pid[longest][0]["t"])
        warm = [s for s in by_pid[longest] if s["t"] >= born + warmup]
        slope = None
        if len(warm) >= 3 and warm[-1]["t"] > warm[0]["t"]:
            t = np.array([s["t"] for s in warm]) / 60.0
            rss = np.array([s["rss_kib"] for s in warm], dtype=float)
            slope = round(float(np.polyfit(t, rss, 1)[0]), 2)
        out[node] = {
            "processes": len(pids),
            "rss_mib_first": round(rows[0]["rss_kib"] / 1024, 1),
            "rss_mib_warm": round(warm[0]["rss_kib"] / 1024, 1) if warm else None,
            "rss_mib_end": round(rows[-1]["rss_kib"] / 1024, 1),
            "rss_mib_max": round(max(s["rss_kib"] for s in rows) / 1024, 1),
            "rss_slope_kib_per_min": slope,
            "fds_first": rows[0]["fds"],
            "fds_end": rows[-1]["fds"],
            "fds_max": max(s["fds"] for s in rows),
            "cpu_percent": round(100 * cpu / alive, 2),
        }
    return out


def _plot(path: str, samples: list[dict[str, Any]], kills: list[Kill]) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install .[plots]): no plot"
    fig, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, node in enumerate(sorted({s["node"] for s in samples})):
        color = colors[n % len(colors)]
        rows = [s for s in samples if s["node"] == node]
        for k, pid in enumerate(dict.fromkeys(s["pid"] for s in rows)):
            mine = [s for s in rows if s["pid"] == pid]  # one line per process
            label = f"node {node}" if k == 0 else None
            t = [s["t"] / 60 for s in mine]
            axes[0].plot(t, [s["rss_kib"] / 1024 for s in mine], color=color, label=label)
            axes[1].plot(t, [s["fds"] for s in mine], color=color)
            cpu_t, cpu = [], []
            for a, b in itertools.pairwise(mine):
                if b["t"] > a["t"]:
                    cpu_t.append(b["t"] / 60)
                    cpu.append(100 * (b["cpu_s"] - a["cpu_s"]) / (b["t"] - a["t"]))
            axes[2].plot(cpu_t, cpu, color=color)
    for ax, label in zip(axes, ("RSS (MiB)", "open fds", "CPU (%)"), strict=True):
        ax.set_ylabel(label)
        for kill in kills:
            ax.axvline(kill.at / 60, color="grey", linestyle=":", linewidth=0.8)
        ax.grid(True, alpha=0.3)
    axes[0].legend(loc="upper left", fontsize="small")
    axes[2].set_xlabel("minutes (dotted: a node stopped)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None


def _report(
    args: argparse.Namespace,
    soak: Soak,
    nodes: dict[int, dict[str, Any]],
    verdict: Verdict,
    duration: float,
) -> None:
    print(f"\nsoak of {duration / 60:.1f} min, {len(soak.ring.nodes)} nodes ({args.transport}), "
          f"{args.rate:g} msg/s per client, {len(soak.kills)} kills")  # fmt: skip
    print(f"{'node':>4} {'kind':<10} {'procs':>5} {'RSS MiB first/warm/end/max':>28} "
          f"{'slope KiB/min':>13} {'fds first/end/max':>17} {'CPU %':>6}")  # fmt: skip
    for node, row in nodes.items():
        warm = "-" if row["rss_mib_warm"] is None else row["rss_mib_warm"]
        rss = f"{row['rss_mib_first']}/{warm}/{row['rss_mib_end']}/{row['rss_mib_max']}"
        fds = "{fds_first}/{fds_end}/{fds_max}".format(**row)
        slope = (
            "-" if row["rss_slope_kib_per_min"] is None else f"{row['rss_slope_kib_per_min']:+.1f}"
        )
        print(f"{node:>4} {soak.ring.kind(node):<10} {row['processes']:>5} {rss:>28} "
              f"{slope:>13} {fds:>17} {row['cpu_percent']:>6}")  # fmt: skip
    v = verdict
    print(
        f"messages: sent {v.sent}, delivered {v.delivered_reference} at the reference "
        f"(node 1), {v.delivered_total} deliveries in all {v.sessions} client sessions; "
        f"in flight at kills {v.in_flight_at_kill}; lost {v.lost} (holes {v.holes}, "
        f"acked-undelivered {v.unacked_lost}, gaps {v.gaps}, not at the reference "
        f"{v.not_in_reference}); duplicates {v.duplicates}; order violations "
        f"{v.order_violations}"
    )
    for failure in v.failed_sessions:
        print(f"  failed session: {failure}")
    print("PASS" if v.ok else "FAIL", flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, required=True, help="how long the traffic runs")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--transport", choices=["knet", "udpu"], default="knet")
    p.add_argument("--rate", type=float, default=200.0, help="messages/s of each client")
    p.add_argument("--size", type=int, default=100, help="bytes per message")
    p.add_argument("--kill-every", type=float, default=60.0, help="seconds between kills")
    p.add_argument("--down", type=float, default=5.0, help="seconds a stopped node stays down")
    p.add_argument("--sample-every", type=float, default=10.0, help="seconds between samples")
    p.add_argument("--warmup", type=float, default=None, help="seconds before the RSS baseline "
                   "(default: a tenth of the run, at most 5 minutes)")  # fmt: skip
    p.add_argument("--token", type=int, default=3000, help="totem.token in ms (corosync's default)")
    p.add_argument("--mixed", action="store_true", help="real corosync in the even slots (root)")
    p.add_argument("--json", help="write samples, kills, summary and verdict here")
    p.add_argument("--plot", help="draw RSS, fds and CPU over time into this PNG")
    p.add_argument("--keep", help="keep the logs and client records in this directory")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.nodes < 2:
        print("soak: --nodes must be at least 2 (node 1 stays, the others are stopped)")
        return 2
    if args.mixed:
        from tests.interop.harness import environment_problem

        problem = environment_problem()
        if problem is not None:
            print(f"soak --mixed: {problem}")
            return 2
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    duration = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else min(duration / 10, 300.0)
    ring_class = MixedRing if args.mixed else LoopbackRing
    ring = ring_class(workdir, args.nodes, args.transport, args.token)
    soak = Soak(ring, workdir, args.rate, args.size)
    stop_sampling = threading.Event()
    sampler = threading.Thread(
        target=soak.sampler, args=(args.sample_every, stop_sampling), daemon=True
    )
    ok = False
    try:
        soak.t0 = time.monotonic()
        for i in ring.nodes:
            soak.start_node(i)
        ring.wait_ring(ring.nodes, RING_TIMEOUT)
        for i in ring.nodes:  # node 1's client first: the reference sees every message
            soak.start_client(i)
            soak.wait_client_ready(i)
        soak.t0 = time.monotonic()
        soak.sample()
        sampler.start()
        print(f"soak: {len(ring.nodes)} nodes up, traffic for {args.minutes:g} min "
              f"(records in {workdir})", flush=True)  # fmt: skip
        victims = ring.nodes[1:]
        kills = 0
        next_kill = args.kill_every
        while soak.now() < duration:
            # a kill only when the victim can be back well before the end
            if soak.now() >= next_kill and duration - soak.now() > args.down + 8:
                sig = signal.SIGKILL if kills % 2 == 0 else signal.SIGTERM
                soak.kill_and_restart(victims[kills % len(victims)], sig, args.down)
                kills += 1
                next_kill = soak.now() + args.kill_every
            time.sleep(min(0.5, max(0.0, duration - soak.now())))
        soak.sample()
        stop_sampling.set()
        for client in soak.clients.values():
            client.proc.send_signal(signal.SIGUSR1)
        for i in list(soak.clients):
            soak.end_client(i, timeout=90.0)
        ok = True
    finally:
        stop_sampling.set()
        for client in soak.clients.values():
            with contextlib.suppress(ProcessLookupError):
                client.proc.kill()
            client.proc.wait()
        ring.close()
    sessions, missing = _sessions(soak.prefixes)
    reference = next((s for s in sessions if s.node == 1), None)
    if reference is None:
        print("soak: no record of node 1's client")
        return 1
    verdict = check(sessions, reference)
    verdict.failed_sessions += missing
    nodes = node_summary(soak.samples, soak.started, warmup)
    _report(args, soak, nodes, verdict, duration)
    if args.plot:
        problem = _plot(args.plot, soak.samples, soak.kills)
        print(problem or f"plot: {args.plot}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "command": "python -m bench soak " + " ".join(argv),
                    "machine": describe(),
                    "config": vars(args),
                    "nodes": nodes,
                    "kills": [asdict(k) for k in soak.kills],
                    "verdict": verdict.as_dict(),
                    "samples": soak.samples,
                },
                indent=1,
                default=str,
            )
            + "\n"
        )
    passed = ok and verdict.ok
    if not args.keep and passed:
        shutil.rmtree(workdir, ignore_errors=True)
    elif not passed:
        print(f"records and logs kept in {workdir}")
    return 0 if passed else 1
