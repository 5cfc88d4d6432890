"""Rings to measure: n real corosync 3.1.7 nodes, or n pycorosync nodes, in the same topology.

Both kinds run in the network namespaces of the interop harness (``tests/interop``; one
namespace per node on a bridge, ``ref/real-corosync.md`` §3), from the same generated
corosync.conf, so the only difference between a real and an "ours" ring is the program in the
slots.  Timings come from the daemons' own log lines (``timestamp: hires``: milliseconds, wall
clock), which corosync and pycorosync print identically:

    Nov 25 07:10:00.510 [16623] ic0n1 corosync notice  [QUORUM] Members[2]: 1 3
    Nov 25 07:09:56.865 [16633] ic0n3 pycorosync notice  [QUORUM] This node is within the
        primary component and will provide service.
    Nov 25 12:34:35.112 [18120] ic1n1 corosync notice  [TOTEM ] A processor failed, forming
        new configuration: token timed out (4950ms), waiting 5940ms for consensus.

so that no polling tool (``corosync-quorumtool`` through ``nsenter`` costs 50-150 ms) sits in
the measurement of either side.  CPU time and resident memory come from ``/proc/PID``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tests.interop.harness import Cluster, HarnessError
from tests.interop.mixed import MixedCluster
from tests.interop.procs import Spawned

__all__ = [
    "Kind",
    "Ring",
    "RingLogEvent",
    "cpu_seconds",
    "open_ring",
    "parse_ring_log",
    "rss_kib",
]

Kind = Literal["real", "ours"]

_LOG_LINE = re.compile(
    r"^(?P<stamp>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d\.\d{3}) \[(?P<pid>\d+)\] \S+ \S+ \w+\s+"
    r"(?:\[QUORUM\] (?:Members\[(?P<count>\d+)\]:(?P<members>[\d ]*)$|"
    r"This node is within the (?P<component>primary|non-primary) component)|"
    r"\[TOTEM \] (?P<lost>A processor failed, forming new configuration))"
)
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class RingLogEvent:
    """A ``[QUORUM]`` log line (a new member list, or a change of the quorate state), or the
    ``[TOTEM]`` notice that the token was lost in the operational state."""

    time: float
    """Wall clock (``time.time()`` scale)."""
    pid: int
    members: tuple[int, ...] | None = None
    """For ``Members[k]: ...`` lines."""
    quorate: bool | None = None
    """For ``This node is within the (non-)primary component`` lines."""
    token_lost: bool = False
    """For ``A processor failed, forming new configuration: token timed out ...`` lines."""


def _stamp(text: str, year: int) -> float:
    return datetime.strptime(f"{year} {text}", "%Y %b %d %H:%M:%S.%f").timestamp()


def parse_ring_log(text: str, year: int | None = None) -> list[RingLogEvent]:
    """The membership, quorate and token-loss lines of a corosync or pycorosync log."""
    year = year or datetime.now().year
    out: list[RingLogEvent] = []
    for line in text.splitlines():
        m = _LOG_LINE.match(line)
        if m is None:
            continue
        when, pid = _stamp(m["stamp"], year), int(m["pid"])
        if m["count"] is not None:
            members = tuple(int(x) for x in m["members"].split())
            out.append(RingLogEvent(when, pid, members=members))
        elif m["component"] is not None:
            out.append(RingLogEvent(when, pid, quorate=m["component"] == "primary"))
        else:
            out.append(RingLogEvent(when, pid, token_lost=True))
    return out


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU time of a live process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return int(fields[11]) / _CLK_TCK, int(fields[12]) / _CLK_TCK


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, in seconds."""
    return sum(cpu_split(pid))


