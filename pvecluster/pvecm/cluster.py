"""The cluster-side operations of pvecm: create, addnode, delnode, join info (ref 1.1-1.4,
2.3, 3.1), with Proxmox's locks and messages.

Every function works on a node through its cfsd (:class:`~pvecluster.client.cfs.CfsClient`)
and its node root; ``pycorosync-pvecm`` and the join API (inside cfsd) run the same code.
A refusal raises :class:`ClusterError` with Proxmox's message; nothing is written then.

**Locks** (``$config_change_lock``): the local flock ``R/var/lock/pvecm.lock`` (10 s), and,
when the cluster has more than one member, the cluster-wide cfs lock ``file-corosync_conf``
(``mkdir priv/lock/file-corosync_conf``; 10 s to get it, an unlock request each second).
Inside the lock the config is read afresh, changed, ``config_version`` raised by one, written
as ``corosync.conf.new`` and renamed over ``corosync.conf`` (one totally ordered RENAME).

Deliberate deviations (ref 5.5): the duplicate-address check also covers the fallback IP,
and a given ``--nodeid`` already in use is refused.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from pvecluster.api.tls import fingerprint_of_pem_file
from pvecluster.client.cfs import CfsClient, CfsError
from pvecluster.corosync.conf import (
    MAX_LINK_INDEX,
    ConfError,
    CorosyncConf,
    Link,
    parse_conf,
    parse_link,
    write_conf,
)
from pvecluster.paths import NodeRoot
from totem.node.client import ControlClient, NodeUnavailable, RequestFailed

__all__ = [
    "CLUSTER_CONF",
    "JOIN_API_VERSION",
    "ClusterError",
    "addnode_request",
    "atomic_write_conf",
    "cfs_lock",
    "check_cfs_quorum",
    "config_change_lock",
    "delnode",
    "gen_local_dirs",
    "join_info_of",
    "read_conf",
]

JOIN_API_VERSION = 1
JOIN_API_AGE = 1
CLUSTER_CONF = "/etc/pve/corosync.conf"
CONF = "corosync.conf"
LOCAL_LOCK_TIMEOUT = 10.0
CFS_LOCK_TIMEOUT = 10.0
WRITE_ATTEMPTS = 3
NODE_NAME_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$")
T = TypeVar("T")


class ClusterError(Exception):
    """A refused cluster operation: Proxmox's message, extra ``errors`` and an HTTP status."""

    def __init__(self, message: str, errors: dict[str, str] | None = None, status: int = 500):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        self.status = status


# ---------------------------------------------------------------------- reading
def read_conf(client: CfsClient) -> CorosyncConf | None:
    raw = client.read_or_none(CONF)
    if raw is None:
        return None
    try:
        return parse_conf(raw)
    except ConfError as err:
        raise ClusterError(f"unable to parse {CLUSTER_CONF}: {err}") from None


def check_cfs_quorum(client: CfsClient) -> None:
    if not client.status().get("quorate"):
        raise ClusterError("cluster not ready - no quorum?")


