"""pycorosync against real corosync 3.1.7, side by side, in the same run (root, Linux).

    python -m bench corosync [--nodes 3 5] [--repeat 3] [--idle-seconds 60] [--json FILE]

For each ring size, one ring of real corosync nodes and one of pycorosync nodes are built in
network namespaces (the topology of ``ref/real-corosync.md`` §3, the same generated
corosync.conf, default timers, ``transport: udpu``, no crypto) and measured turn by turn:

* start to quorate: all nodes started back to back until every node logged the full,
  quorate membership;
* failover: SIGKILL of the highest node until every survivor logged the new membership while
  quorate (default timers: token + consensus dominate; the same timeouts on both sides), and
  the same end measured from the first survivor's token-loss notice, which takes out where
  in the idle ring's token hold the kill fell; then the restart until all are back (rejoin);
* ordered throughput of 100-byte CPG messages (agreed order), one sender and all senders
  (real: ``cpgload``; ours: ``tests.interop.pycpg``, same protocol and order digest);
* delivery latency p50/p99 at a fixed 1000 msg/s from one sender (real: ``bench/cpglat.c``);
* idle CPU per node over ``--idle-seconds`` and resident memory.

Every figure is the median of ``--repeat`` runs (start and failover: ``--start-repeat``,
``--failover-repeat``).  Timings come from the daemons' own log lines (identical on both
sides, millisecond stamps), never from polling tools.  Before each timed run the bench waits
for the CPUs to be idle (:func:`bench.machine.settle`), and the load average is printed with
each measurement.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Literal, cast

from bench.machine import QUIET, describe, settle
from bench.rings import Kind, Ring, cpu_seconds, cpu_split, open_ring, rss_kib
from tests.interop.cpgtools import build_cpg_tool, cpg_tool_problem, parse_report
from tests.interop.harness import HarnessError, environment_problem
from tests.interop.mixed import PROJECT_ROOT, PYTHON, RUN_DIR

__all__ = ["Result", "main"]

KINDS: tuple[Kind, ...] = ("real", "ours")


@dataclass(slots=True)
class Result:
    """One metric for one ring size: every sample of both sides, and how to read them."""

    metric: str
    nodes: int
    unit: str
    higher_is_better: bool
    target: str = ""
    samples: dict[str, list[float]] = field(default_factory=lambda: {"real": [], "ours": []})
    notes: dict[str, str] = field(default_factory=dict)

    def median(self, kind: str) -> float | None:
        values = self.samples[kind]
        return statistics.median(values) if values else None

    def ratio(self) -> float | None:
        real, ours = self.median("real"), self.median("ours")
        if real is None or ours is None or real == 0:
            return None
        return ours / real

    def met(self) -> str:
        """``yes`` or ``no`` against :attr:`target`; empty without a target or a figure."""
        return verdict(self.target, self.median("ours"), self.ratio())


_TARGET = re.compile(r"^(<=|>=|<|>)\s*([0-9.]+)\s*(x|MiB|s|ms|us|%|msg/s)$")
_WITHIN = re.compile(r"^within ([0-9.]+)%$")


def verdict(target: str, ours: float | None, ratio: float | None) -> str:
    """Whether a figure meets its target: ``yes``, ``no`` or empty (no target, no figure).

    A target ending in ``x`` is a ratio to corosync (``<= 2x``, ``>= 1.0x``); ``within P%``
    is a ratio of at most 1 + P/100; any other unit bounds pycorosync's own figure
    (``<= 20 MiB``, ``< 1%``)."""
    if within := _WITHIN.match(target):
        if ratio is None:
            return ""
        return "yes" if ratio <= 1 + float(within.group(1)) / 100 else "no"
    match = _TARGET.match(target)
    if match is None:
        return ""
    op, bound, unit = match.group(1), float(match.group(2)), match.group(3)
    value = ratio if unit == "x" else ours
    if value is None:
        return ""
    ok = {
        "<=": value <= bound,
        ">=": value >= bound,
        "<": value < bound,
        ">": value > bound,
    }[op]
    return "yes" if ok else "no"


def _log(text: str) -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"[{time.strftime('%H:%M:%S')} load {load}] {text}", file=sys.stderr, flush=True)


def _settle() -> None:
    """Wait for a quiet machine before a timed run (:func:`bench.machine.settle`)."""
    busy = settle()
    if busy >= QUIET:
        _log(f"the CPUs are still {busy:.0%} busy after waiting; timing anyway")


def compile_bytecode() -> None:
    """Write the checkout's bytecode (``__pycache__``) before anything is timed.

    An installed pycorosync has its bytecode (pip and distribution packages compile it at
    install time), but our daemons run from the checkout with ``PYTHONDONTWRITEBYTECODE``
    (``tests.interop.mixed``), so without this every start would compile each module from
    source again -- about 0.1 s of CPU per daemon that no operator pays.  Compiling is
    idempotent (timestamps are checked), and ``__pycache__`` is ignored by git.
    """
    for package in ("totem", "votequorum", "qnetd", "tests/interop"):
        compileall.compile_dir(PROJECT_ROOT / package, quiet=1)


# ---------------------------------------------------------------------------- measurements


def measure_start(rings: dict[str, Ring], repeat: int, result: Result) -> None:
    for trial in range(repeat):
        for kind in KINDS:
            ring = rings[kind]
            _settle()
            t0 = ring.start_all()
            dt = ring.time_to_view(ring.nodes, set(ring.nodes), t0, timeout=30)
            result.samples[kind].append(dt)
            _log(f"start to quorate, {ring.label} x{ring.n}, run {trial + 1}: {dt:.3f} s")
            ring.stop_all()
    for kind in KINDS:
        rings[kind].start_all()


def measure_failover(
    rings: dict[str, Ring],
    repeat: int,
    failover: Result,
    after_loss: Result,
    rejoin: Result,
) -> None:
    """SIGKILL of the highest node.  ``failover`` runs from the kill; ``after_loss`` from the
    first survivor's token-loss notice, which leaves out when the victim died relative to
    the token: on an idle ring the token rests up to ``hold`` (0.7-0.9 s) at a time, so the
    kill falls anywhere in that much of the token timeout, on both sides alike."""
    for trial in range(repeat):
        for kind in KINDS:
            ring = rings[kind]
            victim = ring.n
            survivors = [i for i in ring.nodes if i != victim]
            time.sleep(1.0 + random.random())  # a random phase against the token hold
            t_kill = ring.kill(victim)
            dt = ring.time_to_view(survivors, set(survivors), t_kill, timeout=60)
            failover.samples[kind].append(dt)
            t_lost = ring.first_token_loss(survivors, t_kill)
            detail = ""
            if t_lost is not None:
                after_loss.samples[kind].append(t_kill + dt - t_lost)
                detail = f" (token loss noticed after {t_lost - t_kill:.3f} s)"
            ring.start(victim)
            back = ring.time_to_view(ring.nodes, set(ring.nodes), ring.started_at[victim])
            rejoin.samples[kind].append(back)
            _log(
                f"failover {ring.label} x{ring.n}, run {trial + 1}: {dt:.3f} s{detail}; "
                f"restart -> all {ring.n}: {back:.3f} s"
            )


def _timers(ring: Ring) -> str:
    if ring.kind == "ours":
        timers = ring.mixed.py_status(1)["timers"]
    else:
        timers = ring.cluster.runtime_totem(1)
    return f"token {timers['token']} ms, consensus {timers['consensus']} ms"


def measure_idle(rings: Sequence[Ring], seconds: float, cpu: dict[int, Result]) -> None:
    time.sleep(2.0)
    before = {
        (r.kind, r.n, i): (cpu_seconds(r.pid(i)), time.monotonic()) for r in rings for i in r.nodes
    }
    _log(f"idle: {len(before)} daemons for {seconds:g} s")
    time.sleep(seconds)
    for r in rings:
        for i in r.nodes:
            used, t0 = before[(r.kind, r.n, i)]
            pct = 100 * (cpu_seconds(r.pid(i)) - used) / (time.monotonic() - t0)
            cpu[r.n].samples[r.kind].append(pct)


def measure_rss(rings: Sequence[Ring], rss: dict[int, Result]) -> None:
    for r in rings:
        for i in r.nodes:
            rss[r.n].samples[r.kind].append(rss_kib(r.pid(i)) / 1024)


# ---------------------------------------------------------------------------- CPG traffic


class CpgClients:
    """How to start the CPG load and latency clients on each kind of node."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.binaries: dict[str, Path] = {}
        self.problems: dict[str, str] = {}
        for tool in ("cpgload", "cpglat"):
            problem = cpg_tool_problem(tool)
            if problem is None:
                try:
                    self.binaries[tool] = build_cpg_tool(tool, workdir)
                except RuntimeError as err:
                    problem = str(err)
            if problem is not None:
                self.problems[tool] = problem

    def problem(self, ring: Ring, tool: str) -> str | None:
        if ring.kind == "real":
            return self.problems.get(tool)
        ops = ring.mixed.call(1, "ops")
        if "cpg.join" not in ops:
            return "this pycorosync has no CPG service (cpg.* control operations)"
        return None

    def argv(self, ring: Ring, tool: str, args: Sequence[str]) -> list[str]:
        if ring.kind == "real":
            return [str(self.binaries[tool]), *args]
        return [PYTHON, "-m", "tests.interop.pycpg", tool, *args, "--run-dir", RUN_DIR]


