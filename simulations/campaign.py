"""Fault-schedule campaigns: many random schedules through the checker, in parallel,
resumable, each within a budget.

A campaign is a sequence of schedules drawn from one ``random.Random(seed)``: for
run ``i`` the node count (``randint`` over the node range), the schedule text
(:func:`simulations.faults.random_scenario`) and the run's own seed
(``randrange(2**30)``), in that order. Runs cycle through the *kinds* of the
campaign, every combination of ``steps`` and quorum device on/off, by index
(run ``i`` is kind ``i % len(kinds)``), so one kind gives exactly the draws of
the original ``pycorosync-sim fuzz`` and a reported ``run N`` and seed reproduce
on any machine.

Each run has a budget of simulator events (deterministic) and of wall time (the
backstop); a run over budget is a finding like a violation, reported with the
scenario cut where it stopped. The schedule is cheap to draw, so the parent
draws them in order and worker processes (``jobs``) run them; results come back
in any order and are appended to a JSON-lines *result file* as they arrive: a
header line with the campaign's parameters, then one line per run. Started
again with the same file and parameters, a campaign skips the runs the file
already holds (resume after a crash, a reboot, a ``kill``).
"""

from __future__ import annotations

import json
import multiprocessing
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from simulations.faults import random_scenario
from simulations.runner import RunResult, run_scenario
from simulations.scenario import parse_scenario

__all__ = [
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_MAX_WALL_S",
    "Campaign",
    "Schedule",
    "parallel_map",
    "run_campaign",
    "run_schedule",
    "schedules",
]

DEFAULT_MAX_EVENTS = 5_000_000
"""Simulator events one schedule may take: the largest healthy schedules of the 2-16
node, 20-step campaigns take a few hundred thousand."""
DEFAULT_MAX_WALL_S = 300.0
"""Wall-clock seconds one schedule may take (a slow machine's backstop)."""

_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class Campaign:
    """What a campaign runs: its parameters, as the result file's header records them."""

    seed: int
    runs: int
    nodes: tuple[int, int]
    steps: tuple[int, ...] = (8,)
    qdevice: tuple[bool, ...] = (False,)
    transport: str = "udpu"
    max_events: int = DEFAULT_MAX_EVENTS
    max_wall_s: float = DEFAULT_MAX_WALL_S

    @property
    def kinds(self) -> list[tuple[int, bool]]:
        """(steps, quorum device) of run ``i`` is ``kinds[i % len(kinds)]``."""
        return [(steps, device) for device in self.qdevice for steps in self.steps]

    def header(self) -> dict[str, Any]:
        """The result file's first line."""
        fields = asdict(self)
        fields["nodes"] = list(self.nodes)
        fields["steps"] = list(self.steps)
        fields["qdevice"] = list(self.qdevice)
        return {"campaign": fields}


@dataclass(frozen=True, slots=True)
class Schedule:
    """One run of a campaign."""

    index: int
    seed: int
    nodes: int
    steps: int
    qdevice: bool
    text: str


def schedules(campaign: Campaign) -> Iterator[Schedule]:
    """Every run of ``campaign``, in order (the draws of ``pycorosync-sim fuzz``)."""
    rng = random.Random(campaign.seed)
    kinds = campaign.kinds
    low, high = campaign.nodes
    for index in range(campaign.runs):
        steps, device = kinds[index % len(kinds)]
        nodes = rng.randint(low, high)
        text = random_scenario(
            rng, nodes, steps=steps, qdevice=device, transport=campaign.transport
        )
        seed = rng.randrange(1 << 30)
        yield Schedule(index, seed, nodes, steps, device, text)


def _described(text: str) -> dict[str, Any]:
    """The cluster line's facts: stack, rings, crypto, token."""
    line = next(line for line in text.splitlines() if line.startswith("nodes "))
    words = dict(word.split("=", 1) for word in line.split()[2:] if "=" in word)
    return {
        "stack": words.get("stack", "full"),
        "rings": int(words.get("rings", words.get("links", "1"))),
        "crypto": words.get("crypto") == "on",
        "token": int(words.get("token", "0")),
    }


def run_schedule(
    schedule: Schedule, max_events: int, max_wall_s: float, trace_digest: bool = False
) -> dict[str, Any]:
    """Run one schedule; its result row (with the schedule text when it is a finding).

    With ``trace_digest`` the row also holds the digest of the run's whole trace (every
    datagram, timer and event): two commits that give every schedule the same digest
    behave identically on them, which is how a change to a core or to the simulator is
    shown not to invalidate a campaign run before it.
    """
    result: RunResult = run_scenario(
        parse_scenario(schedule.text, f"<run {schedule.index}>"),
        schedule.seed,
        keep_trace=trace_digest,
        max_events=max_events,
        max_wall_s=max_wall_s,
    )
    healed = bool(result.expectations) and result.expectations[-1].ok
    violations = [str(report.violation) for report in result.violations]
    ok = not violations and healed and not result.budget_exceeded
    row: dict[str, Any] = {
        "run": schedule.index,
        "seed": schedule.seed,
        "nodes": schedule.nodes,
        "steps": schedule.steps,
        "qdevice": schedule.qdevice,
        **_described(schedule.text),
        "ok": ok,
        "violations": violations,
        "healed": healed,
        "budget_exceeded": result.budget_exceeded,
        "events": result.stats.get("events", 0),
        "simulated_s": round(result.simulated_s, 6),
        "wall_s": round(result.wall_s, 3),
        "max_gather_rate": result.stats.get("max_gather_rate", 0),
    }
    if trace_digest:
        row["trace_digest"] = result.trace_digest
    if not ok:
        row["text"] = schedule.text
        row["reproduction"] = result.reproduction
        failed = [e for e in result.expectations if not e.ok]
        row["expectations_failed"] = [f"line {e.line}: {e.text}: {e.detail}" for e in failed]
    return row


