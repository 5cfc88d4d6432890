"""``pycorosync-pvecm``: Proxmox's cluster manager CLI on a node root (ref 1, 5.4).

    pycorosync-pvecm --root R create NAME [--link0 IP] [--nodeid N] [--votes N]
                                          [--token-coefficient N]
    pycorosync-pvecm --root R add HOST [--fingerprint FP] [--password-file F] [--linkN IP]
                                       [--nodeid N] [--votes N] [--force] [--port 8006]
    pycorosync-pvecm --root R addnode NODE [--linkN] [--new_node_ip IP] [--nodeid] [--votes]
    pycorosync-pvecm --root R delnode NODE
    pycorosync-pvecm --root R status | nodes | expected N | apiver | fingerprint
    pycorosync-pvecm --root R qdevice setup ADDR --qnetd-certs DIR [--force] [--port 5403]
    pycorosync-pvecm --root R qdevice remove
    pycorosync-pvecm --root R keygen FILE | updatecerts

Messages and exit statuses are Proxmox's: a refused command prints its reason on standard
error and exits 255 (Perl's ``die``); ``status`` exits with corosync-quorumtool's status
(0 quorate, 2 not quorate, 1 engine unreachable).
"""

from __future__ import annotations

import argparse
import errno
import getpass
import os
import sys
import time

from pvecluster.api.tls import FINGERPRINT_RE, fingerprint_of_pem_file
from pvecluster.client.cfs import CfsClient, CfsError, CfsUnavailable
from pvecluster.corosync.conf import (
    DEFAULT_TRANSPORT,
    MAX_LINK_INDEX,
    ConfError,
    Link,
    create_conf,
    parse_conf,
    parse_link,
)
from pvecluster.paths import NodeRoot
from pvecluster.pvecm.cluster import (
    CLUSTER_CONF,
    JOIN_API_VERSION,
    NODE_NAME_RE,
    ClusterError,
    addnode_request,
    atomic_write_conf,
    delnode,
    gen_local_dirs,
    local_lock,
)
from totem.node.client import ControlClient, NodeUnavailable, RequestFailed

__all__ = ["EXIT_DIE", "main"]

EXIT_DIE = 255
PROGRAM = "pycorosync-pvecm"
CREATE_QUORUM_WAIT = 60.0
"""Seconds ``create`` waits for the restarted filesystem to be quorate (ours: Proxmox returns
once systemd restarted the units). Until then the engine may already answer ``status`` with
``Quorate`` while the filesystem, and so the join API, still refuses with ``cluster not ready
- no quorum?``; a ``pvecm add`` right after ``create`` must not meet that window."""


class Die(Exception):
    """Print the message and exit 255, as a Perl ``die`` in a PVE CLI handler."""


def _check_conf_exists(client: CfsClient) -> None:
    if not client.exists("corosync.conf"):
        raise Die(
            f"Error: Corosync config '{CLUSTER_CONF}' does not exist - is this node part of "
            "a cluster?"
        )


def _param_error(name: str, message: str) -> Die:
    return Die(f"400 Parameter verification failed.\n{name}: {message}")


def _links(args: argparse.Namespace) -> dict[int, Link]:
    links = {}
    for number in range(MAX_LINK_INDEX + 1):
        value = getattr(args, f"link{number}", None)
        if value:
            try:
                links[number] = parse_link(value)
            except ValueError as err:
                raise _param_error(f"link{number}", str(err)) from None
    return links


