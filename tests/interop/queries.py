"""What the real nodes of an interop cluster say: corosync's tools, parsed, and waiting
for a membership (``ref/real-corosync.md`` §5, §9).

``corosync-quorumtool -s``, ``corosync-cfgtool -s``/``-n`` and ``corosync-cmapctl`` run inside
a slot's namespaces; :meth:`ClusterQueries.wait_members` polls until every node shows the
wanted members (and quorum), and says what each one last showed when it times out.
:class:`ClusterQueries` is that part of :class:`tests.interop.harness.Cluster`.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

from tests.interop.netns import CommandError, HarnessError
from tests.interop.procs import Spawned
from tests.interop.tools import (
    CfgStatus,
    QuorumStatus,
    member_ids,
    parse_cfgtool_n,
    parse_cfgtool_s,
    parse_cmapctl,
    parse_quorumtool_s,
)

__all__ = ["ClusterQueries", "WaitTimeout"]


class WaitTimeout(HarnessError):
    """`Cluster.wait_members` ran out of time; the message says what each node last showed."""


class _Cluster(Protocol):
    """The cluster as its queries use it."""

    def exec(
        self,
        i: int,
        argv: Sequence[str],
        timeout: float = 10.0,
        *,
        check: bool = False,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]: ...
    def corosync(self, i: int) -> Spawned | None: ...
    def live_nodes(self) -> list[int]: ...
    def quorum_status(self, i: int, timeout: float = 5.0) -> QuorumStatus: ...
    def cmap(
        self, i: int, prefix: str = "", timeout: float = 5.0
    ) -> dict[str, int | float | str]: ...
    def _describe_wait(
        self,
        polled: list[int],
        want: int | set[int],
        quorate: bool | None,
        timeout: float,
        problems: dict[int, str],
    ) -> str: ...


class ClusterQueries:
    """corosync's tools on the slots of :class:`tests.interop.harness.Cluster`."""

    def quorum_status(self: _Cluster, i: int, timeout: float = 5.0) -> QuorumStatus:
        """``corosync-quorumtool -s`` in slot i, parsed (exit status 2 = not quorate is fine)."""
        cp = self.exec(i, ["corosync-quorumtool", "-s"], timeout)
        if cp.returncode not in (0, 2):
            raise CommandError(cp.args, cp.returncode, cp.stdout, cp.stderr)
        return parse_quorumtool_s(cp.stdout)

    def cfg_status(self: _Cluster, i: int, timeout: float = 5.0) -> CfgStatus:
        """``corosync-cfgtool -s`` and ``-n`` in slot i, parsed together."""
        s = self.exec(i, ["corosync-cfgtool", "-s"], timeout, check=True)
        nl = self.exec(i, ["corosync-cfgtool", "-n"], timeout, check=True)
        nodeid, transport, links = parse_cfgtool_s(s.stdout)
        _, _, reachable = parse_cfgtool_n(nl.stdout)
        return {
            "local_nodeid": nodeid,
            "transport": transport,
            "links": links,
            "reachable": reachable,
        }

    def cmap(
        self: _Cluster, i: int, prefix: str = "", timeout: float = 5.0
    ) -> dict[str, int | float | str]:
        """``corosync-cmapctl [prefix]`` in slot i, parsed."""
        argv = ["corosync-cmapctl", *([prefix] if prefix else [])]
        return parse_cmapctl(self.exec(i, argv, timeout, check=True).stdout)

    def runtime_totem(self: _Cluster, i: int) -> dict[str, int]:
        """The effective totem timers of slot i (``runtime.config.totem.*``: token, consensus,
        join, merge, hold, ...), which is what to compute bounds from (§9 gotcha 5)."""
        pfx = "runtime.config.totem."
        return {
            k.removeprefix(pfx): v
            for k, v in self.cmap(i, pfx).items()
            if isinstance(v, int) and k.count(".") == 3
        }

    def wait_members(
        self: _Cluster,
        nodes: Iterable[int] | None = None,
        members: int | set[int] | None = None,
        timeout: float = 30.0,
        *,
        quorate: bool | None = None,
        interval: float = 0.05,
    ) -> dict[int, QuorumStatus]:
        """Poll ``corosync-quorumtool -s`` on ``nodes`` (default: every running real node) until
        each shows ``members`` (a count, or the exact set of node ids; default: the polled nodes)
        and, if ``quorate`` is not None, that quorate state.  Returns the last statuses; raises
        `WaitTimeout` describing what each node showed, at once if the corosync the harness
        started on a polled node has exited (it cannot come back while this waits)."""
        polled = sorted(nodes) if nodes is not None else self.live_nodes()
        if not polled:
            raise HarnessError("wait_members: no node to poll")
        want: int | set[int] = set(polled) if members is None else members
        deadline = time.monotonic() + timeout
        while True:
            seen: dict[int, QuorumStatus] = {}
            problems: dict[int, str] = {}
            for i in polled:
                try:
                    st = self.quorum_status(i, timeout=min(5.0, max(timeout, 1.0)))
                except HarnessError as exc:
                    problems[i] = str(exc)
                    continue
                seen[i] = st
                ok = st["nodes"] == want if isinstance(want, int) else member_ids(st) == want
                if quorate is not None and st["quorate"] != quorate:
                    ok = False
                if not ok:
                    problems[i] = (
                        f"members {sorted(member_ids(st))} quorate={st['quorate']} "
                        f"ring {st['ring_id']}"
                    )
                if problems:
                    break
            if not problems:
                return seen
            if time.monotonic() >= deadline or any(
                (proc := self.corosync(i)) is not None and not proc.alive() for i in problems
            ):
                waited = timeout - max(0.0, deadline - time.monotonic())
                raise WaitTimeout(self._describe_wait(polled, want, quorate, waited, problems))
            time.sleep(interval)

    def _describe_wait(
        self: _Cluster,
        polled: list[int],
        want: int | set[int],
        quorate: bool | None,
        timeout: float,
        problems: dict[int, str],
    ) -> str:
        wanted = f"{want} members" if isinstance(want, int) else f"members {sorted(want)}"
        if quorate is not None:
            wanted += f", quorate={quorate}"
        parts = [f"after {timeout:g} s nodes {polled} do not all show {wanted}:"]
        for i, why in sorted(problems.items()):
            parts.append(f"  node {i}: {why}")
            proc = self.corosync(i)
            if proc is not None and not proc.alive():
                tail = (
                    proc.log.read_text(errors="replace").splitlines()[-5:]
                    if proc.log.exists()
                    else []
                )
                parts.append(f"  node {i}: corosync exited with {proc.returncode}: {tail}")
        return "\n".join(parts)
