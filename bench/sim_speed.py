"""Simulator speed: simulated seconds per wall-clock second.

    python bench/sim_speed.py [--nodes 5,32,128] [--seconds 10] [--rate 200] [--stack full,srp]
                              [--send-join 80]

For each ring size: form the ring from a cold start of every node at once
(timed separately: it costs O(N^2) join multicasts), then run ``--seconds`` of
virtual time while node 1 sends ``--rate`` 100-byte messages per second and
every node delivers them, with the safety checker on. Prints, per size and
node kind, the virtual seconds simulated per wall second (above 1 means
faster than real time), the same per CPU second of this process (what a busy,
shared machine does not inflate), the events processed and the deliveries checked.

``--send-join MS`` times a second cold start with corosync's ``totem.send_join`` set to
MS: each JOIN then waits a random 0..MS ms, so a large ring's JOINs do not all arrive at
once (corosync's man page suggests 80 ms for 128 nodes; the default, 0, sends them at
once). The traffic run uses the ring formed without it.
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


def cold_start(
    nodes: int, stack: str, send_join: int = 0
) -> tuple[Simulation, Checker, float, float, float]:
    """Every node started at once until all are on one ring: (simulation, checker,
    virtual seconds, wall seconds, CPU seconds)."""
    extra = f" send_join={send_join}" if send_join else ""
    scenario = parse_scenario(f"nodes {nodes} stack={stack}{extra}\n", f"<bench {nodes}>")
    factory = build_factory(scenario, seed=1)
    checker = Checker(app_only=stack == "srp")
    sim = Simulation(scenario.node_ids, factory, seed=1, checker=checker)
    want = scenario.node_ids

    def formed() -> bool:
        for node in want:
            view = sim.view(node)
            if view is None or not view.operational or view.members != want:
                return False
        return True

    started, cpu = time.perf_counter(), time.process_time()
    for node in want:
        sim.start(node)
    if not sim.run_for(120.0, formed):
        raise SystemExit(f"{nodes} nodes did not form a ring in 120 s of virtual time")
    return sim, checker, sim.now, time.perf_counter() - started, time.process_time() - cpu


def measure(nodes: int, seconds: float, rate: float, stack: str, senders: int) -> dict[str, float]:
    sim, checker, formation_virtual, formation_wall, formation_cpu = cold_start(nodes, stack)
    for node in range(1, senders + 1):
        sim.set_traffic(node, Traffic(rate / senders, 100))
    events, deliveries = sim.events_processed, checker.deliveries
    started, cpu = time.perf_counter(), time.process_time()
    sim.run_for(seconds)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if checker.violations:
        raise SystemExit(f"violation: {checker.violations[0]}")
    return {
        "formation_wall": formation_wall,
        "formation_cpu": formation_cpu,
        "formation_virtual": formation_virtual,
        "speed": seconds / wall,
        "speed_cpu": seconds / cpu,
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
    parser.add_argument(
        "--send-join", type=int, default=0, metavar="MS", help="also a cold start with send_join"
    )
    args = parser.parse_args(argv)
    print(
        f"{args.seconds:g} s of virtual time, {args.rate:g} msg/s of 100 B from "
        f"{args.senders} node(s), checker on"
    )
    header = ["nodes", "stack", "sim s/wall s", "sim s/cpu s", "wall s", "events", "deliveries"]
    header.append("cold start (virtual, wall, cpu)")
    widths = [5, 5, 12, 11, 7, 9, 10, 32]
    if args.send_join:
        header.append(f"send_join={args.send_join}")
        widths.append(32)
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    for stack in args.stack.split(","):
        for nodes in (int(n) for n in args.nodes.split(",")):
            r = measure(nodes, args.seconds, args.rate, stack, min(args.senders, nodes))
            cold = (
                f"{r['formation_virtual']:.3f} s in {r['formation_wall']:.1f} s, "
                f"{r['formation_cpu']:.1f} s cpu"
            )
            line = (
                f"{nodes:>5} {stack:>5} {r['speed']:>12.2f} {r['speed_cpu']:>11.2f} "
                f"{r['wall']:>7.2f} {r['events']:>9.0f} {r['deliveries']:>10.0f} {cold:>32}"
            )
            if args.send_join:
                _, _, virtual, wall, cpu = cold_start(nodes, stack, args.send_join)
                line += f" {f'{virtual:.3f} s in {wall:.1f} s, {cpu:.1f} s cpu':>32}"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