_RUN_IDS = iter(range(1, 1_000_000))


def run_cpg(
    ring: Ring, clients: CpgClients, tool: str, argvs: dict[int, list[str]], timeout: float
) -> tuple[dict[int, dict[str, str]], dict[int, tuple[float, float]]]:
    """Run one client per node (``argvs``: node -> arguments), wait for all; their reports and
    the CPU time (user, system seconds) each daemon used over the run."""
    name = f"{tool}{next(_RUN_IDS)}"
    cpu0 = {i: cpu_split(ring.pid(i)) for i in ring.nodes}
    # Receivers first, so that every delivery is seen; the senders wait for all members.
    order = sorted(argvs, key=lambda i: argvs[i][0] == "send")
    handles = {
        i: ring.cluster.spawn(i, name, clients.argv(ring, tool, argvs[i]), env=ring.mixed.env)
        for i in order
    }
    deadline = time.monotonic() + timeout
    for h in handles.values():
        if h.wait(max(deadline - time.monotonic(), 0.1)) is None:
            ring.cluster.stop(h)
    cpu = {
        i: (user - cpu0[i][0], system - cpu0[i][1])
        for i in ring.nodes
        for user, system in [cpu_split(ring.pid(i))]
    }
    reports: dict[int, dict[str, str]] = {}
    for i in argvs:
        lines = [
            ln
            for ln in ring.cluster.log_text(i, f"{name}.log").splitlines()
            if ln.startswith(tool + " ")
        ]
        if not lines:
            tail = ring.cluster.log_text(i, f"{name}.log")[-500:]
            raise HarnessError(f"{ring.label} node {i}: no {tool} report; log: {tail!r}")
        reports[i] = parse_report(lines[-1])
    return reports, cpu


