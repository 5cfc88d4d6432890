"""Namespace and process primitives for the real-corosync interop harness.

Implements the topology of `ref/real-corosync.md` §3 ("Topology and isolation"): one network
namespace per node, a bridge namespace joining them, and a persistent private mount + UTS namespace
per node so that corosync's compiled-in ``/var/run/corosync.pid``, its ``/dev/shm`` blackbox and
the qnetd/qdevice lock files and NSS databases never collide (§3, collision table; §9 gotchas 1,
2, 8, 10).

Everything here is a thin, time-bounded wrapper around ``ip``, ``bridge``, ``unshare``,
``nsenter`` and ``mount``; nothing is ever done to a namespace, mount or process that the caller
did not create (the caller passes the names it owns).  Process identity is a ``(pid, starttime)``
pair (field 22 of ``/proc/PID/stat``), so a recycled PID is never signalled.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "NETNS_DIR",
    "CommandError",
    "HarnessError",
    "ProcIdentity",
    "bind_private_dir",
    "create_mount_ns",
    "create_netns",
    "delete_netns",
    "is_mountpoint",
    "missing_tools",
    "netns_exists",
    "netns_pids",
    "nsenter_argv",
    "proc_identity",
    "proc_is_live",
    "run",
    "set_bridge_port",
    "setup_bridge_netns",
    "setup_node_netns",
    "umount",
]

NETNS_DIR = Path("/run/netns")
"""Where ``ip netns add`` pins network namespaces (its ``NETNS_RUN_DIR``)."""


class HarnessError(RuntimeError):
    """The harness could not do what was asked (setup, a tool, a timeout)."""


class CommandError(HarnessError):
    """A command exited non-zero (or could not be run at all)."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        detail = (stderr or stdout).strip().splitlines()
        tail = f": {detail[-1]}" if detail else ""
        super().__init__(f"`{shlex.join(self.argv)}` exited with status {returncode}{tail}")


