"""``pycorosync-sim``: run scenarios, sweeps and the vqsim-compatible mode.

    pycorosync-sim run SCENARIO [--seed N] [--json] [--trace FILE] [--minimize]
    pycorosync-sim check SCENARIO...        # parse and validate only
    pycorosync-sim list                     # the scenario library
    pycorosync-sim fuzz [--runs N] [--nodes 2-16] [--steps 8,20] [--seed N] [--qdevice [mix]]
                        [--knet] [--jobs N | --dask ADDRESS] [--out FILE] [--progress SECONDS]
    pycorosync-sim sweep failover [--nodes 3,5,9] [--token 1000,3000] [--seeds 3] [--out DIR]
                                  [--jobs N | --dask ADDRESS]
    pycorosync-sim sweep throughput [--nodes 3,5] [--latency 0.1,1,10] [--out DIR]
                                    [--jobs N | --dask ADDRESS]
    pycorosync-sim vq -c corosync.conf [--json] [SCRIPT]

SCENARIO is a file or the name of a library scenario (``token-loss``). Exit
status: 0 all expectations met and no invariant violated, 1 otherwise, 2 for a
scenario, configuration or usage error (or a Dask cluster that cannot run the
campaign), 130 for a campaign stopped by Ctrl-C (the same command resumes it).

``--dask ADDRESS`` runs the schedules or points on the workers of a Dask cluster
(``tcp://HOST:8786``; the ``pycorosync[dask]`` extra) instead of ``--jobs`` local
processes: as many in flight as the cluster has worker threads, four times over
(:mod:`simulations.backends`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from simulations.backends import Backend, BackendError
from simulations.campaign import DEFAULT_MAX_EVENTS, DEFAULT_MAX_WALL_S, Schedule
from simulations.library import library_path, library_scenarios
from simulations.runner import RunResult, minimize, run_scenario
from simulations.scenario import Scenario, ScenarioError, parse_scenario
from simulations.trace import describe
from totem.config import ConfigError, load

if TYPE_CHECKING:
    from simulations.sweep import SweepResult

__all__ = ["main"]


def _load(name: str) -> Scenario:
    path = Path(name)
    if not path.exists():
        library = library_path(name)
        if library is None:
            raise ScenarioError(name, 0, "no such file or library scenario (see 'list')")
        path = library
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), 0, f"cannot read: {exc}") from None
    return parse_scenario(text, str(path))


def _print_result(result: RunResult, out: TextIO) -> None:
    for expectation in result.expectations:
        mark = "ok    " if expectation.ok else "FAILED"
        at = f"t={expectation.at:.3f}s"
        line = f"{mark} {result.path}:{expectation.line}: {expectation.text} ({at})"
        if expectation.detail:
            line += f": {expectation.detail}"
        out.write(line + "\n")
    for report in result.violations:
        out.write(f"VIOLATION {report.violation}\n")
        for entry in report.excerpt:
            out.write(f"    {entry}\n")
    if result.reproduction:
        out.write("reproduce with this scenario (pycorosync-sim run FILE):\n")
        for line in result.reproduction.splitlines():
            out.write(f"    {line}\n")
    met = sum(1 for e in result.expectations if e.ok)
    speed = result.simulated_s / result.wall_s if result.wall_s > 0 else float("inf")
    out.write(
        f"{'OK' if result.ok else 'FAIL'}: {met}/{len(result.expectations)} expectations met, "
        f"{len(result.violations)} invariant violations, seed {result.seed}, "
        f"{result.simulated_s:.3f} s simulated in {result.wall_s:.2f} s ({speed:.1f}x)\n"
    )


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    scenario = _load(args.scenario)
    result = run_scenario(scenario, args.seed, keep_trace=bool(args.trace), logs=args.logs)
    if args.trace:
        Path(args.trace).write_text(_trace_text(result))
    if result.violations and args.minimize:
        invariant = result.violations[0].violation.invariant
        smaller = minimize(scenario, result.seed, invariant)
        result.reproduction = (
            f"# minimized: still violates {invariant} with --seed {result.seed}\n"
            f"seed {result.seed}\n"
            + "".join(
                line + "\n"
                for line in smaller.text.splitlines()
                if line.strip() and not line.lstrip().startswith("#")
            )
        )
    if args.json:
        out.write(json.dumps(result.as_json()) + "\n")
    else:
        _print_result(result, out)
    return 0 if result.ok else 1


def _trace_text(result: RunResult) -> str:
    return "".join(describe(entry) + "\n" for entry in result.trace)


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    for name in args.scenarios:
        scenario = _load(name)
        out.write(
            f"{scenario.path}: ok ({len(scenario.statements)} statements, "
            f"{scenario.nodes.count} nodes, up to {scenario.simulated_length:g} s)\n"
        )
    return 0


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    for name, path in library_scenarios():
        first = next(
            (line[1:].strip() for line in path.read_text().splitlines() if line.startswith("#")),
            "",
        )
        out.write(f"{name:<28} {first}\n")
    return 0


def _parse_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def _report_finding(row: dict[str, Any], out: TextIO) -> None:
    if row["violations"]:
        problem = f"{len(row['violations'])} violations"
    elif row["budget_exceeded"]:
        problem = f"over its budget ({row['budget_exceeded']})"
    else:
        problem = "no ring"
    out.write(f"run {row['run']}: {problem} (seed {row['seed']})\n")
    for violation in row["violations"]:
        out.write(f"VIOLATION {violation}\n")
    for failed in row.get("expectations_failed", []):
        out.write(f"FAILED {failed}\n")
    out.write(row["text"])
    if row.get("reproduction"):
        out.write("reproduce with this scenario (pycorosync-sim run FILE):\n")
        for line in row["reproduction"].splitlines():
            out.write(f"    {line}\n")
    out.flush()


def _report_failure(schedule: Schedule, error: Exception, out: TextIO) -> None:
    out.write(
        f"run {schedule.index}: failed on a worker (seed {schedule.seed}): "
        f"{type(error).__name__}: {error}; no row, the same command runs it again\n"
    )
    out.flush()


def _backend(args: argparse.Namespace) -> Backend | None:
    """The Dask cluster of ``--dask`` (None: ``--jobs`` local processes)."""
    if not args.dask:
        return None
    from simulations.backends import DaskCluster

    return DaskCluster(args.dask)


def cmd_fuzz(args: argparse.Namespace, out: TextIO) -> int:
    from simulations.campaign import Campaign, run_campaign

    devices = {"off": (False,), "on": (True,), "mix": (False, True)}[args.qdevice]
    campaign = Campaign(
        seed=args.seed,
        runs=args.runs,
        nodes=_parse_range(args.nodes),
        steps=tuple(_ints(args.steps)),
        qdevice=devices,
        transport="knet" if args.knet else "udpu",
        max_events=args.max_events,
        max_wall_s=args.max_wall,
    )
    backend = _backend(args)
    try:
        tally = run_campaign(
            campaign,
            jobs=args.jobs,
            backend=backend,
            results=Path(args.out) if args.out else None,
            out=sys.stderr if args.progress else out,
            progress_every=args.progress,
            on_finding=lambda row: _report_finding(row, out),
            on_failure=lambda schedule, error: _report_failure(schedule, error, out),
            trace_digest=args.trace_digests,
        )
    except ValueError as exc:
        raise ScenarioError(args.out or "", 0, str(exc)) from None
    except KeyboardInterrupt:
        where = f"{args.out} holds the rows so far; " if args.out else ""
        sys.stderr.write(f"pycorosync-sim: interrupted: {where}the same command resumes\n")
        return 130
    finally:
        if backend is not None:
            backend.close()
    for line in tally.lines():
        out.write(line + "\n")
    out.write(
        f"{tally.schedules} random fault schedules, {tally.findings} with violations, "
        "without a single ring after healing, or over their budget\n"
    )
    if tally.failed:
        out.write(
            f"{tally.failed} schedules failed on a worker and have no row: "
            "the same command runs them again\n"
        )
    return 1 if tally.findings or tally.failed else 0


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def _sweep(
    args: argparse.Namespace,
    out_dir: Path | None,
    progress: Callable[[dict[str, Any]], None],
    backend: Backend | None,
) -> SweepResult:
    from simulations import sweep

    if args.kind == "failover":
        return sweep.failover(
            _ints(args.nodes or "3,5,9"),
            _ints(args.token or "1000,3000"),
            args.seeds,
            out_dir,
            stack=args.stack or "full",
            progress=progress,
            jobs=args.jobs,
            backend=backend,
        )
    return sweep.throughput(
        _ints(args.nodes or "3,5,9"),
        _floats(args.latency or "0.1,0.5,2,10"),
        args.seeds,
        out_dir,
        stack=args.stack or "srp",
        progress=progress,
        jobs=args.jobs,
        backend=backend,
    )


def cmd_sweep(args: argparse.Namespace, out: TextIO) -> int:
    out_dir = Path(args.out) if args.out else None

    def progress(row: dict[str, Any]) -> None:
        if args.json:
            out.write(json.dumps(row) + "\n")
        else:
            out.write(", ".join(f"{k}={v}" for k, v in row.items()) + "\n")
        out.flush()

    backend = _backend(args)
    try:
        result = _sweep(args, out_dir, progress, backend)
    finally:
        if backend is not None:
            backend.close()
    if not args.json:
        if result.csv_path is not None:
            out.write(f"wrote {result.csv_path}\n")
        if result.png_path is not None:
            out.write(f"wrote {result.png_path}\n")
        if result.note:
            out.write(result.note + "\n")
    bad = sum(1 for row in result.rows if row.get("violations") or row.get("ok") is False)
    return 1 if bad else 0


def _stdin_lines(interactive: bool) -> Iterator[str]:
    if interactive:
        while True:
            try:
                yield input() + "\n"
            except EOFError:
                return
    else:
        yield from sys.stdin


def cmd_vq(args: argparse.Namespace, out: TextIO) -> int:
    from simulations.vq import run_vq

    config = load(args.config)
    lines: Any
    interactive = False
    if args.script:
        lines = Path(args.script).read_text().splitlines(keepends=True)
    else:
        interactive = sys.stdin.isatty()
        lines = _stdin_lines(interactive)
    return run_vq(
        config,
        lines,
        seed=args.seed,
        out=out,
        json_output=args.json,
        interactive=interactive,
    )


def _workers(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=int, default=1, help="local worker processes")
    where.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on the workers of this Dask scheduler (tcp://HOST:8786; every worker with "
        "the same pycorosync; pip install 'pycorosync[dask]')",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pycorosync-sim",
        description="Simulate pycorosync clusters: the real protocol cores on a virtual network.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario with its expectations and the checker")
    run.add_argument("scenario", help="a scenario file or a library scenario name")
    run.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's)")
    run.add_argument("--json", action="store_true", help="one JSON summary line")
    run.add_argument("--trace", metavar="FILE", help="write the full event trace to FILE")
    run.add_argument("--logs", action="store_true", help="include log lines in traces")
    run.add_argument(
        "--minimize", action="store_true", help="shrink the scenario of a violation (reruns)"
    )

    check = sub.add_parser("check", help="parse and validate scenarios without running them")
    check.add_argument("scenarios", nargs="+")

    sub.add_parser("list", help="the scenario library")

    fuzz = sub.add_parser("fuzz", help="run random fault schedules through the checker")
    fuzz.add_argument("--runs", type=int, default=20)
    fuzz.add_argument("--nodes", default="2-16", help="node count range, e.g. 2-16")
    fuzz.add_argument(
        "--steps", default="8", help="fault steps per schedule; a list (8,20) alternates"
    )
    fuzz.add_argument("--seed", type=int, default=1)
    fuzz.add_argument(
        "--knet", action="store_true", help="knet clusters: faults cut and degrade knet links"
    )
    fuzz.add_argument(
        "--qdevice",
        nargs="?",
        const="on",
        default="off",
        choices=("off", "on", "mix"),
        help="with a quorum device (qnetd host) in the faults; mix: every other run",
    )
    _workers(fuzz)
    fuzz.add_argument(
        "--out", metavar="FILE", help="JSON-lines results; an existing FILE is resumed"
    )
    fuzz.add_argument(
        "--max-events",
        type=int,
        default=DEFAULT_MAX_EVENTS,
        help="simulator events per schedule before it counts as a stall",
    )
    fuzz.add_argument(
        "--max-wall",
        type=float,
        default=DEFAULT_MAX_WALL_S,
        help="wall-clock seconds per schedule before it counts as a stall",
    )
    fuzz.add_argument(
        "--trace-digests",
        action="store_true",
        help="record each run's trace digest in FILE (to show two commits behave the same)",
    )
    fuzz.add_argument(
        "--progress",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="a progress line on standard error every SECONDS",
    )

    sweep = sub.add_parser("sweep", help="parameter sweeps to CSV (and PNG with matplotlib)")
    sweep.add_argument("kind", choices=("failover", "throughput"))
    sweep.add_argument("--nodes", help="node counts, e.g. 3,5,9")
    sweep.add_argument("--token", help="failover: configured token timeouts (ms)")
    sweep.add_argument("--latency", help="throughput: one-way latencies (ms)")
    sweep.add_argument("--seeds", type=int, default=1, help="runs per point")
    sweep.add_argument("--stack", choices=("full", "srp"), help="node kind")
    sweep.add_argument("--out", help="directory for <kind>.csv and <kind>.png")
    sweep.add_argument("--json", action="store_true", help="one JSON line per run")
    _workers(sweep)

    vq = sub.add_parser("vq", help="corosync-vqsim's commands on the real node stack")
    vq.add_argument("-c", "--config", required=True, help="corosync.conf with the nodelist")
    vq.add_argument("--json", action="store_true", help="one JSON line per command")
    vq.add_argument("--seed", type=int, default=1)
    vq.add_argument("script", nargs="?", help="command file (default: standard input)")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of ``pycorosync-sim``."""
    stream = out if out is not None else sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {
        "run": cmd_run,
        "check": cmd_check,
        "list": cmd_list,
        "fuzz": cmd_fuzz,
        "sweep": cmd_sweep,
        "vq": cmd_vq,
    }
    try:
        return handlers[args.command](args, stream)
    except (ScenarioError, ConfigError, BackendError) as exc:
        sys.stderr.write(f"pycorosync-sim: {exc}\n")
        return 2
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