# ---------------------------------------------------------------------- create
def cmd_create(client: CfsClient, root: NodeRoot, args: argparse.Namespace) -> int:
    name = args.clustername
    if len(name) > 15:
        raise _param_error("clustername", "value may only be 15 characters long")
    if not NODE_NAME_RE.match(name):
        raise _param_error("clustername", "value does not look like a valid node name")
    if args.votes is not None and args.votes < 1:
        raise _param_error("votes", "value must have a minimum value of 1")
    if args.nodeid is not None and args.nodeid < 1:
        raise _param_error("nodeid", "value must have a minimum value of 1")
    if args.token_coefficient is not None and args.token_coefficient < 0:
        raise _param_error("token-coefficient", "value must have a minimum value of 0")
    links = _links(args)
    if client.exists("corosync.conf"):
        raise Die(f"cluster config '{CLUSTER_CONF}' already exists")
    status = client.status()
    nodename, ip = status["name"], status["ip"]
    with local_lock(root):
        if not os.path.exists(root.authkey):
            os.makedirs(root.corosync_dir, exist_ok=True)
            fd = os.open(root.authkey, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            with os.fdopen(fd, "wb") as out:
                out.write(os.urandom(256))
        conf = create_conf(
            nodename,
            name,
            links or {0: Link(ip)},
            nodeid=args.nodeid or 1,
            votes=args.votes or 1,
            token_coefficient=125 if args.token_coefficient is None else args.token_coefficient,
            transport=args.transport,
        )
        print("Writing corosync config to /etc/pve/corosync.conf", flush=True)
        atomic_write_conf(client, conf)
        gen_local_dirs(client, nodename)
        print("Restart corosync and cluster filesystem", flush=True)
        client.call("restart")
    deadline = time.monotonic() + CREATE_QUORUM_WAIT
    while not client.status().get("quorate"):
        if time.monotonic() > deadline:
            sys.stderr.write(
                f"warning: the cluster filesystem is not quorate after {CREATE_QUORUM_WAIT:g} s "
                "(see the engine's log)\n"
            )
            break
        time.sleep(0.1)
    return 0


# ---------------------------------------------------------------------- status & nodes
def _cluster_information(client: CfsClient) -> str:
    raw = client.read_or_none("corosync.conf") or b""
    try:
        totem = parse_conf(raw).main.get("totem")
    except ConfError as err:
        sys.stderr.write(f"warning: {err}\n")
        totem = None
    if not isinstance(totem, dict):
        return ""
    fields = [
        ("Name", totem.get("cluster_name", "UNKOWN?")),
        ("Config Version", totem.get("config_version", -1)),
        ("Transport", totem.get("transport", "knet")),
        ("Secure auth", totem.get("secauth", "off")),
    ]
    lines = ["Cluster information", "-" * 19]
    lines += [f"{label + ':':<17} {value}" for label, value in fields]
    return "\n".join(lines) + "\n\n"


def _quorumtool(root: NodeRoot, what: str) -> tuple[int, str]:
    try:
        with ControlClient(root.run_dir, timeout=10) as engine:
            if what == "status":
                text = engine.call(
                    "quorum.render",
                    what="status",
                    nodeid_format="hex",
                    sort="addr",
                    name_column="address",
                )
                quorate = engine.call("quorum.status").get("quorate")
                return (0 if quorate else 2), str(text)
            text = engine.call("quorum.render", what="nodes", nodeid_format="decimal", sort="addr")
            return 0, str(text)
    except (NodeUnavailable, RequestFailed):
        sys.stderr.write("Cannot initialize QUORUM service\n")
        return 1, ""


def cmd_status(client: CfsClient, root: NodeRoot, args: argparse.Namespace) -> int:
    _check_conf_exists(client)
    sys.stdout.write(_cluster_information(client))
    sys.stdout.flush()
    code, text = _quorumtool(root, "status")
    sys.stdout.write(text)
    return code


def cmd_nodes(client: CfsClient, root: NodeRoot, args: argparse.Namespace) -> int:
    _check_conf_exists(client)
    code, text = _quorumtool(root, "nodes")
    sys.stdout.write(text)
    return code


def cmd_expected(client: CfsClient, root: NodeRoot, args: argparse.Namespace) -> int:
    if args.expected < 1:
        raise _param_error("expected", "value must have a minimum value of 1")
    _check_conf_exists(client)
    try:
        with ControlClient(root.run_dir, timeout=10) as engine:
            engine.call("quorum.set_expected", value=args.expected)
    except NodeUnavailable:
        sys.stderr.write("Cannot initialize QUORUM service\n")
        return 1
    except RequestFailed:
        sys.stderr.write("Unable to set expected votes: CS_ERR_INVALID_PARAM\n")
        return 1
    return 0


# ---------------------------------------------------------------------- membership changes
def cmd_delnode(client: CfsClient, root: NodeRoot, args: argparse.Namespace) -> int:
    _check_conf_exists(client)
    delnode(client, root, client.status()["name"], args.node)
    return 0


def cmd_addnode(client: CfsClient, root: NodeRoot, args: argparse.Namespace) -> int:
    params: dict[str, object] = {}
    for key in ("nodeid", "votes", "new_node_ip", "apiversion"):
        value = getattr(args, key)
        if value is not None:
            params[key] = value
    if args.force:
        params["force"] = 1
    for number in range(MAX_LINK_INDEX + 1):
        value = getattr(args, f"link{number}", None)
        if value:
            params[f"link{number}"] = value
    addnode_request(client, root, args.node, params)
    return 0


def _read_password(args: argparse.Namespace, host: str) -> str:
    if args.password_file:
        try:
            with open(args.password_file, encoding="utf-8") as handle:
                return handle.readline().rstrip("\n")
        except OSError as err:
            raise Die(
                f"unable to read password file '{args.password_file}' - {err.strerror}"
            ) from None
    prompt = f"Please enter superuser (root) password for '{host}': "
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    sys.stdout.write(prompt)
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        raise Die("EOF while reading password")
    return line.rstrip("\n")


def cmd_add(client: CfsClient, root: NodeRoot, args: argparse.Namespace) -> int:
    from pvecluster.pvecm.join import join

    cwd = os.path.realpath(os.getcwd())
    pve = os.path.realpath(root.etc_pve)
    if cwd == pve or cwd.startswith(pve + os.sep):
        raise Die(
            "Navigate out of /etc/pve before running 'pvecm add', for example by running 'cd'."
        )
    if args.use_ssh:
        raise Die("SSH join is not supported; use the API join")
    if args.fingerprint is not None and not FINGERPRINT_RE.match(args.fingerprint):
        raise _param_error("fingerprint", "value does not match the regex pattern")
    links = _links(args)
    password = _read_password(args, args.hostname)
    join(
        client,
        root,
        args.hostname,
        password,
        fingerprint=args.fingerprint,
        links=links,
        port=args.port,
        nodeid=args.nodeid,
        votes=args.votes,
        force=args.force,
    )
    return 0


# ---------------------------------------------------------------------- small ones
def cmd_apiver(client: CfsClient | None, root: NodeRoot, args: argparse.Namespace) -> int:
    print(JOIN_API_VERSION)
    return 0


def cmd_fingerprint(client: CfsClient | None, root: NodeRoot, args: argparse.Namespace) -> int:
    try:
        print(fingerprint_of_pem_file(root.api_cert))
    except OSError as err:
        raise Die(f"unable to read {root.api_cert}: {err.strerror}") from None
    return 0


def cmd_keygen(client: CfsClient | None, root: NodeRoot, args: argparse.Namespace) -> int:
    filename = args.filename
    if os.path.exists(filename):
        raise Die(f"key file '{filename}' already exists")
    directory = os.path.dirname(filename)
    if directory:
        os.makedirs(directory, exist_ok=True)
    fd = os.open(filename, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "wb") as out:
        out.write(os.urandom(256))
    return 0


def cmd_updatecerts(client: CfsClient | None, root: NodeRoot, args: argparse.Namespace) -> int:
    return 0  # per-node self-signed certificates: nothing to merge (ref 5.5)


def cmd_qdevice(client: CfsClient, root: NodeRoot, args: argparse.Namespace) -> int:
    from pvecluster.pvecm.qdevice import remove_qdevice, setup_qdevice

    if args.qdevice_command == "setup":
        return setup_qdevice(client, root, args)
    return remove_qdevice(client, root, args)


# ---------------------------------------------------------------------- parser
def _add_links(parser: argparse.ArgumentParser) -> None:
    for number in range(MAX_LINK_INDEX + 1):
        parser.add_argument(f"--link{number}", metavar="[address=]IP[,priority=N]")
    parser.add_argument("--ring0_addr", dest="link0", help=argparse.SUPPRESS)
    parser.add_argument("--ring1_addr", dest="link1", help=argparse.SUPPRESS)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROGRAM, description="Proxmox VE cluster manager.")
    parser.add_argument("--root", default="/", help="the node root (default /)")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="generate a new cluster configuration")
    create.add_argument("clustername")
    _add_links(create)
    create.add_argument("--nodeid", type=int)
    create.add_argument("--votes", type=int)
    create.add_argument("--token-coefficient", dest="token_coefficient", type=int)
    create.add_argument("--transport", default=DEFAULT_TRANSPORT, choices=["knet", "udpu", "udp"])
    add = sub.add_parser("add", help="add the current node to an existing cluster")
    add.add_argument("hostname")
    add.add_argument("--fingerprint")
    add.add_argument("--password-file", dest="password_file")
    add.add_argument("--port", type=int, default=8006)
    add.add_argument("--nodeid", type=int)
    add.add_argument("--votes", type=int)
    add.add_argument("--force", action="store_true")
    add.add_argument("--use_ssh", "--use-ssh", dest="use_ssh", action="store_true")
    _add_links(add)
    addnode = sub.add_parser("addnode", help="add a node to the cluster configuration")
    addnode.add_argument("node")
    addnode.add_argument("--new_node_ip")
    addnode.add_argument("--nodeid", type=int)
    addnode.add_argument("--votes", type=int)
    addnode.add_argument("--apiversion", type=int)
    addnode.add_argument("--force", action="store_true")
    _add_links(addnode)
    delete = sub.add_parser("delnode", help="remove a node from the cluster configuration")
    delete.add_argument("node")
    sub.add_parser("status", help="cluster status")
    sub.add_parser("nodes", help="the cluster's nodes")
    expected = sub.add_parser("expected", help="tell votequorum the expected votes")
    expected.add_argument("expected", type=int)
    sub.add_parser("apiver", help="the join API version")
    sub.add_parser("fingerprint", help="this node's API certificate fingerprint")
    sub.add_parser("updatecerts", help="(no-op: per-node self-signed certificates)")
    keygen = sub.add_parser("keygen", help="generate a corosync key")
    keygen.add_argument("filename")
    qdevice = sub.add_parser("qdevice", help="QDevice setup and removal")
    qsub = qdevice.add_subparsers(dest="qdevice_command", required=True)
    setup = qsub.add_parser("setup", help="set up a QDevice")
    setup.add_argument("address")
    setup.add_argument("--qnetd-certs", dest="qnetd_certs", help="pycorosync-qnetd-certutil -o DIR")
    setup.add_argument("--port", type=int, default=5403)
    setup.add_argument("--network", help="(parsed, unused, as in Proxmox)")
    setup.add_argument("--force", action="store_true")
    setup.add_argument("--tls", default="on", choices=["on", "off", "required"])
    qsub.add_parser("remove", help="remove the QDevice")
    return parser


