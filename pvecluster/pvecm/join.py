"""``pvecm add``: the joiner's side of the API join (``Setup::join``, ``finish_join``; ref 2.2).

1. ``assert_joinable``: no authkey, no cluster config, no guests, no running engine, and this
   node's address (and every ``--linkN``) usable here; errors are reported together.
2. TLS to the cluster node with the fingerprint checked before anything is sent, login as
   ``root@pam``, the join API version, then ``POST /cluster/config/nodes/<this node>``.
3. ``finish_join``: the cluster's authkey and corosync.conf written locally, the filesystem
   stopped, its database backed up and deleted, started again in cluster mode (the cluster's
   tree replaces the local one at the first sync), then ``waiting for quorum...OK`` (quorate
   and synced with the cluster).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import time
from typing import Any

from pvecluster.api.client import ApiClient, ApiError, FingerprintRefused
from pvecluster.client.cfs import CfsClient, CfsError
from pvecluster.corosync.conf import Link
from pvecluster.paths import NodeRoot
from pvecluster.pvecm.cluster import (
    CLUSTER_CONF,
    JOIN_API_AGE,
    JOIN_API_VERSION,
    ClusterError,
    local_lock,
)
from totem.node.client import ControlClient, NodeUnavailable, RequestFailed

__all__ = ["QUORUM_WAIT", "assert_joinable", "join"]

QUORUM_WAIT = 600.0
_GUEST_RE = re.compile(r"^[1-9][0-9]*\.conf$")


def _address_usable(address: str) -> bool:
    """The address can be bound here (every 127.0.0.x is local: the node's own --ip counts)."""
    try:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((address, 0))
    except OSError:
        return False
    return True


def _has_guests(client: CfsClient) -> bool:
    try:
        nodes = client.call("list", path="nodes")
    except CfsError:
        return False
    for node in nodes:
        if node["type"] != "dir":
            continue
        for kind in ("qemu-server", "lxc", "openvz"):
            try:
                entries = client.call("list", path=f"nodes/{node['name']}/{kind}")
            except CfsError:
                continue
            if any(_GUEST_RE.match(e["name"]) and e["type"] == "file" for e in entries):
                return True
    return False


def _engine_running(root: NodeRoot) -> bool:
    try:
        with ControlClient(root.run_dir, timeout=2) as engine:
            engine.call("quorum.status")
    except (NodeUnavailable, RequestFailed):
        return False
    return True


def assert_joinable(
    client: CfsClient, root: NodeRoot, local_ip: str, links: dict[int, Link], force: bool
) -> None:
    errors: list[str] = []
    if os.path.exists(root.authkey):
        errors.append("authentication key '/etc/corosync/authkey' already exists")
    if client.exists("corosync.conf"):
        errors.append(f"cluster config '{CLUSTER_CONF}' already exists")
    if _has_guests(client):
        errors.append("this host already contains virtual guests")
    if _engine_running(root):
        errors.append("corosync is already running, is this node already in a cluster?!")
    checks = [("local node address", local_ip)]
    checks += [(f"link{number}", link.address) for number, link in sorted(links.items())]
    for label, address in checks:
        if not _address_usable(address):
            errors.append(f"{label}: cannot use IP '{address}', not found on local node!")
    if errors:
        text = "".join(f"* {e}\n" for e in errors)
        sys.stderr.write(f"detected the following error(s):\n{text}")
        if not force:
            raise ClusterError("Check if node may join a cluster failed!")
        sys.stderr.write("\nWARNING : detected error but forced to continue!\n\n")


def join(
    client: CfsClient,
    root: NodeRoot,
    host: str,
    password: str,
    *,
    fingerprint: str | None,
    links: dict[int, Link],
    port: int = 8006,
    nodeid: int | None = None,
    votes: int | None = None,
    force: bool = False,
) -> None:
    status = client.status()
    nodename, local_ip = status["name"], status["ip"]
    with local_lock(root):
        assert_joinable(client, root, local_ip, links, force)
        print(f"Establishing API connection with host '{host}'", flush=True)
        api = ApiClient(host, port, fingerprint=fingerprint)
        try:
            try:
                api.login(password)
            except FingerprintRefused as err:
                raise ClusterError(str(err)) from None
            except ApiError as err:
                raise ClusterError(str(err)) from None
            except OSError as err:
                raise ClusterError(f"unable to connect to {host}:{port} - {err}") from None
            print("Login succeeded.", flush=True)
            print("check cluster join API version", flush=True)
            try:
                apiver = int(api.get("/cluster/config/apiversion"))
            except (ApiError, OSError, TypeError, ValueError):
                apiver = 0
            if apiver < JOIN_API_VERSION - JOIN_API_AGE or apiver > JOIN_API_VERSION + 100:
                raise ClusterError(
                    f"error: incompatible join API version on cluster ({apiver}), local node "
                    f"has {JOIN_API_VERSION} and supports >= {JOIN_API_VERSION - JOIN_API_AGE}. "
                    "Make sureall cluster nodes are up-to-date."
                )
            args: dict[str, Any] = {}
            if force:
                args["force"] = 1
            if nodeid:
                args["nodeid"] = nodeid
            if votes is not None:
                args["votes"] = votes
            for number, link in links.items():
                args[f"link{number}"] = link.address
            if not links:
                if apiver == 0:
                    args["link0"] = local_ip
                else:
                    args["new_node_ip"] = local_ip
                print(
                    "No cluster network links passed explicitly, fallback to local node IP "
                    f"'{local_ip}'",
                    flush=True,
                )
            if apiver >= 1:
                args["apiversion"] = JOIN_API_VERSION
            print("Request addition of this node", flush=True)
            try:
                result = api.post(f"/cluster/config/nodes/{nodename}", args)
            except ApiError as err:
                sys.stderr.write(f"An error occurred on the cluster node: {err.message}\n")
                for key in sorted(err.errors):
                    symbol = "*" if key.startswith("warning") else "!"
                    sys.stderr.write(f"{symbol} {err.errors[key]}\n")
                raise ClusterError("Cluster join aborted!") from None
        finally:
            api.close()
        for warning in result.get("warnings") or []:
            sys.stderr.write(f"cluster: {warning}\n")
        print("Join request OK, finishing setup locally", flush=True)
        finish_join(
            client,
            root,
            nodename,
            str(result["corosync_conf"]).encode(),
            str(result["corosync_authkey"]).encode("latin-1"),
        )


def _write(path: str, data: bytes, mode: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _joined(status: dict[str, Any]) -> bool:
    """Quorate, and the first sync with the cluster is over: its tree has replaced ours.

    Proxmox polls until ``/etc/pve/local`` is writable, then writes the node's certificate
    files; those writes complete only once the filesystem is synced, so its ``pvecm add``
    returns with the cluster's tree in place. Without those writes, the sync is waited for.
    """
    dfsm = status.get("dfsm") or {}
    return bool(status.get("quorate") and status.get("synced") and len(dfsm.get("members", [])) > 1)


def finish_join(
    client: CfsClient, root: NodeRoot, nodename: str, conf: bytes, authkey: bytes
) -> None:
    _write(root.authkey, authkey, 0o400)
    _write(root.corosync_conf, conf, 0o644)
    print("stopping cluster filesystem", flush=True)
    backup = client.call("reset_database")
    if backup:
        print(f"backup old database to '{backup}'", flush=True)
    print("waiting for quorum...", end="", flush=True)
    deadline = time.monotonic() + QUORUM_WAIT
    while True:
        with contextlib.suppress(CfsError):
            if _joined(client.status()):
                break
        if time.monotonic() > deadline:
            print("", flush=True)
            raise ClusterError("timeout waiting for quorum")
        time.sleep(1.0)
    print("OK", flush=True)
    print(f"successfully added node '{nodename}' to cluster.", flush=True)
