"""``pvecm qdevice setup|remove`` (ref cluster-manager.md 3.4, 3.5, 5.5).

Proxmox's steps, in its order and with its messages, without SSH:

* **setup**: every node online; no device yet (``--force`` only gets past a local
  certificate store); ``ffsplit`` with ``votes: 1``, or ``lms`` for an odd node count with
  ``--force``; the qnetd certificates for the cluster, made on the qnetd host by
  ``pycorosync-qnetd-certutil --setup -n CLUSTER -o DIR`` (or from a real corosync-qnetd's
  NSS database with ``--nss``), are checked (the CA signed the cluster certificate, its CN
  is the cluster name, the key matches) and written to ``/etc/pve/priv/qdevice/net``, from
  where every node's cfsd installs them into ``/etc/corosync/qdevice/net`` (Proxmox copies
  the CA and the PKCS#12 through ``/etc/pve`` and imports them on each node); then, under
  the cfs lock, the ``quorum.device`` section is added and ``config_version`` raised; the
  replicated file makes every node reload, which starts the qdevice client in its engine
  (Proxmox: ``systemctl start corosync-qdevice`` on each node); last the explicit
  cluster-wide reload, ``Reloading corosync.conf...`` / ``Done``.
* **remove**: every node online; under the cfs lock the section is deleted
  (``config_version`` + 1) and the replicated certificates with it (every cfsd removes its
  ``/etc/corosync/qdevice``); the reload stops the client on every node; the explicit reload;
  ``Removed Qdevice.``.

One deviation: with ``--force`` on a cluster that already has a device, Proxmox replaces the
certificates on every node and only then refuses (``Qdevice already configured, must be
removed before setting up new one!``); here the same refusal comes first and changes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import sys
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from pvecluster.client.cfs import CfsClient, CfsError
from pvecluster.corosync.conf import CorosyncConf
from pvecluster.paths import QDEVICE_CERT_TREE, NodeRoot
from pvecluster.pvecm.cluster import (
    CLUSTER_CONF,
    ClusterError,
    atomic_write_conf,
    config_change_lock,
    read_conf,
)
from totem.node.client import ControlClient, NodeUnavailable, RequestFailed

__all__ = ["QnetdCerts", "load_qnetd_certs", "remove_qdevice", "setup_qdevice"]

CERT_FILES = ("ca.crt", "cluster.crt", "cluster.key")
CONNECT_PROBE_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class QnetdCerts:
    """The PEM files every node's qdevice client needs."""

    ca: bytes
    cert: bytes
    key: bytes


def _die(message: str) -> ClusterError:
    return ClusterError(message)


def load_qnetd_certs(directory: str, cluster_name: str) -> QnetdCerts:
    """Read and check ``ca.crt``, ``cluster.crt`` and ``cluster.key`` of ``directory``."""
    data: dict[str, bytes] = {}
    for name in CERT_FILES:
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as handle:
                data[name] = handle.read()
        except OSError as err:
            raise _die(
                f"unable to read '{path}' - {err.strerror} (make the files on the qnetd host "
                f"with 'pycorosync-qnetd-certutil --setup -n {cluster_name} -o DIR')"
            ) from None
    try:
        ca = x509.load_pem_x509_certificate(data["ca.crt"])
        cert = x509.load_pem_x509_certificate(data["cluster.crt"])
        key = serialization.load_pem_private_key(data["cluster.key"], password=None)
    except ValueError as err:
        raise _die(f"invalid qnetd certificate files in '{directory}': {err}") from None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else ""
    if common_name != cluster_name:
        raise _die(
            f"the cluster certificate in '{directory}' is for cluster '{common_name}', "
            f"not '{cluster_name}'"
        )
    try:
        cert.verify_directly_issued_by(ca)
    except Exception as err:  # InvalidSignature, or another key type
        raise _die(
            f"the cluster certificate in '{directory}' is not signed by its ca.crt ({err})"
        ) from None
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public != cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise _die(f"cluster.key in '{directory}' does not match cluster.crt")
    return QnetdCerts(data["ca.crt"], data["cluster.crt"], data["cluster.key"])


def _check_conf(client: CfsClient) -> CorosyncConf:
    conf = read_conf(client)
    if conf is None:
        raise _die(
            f"Error: Corosync config '{CLUSTER_CONF}' does not exist - is this node part of "
            "a cluster?"
        )
    return conf


def _all_nodes_online(client: CfsClient) -> list[str]:
    nodelist = client.members().get("nodelist", {})
    for name in sorted(nodelist):
        if not nodelist[name].get("online"):
            raise _die(f"All nodes must be online! Node {name} is offline, aborting.")
    return sorted(nodelist)


def _reload(root: NodeRoot) -> None:
    """``corosync-cfgtool -R``: every node reloads its corosync.conf."""
    print("Reloading corosync.conf...", flush=True)
    try:
        with ControlClient(root.run_dir, timeout=90) as engine:
            engine.call("cfg.reload")
    except NodeUnavailable as err:
        raise _die(f"Could not initialize corosync configuration API: {err}") from None
    except RequestFailed as err:
        raise _die(f"Could not reload configuration. Error {err}") from None
    print("Done", flush=True)