def rss_kib(pid: int, key: str = "VmRSS") -> int:
    """``VmRSS`` (or ``VmHWM``, the peak) of a live process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise HarnessError(f"no {key} for pid {pid}")


class Ring:
    """n nodes of one kind in their namespaces; every node's processes are ended on close."""

    def __init__(self, kind: Kind, cluster: Cluster) -> None:
        self.kind = kind
        self.cluster = cluster
        self.n = cluster.n
        self.mixed = MixedCluster(cluster, ours=cluster.nodes if kind == "ours" else ())
        self.started_at: dict[int, float] = {}

    @property
    def nodes(self) -> list[int]:
        return self.cluster.nodes

    @property
    def label(self) -> str:
        return "pycorosync" if self.kind == "ours" else "corosync"

    def start(self, i: int) -> Spawned:
        """(Re)start node i; its start time (wall clock) is remembered."""
        self.started_at[i] = time.time()
        return self.mixed.start(i)

    def start_all(self) -> float:
        """Start every node back to back; the wall-clock time just before the first."""
        t0 = time.time()
        for i in self.nodes:
            self.start(i)
        return t0

    def pid(self, i: int) -> int:
        handle = self.mixed.handle(i)
        if handle is None or not handle.alive():
            raise HarnessError(f"{self.label} is not running in slot {i}")
        return handle.pid

    def kill(self, i: int, sig: int = signal.SIGKILL) -> float:
        """Signal node i; the wall-clock time just before the signal."""
        t = time.time()
        self.mixed.kill(i, sig)
        return t

    def stop_all(self) -> None:
        """SIGTERM every node at once and wait for them (corosync needs ~1.2 s)."""
        handles = [h for i in self.nodes if (h := self.mixed.handle(i)) is not None and h.alive()]
        for h in handles:
            h.signal(signal.SIGTERM)
        for h in handles:
            if h.wait(8.0) is None:
                h.signal(signal.SIGKILL)
                h.wait(2.0)

    def log_events(self, i: int) -> list[RingLogEvent]:
        """Ring log events of node i's current process (all of them, when it is not running)."""
        pid = self.pid(i) if self.mixed.running(i) else None
        events = parse_ring_log(self.cluster.log_text(i, "corosync.log"))
        return [e for e in events if pid is None or e.pid == pid]

    def first_token_loss(self, nodes: Sequence[int], since: float) -> float | None:
        """When the first of ``nodes`` logged the loss of the token at or after ``since``."""
        lost = [
            e.time
            for i in nodes
            for e in self.log_events(i)
            if e.token_lost and e.time >= since - 0.001
        ]
        return min(lost, default=None)

    def time_to_view(
        self,
        nodes: Sequence[int],
        members: set[int],
        since: float,
        *,
        timeout: float = 60.0,
    ) -> float:
        """Seconds from ``since`` until every node of ``nodes`` has logged ``members`` while
        quorate (the latest of them), waiting up to ``timeout`` for the log lines."""
        deadline = time.monotonic() + timeout
        while True:
            reached: dict[int, float] = {}
            for i in nodes:
                quorate = False  # the state carried over from before ``since`` counts too
                for e in self.log_events(i):
                    if e.quorate is not None:
                        quorate = e.quorate
                    elif (
                        e.members is not None
                        # stamps are truncated to the millisecond: allow that much early
                        and e.time >= since - 0.001
                        and set(e.members) == members
                        and quorate
                    ):
                        reached[i] = e.time
                        break
            if len(reached) == len(nodes):
                return max(reached.values()) - since
            if time.monotonic() >= deadline:
                missing = sorted(set(nodes) - set(reached))
                raise HarnessError(
                    f"{self.label}: nodes {missing} did not log quorate members "
                    f"{sorted(members)} within {timeout:g} s"
                )
            time.sleep(0.05)


@contextlib.contextmanager
def open_ring(
    kind: Kind,
    n: int,
    transport: Literal["udpu", "udp", "knet"] = "udpu",
    *,
    token: int | None = None,
    totem_extra: Sequence[str] = (),
    crypto: tuple[str, str] | None = None,
) -> Iterator[Ring]:
    """Namespaces for an n-node ring of ``kind`` (nothing started yet); with knet, ``crypto``
    is ``(crypto_cipher, crypto_hash)`` with a fresh key."""
    nodes = set(range(1, n + 1))
    with Cluster(
        n,
        transport,
        skip=nodes if kind == "ours" else (),
        start=False,
        token=token,
        totem_extra=tuple(totem_extra),
        crypto=crypto,
    ) as cluster:
        ring = Ring(kind, cluster)
        try:
            yield ring
        finally:
            ring.stop_all()