def _check_order(reports: dict[int, dict[str, str]], ring: Ring) -> None:
    digests = {r["digest"] for r in reports.values()}
    if len(digests) != 1:
        raise HarnessError(f"{ring.label}: nodes delivered in different orders: {reports}")
    if any(r.get("misorder", "0") != "0" for r in reports.values()):
        raise HarnessError(f"{ring.label}: FIFO order violated: {reports}")


def measure_throughput(
    rings: dict[str, Ring],
    clients: CpgClients,
    repeat: int,
    msgs: int,
    one: Result,
    every: Result,
    per_message: tuple[Result, Result],
    split: tuple[Result, Result] | None = None,
) -> None:
    """Agreed-order throughput; with one sender, also each daemon's CPU time per delivered
    message (``per_message``: the sending node's daemon, the median of the others; ``split``:
    the others' user and system time apart, the median of each)."""
    for trial in range(repeat):
        for kind in KINDS:
            ring = rings[kind]
            if (why := clients.problem(ring, "cpgload")) is not None:
                one.notes[kind] = every.notes[kind] = why
                continue
            n = ring.n
            for result, senders in ((one, [1]), (every, ring.nodes)):
                argvs = {
                    i: (
                        [
                            "send",
                            "-n",
                            str(msgs),
                            "-s",
                            "100",
                            "-m",
                            str(n),
                            "-S",
                            str(len(senders)),
                        ]
                        if i in senders
                        else ["recv", "-S", str(len(senders))]
                    )
                    + ["-t", "20"]
                    for i in ring.nodes
                }
                _settle()
                t0 = time.monotonic()
                reports, cpu = run_cpg(ring, clients, "cpgload", argvs, timeout=600)
                wall = time.monotonic() - t0
                _check_order(reports, ring)
                want = msgs * len(senders)
                short = {i: r["msgs"] for i, r in reports.items() if int(r["msgs"]) != want}
                if short:
                    raise HarnessError(f"{ring.label}: lost messages (want {want}): {short}")
                rate = statistics.median(float(r["rate"]) for r in reports.values())
                result.samples[kind].append(rate)
                if len(senders) == 1:
                    sender_us = 1e6 * sum(cpu[1]) / want
                    other_us = statistics.median(1e6 * sum(cpu[i]) / want for i in ring.nodes[1:])
                    per_message[0].samples[kind].append(sender_us)
                    per_message[1].samples[kind].append(other_us)
                    for part, result in enumerate(split or ()):
                        result.samples[kind].append(
                            statistics.median(1e6 * cpu[i][part] / want for i in ring.nodes[1:])
                        )
                _log(
                    f"throughput {ring.label} x{n}, {len(senders)} sender(s), run {trial + 1}: "
                    f"{rate:.0f} msg/s; daemon CPU "
                    + " ".join(f"{i}:{100 * sum(used) / wall:.0f}%" for i, used in cpu.items())
                )


