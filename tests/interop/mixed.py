"""Mixed rings: pycorosync daemons in slots of an interop `Cluster`, next to real corosync 3.1.7.

A `MixedCluster` wraps a `Cluster` whose free slots (``skip``) run our node daemon
(``python -m totem.node.daemon``, this checkout's code) with the very corosync.conf the real
nodes read (``ref/real-corosync.md`` §4, "Foreign-node slot").  It looks at every node through
one lens, so that tests can say "every node agrees":

* a real node through ``corosync-quorumtool -s`` (`Cluster.quorum_status`);
* one of ours through its control socket, asking ``quorum.render`` for the same text and
  parsing it with the same parser (`tests.interop.tools.parse_quorumtool_s`), plus ``status``
  for the SRP state (ring id, OPERATIONAL, synchronised).

The control socket of slot i is ``/run/pycorosync/pycorosync.sock`` inside the node, which the
host sees under ``Cluster.node_dir(i)/run`` (the node's private ``/run``).

Traffic helpers for the bad-input cases (`send_datagrams`) run a tiny sender inside a slot, so
that datagrams leave from that slot's own address, exactly as a misbehaving host would send them.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.interop.harness import NODE_CONF, Cluster, HarnessError, WaitTimeout
from tests.interop.procs import Spawned
from tests.interop.tools import QuorumStatus, member_ids, parse_quorumtool_s
from totem.node.client import ControlClient, NodeUnavailable, RequestFailed

__all__ = [
    "PROJECT_ROOT",
    "PYCOROSYNC",
    "PYTHON",
    "RUN_DIR",
    "Datagram",
    "MixedCluster",
    "NodeView",
    "send_datagrams",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The checkout under test: our daemons run its code (``PYTHONPATH``)."""
PYTHON = sys.executable
RUN_DIR = "/run/pycorosync"
"""Run directory of our daemon inside its node (private ``/run``)."""
PYCOROSYNC = "pycorosync"
"""Process name of our daemon in `Cluster.spawn` (its log: ``pycorosync.log``)."""


@dataclass(frozen=True, slots=True)
class NodeView:
    """What one node shows: its quorum view and, for ours, the SRP state beneath it."""

    node: int
    ours: bool
    quorum: QuorumStatus
    srp_ring_id: str | None = None
    """Ours only: the SRP ring id (the quorum view follows it once sync completes)."""
    srp_state: str | None = None
    synced: bool | None = None

    @property
    def members(self) -> set[int]:
        return member_ids(self.quorum)

    @property
    def ring_id(self) -> str:
        return self.quorum["ring_id"]