# ---------------------------------------------------------------------- locks
@contextlib.contextmanager
def local_lock(root: NodeRoot, timeout: float = LOCAL_LOCK_TIMEOUT) -> Iterator[None]:
    """``lock_file('/var/lock/pvecm.lock', 10)``."""
    path = root.path("var", "lock", "pvecm.lock")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise ClusterError(
                        "can't lock file '/var/lock/pvecm.lock' - got timeout"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cfs_lock(
    client: CfsClient,
    lockid: str,
    code: Callable[[], T],
    *,
    timeout: float = CFS_LOCK_TIMEOUT,
    log: Callable[[str], None] | None = None,
) -> T:
    """``$cfs_lock``: ``mkdir priv/lock/<lockid>``, run ``code``, ``rmdir``."""
    say = log or (lambda text: print(text, file=sys.stderr, flush=True))
    path = f"priv/lock/{lockid}"
    for directory in ("priv", "priv/lock"):
        with contextlib.suppress(CfsError):
            client.mkdir(directory)
    deadline = time.monotonic() + timeout
    got = False
    error: str | None = None
    while True:
        try:
            client.mkdir(path)
            got = True
            break
        except CfsError:
            pass
        if time.monotonic() + 1.0 > deadline:
            error = "got lock request timeout"
            break
        say(f"trying to acquire cfs lock '{lockid}' ...")
        with contextlib.suppress(CfsError):
            client.utime(path, 0)  # an unlock request
        time.sleep(1.0)
    if not got:
        if not client.status().get("quorate"):
            error = "no quorum!"
        raise ClusterError(f"cfs-lock '{lockid}' error: {error}")
    try:
        return code()
    finally:
        with contextlib.suppress(CfsError):
            client.delete(path)


def config_change_lock(client: CfsClient, root: NodeRoot, code: Callable[[], T]) -> T:
    """The local flock, plus the cfs lock when the cluster has more than one member."""
    with local_lock(root):
        members = client.members().get("nodelist", {})
        if len(members) > 1:
            return cfs_lock(client, "file-corosync_conf", code)
        return code()


def atomic_write_conf(client: CfsClient, conf: CorosyncConf, *, raise_version: bool = True) -> int:
    """``atomic_write_conf``: config_version + 1, ``corosync.conf.new``, rename; the version."""
    totem = conf.totem
    if raise_version:
        if totem.get("config_version") is None:
            raise ClusterError("invalid corosync config: unable to read config version")
        totem["config_version"] = int(totem["config_version"]) + 1
    text = write_conf(conf).encode()
    for attempt in range(WRITE_ATTEMPTS):
        try:
            client.write("corosync.conf.new", text)
            client.rename("corosync.conf.new", CONF)
            break
        except CfsError as err:
            # EBUSY: the filesystem restarted its group connection before the operation was
            # applied here; both steps can simply run again (same content, same target)
            if err.errno != errno.EBUSY or attempt + 1 == WRITE_ATTEMPTS:
                raise ClusterError(
                    f"activating corosync.conf.new failed - {err.strerror}"
                ) from None
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline:
                time.sleep(0.5)
                status = client.status()
                if status.get("quorate") and status.get("synced"):
                    break
    return int(totem["config_version"])


def gen_local_dirs(client: CfsClient, name: str) -> None:
    """``gen_local_dirs``: ``nodes/<name>/{,lxc,qemu-server,openvz,priv}`` and ``priv``."""
    for path in (
        "nodes",
        f"nodes/{name}",
        f"nodes/{name}/lxc",
        f"nodes/{name}/qemu-server",
        f"nodes/{name}/openvz",
        f"nodes/{name}/priv",
        "priv",
        "priv/lock",
    ):
        try:
            client.mkdir(path)
        except CfsError as err:
            if err.errno != errno.EEXIST:
                raise ClusterError(
                    f"unable to create directory '/etc/pve/{path}' - {err.strerror}"
                ) from None


# ---------------------------------------------------------------------- join info
def join_info_of(client: CfsClient, root: NodeRoot, nodename: str) -> dict[str, Any]:
    conf = read_conf(client)
    if conf is None or not conf.main:
        raise ClusterError("node is not in a cluster, no join info available!", status=424)
    nodelist = conf.copy().nodelist
    if nodename not in nodelist:
        raise ClusterError(f"unknown node '{nodename}'")
    own_fp = fingerprint_of_pem_file(root.api_cert)
    for name, node in nodelist.items():
        node["pve_addr"] = node.get("ring0_addr")
        if name == nodename:
            node["pve_fp"] = own_fp
    return {
        "nodelist": list(nodelist.values()),
        "preferred_node": nodename,
        "totem": {k: v for k, v in conf.totem.items() if k != "interface"},
        "config_digest": conf.digest,
    }


# ---------------------------------------------------------------------- addnode
def _int_param(params: dict[str, Any], key: str, minimum: int) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ClusterError(
            "Parameter verification failed.",
            {key: f"type check ('integer') failed - got '{value}'"},
            400,
        ) from None
    if number < minimum:
        raise ClusterError(
            "Parameter verification failed.",
            {key: f"value must have a minimum value of {minimum}"},
            400,
        )
    return number


def addnode_request(
    client: CfsClient, root: NodeRoot, name: str, params: dict[str, Any]
) -> dict[str, Any]:
    """``POST /cluster/config/nodes/{node}``: add ``name``; returns authkey, conf, warnings."""
    if not NODE_NAME_RE.match(name):
        raise ClusterError(
            "Parameter verification failed.",
            {"node": "value does not look like a valid node name"},
            400,
        )
    apiversion = _int_param(params, "apiversion", 0) or 0
    if apiversion > JOIN_API_VERSION or apiversion < JOIN_API_VERSION - JOIN_API_AGE:
        raise ClusterError(
            f"error: unsupported old API version on joining node ({apiversion}), cluster "
            f"node has {JOIN_API_VERSION} and supports >= {JOIN_API_VERSION - JOIN_API_AGE}. "
            "Please upgrade node before joining"
        )
    nodeid = _int_param(params, "nodeid", 1)
    votes = _int_param(params, "votes", 0)
    force = str(params.get("force", "")).lower() in ("1", "true", "yes")
    links: dict[int, Link] = {}
    for number in range(MAX_LINK_INDEX + 1):
        value = params.get(f"link{number}")
        if value:
            try:
                links[number] = parse_link(str(value))
            except ValueError as err:
                raise ClusterError(
                    "Parameter verification failed.", {f"link{number}": str(err)}, 400
                ) from None
    new_node_ip = params.get("new_node_ip")
    check_cfs_quorum(client)
    warnings: list[str] = []

    def code() -> None:
        conf = read_conf(client)
        if conf is None:
            raise ClusterError(
                f"Error: Corosync config '{CLUSTER_CONF}' does not exist - is "
                "this node part of a cluster?"
            )
        nodelist = conf.nodelist
        errors, found_warnings = verify_conf(conf)
        warnings.extend(found_warnings)
        if errors:
            extra = {f"warning{i}": w for i, w in enumerate(found_warnings)}
            extra.update({f"error{i}": e for i, e in enumerate(errors)})
            raise ClusterError("invalid corosync.conf", extra)
        cluster_links = conf.node_links(next(iter(nodelist))) if nodelist else {}
        if links:
            for number in range(MAX_LINK_INDEX + 1):
                if number in cluster_links and number not in links:
                    raise ClusterError(
                        f"corosync: link {number} exists in cluster config but "
                        "wasn't specified for new node"
                    )
                if number not in cluster_links and number in links:
                    raise ClusterError(
                        f"corosync: link {number} specified for new node "
                        "doesn't exist in cluster config"
                    )
        else:
            if not new_node_ip:
                raise ClusterError(
                    "no links and no fallback ip (new_node_ip) given, cannot join cluster"
                )
            if len(cluster_links) != 1:
                raise ClusterError(
                    "no links given but multiple links found on other nodes, "
                    "fallback only supported on single-link clusters"
                )
            links[next(iter(cluster_links))] = Link(str(new_node_ip))
        # duplicate addresses: every link, the fallback included (deviation, ref 5.5)
        for link in links.values():
            for other, entry in nodelist.items():
                if other == name:
                    continue
                for number in range(MAX_LINK_INDEX + 1):
                    key = f"ring{number}_addr"
                    if entry.get(key) == link.address:
                        raise ClusterError(
                            f"corosync: address '{link.address}' already used "
                            f"on link {key} by node '{other}'"
                        )
        wanted_id, wanted_votes = nodeid, votes
        existing = nodelist.get(name)
        if existing is not None:
            old_id, old_votes = int(existing.get("nodeid", 0)), int(existing.get("quorum_votes", 1))
            wanted_id = wanted_id or old_id
            wanted_votes = old_votes if wanted_votes is None else wanted_votes
            if force and wanted_id == old_id and wanted_votes == old_votes:
                print(f"forcing overwrite of configured node '{name}'")
            else:
                raise ClusterError(f"can't add existing node '{name}'")
        elif wanted_id:
            for other, entry in nodelist.items():
                if int(entry.get("nodeid", 0)) == wanted_id:
                    raise ClusterError(f"nodeid {wanted_id} already used by node '{other}'")
        else:
            used = {int(entry.get("nodeid", 0)) for entry in nodelist.values()}
            wanted_id = 1
            while wanted_id in used:
                wanted_id += 1
        if wanted_votes is None:
            wanted_votes = 1
        gen_local_dirs(client, name)
        new_entry: dict[str, Any] = {"nodeid": wanted_id, "name": name}
        if wanted_votes:
            new_entry["quorum_votes"] = wanted_votes
        for number, link in links.items():
            new_entry[f"ring{number}_addr"] = link.address
        nodelist[name] = new_entry
        print(f"adding node {name} to cluster", file=sys.stderr)
        atomic_write_conf(client, conf)

    config_change_lock(client, root, code)
    try:
        with open(root.authkey, "rb") as handle:
            authkey = handle.read()
    except OSError as err:
        raise ClusterError(f"unable to read {root.authkey}: {err.strerror}") from None
    conf_text = client.read(CONF)
    return {
        "corosync_authkey": authkey.decode("latin-1"),
        "corosync_conf": conf_text.decode(),
        "warnings": warnings,
    }


def verify_conf(conf: CorosyncConf) -> tuple[list[str], list[str]]:
    """``verify_conf``: (errors, warnings) of the cluster's config."""
    errors: list[str] = []
    warnings: list[str] = []
    nodelist = conf.nodelist
    if not nodelist:
        return ["no nodes found"], warnings
    totem = conf.main.get("totem")
    if not totem:
        return ["no totem found"], warnings
    if totem.get("secauth") != "on" and totem.get("crypto_cipher", "none") == "none":
        warnings.append(
            "warning: authentication/encryption is not explicitly enabled "
            "(secauth / crypto_cipher / crypto_hash)"
        )
    interfaces = totem.get("interface") or {}
    names = sorted(nodelist)
    node_links = {name: conf.node_links(name) for name in names}
    for number in range(MAX_LINK_INDEX + 1):
        with_link = [name for name in names if number in node_links[name]]
        if interfaces:
            have = str(number) in interfaces
            for name in names:
                if number in node_links[name] and not have:
                    errors.append(
                        f"node '{name}' has 'ring{number}_addr', but there is no "
                        f"interface number {number} configured"
                    )
                elif number not in node_links[name] and have:
                    errors.append(f"node '{name}' is missing address for interface number {number}")
        elif with_link:
            for name in names:
                if name not in with_link:
                    errors.append(
                        f"node '{name}' is missing link {number}, which is configured "
                        "on other nodes"
                    )
    return errors, warnings


# ---------------------------------------------------------------------- delnode
def kill_node(root: NodeRoot, nodeid: int) -> None:
    """``corosync-cfgtool -k N``; ``Could not kill node (error = CS_ERR_NOT_EXIST)`` when the
    node is not a member (ignored, as pvecm ignores it)."""
    try:
        with ControlClient(root.run_dir, timeout=5) as engine:
            members = engine.call("status")["node"]["members"]
            if nodeid not in members:
                print("Could not kill node (error = CS_ERR_NOT_EXIST)", file=sys.stderr)
                return
            engine.call("cfg.kill_node", node_id=nodeid, reason="Killed by corosync-cfgtool")
    except (NodeUnavailable, RequestFailed, KeyError, TypeError) as err:
        print(f"Could not kill node (error = {err})", file=sys.stderr)


def delnode(client: CfsClient, root: NodeRoot, local_name: str, target: str) -> None:
    """``pvecm delnode``: remove ``target`` (a name or a ring0/ring1 address)."""
    if target == local_name:
        raise ClusterError("Cannot delete myself from cluster!")
    check_cfs_quorum(client)

    def code() -> None:
        conf = read_conf(client)
        if conf is None:
            raise ClusterError(
                f"Error: Corosync config '{CLUSTER_CONF}' does not exist - is "
                "this node part of a cluster?"
            )
        nodelist = conf.nodelist
        found = None
        for name in sorted(nodelist):
            entry = nodelist[name]
            if target in (name, entry.get("ring0_addr"), entry.get("ring1_addr")):
                found = name
                break
        if found is None:
            raise ClusterError(f"Node/IP: {target} is not a known host of the cluster.")
        nodeid = int(nodelist[found].get("nodeid", 0))
        print(f"deleting node {found} from cluster", file=sys.stderr)
        del nodelist[found]
        if nodeid:
            kill_node(root, nodeid)
        atomic_write_conf(client, conf)

    config_change_lock(client, root, code)