def measure_latency(
    rings: dict[str, Ring],
    clients: CpgClients,
    repeat: int,
    rate: int,
    count: int,
    p50: Result,
    p99: Result,
) -> None:
    for trial in range(repeat):
        for kind in KINDS:
            ring = rings[kind]
            if (why := clients.problem(ring, "cpglat")) is not None:
                p50.notes[kind] = p99.notes[kind] = why
                continue
            argvs = {
                i: (
                    ["send", "-r", str(rate), "-n", str(count), "-m", str(ring.n)]
                    if i == 1
                    else ["recv"]
                )
                + ["-t", "20"]
                for i in ring.nodes
            }
            _settle()
            reports, _ = run_cpg(ring, clients, "cpglat", argvs, timeout=120)
            _check_order(reports, ring)
            late = int(reports[1]["late"])
            if late > count // 10:
                p50.notes[kind] = f"the sender fell behind {late}/{count} times"
            p50.samples[kind].append(
                statistics.median(float(r["p50_us"]) for r in reports.values()) / 1000
            )
            p99.samples[kind].append(
                statistics.median(float(r["p99_us"]) for r in reports.values()) / 1000
            )
            _log(
                f"latency {ring.label} x{ring.n}, run {trial + 1}: "
                + ", ".join(f"{i}: {r['p50_us']}/{r['p99_us']} us" for i, r in reports.items())
            )


