"""Name claims and crash records of interop clusters, and reclaiming what a crashed run left.

Each cluster claims, under an exclusive lock on ``<state root>/.lock``, a directory
``<state root>/<prefix>/`` and a subnet file ``<state root>/subnets/<a.b.c>``, and only when no
network namespace with one of its names exists (``ref/real-corosync.md`` §9 gotcha 14: other
clusters may share the machine).  It keeps ``cluster.json`` there up to date with everything it
created: its owner process, its network namespaces, its mounts and its live processes (PID and
start time).  `reap_stale` tears down the clusters whose owner process is gone, touching only what
their record lists:

    python -m tests.interop.state list
    python -m tests.interop.state reap
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from tests.interop.netns import (
    HarnessError,
    ProcIdentity,
    delete_netns,
    is_mountpoint,
    netns_exists,
    proc_is_live,
    umount,
)

__all__ = [
    "DEFAULT_STATE_ROOT",
    "claim_names",
    "locked",
    "main",
    "reap_stale",
    "write_record",
]

DEFAULT_STATE_ROOT = Path(os.environ.get("PYCOROSYNC_INTEROP_STATE", "/run/pycorosync-interop"))
"""Where clusters keep their node directories, namespace files and records."""


class _Recorded(Protocol):
    """What a record needs of a process (`tests.interop.procs.Spawned` has it)."""

    @property
    def ident(self) -> ProcIdentity: ...

    @property
    def node(self) -> int: ...

    @property
    def name(self) -> str: ...


@contextlib.contextmanager
def locked(state_root: Path, timeout: float = 10.0) -> Iterator[None]:
    """Hold the exclusive lock of ``state_root`` (waiting at most ``timeout`` seconds)."""
    state_root.mkdir(parents=True, exist_ok=True)
    with (state_root / ".lock").open("a") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise HarnessError(f"{state_root}/.lock held for {timeout:g} s") from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def claim_names(
    state_root: Path,
    candidates: Iterable[tuple[str, str]],
    netns_names: Callable[[str], list[str]],
) -> tuple[str, str, Path]:
    """Claim the first free ``(prefix, subnet)`` of ``candidates``: its state directory and subnet
    file do not exist and none of ``netns_names(prefix)`` is a network namespace.  Returns
    ``(prefix, subnet, subnet claim file)``; the state directory exists afterwards."""
    claims = state_root / "subnets"
    with locked(state_root):
        claims.mkdir(parents=True, exist_ok=True)
        tried = 0
        for prefix, subnet in candidates:
            tried += 1
            if (state_root / prefix).exists() or (claims / subnet).exists():
                continue
            if any(netns_exists(nm) for nm in netns_names(prefix)):
                continue
            (state_root / prefix).mkdir()
            (claims / subnet).write_text(f"{prefix}\n")
            return prefix, subnet, claims / subnet
    raise HarnessError(f"no free prefix/subnet among {tried} candidate(s) in {state_root}")


def write_record(
    state_dir: Path,
    *,
    owner: ProcIdentity | None,
    prefix: str,
    subnet: str,
    claim: Path | None,
    netns: Sequence[str],
    mounts: Sequence[Path],
    procs: Sequence[_Recorded],
) -> None:
    """Atomically replace ``state_dir/cluster.json``."""
    record = {
        "owner": {"pid": owner.pid, "starttime": owner.starttime} if owner else None,
        "prefix": prefix,
        "subnet": subnet,
        "claim": str(claim) if claim else None,
        "netns": list(netns),
        "mounts": [str(m) for m in mounts],
        "procs": [
            {"pid": p.ident.pid, "starttime": p.ident.starttime, "node": p.node, "name": p.name}
            for p in procs
        ],
    }
    tmp = state_dir / "cluster.json.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(state_dir / "cluster.json")


def _identity(raw: Any) -> ProcIdentity | None:
    if (
        isinstance(raw, dict)
        and isinstance(raw.get("pid"), int)
        and isinstance(raw.get("starttime"), int)
    ):
        return ProcIdentity(raw["pid"], raw["starttime"])
    return None


def _owner_alive(record: dict[str, Any]) -> bool:
    owner = _identity(record.get("owner"))
    return owner is not None and proc_is_live(owner)


def _records(state_root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for record_file in sorted(state_root.glob("*/cluster.json")):
        try:
            record = json.loads(record_file.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict):
            yield record_file.parent, record


def reap_stale(state_root: Path | None = None) -> list[str]:
    """Tear down the clusters recorded under ``state_root`` whose owner process is gone.

    Only what each record lists is touched: its processes (TERM, then KILL, and only while their
    start time still matches), its mounts and its network namespaces.  Returns the reclaimed
    prefixes.
    """
    root = state_root or DEFAULT_STATE_ROOT
    reclaimed: list[str] = []
    if not root.is_dir():
        return reclaimed
    with locked(root):
        for state_dir, record in _records(root):
            if _owner_alive(record):
                continue
            _reap(record)
            claim = record.get("claim")
            if isinstance(claim, str):
                Path(claim).unlink(missing_ok=True)
            shutil.rmtree(state_dir, ignore_errors=True)
            reclaimed.append(state_dir.name)
    return reclaimed


def _reap(record: dict[str, Any]) -> None:
    idents = [i for i in map(_identity, record.get("procs", [])) if i is not None]
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
        live = [i for i in idents if proc_is_live(i)]
        for ident in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(ident.pid, sig)
        deadline = time.monotonic() + wait
        while any(proc_is_live(i) for i in live) and time.monotonic() < deadline:
            time.sleep(0.05)
    for m in record.get("mounts", []):
        path = Path(str(m))
        if path.exists() and is_mountpoint(path):
            umount(path)
    for nm in reversed(record.get("netns", [])):
        if isinstance(nm, str):
            delete_netns(nm)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.interop.state",
        description="list interop clusters, or reclaim those whose owner process is gone",
    )
    parser.add_argument("command", choices=["list", "reap"])
    parser.add_argument("--state-root", type=Path, default=DEFAULT_STATE_ROOT)
    args = parser.parse_args(argv)
    if args.command == "reap":
        for prefix in reap_stale(args.state_root):
            print(f"reclaimed {prefix}")
        return 0
    for state_dir, record in _records(args.state_root):
        owner = "alive" if _owner_alive(record) else "gone"
        print(f"{state_dir.name} {record.get('subnet')} owner={owner} netns={record.get('netns')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
