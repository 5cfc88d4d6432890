"""Simulator speed: simulated seconds per wall-clock second.

    python bench/sim_speed.py [--nodes 5,32,128] [--seconds 10] [--rate 200] [--stack full,srp]

For each ring size: form the ring from a cold start of every node at once
(timed separately: it costs O(N^2) join multicasts), then run ``--seconds`` of
virtual time while node 1 sends ``--rate`` 100-byte messages per second and
every node delivers them, with the safety checker on. Prints, per size and
node kind, the virtual seconds simulated per wall second (above 1 means
faster than real time), the events processed and the deliveries checked.
A benchmark, not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulations.checker import Checker
from simulations.cluster import Simulation, Traffic
from simulations.runner import build_factory
from simulations.scenario import parse_scenario


def measure(nodes: int, seconds: float, rate: float, stack: str, senders: int) -> dict[str, float]:
    scenario = parse_scenario(f"nodes {nodes} stack={stack}\n", f"<bench {nodes}>")
    factory = build_factory(scenario, seed=1)
    checker = Checker(app_only=stack == "srp")
    sim = Simulation(scenario.node_ids, factory, seed=1, checker=checker)
    for node in scenario.node_ids:
        sim.start(node)
    want = scenario.node_ids

    def formed() -> bool:
        views = [sim.view(n) for n in want]
        return all(v is not None and v.operational and v.members == want for v in views)

    started = time.perf_counter()
    if not sim.run_for(120.0, formed):
        raise SystemExit(f"{nodes} nodes did not form a ring in 120 s of virtual time")
    formation_wall = time.perf_counter() - started
    formation_virtual = sim.now
    for node in range(1, senders + 1):
        sim.set_traffic(node, Traffic(rate / senders, 100))
    events, deliveries = sim.events_processed, checker.deliveries
    started = time.perf_counter()
    sim.run_for(seconds)
    wall = time.perf_counter() - started
    if checker.violations:
        raise SystemExit(f"violation: {checker.violations[0]}")
    return {
        "formation_wall": formation_wall,
        "formation_virtual": formation_virtual,
        "speed": seconds / wall,
        "wall": wall,
        "events": sim.events_processed - events,
        "deliveries": checker.deliveries - deliveries,
        "app_delivered": sum(s.app_delivered for s in sim.slots.values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", default="5,32,128")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--senders", type=int, default=1, help="nodes sharing the rate")
    parser.add_argument("--stack", default="full,srp", help="node kinds: full, srp")
    args = parser.parse_args(argv)
    print(
        f"{args.seconds:g} s of virtual time, {args.rate:g} msg/s of 100 B from "
        f"{args.senders} node(s), checker on"
    )
    header = ("nodes", "stack", "sim s/wall s", "wall s", "events", "deliveries", "cold start")
    widths = (5, 5, 12, 7, 9, 10, 24)
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    for stack in args.stack.split(","):
        for nodes in (int(n) for n in args.nodes.split(",")):
            r = measure(nodes, args.seconds, args.rate, stack, min(args.senders, nodes))
            cold = f"{r['formation_virtual']:.3f} s in {r['formation_wall']:.1f} s wall"
            print(
                f"{nodes:>5} {stack:>5} {r['speed']:>12.2f} {r['wall']:>7.2f} "
                f"{r['events']:>9.0f} {r['deliveries']:>10.0f} {cold:>24}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