def _remove_tree(client: CfsClient, path: str) -> None:
    """``rm -rf`` in the replicated filesystem (children first)."""
    try:
        entries = client.call("list", path=path)
    except CfsError:
        with contextlib.suppress(CfsError):
            client.delete(path)
        return
    for entry in entries:
        child = f"{path}/{entry['name']}"
        if entry["type"] == "dir":
            _remove_tree(client, child)
        else:
            client.delete(child)
    client.delete(path)


def _local_store_exists(root: NodeRoot) -> bool:
    try:
        return any(not name.startswith(".") for name in os.listdir(root.qdevice_cert_dir))
    except OSError:
        return False


def _probe(host: str, port: int) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=CONNECT_PROBE_TIMEOUT):
            return None
    except OSError as err:
        return err.strerror or str(err)


def setup_qdevice(client: CfsClient, root: NodeRoot, args: argparse.Namespace) -> int:
    """``pvecm qdevice setup ADDR [--force] [--network CIDR] [--qnetd-certs DIR]``."""
    conf = _check_conf(client)
    nodes = _all_nodes_online(client)
    device = conf.quorum.get("device")
    if device and not args.force:
        raise _die("QDevice already configured!")
    if device:
        raise _die("Qdevice already configured, must be removed before setting up new one!")
    algorithm = "ffsplit"
    if len(nodes) % 2:
        if not args.force:
            raise _die("Clusters with an odd node count are not officially supported!")
        algorithm = "lms"
    cluster_name = str(conf.totem.get("cluster_name", ""))
    certs: QnetdCerts | None = None
    if args.tls != "off":
        if not args.qnetd_certs:
            raise _die(
                "the qnetd certificates are needed (--qnetd-certs DIR, made on the qnetd host "
                f"with 'pycorosync-qnetd-certutil --setup -n {cluster_name} -o DIR'), or "
                "--tls off"
            )
        certs = load_qnetd_certs(args.qnetd_certs, cluster_name)
    if _local_store_exists(root) or client.exists(QDEVICE_CERT_TREE):
        if not args.force:
            raise _die("QDevice certificate store already initialised, set force to delete!")
        _remove_tree(client, QDEVICE_CERT_TREE)
    problem = _probe(args.address, args.port)
    if problem is not None:
        print(
            f"WARNING: cannot connect to the QNetd server {args.address}:{args.port} "
            f"({problem}); the nodes will keep trying",
            file=sys.stderr,
            flush=True,
        )
    if certs is not None:
        print("INFO: copying CA cert and initializing on all nodes", flush=True)
        for path in ("priv", "priv/qdevice", QDEVICE_CERT_TREE):
            with contextlib.suppress(CfsError):
                client.mkdir(path)
        client.write(f"{QDEVICE_CERT_TREE}/ca.crt", certs.ca)
        print("INFO: copy and import cluster cert to all nodes", flush=True)
        client.write(f"{QDEVICE_CERT_TREE}/cluster.key", certs.key)
        client.write(f"{QDEVICE_CERT_TREE}/cluster.crt", certs.cert)
    print("INFO: add QDevice to cluster configuration", flush=True)

    def code() -> None:
        fresh = _check_conf(client)
        if fresh.quorum.get("device"):
            raise _die("Qdevice already configured, must be removed before setting up new one!")
        net: dict[str, object] = {"algorithm": algorithm, "host": args.address, "tls": args.tls}
        if args.port != 5403:
            net["port"] = args.port
        block: dict[str, object] = {"model": "net", "net": net}
        if algorithm == "ffsplit":
            block["votes"] = 1
        fresh.quorum["device"] = block
        atomic_write_conf(client, fresh)

    config_change_lock(client, root, code)
    for name in nodes:
        print(f"\nnode '{name}': INFO: start and enable corosync qdevice daemon on node "
              f"'{name}'...", flush=True)  # fmt: skip
    _reload(root)
    return 0


def remove_qdevice(client: CfsClient, root: NodeRoot, args: argparse.Namespace) -> int:
    """``pvecm qdevice remove``."""
    _check_conf(client)
    _all_nodes_online(client)

    def code() -> None:
        fresh = _check_conf(client)
        if not fresh.quorum.get("device"):
            raise _die("No QDevice configured!")
        del fresh.quorum["device"]
        atomic_write_conf(client, fresh)
        if client.exists(QDEVICE_CERT_TREE):
            _remove_tree(client, QDEVICE_CERT_TREE)
        with contextlib.suppress(CfsError):
            client.delete("priv/qdevice")

    config_change_lock(client, root, code)
    shutil.rmtree(root.qdevice_dir, ignore_errors=True)
    _reload(root)
    print("\nRemoved Qdevice.", flush=True)
    return 0
