"""Parameter sweeps: many simulations, one CSV (and a PNG when matplotlib is installed).

``failover``
    For each node count x configured ``token`` x seed: form the ring, let it
    idle, crash the highest node, and measure the virtual time until every
    survivor shows the new membership (detection by token loss, then the
    consensus wait, then the membership rounds and sync). Compare with the
    real corosync figures of ``ref/real-corosync.md`` section 5 (3 nodes,
    default token: 7.5-8.0 s).
``throughput``
    For each node count x one-way link latency: node 1 keeps its send queue
    full; the delivered application messages per virtual second at node 1,
    and the average token rotation. The simulation gives every node zero CPU
    time, so this is the protocol's bound (window_size per rotation), not a
    measurement of any implementation's speed.

Each row is one run (its own seed); the CSV has a header line.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulations.backends import Backend, LocalPool
from simulations.checker import Checker
from simulations.cluster import Simulation
from simulations.config import cluster_config
from simulations.latency import Delay
from simulations.nodes import NodeFactory, srp_factory
from simulations.stacknode import stack_factory
from totem.node.assemble import settings_from_config

__all__ = ["FAILOVER_COLUMNS", "THROUGHPUT_COLUMNS", "SweepResult", "failover", "throughput"]

FAILOVER_COLUMNS = (
    "nodes",
    "token_ms",
    "effective_token_ms",
    "consensus_ms",
    "seed",
    "failover_s",
    "ok",
    "violations",
)
THROUGHPUT_COLUMNS = (
    "nodes",
    "latency_ms",
    "stack",
    "seed",
    "delivered_per_s",
    "avg_rotation_ms",
    "violations",
)

Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class SweepResult:
    """The rows of a sweep and where they were written."""

    kind: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    csv_path: Path | None
    png_path: Path | None
    note: str = ""


def _factory(stack: str, nodes: int, token: int, seed: int) -> tuple[NodeFactory, Any]:
    totem = {"token": token} if token else {}
    config = cluster_config(nodes, totem)
    if stack == "srp":
        return srp_factory(settings_from_config(config), seed, range(1, nodes + 1)), config
    return stack_factory(config, seed), config


def _form(sim: Simulation, ids: Sequence[int], limit: float) -> bool:
    want = tuple(ids)

    def formed() -> bool:
        for node in ids:
            view = sim.view(node)
            if view is None or not view.operational or view.members != want:
                return False
        return True

    return sim.run_for(limit, formed)


def failover_run(nodes: int, token: int, seed: int, stack: str = "full") -> dict[str, Any]:
    """One failover measurement."""
    factory, config = _factory(stack, nodes, token, seed)
    ids = list(range(1, nodes + 1))
    checker = Checker(app_only=stack == "srp")
    sim = Simulation(ids, factory, seed=seed, checker=checker)
    for node in ids:
        sim.start(node)
    timers = config.timers
    budget = 3 * (timers.token + timers.consensus) / 1000.0 + 10.0
    ok = _form(sim, ids, budget)
    # idle for a while, and crash at a seed-dependent point of the token's round
    sim.run_for(2.0 + sim.rng.random() * timers.token / 1000.0)
    crashed_at = sim.now
    if nodes > 1:
        sim.crash(nodes)
        ok = ok and _form(sim, ids[:-1], budget)
    return {
        "nodes": nodes,
        "token_ms": token or 3000,
        "effective_token_ms": timers.token,
        "consensus_ms": timers.consensus,
        "seed": seed,
        "failover_s": round(sim.now - crashed_at, 6),
        "ok": ok,
        "violations": len(checker.violations),
    }


def throughput_run(
    nodes: int, latency_ms: float, seed: int, stack: str = "srp", seconds: float = 2.0
) -> dict[str, Any]:
    """One throughput measurement (node 1 saturating)."""
    factory, config = _factory(stack, nodes, 0, seed)
    ids = list(range(1, nodes + 1))
    checker = Checker(app_only=stack == "srp")
    sim = Simulation(ids, factory, seed=seed, checker=checker)
    delay = Delay(latency_ms / 1000.0, latency_ms / 10000.0)
    sim.network.set_delay(sim.network.pairs(), delay)
    for node in ids:
        sim.start(node)
    timers = config.timers
    _form(sim, ids, 3 * (timers.token + timers.consensus) / 1000.0 + 10.0)
    tick = max(0.0005, latency_ms / 1000.0)

    def refill() -> None:
        sim.send(1, 64, 100)
        sim.call_at(sim.now + tick, refill)

    refill()
    sim.run_for(0.5)
    before = sim.slots[1].app_delivered
    sim.run_for(seconds)
    delivered = sim.slots[1].app_delivered - before
    rotation = sim.counters(1).get("avg_rotation_ms", 0.0)
    return {
        "nodes": nodes,
        "latency_ms": latency_ms,
        "stack": stack,
        "seed": seed,
        "delivered_per_s": round(delivered / seconds, 1),
        "avg_rotation_ms": round(float(rotation), 3),
        "violations": len(checker.violations),
    }


def failover(
    nodes: Sequence[int],
    tokens: Sequence[int],
    seeds: int,
    out_dir: Path | None,
    *,
    stack: str = "full",
    progress: Progress | None = None,
    jobs: int = 1,
    backend: Backend | None = None,
) -> SweepResult:
    """Failover time vs token timeout vs node count (on ``backend``, by default ``jobs``
    local worker processes; the rows keep their order)."""
    points = [
        (count, token, seed, stack)
        for count, token, seed in itertools.product(nodes, tokens, range(1, seeds + 1))
    ]
    rows = []
    runner = backend if backend is not None else LocalPool(jobs)
    for row in runner.map(_failover_point, points):
        rows.append(row)
        if progress is not None:
            progress(row)
    return _finish("failover", FAILOVER_COLUMNS, rows, out_dir, _plot_failover)


def _failover_point(point: tuple[int, int, int, str]) -> dict[str, Any]:
    return failover_run(*point)


def _throughput_point(point: tuple[int, float, int, str, float]) -> dict[str, Any]:
    return throughput_run(*point)


def throughput(
    nodes: Sequence[int],
    latencies_ms: Sequence[float],
    seeds: int,
    out_dir: Path | None,
    *,
    stack: str = "srp",
    seconds: float = 2.0,
    progress: Progress | None = None,
    jobs: int = 1,
    backend: Backend | None = None,
) -> SweepResult:
    """Delivered messages per second vs link latency vs node count (on ``backend``, by
    default ``jobs`` local worker processes; the rows keep their order)."""
    points = [
        (count, latency, seed, stack, seconds)
        for count, latency, seed in itertools.product(nodes, latencies_ms, range(1, seeds + 1))
    ]
    rows = []
    runner = backend if backend is not None else LocalPool(jobs)
    for row in runner.map(_throughput_point, points):
        rows.append(row)
        if progress is not None:
            progress(row)
    return _finish("throughput", THROUGHPUT_COLUMNS, rows, out_dir, _plot_throughput)


def _finish(
    kind: str,
    columns: tuple[str, ...],
    rows: list[dict[str, Any]],
    out_dir: Path | None,
    plot: Callable[[list[dict[str, Any]], Path], None],
) -> SweepResult:
    if out_dir is None:
        return SweepResult(kind, columns, rows, None, None)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{kind}.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    png_path = out_dir / f"{kind}.png"
    try:
        plot(rows, png_path)
    except ImportError:
        return SweepResult(
            kind,
            columns,
            rows,
            csv_path,
            None,
            "matplotlib is not installed (from the clone: .venv/bin/pip install -e '.[plots]'): "
            "CSV only",
        )
    return SweepResult(kind, columns, rows, csv_path, png_path)


def _mean_by(rows: list[dict[str, Any]], keys: tuple[str, str], value: str) -> dict[Any, Any]:
    grouped: dict[Any, dict[Any, list[float]]] = {}
    for row in rows:
        grouped.setdefault(row[keys[0]], {}).setdefault(row[keys[1]], []).append(row[value])
    return {
        series: sorted((x, sum(v) / len(v)) for x, v in points.items())
        for series, points in grouped.items()
    }


def _plot_failover(rows: list[dict[str, Any]], path: Path) -> None:
    _line_plot(
        {
            f"token {token} ms": points
            for token, points in sorted(_mean_by(rows, ("token_ms", "nodes"), "failover_s").items())
        },
        path,
        xlabel="nodes",
        ylabel="failover time (s, virtual)",
        title="Crash of one node: until every survivor shows the new membership",
    )


def _plot_throughput(rows: list[dict[str, Any]], path: Path) -> None:
    _line_plot(
        {
            f"{nodes} nodes": points
            for nodes, points in sorted(
                _mean_by(rows, ("nodes", "latency_ms"), "delivered_per_s").items()
            )
        },
        path,
        xlabel="one-way link latency (ms)",
        ylabel="messages delivered per second (virtual)",
        title="Saturated sender: the window_size-per-rotation bound",
        log=True,
    )


def _line_plot(
    series: dict[str, list[tuple[float, float]]],
    path: Path,
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    log: bool = False,
) -> None:
    """One line with markers per series, written as a PNG (matplotlib, the optional extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for label, points in series.items():
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    if log:
        axes.set_xscale("log")
        axes.set_yscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, alpha=0.3, which="both" if log else "major")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