def run(
    argv: Sequence[str],
    *,
    timeout: float = 10.0,
    check: bool = True,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion, bounded by ``timeout`` seconds (the child is killed after it).

    Raises `CommandError` when ``check`` and the exit status is non-zero, or when the program is
    missing; `HarnessError` on timeout.
    """
    args = list(argv)
    try:
        return _checked(
            subprocess.run(
                args,
                input=input,
                stdin=subprocess.DEVNULL if input is None else None,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            ),
            check,
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"`{shlex.join(args)}` timed out after {timeout:g} s") from exc
    except OSError as exc:
        raise CommandError(args, 127, "", str(exc)) from exc


def _checked(cp: subprocess.CompletedProcess[str], check: bool) -> subprocess.CompletedProcess[str]:
    if check and cp.returncode != 0:
        raise CommandError(cp.args, cp.returncode, cp.stdout, cp.stderr)
    return cp


def missing_tools(names: Sequence[str]) -> list[str]:
    """The subset of ``names`` not found on ``PATH`` (sbin directories included)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    return [name for name in names if shutil.which(name, path=path) is None]


# ---------------------------------------------------------------- process identity


@dataclass(frozen=True, slots=True)
class ProcIdentity:
    """A process as the harness recorded it: PID plus kernel start time (clock ticks)."""

    pid: int
    starttime: int


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    _, sep, rest = raw.rpartition(")")
    return rest.split() if sep else None


def proc_identity(pid: int) -> ProcIdentity | None:
    """The identity of the live process ``pid`` now, or None when there is none."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return None
    return ProcIdentity(pid, int(fields[19]))


def proc_is_live(ident: ProcIdentity) -> bool:
    """True while ``ident`` still names the same process and it has not exited (zombie = dead;
    ``ref/real-corosync.md`` §9 gotcha 10: PID 1 may reap orphans only seconds later)."""
    fields = _stat_fields(ident.pid)
    if fields is None or len(fields) < 20:
        return False
    return fields[0] not in ("Z", "X") and int(fields[19]) == ident.starttime


# ---------------------------------------------------------------- network namespaces


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def netns_pids(name: str) -> list[int]:
    """PIDs of every process in network namespace ``name`` (for leak reports, never killed)."""
    cp = run(["ip", "netns", "pids", name], check=False, timeout=5.0)
    return [int(tok) for tok in cp.stdout.split() if tok.isdigit()]


def _in_netns(netns: str, *argv: str) -> list[str]:
    return ["nsenter", f"--net={NETNS_DIR / netns}", "--", *argv]


def create_netns(name: str) -> None:
    """``ip netns add name``, which fails (`CommandError`) when the name is taken: the caller
    owns the namespace, and must record it, only once this returns."""
    run(["ip", "netns", "add", name])


def _base_setup(name: str) -> None:
    # No IPv6: no router solicitations or MLD reports on the bridge, only what the nodes send.
    run(
        _in_netns(
            name,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        )
    )
    run(["ip", "-n", name, "link", "set", "lo", "up"])


def setup_bridge_netns(name: str, *, mcast_snooping: bool = True) -> None:
    """Put bridge ``br0`` (STP off, no address, nothing routed) in the new netns ``name``."""
    _base_setup(name)
    run(
        [
            "ip",
            "-n",
            name,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "mcast_snooping",
            "1" if mcast_snooping else "0",
        ]
    )
    run(["ip", "-n", name, "link", "set", "br0", "up"])


def add_bridge(bridge_netns: str, bridge: str) -> None:
    """One more bridge (a second network: knet link 1) in the bridge netns."""
    run(["ip", "-n", bridge_netns, "link", "add", bridge, "type", "bridge", "stp_state", "0"])
    run(["ip", "-n", bridge_netns, "link", "set", bridge, "up"])


def add_node_link(
    bridge_netns: str, bridge: str, port: str, node_netns: str, ifname: str, cidr: str
) -> None:
    """Cable interface ``ifname`` = ``cidr`` of ``node_netns`` to ``bridge`` as ``port``."""
    run(
        [
            "ip",
            "-n",
            bridge_netns,
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            ifname,
            "netns",
            node_netns,
        ]
    )
    run(["ip", "-n", bridge_netns, "link", "set", port, "master", bridge, "up"])
    run(["ip", "-n", node_netns, "addr", "add", cidr, "dev", ifname])
    run(["ip", "-n", node_netns, "link", "set", ifname, "up"])


def setup_node_netns(bridge_netns: str, port: str, node_netns: str, cidr: str) -> None:
    """Give the new netns ``node_netns`` an ``eth0`` = ``cidr`` cabled to ``br0`` as ``port``.

    The only route inside is the connected prefix of ``cidr``; loopback is up.
    """
    _base_setup(node_netns)
    run(
        [
            "ip",
            "-n",
            bridge_netns,
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            node_netns,
        ]
    )
    run(["ip", "-n", bridge_netns, "link", "set", port, "master", "br0", "up"])
    run(["ip", "-n", node_netns, "addr", "add", cidr, "dev", "eth0"])
    run(["ip", "-n", node_netns, "link", "set", "eth0", "up"])


def set_bridge_port(bridge_netns: str, port: str, *, forwarding: bool) -> None:
    """Set the STP state of a bridge port: 3 = forwarding, 0 = disabled (drops both directions,
    carrier stays up).  ``ip link set PORT type bridge_slave state 0`` is silently ignored by
    iproute2 6.1 (``ref/real-corosync.md`` §9 gotcha 8), so this uses ``bridge link``."""
    run(
        _in_netns(
            bridge_netns, "bridge", "link", "set", "dev", port, "state", "3" if forwarding else "0"
        )
    )


def delete_netns(name: str) -> None:
    """Delete a network namespace the caller created (no error when it is already gone)."""
    if netns_exists(name):
        run(["ip", "netns", "delete", name], check=False, timeout=10.0)


# ---------------------------------------------------------------- mount + UTS namespaces


def is_mountpoint(path: Path) -> bool:
    return run(["mountpoint", "-q", str(path)], check=False, timeout=5.0).returncode == 0


def bind_private_dir(path: Path) -> None:
    """Make ``path`` a private bind mount of itself: persistent namespace files (nsfs) may only
    be pinned on a mount that does not propagate into the namespaces they describe."""
    if not is_mountpoint(path):
        run(["mount", "--bind", str(path), str(path)])
    run(["mount", "--make-private", str(path)])


def umount(path: Path) -> bool:
    """Unmount ``path`` (lazily when busy).  True when nothing is mounted there afterwards."""
    if run(["umount", str(path)], check=False, timeout=5.0).returncode == 0:
        return True
    run(["umount", "-l", str(path)], check=False, timeout=5.0)
    return not is_mountpoint(path)


def nsenter_argv(
    netns: str, mnt_file: Path | None = None, uts_file: Path | None = None
) -> list[str]:
    """The argv prefix that runs a program inside a node's namespaces.

    ``nsenter`` without ``--pid``/``--fork`` execs in place, so the PID of the resulting process
    is the PID of the final program itself.
    """
    argv = ["nsenter", f"--net={NETNS_DIR / netns}"]
    if mnt_file is not None:
        argv.append(f"--mount={mnt_file}")
    if uts_file is not None:
        argv.append(f"--uts={uts_file}")
    argv.append("--")
    return argv


def create_mount_ns(
    *,
    netns: str,
    mnt_file: Path,
    uts_file: Path,
    hostname: str,
    node_dir: Path,
    shm_size: str = "256m",
) -> None:
    """Create the persistent private mount + UTS namespace of one node.

    Inside it: ``/etc/corosync``, ``/var/lib/corosync``, ``/var/log/corosync`` and ``/run`` are
    bind mounts of ``node_dir/{etc,lib,log,run}``, ``/dev/shm`` is a fresh tmpfs, ``/sys`` shows
    the node's own network namespace, and the hostname is ``hostname``.  ``/run`` is replaced
    last because the host side of ``node_dir`` may itself live under ``/run``.

    The namespace starts as a copy of the host's mounts.  The copies of ``/run/netns`` (handles
    on *every* network namespace pinned on the host, other people's included) are detached inside
    it first, so that our namespaces never keep somebody else's network namespace alive.
    ``mnt_file`` and ``uts_file`` must be empty files on a private mount (`bind_private_dir`).
    """
    for sub in ("etc", "lib", "log", "run/corosync-qdevice", "run/corosync-qnetd"):
        (node_dir / sub).mkdir(parents=True, exist_ok=True)
    for mountpoint in ("/etc/corosync", "/var/lib/corosync", "/var/log/corosync"):
        Path(mountpoint).mkdir(parents=True, exist_ok=True)
    mnt_file.touch()
    uts_file.touch()
    run(
        [
            "unshare",
            f"--mount={mnt_file}",
            f"--uts={uts_file}",
            "--propagation",
            "private",
            "hostname",
            hostname,
        ]
    )
    d = shlex.quote(str(node_dir))
    tag = shlex.quote(hostname)
    script = "\n".join(
        [
            "set -e",
            f"if mountpoint -q {NETNS_DIR}; then umount -l {NETNS_DIR}; fi",
            f"mount --bind {d}/etc /etc/corosync",
            f"mount --bind {d}/lib /var/lib/corosync",
            f"mount --bind {d}/log /var/log/corosync",
            f"mount -t tmpfs -o size={shm_size},mode=1777 {tag}-shm /dev/shm",
            f"mount -t sysfs {tag}-sys /sys",
            f"mount --bind {d}/run /run",
        ]
    )
    run([*nsenter_argv(netns, mnt_file, uts_file), "sh", "-ec", script])