def _run_packed(packed: tuple[Schedule, int, float, bool]) -> dict[str, Any]:
    return run_schedule(*packed)


def parallel_map(
    function: Callable[[_T], _R], items: Iterable[_T], jobs: int, *, ordered: bool = True
) -> Iterator[_R]:
    """``map`` over ``jobs`` worker processes (in this process when ``jobs`` is 1).

    ``function`` must be a module-level function. With ``ordered=False`` results come as
    they finish.
    """
    if jobs <= 1:
        yield from map(function, items)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(jobs, maxtasksperchild=200) as pool:
        mapper = pool.imap if ordered else pool.imap_unordered
        yield from mapper(function, items, chunksize=1)


def _read_results(path: Path, campaign: Campaign) -> dict[int, dict[str, Any]]:
    """The rows an earlier start of ``campaign`` left in ``path`` (a torn last line is
    dropped); ValueError if the file belongs to another campaign. Only the number of
    runs may differ: the same seed draws the same first runs, so a campaign can be
    extended."""
    rows: dict[int, dict[str, Any]] = {}
    with path.open() as handle:
        lines = handle.read().splitlines()
    if not lines:
        return rows
    header = json.loads(lines[0]).get("campaign", {})
    expected = campaign.header()["campaign"]
    header.pop("runs", None)
    expected.pop("runs")
    if header != expected:
        raise ValueError(f"it holds another campaign: {lines[0]}")
    for line in lines[1:]:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
        rows[int(row["run"])] = row
    return rows


@dataclass(slots=True)
class Progress:
    """Counts for the progress line and the summary."""

    total: int
    done: int = 0
    resumed: int = 0
    findings: int = 0
    started: float = 0.0
    last_print: float = 0.0

    def line(self, now: float) -> str:
        ran = self.done - self.resumed
        spent = max(now - self.started, 1e-9)
        rate = ran / spent
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = f"{left / 60:.0f} min" if left != float("inf") else "?"
        return (
            f"{self.done}/{self.total} schedules ({self.resumed} resumed), "
            f"{self.findings} findings, {rate:.2f}/s, {spent / 60:.1f} min, ETA {eta}"
        )


def run_campaign(
    campaign: Campaign,
    *,
    jobs: int = 1,
    results: Path | None = None,
    out: TextIO,
    progress_every: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
    on_finding: Callable[[dict[str, Any]], None] | None = None,
    trace_digest: bool = False,
) -> list[dict[str, Any]]:
    """Run (or resume) ``campaign``; every row, in run order. Progress lines go to ``out``
    every ``progress_every`` seconds (0: none); ``trace_digest`` as in
    :func:`run_schedule`."""
    previous: dict[int, dict[str, Any]] = {}
    if results is not None and results.exists():
        previous = _read_results(results, campaign)
    state = Progress(total=campaign.runs, done=len(previous), resumed=len(previous))
    state.findings = sum(1 for row in previous.values() if not row["ok"])
    state.started = state.last_print = clock()
    pending = (
        (schedule, campaign.max_events, campaign.max_wall_s, trace_digest)
        for schedule in schedules(campaign)
        if schedule.index not in previous
    )
    rows = dict(previous)
    sink: TextIO | None = None
    if results is not None:
        fresh = not results.exists() or results.stat().st_size == 0
        sink = results.open("a")
        if fresh:
            sink.write(json.dumps(campaign.header()) + "\n")
            sink.flush()
    try:
        for row in parallel_map(_run_packed, pending, jobs, ordered=False):
            rows[row["run"]] = row
            state.done += 1
            if sink is not None:
                sink.write(json.dumps(row) + "\n")
                sink.flush()
            if not row["ok"]:
                state.findings += 1
                if on_finding is not None:
                    on_finding(row)
            now = clock()
            if progress_every and now - state.last_print >= progress_every:
                state.last_print = now
                out.write(state.line(now) + "\n")
                out.flush()
    finally:
        if sink is not None:
            sink.close()
    return [rows[index] for index in sorted(rows)]


def summary(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The campaign's figures: schedules per kind, findings, the extremes."""
    lines = []
    groups: dict[tuple[int, bool, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["steps"], row["qdevice"], row["rings"]), []).append(row)
    for (steps, device, rings), members in sorted(groups.items()):
        bad = sum(1 for row in members if not row["ok"])
        lines.append(
            f"steps {steps:>2}, qdevice {'on ' if device else 'off'}, rings {rings}: "
            f"{len(members)} schedules, {bad} findings"
        )
    if rows:
        nodes = sorted({row["nodes"] for row in rows})
        slowest = max(rows, key=lambda row: row["wall_s"])
        busiest = max(rows, key=lambda row: row["events"])
        lines.append(f"node counts {nodes[0]}-{nodes[-1]}")
        lines.append(
            f"violations {sum(1 for r in rows if r['violations'])}, "
            f"not one ring after healing {sum(1 for r in rows if not r['healed'])}, "
            f"over budget {sum(1 for r in rows if r['budget_exceeded'])}"
        )
        lines.append(
            f"most events {busiest['events']} (run {busiest['run']}), slowest "
            f"{slowest['wall_s']} s (run {slowest['run']}), highest GATHER rate "
            f"{max(row['max_gather_rate'] for row in rows)}/s, "
            f"{sum(row['simulated_s'] for row in rows) / 3600:.1f} h simulated"
        )
    return lines