# ---------------------------------------------------------------------------- report


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "msg/s":
        return f"{value:,.0f}"
    if unit == "%":
        return f"{value:.2f}"
    if unit == "us":
        return f"{value:.1f}"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def table(results: Sequence[Result]) -> str:
    rows = [
        "| metric | nodes | corosync 3.1.7 | pycorosync | pycorosync / corosync | target | met |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        ratio = r.ratio()
        ours = _fmt(r.median("ours"), r.unit)
        if "ours" in r.notes and not r.samples["ours"]:
            ours = f"n/a ({r.notes['ours']})"
        rows.append(
            f"| {r.metric} ({r.unit}) | {r.nodes} | {_fmt(r.median('real'), r.unit)} | {ours} "
            f"| {'n/a' if ratio is None else f'{ratio:.2f}'} | {r.target} | {r.met()} |"
        )
    return "\n".join(rows)


@contextlib.contextmanager
def _rings(n: int, transport: str, crypto: str = "none") -> Iterator[dict[str, Ring]]:
    kind = cast(Literal["udpu", "udp", "knet"], transport)
    pair = tuple(crypto.split("/")) if crypto != "none" else None
    suite = cast(tuple[str, str] | None, pair)
    with (
        open_ring("real", n, kind, crypto=suite) as real,
        open_ring("ours", n, kind, crypto=suite) as ours,
    ):
        yield {"real": real, "ours": ours}


def run(args: argparse.Namespace) -> list[Result]:
    only = set(args.only.split(",")) if args.only else None

    def wanted(name: str) -> bool:
        return only is None or name in only

    results: list[Result] = []
    compile_bytecode()
    workdir = Path(tempfile.mkdtemp(prefix="pycorosync-bench-"))
    try:
        clients = CpgClients(workdir)
        for n in args.nodes:
            # The targets of the performance work: ratios to corosync, memory in MiB.
            start = Result("start to quorate", n, "s", False, "<= 1.5x")
            fail = Result("failover: SIGKILL to survivors quorate", n, "s", False, "within 5%")
            after_loss = Result("failover: token loss noticed to survivors quorate", n, "s", False)
            rejoin = Result("restart to all members again", n, "s", False)
            one = Result("throughput, 1 sender, 100 B", n, "msg/s", True, ">= 1.0x")
            every = Result(f"throughput, {n} senders, 100 B", n, "msg/s", True, ">= 1.0x")
            p50 = Result(f"latency p50 at {args.rate} msg/s", n, "ms", False, "<= 2x")
            p99 = Result(f"latency p99 at {args.rate} msg/s", n, "ms", False, "<= 1.2x")
            cost_sender = Result("daemon CPU per message, sending node", n, "us", False)
            cost_other = Result("daemon CPU per message, other nodes", n, "us", False, "<= 1.3x")
            # where a receiver's time goes: its own code (user) and the kernel's (system)
            cost_user = Result("  of which user time (the program's code)", n, "us", False)
            cost_system = Result("  of which system time (the kernel's)", n, "us", False)
            idle = Result("idle CPU per node", n, "%", False, "< 1%")
            rss = Result("resident memory per node", n, "MiB", False, "<= 20 MiB")
            with _rings(n, args.transport, getattr(args, "crypto", "none")) as rings:
                if wanted("start"):
                    measure_start(rings, args.start_repeat, start)  # leaves both rings running
                else:
                    for kind in KINDS:
                        rings[kind].start_all()
                for kind in KINDS:
                    ring = rings[kind]
                    ring.time_to_view(ring.nodes, set(ring.nodes), min(ring.started_at.values()))
                    if wanted("failover"):
                        fail.notes[kind] = _timers(ring)
                if wanted("failover"):
                    measure_failover(rings, args.failover_repeat, fail, after_loss, rejoin)
                if wanted("idle"):
                    cpu = {n: idle}
                    measure_idle(list(rings.values()), args.idle_seconds, cpu)
                    measure_rss(list(rings.values()), {n: rss})
                if wanted("throughput"):
                    measure_throughput(
                        rings,
                        clients,
                        args.repeat,
                        args.msgs,
                        one,
                        every,
                        (cost_sender, cost_other),
                        (cost_user, cost_system),
                    )
                if wanted("latency"):
                    measure_latency(
                        rings, clients, args.repeat, args.rate, args.latency_msgs, p50, p99
                    )
            for r in (
                start,
                fail,
                after_loss,
                rejoin,
                one,
                every,
                cost_sender,
                cost_other,
                cost_user,
                cost_system,
                p50,
                p99,
                idle,
                rss,
            ):
                if r.samples["real"] or r.samples["ours"] or r.notes:
                    results.append(r)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench corosync", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--nodes", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--transport", choices=["udpu", "udp", "knet"], default="udpu")
    parser.add_argument(
        "--crypto", default="none", help="knet only: none or CIPHER/HASH, e.g. aes256/sha256"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement")
    parser.add_argument("--start-repeat", type=int, default=10)
    parser.add_argument("--failover-repeat", type=int, default=10)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--msgs", type=int, default=100_000, help="messages per sender")
    parser.add_argument("--rate", type=int, default=1000, help="latency: messages per second")
    parser.add_argument("--latency-msgs", type=int, default=5000)
    parser.add_argument(
        "--only", help="comma-separated subset of start,failover,idle,throughput,latency"
    )
    parser.add_argument("--json", type=Path, help="also write every sample here")
    args = parser.parse_args(argv)
    if (problem := environment_problem()) is not None:
        print(f"bench corosync: cannot run: {problem}", file=sys.stderr)
        return 2
    # SIGTERM (e.g. from timeout(1)) must tear the namespaces down like Ctrl-C does.
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