_COMMANDS = {
    "create": cmd_create,
    "add": cmd_add,
    "addnode": cmd_addnode,
    "delnode": cmd_delnode,
    "status": cmd_status,
    "nodes": cmd_nodes,
    "expected": cmd_expected,
    "qdevice": cmd_qdevice,
}
_OFFLINE = {
    "apiver": cmd_apiver,
    "fingerprint": cmd_fingerprint,
    "keygen": cmd_keygen,
    "updatecerts": cmd_updatecerts,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = NodeRoot(os.path.abspath(args.root))
    try:
        if args.command in _OFFLINE:
            return _OFFLINE[args.command](None, root, args)
        with CfsClient(root, timeout=900) as client:
            return _COMMANDS[args.command](client, root, args)
    except Die as err:
        sys.stderr.write(f"{err}\n")
        return EXIT_DIE
    except ClusterError as err:
        sys.stderr.write(f"{err.message}\n")
        return EXIT_DIE
    except CfsUnavailable as err:
        sys.stderr.write(f"ipcc_send_rec[1] failed: Connection refused ({err})\n")
        return EXIT_DIE
    except CfsError as err:
        if err.errno == errno.EACCES:
            sys.stderr.write("cluster not ready - no quorum?\n")
        else:
            sys.stderr.write(f"{err}\n")
        return EXIT_DIE


if __name__ == "__main__":
    sys.exit(main())
