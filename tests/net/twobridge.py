"""Real ``pycorosync`` daemons on two networks: network namespaces joined by two bridges.

One bridge namespace holds ``br0`` and ``br1``; every node namespace has ``eth0``
(10.70.0.N/24) cabled to ``br0`` and ``eth1`` (10.71.0.N/24) cabled to ``br1``. A
network is "cut" by disabling every port of its bridge (STP state 0: both
directions dropped, carrier up), as the interop harness cuts links.

Built on the interop harness's primitives (``tests/interop/netns.py``); that
harness itself wires one bridge per cluster, hence this small helper. Every name
carries a random ``rrp7xxxx`` prefix; only namespaces and processes created here
are ever touched, processes by PID, and ``close`` removes them all.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.interop.netns import (
    create_netns,
    delete_netns,
    missing_tools,
    netns_exists,
    netns_pids,
    nsenter_argv,
    run,
    set_bridge_port,
)
from totem.node.client import ControlClient, NodeUnavailable, RequestFailed

REPO = Path(__file__).resolve().parents[2]
SUBNETS = ("10.70.0", "10.71.0")


def environment_problem() -> str | None:
    """Why this machine cannot run the two-bridge tests, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    missing = missing_tools(["ip", "nsenter", "bridge"])
    if missing:
        return f"missing tools: {', '.join(missing)}"
    return None


def conf_text(n: int, extra_totem: str = "", rings: int = 2, transport: str = "udpu") -> str:
    """A corosync.conf: ``rings`` 2 is ``rrp_mode: passive``, 1 is ring 0 only."""
    nodes = "".join(
        f"    node {{\n        nodeid: {i}\n        name: node{i}\n"
        + "".join(f"        ring{link}_addr: {SUBNETS[link]}.{i}\n" for link in range(rings))
        + "    }\n"
        for i in range(1, n + 1)
    )
    interfaces = "".join(
        f"    interface {{\n        ringnumber: {link}\n"
        f"        bindnetaddr: {SUBNETS[link]}.0\n        mcastport: 5405\n    }}\n"
        for link in range(rings)
    )
    mode = "passive" if rings == 2 else "none"
    return (
        f"totem {{\n    version: 2\n    cluster_name: rrp\n    transport: {transport}\n"
        f"    rrp_mode: {mode}\n    token: 1000\n    token_coefficient: 0\n"
        f"{extra_totem}{interfaces}}}\n"
        f"nodelist {{\n{nodes}}}\n"
        "quorum {\n    provider: corosync_votequorum\n}\n"
        "logging {\n    to_stderr: yes\n    debug: off\n}\n"
    )


class TwoBridgeCluster:
    """``n`` daemons on two bridged networks; ``cut(link)``/``restore(link)``."""

    def __init__(
        self,
        tmp: Path,
        n: int = 3,
        extra_totem: str = "",
        rings: int = 2,
        transport: str = "udpu",
    ) -> None:
        self.tmp = tmp
        self.n = n
        self.prefix = f"rrp7{secrets.token_hex(2)}"
        self.bridge_ns = f"{self.prefix}-br"
        self.node_ns = {i: f"{self.prefix}-n{i}" for i in range(1, n + 1)}
        self.created: list[str] = []
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.conf = tmp / "corosync.conf"
        self.conf.write_text(conf_text(n, extra_totem, rings, transport))

    # -- network -------------------------------------------------------------------------
    def setup(self, rate: str | None = None) -> None:
        """Create the namespaces; ``rate`` (``tc`` syntax, e.g. ``20mbit``) limits what
        every node can send on each network, like a slower NIC."""
        create_netns(self.bridge_ns)
        self.created.append(self.bridge_ns)
        br = self.bridge_ns
        run(["ip", "-n", br, "link", "set", "lo", "up"])
        for link in (0, 1):
            run(["ip", "-n", br, "link", "add", f"br{link}", "type", "bridge", "stp_state", "0"])
            run(["ip", "-n", br, "link", "set", f"br{link}", "up"])
        for i, ns in self.node_ns.items():
            create_netns(ns)
            self.created.append(ns)
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
            for link in (0, 1):
                port = self.port(i, link)
                veth = ["type", "veth", "peer", "name", f"eth{link}", "netns", ns]
                run(["ip", "-n", br, "link", "add", port, *veth])
                run(["ip", "-n", br, "link", "set", port, "master", f"br{link}", "up"])
                run(["ip", "-n", ns, "addr", "add", f"{SUBNETS[link]}.{i}/24", "dev", f"eth{link}"])
                run(["ip", "-n", ns, "link", "set", f"eth{link}", "up"])
                if rate is not None:
                    shape = ["tbf", "rate", rate, "burst", "64kb", "latency", "20ms"]
                    run(["tc", "-n", ns, "qdisc", "add", "dev", f"eth{link}", "root", *shape])

    @staticmethod
    def port(i: int, link: int) -> str:
        return f"n{i}r{link}"

    def cut(self, link: int) -> None:
        for i in self.node_ns:
            set_bridge_port(self.bridge_ns, self.port(i, link), forwarding=False)

    def restore(self, link: int) -> None:
        for i in self.node_ns:
            set_bridge_port(self.bridge_ns, self.port(i, link), forwarding=True)

    # -- daemons -------------------------------------------------------------------------
    def run_dir(self, i: int) -> str:
        return str(self.tmp / f"run{i}")

    def start(self, *ids: int) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        for i in ids or tuple(self.node_ns):
            log = open(self.tmp / f"node{i}.log", "ab")  # noqa: SIM115 - owned by the process
            argv = [
                *nsenter_argv(self.node_ns[i]),
                sys.executable,
                "-m",
                "totem.node.daemon",
                "-f",
                "-c",
                str(self.conf),
                "--nodeid",
                str(i),
                "--run-dir",
                self.run_dir(i),
                "--state-dir",
                str(self.tmp / f"state{i}"),
            ]
            self.procs[i] = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env
            )
            log.close()

    def call(self, i: int, op: str, **args: Any) -> Any:
        with ControlClient(self.run_dir(i), timeout=5) as client:
            return client.call(op, **args)

    def node(self, i: int) -> dict[str, Any]:
        result: dict[str, Any] = self.call(i, "status")["node"]
        return result

    def wait(self, predicate: Callable[[], bool], timeout: float = 20.0) -> float:
        start = time.monotonic()
        while True:
            try:
                if predicate():
                    return time.monotonic() - start
            except (NodeUnavailable, RequestFailed, KeyError):
                pass
            if time.monotonic() - start > timeout:
                raise AssertionError(f"not reached within {timeout}s; logs in {self.tmp}")
            time.sleep(0.05)

    def formed(self) -> bool:
        rings = set()
        for i in self.node_ns:
            node = self.node(i)
            if node["members"] != list(self.node_ns) or not node["synced"]:
                return False
            rings.add(node["ring_id"])
        return len(rings) == 1

    def faulty(self, i: int) -> list[int]:
        return list(self.node(i)["faulty_rings"])

    def log(self, i: int) -> str:
        return (self.tmp / f"node{i}.log").read_text(errors="replace")

    # -- teardown ------------------------------------------------------------------------
    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()
        leftovers = {ns: netns_pids(ns) for ns in self.created if netns_exists(ns)}
        for ns in reversed(self.created):
            delete_netns(ns)
        self.created.clear()
        stray = {ns: pids for ns, pids in leftovers.items() if pids}
        if stray:
            raise AssertionError(f"processes left in our namespaces: {stray}")

    def __enter__(self) -> TwoBridgeCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
