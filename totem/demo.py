"""``make demo``: a three-node pycorosync cluster on 127.0.0.1-3, narrated.

The cluster runs corosync 3's default transport, knet (no ``transport`` line), with
``secauth: on`` (aes256/sha256) and a fresh 256-byte key, exactly as a Proxmox VE
cluster would. Starts three daemons (no root needed: their run and state directories
and the key are in a temporary directory), shows the knet links, the ring and quorum
as the tools print them, kills a node, shows the survivors re-form and stay quorate,
restarts it, and stops everything. Every process it starts is stopped by PID on the
way out.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from totem.node.client import ControlClient, NodeUnavailable, RequestFailed

CONF = """\
totem {{
    version: 2
    cluster_name: demo
    secauth: on
    keyfile: {keyfile}
    token: 1000
    token_coefficient: 0
    interface {{
        linknumber: 0
        mcastport: {port}
    }}
}}
nodelist {{
{nodes}}}
quorum {{
    provider: corosync_votequorum
}}
"""


def _free_port() -> int:
    for port in range(45405, 45905, 2):
        try:
            for i in (1, 2, 3):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.bind((f"127.0.0.{i}", port))
            return port
        except OSError:
            continue
    raise SystemExit("demo: no free UDP port on 127.0.0.1-3")


def _say(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def _tool(module: str, run_dir: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", module, "--run-dir", str(run_dir), *args], check=False)


def _wait(predicate: object, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if predicate():  # type: ignore[operator]
                return time.monotonic() - start
        except (NodeUnavailable, RequestFailed, KeyError):
            pass
        time.sleep(0.05)
    raise SystemExit(f"demo: timed out after {timeout}s")


def main() -> int:
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="pycorosync-demo-") as tmp:
        base = Path(tmp)
        nodes = "".join(
            f"    node {{\n        nodeid: {i}\n        name: node{i}\n"
            f"        ring0_addr: 127.0.0.{i}\n    }}\n"
            for i in (1, 2, 3)
        )
        keyfile = base / "authkey"
        keyfile.write_bytes(os.urandom(256))  # what corosync-keygen writes
        keyfile.chmod(0o400)
        conf = base / "corosync.conf"
        conf.write_text(CONF.format(port=port, nodes=nodes, keyfile=keyfile))
        procs: dict[int, subprocess.Popen[bytes]] = {}

        def start(i: int) -> None:
            log = open(base / f"node{i}.log", "ab")  # noqa: SIM115 - owned by the process
            procs[i] = subprocess.Popen(
                [sys.executable, "-m", "totem.node.daemon", "-f", "-c", str(conf),
                 "--nodeid", str(i), "--run-dir", str(base / f"run{i}"),
                 "--state-dir", str(base / f"state{i}"), "--no-ipc"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            log.close()

        def members(i: int) -> list[int]:
            with ControlClient(str(base / f"run{i}"), timeout=2) as client:
                node = client.call("status")["node"]
                return list(node["members"]) if node["synced"] else []

        def quorate(i: int) -> bool:
            with ControlClient(str(base / f"run{i}"), timeout=2) as client:
                return bool(client.call("quorum.status")["quorate"])

        try:
            _say(
                f"Starting three pycorosync daemons on 127.0.0.1-3, UDP port {port}: knet, "
                "aes256/sha256"
            )
            for i in (1, 2, 3):
                start(i)
            took = _wait(lambda: all(members(i) == [1, 2, 3] for i in (1, 2, 3)), 20)
            _wait(lambda: quorate(1), 10)
            print(f"ring formed and synchronised in {took:.2f}s")
            _say("pycorosync-cfgtool -s   (node 1: knet links)")
            _tool("totem.tools.cfgtool", base / "run1", "-s")
            _say("pycorosync-cfgtool -n   (node 1: reachable nodes, link MTU after PMTUd)")
            _tool("totem.tools.cfgtool", base / "run1", "-n")
            _say("pycorosync-quorumtool -s   (node 1)")
            _tool("votequorum.tool", base / "run1", "-s")

            _say("SIGKILL node 3: the others detect it after token + consensus (1.0 + 1.2 s)")
            os.kill(procs.pop(3).pid, signal.SIGKILL)
            took = _wait(lambda: members(1) == [1, 2] and members(2) == [1, 2], 20)
            print(f"nodes 1 and 2 formed a new ring after {took:.2f}s, quorate: {quorate(1)}")
            _tool("votequorum.tool", base / "run2", "-l")

            _say("Restarting node 3: it rejoins at once")
            start(3)
            took = _wait(lambda: all(members(i) == [1, 2, 3] for i in (1, 2, 3)), 20)
            print(f"node 3 is back in the ring after {took:.2f}s")
            _tool("totem.tools.cfgtool", base / "run3", "-n")

            _say("Node 1's log (knet's debug lines left out)")
            print(
                "".join(
                    line
                    for line in (base / "node1.log").read_text(errors="replace").splitlines(True)
                    if " debug " not in line
                )
            )
        finally:
            for proc in procs.values():
                proc.terminate()
            for proc in procs.values():
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    _say("Done: every daemon left the ring and stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
