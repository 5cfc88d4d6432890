"""Pacemaker 2.1 in the slots of an interop `Cluster` (Debian's ``pacemaker``; root).

Pacemaker keeps its state in ``/var/lib/pacemaker`` and logs in ``/var/log/pacemaker``: each
node gets private ones, bind-mounted inside its mount namespace from its own ``/run``
(the host sees them under ``Cluster.node_dir(i)/run``), owned by ``hacluster:haclient``.
Each node starts with a CIB that already sets ``dc-deadtime`` short and ``stonith-enabled``
false (a test cluster has no fencing device; a killed node then shows plainly OFFLINE).

`start_pacemaker` runs ``pacemakerd -f`` in a slot (ended with the cluster, like every
spawned process); `crm_mon` parses ``crm_mon -1``; `wait_crm` polls it.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.interop.harness import Cluster, HarnessError
from tests.interop.procs import Spawned

__all__ = [
    "CrmStatus",
    "crm_mon",
    "pacemaker_problem",
    "prepare_pacemaker",
    "start_pacemaker",
    "wait_crm",
]

PACEMAKERD = "/usr/sbin/pacemakerd"
CIB = """\
<cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-dc-deadtime" name="dc-deadtime" value="4s"/>
        <nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" value="false"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
"""
_DC = re.compile(r"Current DC: (?P<dc>\S+) .*- partition (?P<quorum>with|WITHOUT) quorum")
_ONLINE = re.compile(r"Online: \[ (?P<nodes>[^\]]*) \]")
_OFFLINE = re.compile(r"OFFLINE: \[ (?P<nodes>[^\]]*) \]")
_NODE_OFFLINE = re.compile(r"Node (?P<node>\S+): (?:UNCLEAN \()?offline", re.IGNORECASE)


def pacemaker_problem() -> str | None:
    """Why Pacemaker cannot run here, or None."""
    if not os.path.exists(PACEMAKERD) or shutil.which("crm_mon") is None:
        return "pacemaker is not installed (apt-get install pacemaker)"
    try:
        pwd.getpwnam("hacluster")
        grp.getgrnam("haclient")
    except KeyError:
        return "the hacluster user or haclient group is missing"
    return None


def prepare_pacemaker(cluster: Cluster, i: int) -> None:
    """Private ``/var/lib/pacemaker`` (with the test CIB) and ``/var/log/pacemaker`` in slot i."""
    uid = pwd.getpwnam("hacluster").pw_uid
    gid = grp.getgrnam("haclient").gr_gid
    run = cluster.node_dir(i) / "run"
    lib = run / "pacemaker-lib"
    log = run / "pacemaker-log"
    for path in (lib / "cib", lib / "pengine", lib / "blackbox", lib / "cores", log):
        path.mkdir(parents=True, exist_ok=True)
    cib = lib / "cib" / "cib.xml"
    cib.write_text(CIB)
    for path in (lib, log, *lib.iterdir(), cib):
        os.chown(path, uid, gid)
        os.chmod(path, 0o600 if path == cib else 0o750 if path != log else 0o770)
    cluster.exec(
        i,
        [
            "sh",
            "-ec",
            "mount --bind /run/pacemaker-lib /var/lib/pacemaker; "
            "mount --bind /run/pacemaker-log /var/log/pacemaker",
        ],
        check=True,
    )


def start_pacemaker(cluster: Cluster, i: int) -> Spawned:
    return cluster.spawn(
        i,
        "pacemakerd",
        [PACEMAKERD, "-f"],
        env={"PCMK_logfile": "/var/log/corosync/pacemaker.log"},
    )


@dataclass(frozen=True)
class CrmStatus:
    """What ``crm_mon -1`` shows."""

    text: str
    dc: str | None
    quorate: bool
    online: frozenset[str]
    offline: frozenset[str]


def crm_mon(cluster: Cluster, i: int) -> CrmStatus:
    cp = cluster.exec(i, ["crm_mon", "-1"], timeout=20)
    text = cp.stdout
    dc = _DC.search(text)
    online = _ONLINE.search(text)
    offline = {m["node"] for m in _NODE_OFFLINE.finditer(text)}
    if (listed := _OFFLINE.search(text)) is not None:
        offline |= set(listed["nodes"].split())
    return CrmStatus(
        text,
        dc["dc"] if dc else None,
        bool(dc) and dc["quorum"] == "with",  # type: ignore[index]
        frozenset(online["nodes"].split()) if online else frozenset(),
        frozenset(offline),
    )


def wait_crm(
    cluster: Cluster, i: int, want: Callable[[CrmStatus], bool], timeout: float = 90.0
) -> CrmStatus:
    """Poll ``crm_mon -1`` on slot i until ``want`` holds; HarnessError with the last output."""
    deadline = time.monotonic() + timeout
    status = crm_mon(cluster, i)
    while not want(status):
        if time.monotonic() > deadline:
            raise HarnessError(f"crm_mon on slot {i} after {timeout:g} s:\n{status.text}")
        time.sleep(1.0)
        status = crm_mon(cluster, i)
    return status
