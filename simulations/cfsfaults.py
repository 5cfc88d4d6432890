"""Random fault schedules with the replicated filesystem written through them.

:func:`random_cfs_scenario` takes a schedule of :func:`simulations.faults.random_scenario`
(full node stack: partitions, cuts, loss, pauses, crashes, restarts, stops...) and writes
files on random nodes between its steps (a write on a node that is down or inquorate is
refused, as on a real cluster). The schedule ends, once the faults are healed and the
running nodes form one ring again, by expecting the filesystem converged; all along the
checker judges ``cfs-write-without-quorum`` and ``cfs-diverged-after-heal``
(:mod:`simulations.cfsim`). Files stay under 1000 bytes (one totempg packet each: a
message cut in fragments across a ring change can be lost for a node that just joined,
an engine matter, see ``tests/simulations/test_cfsim.py``). Restarts keep their persisted
state (the database, as sqlite's, and the ring id: a restart without it may reuse a ring
id, also an engine matter).
"""

from __future__ import annotations

from simulations.faults import Chooser, random_scenario

__all__ = ["random_cfs_scenario"]

_PATHS = ("corosync.conf", "storage.cfg", "user.cfg", "nodes/x.cfg", "priv/lock/x")


def random_cfs_scenario(chooser: Chooser, nodes: int, steps: int = 8) -> str:
    """A random fault schedule for ``nodes`` nodes with filesystem writes, as scenario text."""
    # restarts keep their persisted ring id: a "fresh" restart (no state directory) may
    # reuse a ring id, which the checker reports for the engine whatever the filesystem does
    text = random_scenario(chooser, nodes, steps, stack="full").replace(" fresh\n", "\n")
    lines = text.splitlines()
    out: list[str] = []
    started = False
    for line in lines:
        out.append(line)
        if line.startswith("expect members"):
            started = True
        if not started or line.startswith(("heal", "latency *", "loss 0", "dup 0", "reorder 0")):
            continue
        for _ in range(chooser.randint(0, 2)):
            node = chooser.randint(1, nodes)
            path = _PATHS[chooser.randint(0, 2)]
            out.append(f"write {node} {path} {chooser.randint(1, 1000)}")
    token = next(int(w[6:]) for w in lines[1].split() if w.startswith("token="))
    out.append(f"expect converged within {max(10, 6 * token // 1000)}s")
    return "\n".join(out) + "\n"
