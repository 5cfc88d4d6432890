#!/usr/bin/env python3
"""qnetd capacity and split-decision latency: pycorosync-qnetd vs corosync-qnetd, same run.

Both servers run one after the other on 127.0.0.1 (plain TCP, ``-S listen_backlog=4096``,
private lock file and control socket) and get the same load from the shared client swarm
(``../shared/tools/qnetd-swarm.py``, a replay of the real qdevice message sequence):

- ``load``: C connections in C/2 two-node clusters opened at once, heartbeats every HB ms,
  then server CPU and memory and echo latency over a window;
- ``decision``: N clusters split 50:50 (ffsplit, KAP, lowest tie-breaker), time until each
  node receives its ACK/NACK, all clusters at once (burst) and one at a time (serial).

Prints ours / real / ratio. Not a test: run it by hand::

    python bench/qnetd_capacity.py                 # C=2000, HB 1000 ms, 20 s window
    python bench/qnetd_capacity.py -C 4000 --hb 8000 --json results.json
    python -m bench qnetd_capacity --phases decision --repeat 5   # decision latency only

The swarm is looked up beside this checkout (or the main checkout of a git worktree);
``--swarm PATH`` names it explicitly.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_swarm() -> str:
    """``../shared/tools/qnetd-swarm.py`` beside this checkout or beside its main checkout."""
    roots = [REPO]
    dot_git = os.path.join(REPO, ".git")
    if os.path.isfile(dot_git):
        with open(dot_git) as f:
            text = f.read().strip()
        gitdir = text.removeprefix("gitdir:").strip()
        common = os.path.join(gitdir, "commondir")
        if os.path.isfile(common):
            with open(common) as f:
                roots.append(
                    os.path.dirname(os.path.realpath(os.path.join(gitdir, f.read().strip())))
                )
    paths = [os.path.join(os.path.dirname(r), "shared", "tools", "qnetd-swarm.py") for r in roots]
    return next((p for p in paths if os.path.exists(p)), paths[0])


REAL = shutil.which("corosync-qnetd") or "/usr/bin/corosync-qnetd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, which: str, python: str) -> None:
        self.which = which
        self.tmp = tempfile.mkdtemp(prefix=f"qnt-bench-{which}-")
        self.port = free_port()
        if which == "ours":
            self.sock = os.path.join(self.tmp, "pycorosync-qnetd.sock")
            cmd = [
                python,
                "-m",
                "qnetd.server.daemon",
                "-f",
                "-s",
                "off",
                "-l",
                "127.0.0.1",
                "-p",
                str(self.port),
                "--run-dir",
                self.tmp,
                "-S",
                "listen_backlog=4096",
            ]
        else:
            self.sock = os.path.join(self.tmp, "qnetd.sock")
            cmd = [
                REAL,
                "-f",
                "-s",
                "off",
                "-l",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-S",
                f"lock_file={self.tmp}/qnetd.pid,local_socket_file={self.sock},listen_backlog=4096",
            ]
        self.log = open(os.path.join(self.tmp, "log"), "wb")  # noqa: SIM115
        env = dict(os.environ, PYTHONPATH=REPO)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 15
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{which} did not start: {cmd}")
            time.sleep(0.05)
        time.sleep(0.3)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def run_swarm(python: str, swarm: str, server: Server, *args: str) -> dict[str, Any]:
    cmd = [
        python,
        swarm,
        *args,
        "--port",
        str(server.port),
        "--qnetd-pid",
        str(server.proc.pid),
        "--quiet",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"swarm failed: {out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


LOAD_ROWS = [
    ("setup_ok", "clients set up", ""),
    ("all_init_reply_s", "all INIT_REPLY", "s"),
    ("all_setup_done_s", "all setup", "s"),
    ("setup_per_client_p50_ms", "per-client setup p50", "ms"),
    ("setup_per_client_p99_ms", "per-client setup p99", "ms"),
    ("qnetd_cpu_pct_of_one_core", "server CPU (one core)", "%"),
    ("qnetd_rss_mb", "server RSS", "MB"),
    ("echo_p50_ms", "echo p50", "ms"),
    ("echo_p99_ms", "echo p99", "ms"),
    ("echo_max_ms", "echo max", "ms"),
    ("echo_replies_in_window", "echo replies in window", ""),
    ("echo_missed_in_window", "echo missed", ""),
    ("dropped_total", "dropped by server", ""),
]


DECISION_KEYS = (
    "node1_p50_ms",
    "node1_p99_ms",
    "node2_p50_ms",
    "node2_p99_ms",
    "all_p50_ms",
    "all_p99_ms",
    "timeouts",
)


def median_decision(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per variant and figure, the median over the runs (the run itself when there is one)."""
    merged: dict[str, dict[str, float]] = {}
    for variant in ("burst", "serial"):
        for key in DECISION_KEYS:
            values = sorted(
                r["decision"][variant][key]
                for r in runs
                if key in r.get("decision", {}).get(variant, {})
            )
            if values:
                merged.setdefault(variant, {})[key] = statistics.median(values)
    return merged


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def ratio(a: Any, b: Any) -> str:
    if isinstance(a, int | float) and isinstance(b, int | float) and b:
        return f"{a / b:.2f}"
    return "-"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench qnetd_capacity",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    ap.add_argument("-C", "--connections", type=int, default=2000)
    ap.add_argument("--hb", type=int, default=1000)
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--clusters", type=int, default=100, help="decision benchmark clusters")
    ap.add_argument("--decision-hb", type=int, default=8000)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--only", choices=["ours", "real"], default=None)
    ap.add_argument("--json", default="", help="write raw results here")
    ap.add_argument("--swarm", default=default_swarm(), help="the client swarm script")
    ap.add_argument(
        "--phases", default="load,decision", help="load, decision or both (comma-separated)"
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="decision runs per server, taken turn by turn; the median of each figure is shown",
    )
    args = ap.parse_args(argv)
    if not os.path.exists(args.swarm):
        print(f"no client swarm at {args.swarm} (use --swarm PATH)", file=sys.stderr)
        return 2
    phases = set(args.phases.split(","))

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    sides = [w for w in ("ours", "real") if not args.only or w == args.only]
    results: dict[str, dict[str, Any]] = {w: {} for w in sides}
    if "load" in phases:
        for which in sides:
            print(f"== {which}: load C={args.connections} HB={args.hb} ms", file=sys.stderr)
            server = Server(which, args.python)
            try:
                load = run_swarm(
                    args.python,
                    args.swarm,
                    server,
                    "load",
                    "-C",
                    str(args.connections),
                    "--hb",
                    str(args.hb),
                    "--window",
                    str(args.window),
                    "--warmup",
                    str(args.warmup),
                )
            finally:
                server.stop()
            load["qnetd_rss_mb"] = round(load.get("qnetd_rss_kb", 0) / 1024, 1)
            results[which]["load"] = load
    if "decision" in phases:
        runs: dict[str, list[dict[str, Any]]] = {w: [] for w in sides}
        for turn in range(args.repeat):
            for which in sides:
                print(
                    f"== {which}: decision {args.clusters} clusters, run {turn + 1}/{args.repeat}",
                    file=sys.stderr,
                )
                server = Server(which, args.python)
                try:
                    runs[which].append(
                        run_swarm(
                            args.python,
                            args.swarm,
                            server,
                            "decision",
                            "--clusters",
                            str(args.clusters),
                            "--hb",
                            str(args.decision_hb),
                            "--warmup",
                            "2",
                        )
                    )
                finally:
                    server.stop()
        for which in sides:
            results[which]["decision_runs"] = runs[which]
            results[which]["decision"] = {"decision": median_decision(runs[which])}

    ours = results.get("ours", {})
    real = results.get("real", {})
    if "load" in phases:
        print_load(args, ours, real)
    if "decision" in phases:
        runs_note = f", median of {args.repeat} runs" if args.repeat > 1 else ""
        print(f"\ndecision latency after a 50:50 split, {args.clusters} clusters (ms{runs_note})")
        print(f"{'metric':32} {'ours':>10} {'real':>10} {'ours/real':>10}")
        for variant in ("burst", "serial"):
            for key in DECISION_KEYS:
                a = ours.get("decision", {}).get("decision", {}).get(variant, {}).get(key)
                b = real.get("decision", {}).get("decision", {}).get(variant, {}).get(key)
                print(f"{variant + ' ' + key:32} {fmt(a):>10} {fmt(b):>10} {ratio(a, b):>10}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


def print_load(args: argparse.Namespace, ours: dict[str, Any], real: dict[str, Any]) -> None:
    print(
        f"\nload: {args.connections} clients / {args.connections // 2} clusters, "
        f"HB {args.hb} ms, window {args.window} s"
    )
    print(f"{'metric':32} {'ours':>10} {'real':>10} {'ours/real':>10}")
    for key, label, unit in LOAD_ROWS:
        a = ours.get("load", {}).get(key)
        b = real.get("load", {}).get(key)
        name = f"{label} ({unit})" if unit else label
        print(f"{name:32} {fmt(a):>10} {fmt(b):>10} {ratio(a, b):>10}")


if __name__ == "__main__":
    sys.exit(main())
