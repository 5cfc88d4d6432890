"""Fault campaign throughput and memory: schedules per second per core, RSS over time.

    python bench/campaign.py [--runs 1000] [--jobs 2] [--nodes 2-16] [--steps 8,20]
                             [--qdevice mix] [--seed 20260] [--every 30]

Runs ``pycorosync-sim fuzz`` (the safety campaign's command, into a scratch result file)
and samples, every ``--every`` seconds, the schedules done and the resident memory of the
campaign's parent process and of its workers (from ``/proc``). At the end it prints the
schedules per wall second, per CPU second (the CPU time of the parent and every worker:
the figure that holds on a machine shared with other work) and per core, and whether the
memory stayed flat: the parent's RSS in the last third of the samples against the first
third after the first sample. Workers are replaced every 200 schedules
(``simulations.campaign.TASKS_PER_WORKER``), so their RSS is sampled across generations.
A benchmark, not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MIB = 1 << 20


def _rss(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (the pool's workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _done(path: Path) -> int:
    try:
        with path.open() as handle:
            return max(0, sum(1 for _ in handle) - 1)
    except OSError:
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--nodes", default="2-16")
    parser.add_argument("--steps", default="8,20")
    parser.add_argument("--qdevice", default="mix", choices=("off", "on", "mix"))
    parser.add_argument("--seed", type=int, default=20260)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "campaign.jsonl"
        command = [
            sys.executable,
            "-m",
            "simulations.cli",
            "fuzz",
            "--runs",
            str(args.runs),
            "--nodes",
            args.nodes,
            "--steps",
            args.steps,
            "--qdevice",
            args.qdevice,
            "--seed",
            str(args.seed),
            "--jobs",
            str(args.jobs),
            "--out",
            str(results),
        ]
        print(" ".join(command[1:]).replace(str(results), "FILE"), flush=True)
        print(f"{'s':>6} {'schedules':>9} {'per s':>6} {'parent MiB':>10} {'workers MiB':>12}")
        started = time.monotonic()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        root = str(Path(__file__).resolve().parent.parent)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        }
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, cwd=scratch, env=env)
        parent_rss: list[float] = []
        workers_rss: list[float] = []
        while process.poll() is None:
            try:
                process.wait(args.every)
            except subprocess.TimeoutExpired:
                pass
            elapsed = time.monotonic() - started
            done = _done(results)
            parent = _rss(process.pid)
            workers = [rss for pid in _children(process.pid) if (rss := _rss(pid))]
            if parent is None:
                continue
            parent_rss.append(parent / MIB)
            workers_rss.extend(rss / MIB for rss in workers)
            span = f"{min(workers) / MIB:.0f}-{max(workers) / MIB:.0f}" if workers else "-"
            print(
                f"{elapsed:6.0f} {done:9d} {done / elapsed:6.2f} {parent / MIB:10.1f} {span:>12}",
                flush=True,
            )
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        done = _done(results)
    cores = min(args.jobs, os.cpu_count() or 1)
    print(
        f"{done} schedules in {wall:.0f} s wall, {cpu:.0f} s CPU: {done / wall:.2f}/s, "
        f"{done / wall / cores:.2f}/s per core ({cores} cores), {done / cpu:.2f} per CPU-second"
    )
    if len(parent_rss) >= 4:
        third = max(1, (len(parent_rss) - 1) // 3)
        early = parent_rss[1 : 1 + third]
        late = parent_rss[-third:]
        print(
            f"parent RSS {min(parent_rss):.1f}-{max(parent_rss):.1f} MiB; first third "
            f"{max(early):.1f} MiB, last third {max(late):.1f} MiB"
            + (
                f"; workers {min(workers_rss):.0f}-{max(workers_rss):.0f} MiB"
                if workers_rss
                else ""
            )
        )
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")
    return process.returncode if process.returncode in (0, 1) else 2


if __name__ == "__main__":
    sys.exit(main())
