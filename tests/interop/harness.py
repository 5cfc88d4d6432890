"""A cluster of real corosync 3.1.7 nodes in network namespaces, for interop tests.

This is the Python counterpart of ``tools/realcluster.sh`` and follows the facts recorded in
``ref/real-corosync.md``: the topology of §3 (one network namespace per node on a bridge in its own
namespace, a private mount + UTS namespace per node), the configuration layout of §4, the
measured timings of §5 and the gotchas of §9.  Free slots (``skip``) and plain extra hosts
(``extra``) get namespaces but no corosync, so that a foreign implementation -- our node daemon,
our qnetd -- can be `Cluster.spawn`-ed there and seen by the real nodes exactly as a real node
would be.

Typical use (root; ``tests/interop/conftest.py`` has a ``make_cluster`` fixture)::

    with Cluster(3, skip={3}) as c:          # corosync on slots 1 and 2; slot 3 free
        c.spawn(3, "pynode", ["pycorosync", "-f", "-c", NODE_CONF, "--nodeid", "3"])
        c.wait_members([1, 2], {1, 2, 3}, timeout=10, quorate=True)
        c.kill(1)                             # SIGKILL the real node 1
        c.quorum_status(2)["members"], c.cfg_status(2)["reachable"]

Safety rules, all enforced here:

* Only namespaces this object created are deleted, only processes it started are signalled
  (TERM, then KILL), only mounts it made are unmounted.  Names are claimed under a lock in the
  state root, so several clusters (in several processes) never collide.
* Every external command and every wait is bounded in time.
* Teardown runs on normal exit, on errors, on KeyboardInterrupt (SIGINT is deferred while it
  runs) and, as a last resort, at interpreter exit.  What a crashed run left behind is listed in
  ``<state root>/<prefix>/cluster.json`` and can be reclaimed with
  ``python -m tests.interop.state reap`` (only clusters whose owner process is gone).

The tools' answers and waits are :mod:`tests.interop.queries`, captures
:mod:`tests.interop.capture`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Self

from tests.interop.capture import Capture, ClusterCapture
from tests.interop.corosync_conf import (
    ConfSpec,
    QDeviceConf,
    Transport,
    link_subnet,
    render_corosync_conf,
)
from tests.interop.netns import (
    HarnessError,
    add_bridge,
    add_node_link,
    bind_private_dir,
    create_mount_ns,
    create_netns,
    delete_netns,
    is_mountpoint,
    missing_tools,
    netns_exists,
    netns_pids,
    nsenter_argv,
    proc_identity,
    run,
    set_bridge_port,
    setup_bridge_netns,
    setup_node_netns,
    umount,
)
from tests.interop.procs import Spawned, end_processes, start_process
from tests.interop.queries import ClusterQueries, WaitTimeout
from tests.interop.state import DEFAULT_STATE_ROOT, claim_names, reap_stale, write_record

__all__ = [
    "COROSYNC",
    "DEFAULT_STATE_ROOT",
    "NODE_CONF",
    "Capture",
    "Cluster",
    "HarnessError",
    "HarnessWarning",
    "WaitTimeout",
    "environment_problem",
    "reap_stale",
]

COROSYNC = os.environ.get("PYCOROSYNC_INTEROP_COROSYNC", "/usr/sbin/corosync")
NODE_CONF = "/etc/corosync/corosync.conf"
"""Where every process started in a node (`Cluster.spawn`, `Cluster.exec`) sees that node's
corosync.conf; its host path is `Cluster.conf_path`."""

SYSTEM_TOOLS = ("ip", "bridge", "unshare", "nsenter", "mount", "umount", "mountpoint", "sysctl")
COROSYNC_TOOLS = ("corosync", "corosync-quorumtool", "corosync-cfgtool", "corosync-cmapctl")

_PREFIX = re.compile(r"^[a-z][a-z0-9]{0,9}[a-z]$")
_SUBNET = re.compile(r"^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){2}(?:25[0-5]|2[0-4]\d|1?\d?\d)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")
_MAX_SLOTS = 250
_START_GRACE = 5.0
"""corosync needs ~1.2 s to exit after SIGTERM (``ref/real-corosync.md`` §5)."""


class HarnessWarning(UserWarning):
    """Something could not be cleaned up (reported, never raised over the test's own error)."""


def environment_problem() -> str | None:
    """Why real-corosync interop cannot run here, or None when it can."""
    if sys.platform != "linux":
        return "interop tests need Linux network namespaces"
    if os.geteuid() != 0:
        return "interop tests need root (network, mount and UTS namespaces)"
    missing = missing_tools(SYSTEM_TOOLS)
    if missing:
        return f"interop tests need {', '.join(missing)} (iproute2 / util-linux / procps)"
    if not Path(COROSYNC).is_file() or missing_tools(COROSYNC_TOOLS):
        return (
            "corosync is not installed (apt-get install corosync corosync-qnetd "
            "corosync-qdevice corosync-vqsim tcpdump)"
        )
    return None


def _lines(extra: str | Sequence[str]) -> tuple[str, ...]:
    items = extra.splitlines() if isinstance(extra, str) else list(extra)
    return tuple(line for line in items if line.strip())


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold back SIGINT while the block runs (main thread only); re-raise it afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


class Cluster(ClusterQueries, ClusterCapture):
    """Real corosync nodes in network namespaces; a context manager.

    ``Cluster(3)`` creates slots 1..3 (node i: netns and host name ``<prefix><i>``, address
    ``<subnet>.<i>/24``, node id i), writes every slot's corosync.conf (nodelist = all slots),
    starts ``corosync -f`` on every slot not in ``skip`` and waits until they all see each other.
    ``extra`` adds plain hosts n+1..n+extra that are not in the nodelist (for a qnetd, clients).

    ``prefix`` and ``subnet`` are claimed uniquely when not given (``ic<k>n``, ``10.231.<k>``).
    ``token`` sets ``totem.token`` (the effective token also grows by token_coefficient per node
    above 2, §9 gotcha 5).  ``totem_extra``/``quorum_extra`` are more ``key: value`` lines for those
    sections.  ``qdevice`` adds a net quorum device block (and so never ``two_node``); by default
    ``two_node: 1`` is written for 2-node clusters.
    """

    def __init__(
        self,
        n: int,
        transport: Transport = "udpu",
        *,
        skip: Iterable[int] = (),
        extra: int = 0,
        prefix: str | None = None,
        subnet: str | None = None,
        token: int | None = None,
        totem_extra: str | Sequence[str] = (),
        quorum_extra: str | Sequence[str] = (),
        qdevice: QDeviceConf | None = None,
        two_node: bool | None = None,
        cluster_name: str = "realcluster",
        port: int = 5405,
        mcastaddr: str = "239.192.99.1",
        mcast_snooping: bool = True,
        sched_rr: bool = False,
        debug: bool = False,
        start: bool = True,
        wait: bool = True,
        start_timeout: float = 30.0,
        state_root: Path | None = None,
        keep_logs: Path | None = None,
        corosync: str = COROSYNC,
        links: int = 1,
        crypto: tuple[str, str] | None = None,
        crypto_models: Mapping[int, str] | None = None,
        authkey: bytes | None = None,
    ) -> None:
        if n < 1 or n + extra > _MAX_SLOTS or extra < 0:
            raise ValueError(f"want 1 <= n and 0 <= extra with n + extra <= {_MAX_SLOTS}")
        if transport not in ("udpu", "udp", "knet"):
            raise ValueError(f"transport must be 'udpu', 'udp' or 'knet', not {transport!r}")
        if links != 1 and transport != "knet":
            raise ValueError("several links need transport knet")
        if crypto is not None and transport != "knet":
            raise ValueError("corosync 3.1.7 carries crypto on knet only")
        self.skip = frozenset(skip)
        if not self.skip <= set(range(1, n + 1)):
            raise ValueError(f"skip {sorted(self.skip)} must be slots of the nodelist 1..{n}")
        if prefix is not None and not _PREFIX.match(prefix):
            raise ValueError(
                f"prefix {prefix!r}: 2-11 of [a-z0-9], starting and ending with a letter"
            )
        if subnet is not None and not _SUBNET.match(subnet):
            raise ValueError(f"subnet {subnet!r}: want the first three octets, e.g. '10.231.7'")
        if qdevice is not None and qdevice.host is None and extra < 1:
            raise ValueError("qdevice.host=None means the first extra slot: give extra >= 1")
        self.n = n
        self.extra = extra
        self.transport: Transport = transport
        self._want_prefix = prefix
        self._want_subnet = subnet
        self._token = token
        self._totem_extra = _lines(totem_extra)
        self._quorum_extra = _lines(quorum_extra)
        self._qdevice = qdevice
        self._two_node = (n == 2 and qdevice is None) if two_node is None else two_node
        self._cluster_name = cluster_name
        self._port = port
        self._mcastaddr = mcastaddr
        self._mcast_snooping = mcast_snooping
        self._sched_rr = sched_rr
        self._debug = debug
        self._start = start
        self._wait = wait
        self._start_timeout = start_timeout
        self.state_root = state_root or DEFAULT_STATE_ROOT
        self.keep_logs = keep_logs
        self.corosync_binary = corosync
        if not 1 <= links <= 8:
            raise ValueError("knet has links 0..7")
        self.links = links
        self._crypto = crypto
        self._crypto_models = tuple(sorted((crypto_models or {}).items()))
        self._authkey = authkey if authkey is not None else (os.urandom(256) if crypto else None)
        self._prefix: str | None = None
        self._subnet: str | None = None
        self._spec: ConfSpec | None = None
        self._netns: list[str] = []
        self._mounts: list[Path] = []
        self._procs: list[Spawned] = []
        self._by_name: dict[tuple[int, str], Spawned] = {}
        self._captures: list[Capture] = []
        self._claim: Path | None = None
        self._closed = False
        self._owner = proc_identity(os.getpid())
        self.cleanup_notes: list[str] = []
        self.t0 = time.monotonic()

    # ------------------------------------------------------------------ naming

    @property
    def prefix(self) -> str:
        if self._prefix is None:
            raise HarnessError("cluster not set up yet")
        return self._prefix

    @property
    def subnet(self) -> str:
        if self._subnet is None:
            raise HarnessError("cluster not set up yet")
        return self._subnet

    @property
    def spec(self) -> ConfSpec:
        if self._spec is None:
            raise HarnessError("cluster not set up yet")
        return self._spec

    @property
    def state_dir(self) -> Path:
        return self.state_root / self.prefix

    @property
    def bridge_netns(self) -> str:
        return f"{self.prefix}net"

    @property
    def nodes(self) -> list[int]:
        """The slots of the nodelist, 1..n."""
        return list(range(1, self.n + 1))

    @property
    def slots(self) -> list[int]:
        """Every slot with namespaces: 1..n+extra."""
        return list(range(1, self.n + self.extra + 1))

    def _check_slot(self, i: int) -> None:
        if i not in range(1, self.n + self.extra + 1):
            raise HarnessError(f"no slot {i} (slots are 1..{self.n + self.extra})")

    def name(self, i: int) -> str:
        """Node name, netns name and host name of slot ``i``."""
        self._check_slot(i)
        return f"{self.prefix}{i}"

    def addr(self, i: int, link: int = 0) -> str:
        """Slot i's address on link ``link`` (knet; link 0 is the only one otherwise)."""
        self._check_slot(i)
        return f"{link_subnet(self.subnet, link)}.{i}"

    @property
    def authkey(self) -> bytes | None:
        """The key every node reads as ``/etc/corosync/authkey`` (crypto clusters)."""
        return self._authkey

    def node_dir(self, i: int) -> Path:
        """Host directory holding slot i's ``etc``, ``lib``, ``log`` and ``run``."""
        return self.state_dir / "nodes" / self.name(i)

    def conf_path(self, i: int) -> Path:
        """Host path of slot i's corosync.conf.  Processes started with `spawn`/`exec` (or with
        `nsenter_argv`) see it as `NODE_CONF`; the host path may be hidden inside the node when
        the state root is under /run."""
        return self.node_dir(i) / "etc" / "corosync.conf"

    def log_dir(self, i: int) -> Path:
        """Host side of slot i's ``/var/log/corosync``."""
        return self.node_dir(i) / "log"

    def _mnt_files(self, i: int) -> tuple[Path, Path]:
        base = self.state_dir / "mnt" / self.name(i)
        return base, base.with_name(base.name + ".uts")

    def nsenter_argv(self, i: int) -> list[str]:
        """Argv prefix that runs a program in slot i's network, mount and UTS namespaces."""
        mnt, uts = self._mnt_files(i)
        return nsenter_argv(self.name(i), mnt, uts)

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        self.setup()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def setup(self) -> None:
        """Create everything and (unless ``start=False``) start and await the real nodes."""
        if self._prefix is not None:
            raise HarnessError("setup() already ran")
        atexit.register(self.close)
        try:
            self._allocate()
            self._build()
            if self._start:
                self._start_real_nodes([i for i in self.nodes if i not in self.skip])
        except BaseException:
            self.close()
            raise

    def _start_real_nodes(self, started: list[int]) -> None:
        """Start real corosync on ``started`` and (unless ``wait=False``) await their ring.

        Only real nodes run at this point, so a corosync that aborts on one of its own
        ``totemsrp.c`` assertions while they form their first ring is the reference
        program's race (seen once on this 2-core VM: ``orf_token_rtr``'s ``range <
        QUEUE_RTR_ITEMS_SIZE_MAX`` right after ``Discarding JOIN message during flush``,
        three udp nodes started within 16 ms). The nodes are then started once more, the
        abort kept in the events log; a second abort is reported as the failure it is.
        """
        for attempt in (1, 2):
            for i in started:
                self.start(i)
            if not (self._wait and started):
                return
            try:
                self.wait_members(started, set(started), timeout=self._start_timeout)
                return
            except WaitTimeout as exc:
                aborted = [i for i in started if self.aborted_on_assertion(i)]
                if attempt == 2 or not aborted:
                    raise
                self._event(f"real corosync aborted on its own assertion at start: {exc}")
                print(f"{self!r}: real corosync aborted at start, starting the nodes again: {exc}")
                for i in started:
                    proc = self.corosync(i)
                    if proc is not None and proc.alive():
                        self.stop(proc)

    def aborted_on_assertion(self, i: int) -> bool:
        """Whether the real corosync of slot i died of SIGABRT on a ``totemsrp.c`` assertion."""
        proc = self.corosync(i)
        if proc is None or proc.alive() or proc.returncode != -signal.SIGABRT:
            return False
        text = proc.log.read_text(errors="replace") if proc.log.exists() else ""
        return "Assertion" in text and "totemsrp.c" in text

    def _candidates(self) -> Iterator[tuple[str, str]]:
        if self._want_prefix is not None and self._want_subnet is not None:
            yield self._want_prefix, self._want_subnet
            return
        for k in range(256):
            yield self._want_prefix or f"ic{k}n", self._want_subnet or f"10.231.{k}"

    def _allocate(self) -> None:
        self._prefix, self._subnet, self._claim = claim_names(
            self.state_root,
            self._candidates(),
            lambda prefix: [f"{prefix}net", *(f"{prefix}{i}" for i in self.slots)],
        )
        self._save_state()
        self._event(f"allocated prefix {self._prefix} subnet {self._subnet}")

    def _qdevice_host(self) -> str | None:
        qd = self._qdevice
        if qd is None:
            return None
        if qd.host is None:
            return self.addr(self.n + 1)
        if isinstance(qd.host, int):
            return self.addr(qd.host)
        return qd.host

    def _build(self) -> None:
        self._spec = ConfSpec(
            n=self.n,
            transport=self.transport,
            prefix=self.prefix,
            subnet=self.subnet,
            cluster_name=self._cluster_name,
            port=self._port,
            mcastaddr=self._mcastaddr,
            token=self._token,
            totem_extra=self._totem_extra,
            quorum_extra=self._quorum_extra,
            qdevice=self._qdevice,
            qdevice_host=self._qdevice_host(),
            two_node=self._two_node,
            sched_rr=self._sched_rr,
            debug=self._debug,
            links=self.links,
            crypto=self._crypto,
            crypto_models=self._crypto_models,
        )
        for name in (self.bridge_netns, *(self.name(i) for i in self.slots)):
            create_netns(name)  # raises if somebody took the name since the claim
            self._netns.append(name)
            self._save_state()
        setup_bridge_netns(self.bridge_netns, mcast_snooping=self._mcast_snooping)
        for link in range(1, self.links):
            add_bridge(self.bridge_netns, f"br{link}")
        for i in self.slots:
            setup_node_netns(self.bridge_netns, f"p{i}", self.name(i), f"{self.addr(i)}/24")
            for link in range(1, self.links):
                add_node_link(
                    self.bridge_netns,
                    f"br{link}",
                    self.port_name(i, link),
                    self.name(i),
                    f"eth{link}",
                    f"{self.addr(i, link)}/24",
                )
        mnt_dir = self.state_dir / "mnt"
        mnt_dir.mkdir(parents=True, exist_ok=True)
        self._mounts.append(mnt_dir)
        self._save_state()
        bind_private_dir(mnt_dir)
        for i in self.slots:
            mnt, uts = self._mnt_files(i)
            self._mounts[-1:-1] = [mnt, uts]  # unmounted before the directory holding them
            self._save_state()
            create_mount_ns(
                netns=self.name(i),
                mnt_file=mnt,
                uts_file=uts,
                hostname=self.name(i),
                node_dir=self.node_dir(i),
            )
            if i <= self.n:
                self.conf_path(i).write_text(render_corosync_conf(self.spec, i))
                if self._authkey is not None:
                    key = self.conf_path(i).with_name("authkey")
                    key.write_bytes(self._authkey)
                    key.chmod(0o400)
        self._event(
            f"created slots {self.prefix}1..{self.prefix}{self.n + self.extra} on "
            f"{self.subnet}.0/24, transport {self.transport}, free {sorted(self.skip)}"
        )

    def close(self) -> None:
        """Tear everything down (idempotent; never raises; problems go to `cleanup_notes` and
        are reported as `HarnessWarning`)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        with _sigint_deferred():
            self._teardown()
        for note in self.cleanup_notes:
            warnings.warn(f"interop cluster {self._prefix}: {note}", HarnessWarning, stacklevel=2)

    def _teardown(self) -> None:
        notes = self.cleanup_notes
        failed = False
        try:
            notes += end_processes(self._procs)
        except Exception as exc:
            notes.append(f"ending processes: {exc}")
        if self.keep_logs is not None and self._prefix is not None:
            try:
                self._keep_logs(self.keep_logs)
            except Exception as exc:
                notes.append(f"keeping logs in {self.keep_logs}: {exc}")
        for nm in self._netns:
            with contextlib.suppress(Exception):
                if netns_exists(nm) and (left := netns_pids(nm)):
                    notes.append(f"processes not started by the harness still in {nm}: {left}")
        for path in self._mounts:
            try:
                if path.exists() and is_mountpoint(path) and not umount(path):
                    notes.append(f"could not unmount {path}")
                    failed = True
            except Exception as exc:
                notes.append(f"unmounting {path}: {exc}")
                failed = True
        for nm in reversed(self._netns):
            try:
                delete_netns(nm)
            except Exception as exc:
                notes.append(f"deleting netns {nm}: {exc}")
            if netns_exists(nm):
                notes.append(f"could not delete netns {nm}")
                failed = True
        if self._prefix is None:
            return
        if failed:
            # Keep the record (and the claim) so that `reap_stale` can finish the job.
            notes.append(
                f"left {self.state_dir}/cluster.json for `python -m tests.interop.state reap`"
            )
            self._owner = None
            self._save_state()
            return
        if self._claim is not None:
            self._claim.unlink(missing_ok=True)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def _keep_logs(self, dest: Path) -> None:
        for i in self.slots:
            target = dest / self.name(i)
            target.mkdir(parents=True, exist_ok=True)
            for f in self.logs(i):
                shutil.copy2(f, target / f.name)
            if i <= self.n and self.conf_path(i).exists():
                shutil.copy2(self.conf_path(i), target / "corosync.conf")
        events = self.state_dir / "events"
        if events.exists():
            shutil.copy2(events, dest / "events")

    def _event(self, text: str) -> None:
        if self._prefix is None:
            return
        with (self.state_dir / "events").open("a") as f:
            f.write(f"{time.time():.6f} +{time.monotonic() - self.t0:.3f} {text}\n")

    def _save_state(self) -> None:
        """Record what exists, so a crashed run can be reclaimed by `reap_stale`."""
        if self._prefix is None:
            return
        write_record(
            self.state_dir,
            owner=self._owner,
            prefix=self._prefix,
            subnet=self.subnet,
            claim=self._claim,
            netns=self._netns,
            mounts=self._mounts,
            procs=[p for p in self._procs if p.alive()],
        )

    # ------------------------------------------------------------------ processes

    def exec(
        self,
        i: int,
        argv: Sequence[str],
        timeout: float = 10.0,
        *,
        check: bool = False,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` to completion inside slot i (its network, mount and UTS namespaces)."""
        return run([*self.nsenter_argv(i), *argv], timeout=timeout, check=check, input=input)

    def spawn(
        self,
        i: int,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
    ) -> Spawned:
        """Start a background process in slot i; stdout+stderr go to ``log_dir(i)/<name>.log``
        (``/var/log/corosync/<name>.log`` inside).  It is ended (TERM, then KILL) on exit."""
        if not _NAME.match(name):
            raise ValueError(f"bad process name {name!r}")
        if self._closed or self._prefix is None:
            raise HarnessError("cluster is not running")
        old = self._by_name.get((i, name))
        if old is not None and old.alive():
            raise HarnessError(f"{name} already runs in slot {i} (pid {old.pid})")
        log = self.log_dir(i) / ("corosync.stderr" if name == "corosync" else f"{name}.log")
        proc = start_process(i, name, self.nsenter_argv(i), argv, log, env)
        self._procs.append(proc)
        self._by_name[(i, name)] = proc
        self._save_state()
        self._event(f"spawn {self.name(i)}.{name} pid {proc.pid}: {' '.join(argv)}")
        return proc

    def stop(self, handle: Spawned, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        """Signal a spawned process, wait up to ``timeout`` s, KILL it (and its process group)
        if needed; return its exit status."""
        if handle not in self._procs:
            raise HarnessError(f"{handle!r} was not started by this cluster")
        if handle.alive():
            handle.signal(sig)
            self._event(f"signal {sig} to {self.name(handle.node)}.{handle.name}")
        if handle.wait(timeout) is None:
            handle.signal(signal.SIGKILL)
        code = handle.wait(2.0)
        if handle.group_alive():
            handle.signal_group(signal.SIGKILL)
        if code is None:
            raise HarnessError(f"{handle!r} did not exit after SIGKILL")
        self._save_state()
        return code

    def corosync(self, i: int) -> Spawned | None:
        """The latest corosync started in slot i (running or not), if any."""
        return self._by_name.get((i, "corosync"))

    def running(self, i: int) -> bool:
        proc = self.corosync(i)
        return proc is not None and proc.alive()

    def live_nodes(self) -> list[int]:
        """Slots whose corosync (started by us) is running."""
        return [i for i in self.nodes if self.running(i)]

    def start(self, i: int) -> Spawned:
        """(Re)start real corosync in slot i (``corosync -f -c /etc/corosync/corosync.conf``).

        A previous instance that is still exiting (SIGTERM takes ~1.2 s) gets up to 5 s.
        """
        if i not in self.nodes:
            raise HarnessError(f"slot {i} is not in the nodelist 1..{self.n}")
        old = self.corosync(i)
        if old is not None and old.alive() and old.wait(_START_GRACE) is None:
            raise HarnessError(f"corosync in slot {i} is still running (pid {old.pid})")
        return self.spawn(i, "corosync", [self.corosync_binary, "-f", "-c", NODE_CONF])

    def kill(self, i: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the corosync of slot i (KILL by default); returns at once."""
        proc = self.corosync(i)
        if proc is None or not proc.signal(sig):
            raise HarnessError(f"corosync is not running in slot {i}")
        self._event(f"signal {sig} to corosync on {self.name(i)} (pid {proc.pid})")

    # ------------------------------------------------------------------ network

    @staticmethod
    def port_name(i: int, link: int = 0) -> str:
        """Slot i's bridge port on ``link``'s network (``p<i>`` for link 0)."""
        return f"p{i}" if link == 0 else f"l{link}p{i}"

    def isolate(self, i: int, link: int = 0) -> None:
        """Disable slot i's bridge port on ``link``'s network: its traffic there is dropped
        both ways, carrier stays up."""
        self._check_slot(i)
        set_bridge_port(self.bridge_netns, self.port_name(i, link), forwarding=False)
        self._event(f"isolate {self.name(i)} link {link}")

    def rejoin(self, i: int, link: int = 0) -> None:
        """Undo `isolate`."""
        self._check_slot(i)
        set_bridge_port(self.bridge_netns, self.port_name(i, link), forwarding=True)
        self._event(f"rejoin {self.name(i)} link {link}")

    # ------------------------------------------------------------------ logs

    def logs(self, i: int) -> list[Path]:
        """Host paths of slot i's log files (corosync.log, corosync.stderr, <spawned>.log)."""
        d = self.log_dir(i)
        return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []

    def log_text(self, i: int, name: str = "corosync.log") -> str:
        path = self.log_dir(i) / name
        return path.read_text(errors="replace") if path.exists() else ""

    def __repr__(self) -> str:
        if self._prefix is None:
            return f"<Cluster n={self.n} (not set up)>"
        return (
            f"<Cluster {self.prefix} n={self.n}+{self.extra} {self.transport} "
            f"{self.subnet}.0/24 live={self.live_nodes()}>"
        )