class MixedCluster:
    """A `Cluster` whose slots ``ours`` run pycorosync; every other nodelist slot runs corosync.

    ``ours`` must be among the cluster's ``skip`` slots (the harness starts no corosync there).
    """

    def __init__(self, cluster: Cluster, ours: Iterable[int]) -> None:
        self.cluster = cluster
        self.ours = sorted(set(ours))
        if not set(self.ours) <= cluster.skip:
            raise ValueError(f"our slots {self.ours} must be skipped by the cluster")
        self.real = [i for i in cluster.nodes if i not in cluster.skip]
        self._handles: dict[int, Spawned] = {}
        self.env = {"PYTHONPATH": str(PROJECT_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}

    # ------------------------------------------------------------------ processes

    def is_ours(self, i: int) -> bool:
        return i in self.ours

    def argv(self, i: int, *extra: str) -> list[str]:
        """The command line of our daemon in slot i."""
        return [
            PYTHON,
            "-m",
            "totem.node.daemon",
            "-f",
            "-c",
            NODE_CONF,
            "--nodeid",
            str(i),
            "--run-dir",
            RUN_DIR,
            *extra,
        ]

    def start(self, i: int, *extra: str) -> Spawned:
        """(Re)start slot i: our daemon in our slots, corosync in the others."""
        if not self.is_ours(i):
            return self.cluster.start(i)
        old = self._handles.get(i)
        if old is not None and old.alive() and old.wait(5.0) is None:
            raise HarnessError(f"pycorosync in slot {i} is still running (pid {old.pid})")
        handle = self.cluster.spawn(i, PYCOROSYNC, self.argv(i, *extra), env=self.env)
        self._handles[i] = handle
        return handle

    def start_ours(self) -> None:
        for i in self.ours:
            self.start(i)

    def handle(self, i: int) -> Spawned | None:
        """The latest process of slot i (ours or corosync)."""
        return self._handles.get(i) if self.is_ours(i) else self.cluster.corosync(i)

    def running(self, i: int) -> bool:
        handle = self.handle(i)
        return handle is not None and handle.alive()

    def live(self) -> list[int]:
        """Nodelist slots whose node (ours or real) is running."""
        return [i for i in self.cluster.nodes if self.running(i)]

    def kill(self, i: int, sig: int = signal.SIGKILL) -> None:
        """Signal slot i's node (SIGKILL by default) and, for SIGKILL, wait until it is gone."""
        handle = self.handle(i)
        if handle is None or not handle.signal(sig):
            raise HarnessError(f"nothing runs in slot {i}")
        if sig == signal.SIGKILL and handle.wait(5.0) is None:
            raise HarnessError(f"slot {i} (pid {handle.pid}) survived SIGKILL")

    def stop(self, i: int, timeout: float = 5.0) -> int:
        """Graceful stop (SIGTERM, bounded wait, then KILL); the exit status."""
        handle = self.handle(i)
        if handle is None:
            raise HarnessError(f"nothing was started in slot {i}")
        return self.cluster.stop(handle, signal.SIGTERM, timeout)

    def log(self, i: int) -> str:
        """Slot i's daemon output (ours: ``pycorosync.log``; real: ``corosync.log``)."""
        name = f"{PYCOROSYNC}.log" if self.is_ours(i) else "corosync.log"
        return self.cluster.log_text(i, name)

    # ------------------------------------------------------------------ our control socket

    def host_run_dir(self, i: int) -> Path:
        """Where the host sees our daemon's ``RUN_DIR`` of slot i."""
        return self.cluster.node_dir(i) / "run" / RUN_DIR.removeprefix("/run/")

    def client(self, i: int, timeout: float = 5.0) -> ControlClient:
        """A control-socket client of our daemon in slot i (close it, or use ``with``)."""
        if not self.is_ours(i):
            raise HarnessError(f"slot {i} runs real corosync, not pycorosync")
        return ControlClient(str(self.host_run_dir(i)), timeout=timeout)

    def call(self, i: int, op: str, timeout: float = 5.0, **args: Any) -> Any:
        """One control operation on our daemon in slot i."""
        with self.client(i, timeout) as client:
            return client.call(op, **args)

    def py_status(self, i: int) -> dict[str, Any]:
        """Our daemon's ``status`` (SRP state, counters, transport, services)."""
        status: dict[str, Any] = self.call(i, "status")
        return status

    # ------------------------------------------------------------------ views

    def view(self, i: int) -> NodeView:
        """What slot i shows now; raises `HarnessError` if it cannot be asked."""
        if not self.is_ours(i):
            return NodeView(i, False, self.cluster.quorum_status(i))
        try:
            with self.client(i) as client:
                text = client.call("quorum.render")
                status = client.call("status")
        except (NodeUnavailable, RequestFailed, OSError) as exc:
            raise HarnessError(f"pycorosync in slot {i}: {exc}") from exc
        node = status["node"]
        return NodeView(
            i,
            True,
            parse_quorumtool_s(text),
            srp_ring_id=node["ring_id"],
            srp_state=node["state"],
            synced=node["synced"],
        )

    def wait_agree(
        self,
        nodes: Iterable[int] | None = None,
        members: set[int] | None = None,
        *,
        quorate: bool | None = None,
        timeout: float = 30.0,
        interval: float = 0.05,
    ) -> dict[int, NodeView]:
        """Poll ``nodes`` (default: every live slot) until all of them show exactly ``members``
        (default: the polled nodes) in one and the same ring id, with ``quorate`` if given; ours
        must also be OPERATIONAL, synchronised, with the SRP ring id equal to the quorum view's.
        Returns the agreeing views; raises `WaitTimeout` saying what each node last showed."""
        polled = sorted(nodes) if nodes is not None else self.live()
        if not polled:
            raise HarnessError("wait_agree: no node to poll")
        want = set(polled) if members is None else set(members)
        deadline = time.monotonic() + timeout
        while True:
            views: dict[int, NodeView] = {}
            problems: dict[int, str] = {}
            for i in polled:
                try:
                    views[i] = v = self.view(i)
                except HarnessError as exc:
                    problems[i] = str(exc)
                    break
                if why := _disagreement(v, want, quorate):
                    problems[i] = why
                    break
            if not problems and len({v.ring_id for v in views.values()}) > 1:
                problems[0] = "ring ids differ: " + ", ".join(
                    f"{i}={v.ring_id}" for i, v in sorted(views.items())
                )
            if not problems:
                return views
            if time.monotonic() >= deadline:
                wanted = f"members {sorted(want)}" + (
                    f", quorate={quorate}" if quorate is not None else ""
                )
                lines = [f"after {timeout:g} s nodes {polled} do not agree on {wanted}:"]
                lines += [f"  node {i}: {why}" for i, why in sorted(problems.items())]
                for i in polled:
                    handle = self.handle(i)
                    if handle is not None and not handle.alive():
                        tail = self.log(i).splitlines()[-5:]
                        lines.append(f"  node {i} exited with {handle.returncode}: {tail}")
                raise WaitTimeout("\n".join(lines))
            time.sleep(interval)


def _disagreement(view: NodeView, want: set[int], quorate: bool | None) -> str | None:
    q = view.quorum
    shown = f"members {sorted(view.members)} quorate={q['quorate']} ring {view.ring_id}"
    if view.members != want or q["nodes"] != len(want):
        return shown
    if quorate is not None and q["quorate"] != quorate:
        return shown
    if view.ours and (
        view.srp_state != "OPERATIONAL" or not view.synced or view.srp_ring_id != view.ring_id
    ):
        return f"{shown}; srp {view.srp_state} ring {view.srp_ring_id} synced={view.synced}"
    return None


# ---------------------------------------------------------------- raw datagrams


@dataclass(frozen=True, slots=True)
class Datagram:
    """One UDP datagram to send from inside a slot."""

    dst: str
    port: int
    data: bytes


_SENDER = r"""
import socket, sys, time
src, sport, rounds, gap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
items = []
for line in sys.stdin:
    dst, port, data = line.split()
    items.append(((dst, int(port)), b"" if data == "-" else bytes.fromhex(data)))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((src, sport))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
sent = errors = 0
for _ in range(rounds):
    for addr, data in items:
        try:
            s.sendto(data, addr)
            sent += 1
        except OSError:
            errors += 1
        if gap:
            time.sleep(gap)
print(sent, errors)
"""


def send_datagrams(
    cluster: Cluster,
    slot: int,
    datagrams: Sequence[Datagram],
    *,
    source_port: int = 0,
    rounds: int = 1,
    gap: float = 0.0,
    timeout: float = 30.0,
) -> int:
    """Send ``datagrams`` (``rounds`` times, ``gap`` seconds apart) from slot ``slot``'s address
    and ``source_port`` (0: ephemeral); returns how many were sent."""
    lines = "".join(f"{d.dst} {d.port} {d.data.hex() or '-'}\n" for d in datagrams)
    argv = [PYTHON, "-c", _SENDER, cluster.addr(slot), str(source_port), str(rounds), str(gap)]
    cp = cluster.exec(slot, argv, timeout, check=True, input=lines)
    sent, errors = (int(x) for x in cp.stdout.split())
    if errors:
        raise HarnessError(f"sender in slot {slot}: {errors} send errors ({sent} sent)")
    return sent
