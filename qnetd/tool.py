"""``pycorosync-qnetd-tool``: status of a running qnetd (``corosync-qnetd-tool``, ref section 9).

::

    pycorosync-qnetd-tool [-Hhlsv] [-c cluster_name] [-p qnetd_ipc_socket_path]
                          [--run-dir DIR] [--json] [--help]

``-s`` status, ``-l`` clusters and clients (``-v`` verbose, ``-c`` one cluster), ``-H`` shut the
server down, ``-p`` control socket (default ``/run/pycorosync-qnetd/pycorosync-qnetd.sock``),
``--run-dir DIR`` the qnetd's ``--run-dir`` (its socket is ``DIR/pycorosync-qnetd.sock``),
``--json`` machine-readable output of ``-s`` / ``-l`` and of failures (``{"ok": false,
"error": ..., "message": ...}``). It speaks the line protocol of ``qnetd-ipc.c``, so it also
reads a real corosync-qnetd (``-p /var/run/corosync-qnetd/corosync-qnetd.sock``; ``--json``
needs pycorosync-qnetd). Exit codes as the real tool: 0 ok, 1 usage, 2 internal error, 3 cannot
connect, 4 qnetd returned an error; ``-h`` prints the usage and exits 1 as the real tool,
``--help`` describes every option and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys

from qnetd.server.ipc import DEFAULT_RUN_DIR, SOCKET_FILE_NAME, quote

__all__ = ["DEFAULT_SOCKET", "build_command", "main", "query"]

PROGRAM = "pycorosync-qnetd-tool"
DEFAULT_SOCKET = f"{DEFAULT_RUN_DIR}/{SOCKET_FILE_NAME}"

EXIT_OK = 0
EXIT_USAGE = 1
EXIT_INTERNAL = 2
EXIT_SOCKET_CONNECT = 3
EXIT_QNETD_ERROR = 4


def _usage() -> str:
    return (
        f"usage: {PROGRAM} [-Hhlsv] [-c cluster_name] [-p qnetd_ipc_socket_path]\n"
        f"{'':7}{'':{len(PROGRAM)}} [--run-dir DIR] [--json] [--help]\n"
    )


def _help() -> str:
    return (
        _usage()
        + "\nStatus of a running pycorosync-qnetd (or corosync-qnetd), as corosync-qnetd-tool.\n\n"
        "  -s              status of the server\n"
        "  -l              clusters and their clients\n"
        "  -v              verbose output of -s / -l\n"
        "  -c NAME         -l for one cluster only\n"
        "  -H              shut the server down\n"
        f"  -p PATH         its control socket (default {DEFAULT_SOCKET})\n"
        f"  --run-dir DIR   the server's --run-dir: the socket is DIR/{SOCKET_FILE_NAME}\n"
        "  --json          machine-readable output (pycorosync-qnetd only)\n"
        "  -h              the usage line (exit status 1, as corosync-qnetd-tool)\n"
        "  --help          this help\n"
    )


def build_command(operation: str, verbose: bool, cluster: str | None, as_json: bool) -> str:
    """``store_command``: e.g. ``list verbose cluster "name" \\n``."""
    cmd = f"{operation} "
    if verbose:
        cmd += "verbose "
    if cluster is not None:
        cmd += f"cluster {quote(cluster)} "
    if as_json:
        cmd += "json "
    return cmd + "\n"


def query(path: str, command: str, timeout: float = 30.0) -> bytes:
    """Send one command to the control socket and return the whole reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(command.encode())
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stdout.write(_usage())
        sys.exit(EXIT_USAGE)


def _fail(message: str, as_json: bool, error: str, status: int) -> int:
    sys.stderr.write(message.rstrip("\n") + "\n")
    if as_json:
        sys.stdout.write(json.dumps({"ok": False, "error": error, "message": message}) + "\n")
    return status


def main(argv: list[str] | None = None) -> int:
    p = _Parser(prog=PROGRAM, add_help=False)
    p.add_argument("-H", dest="op", action="store_const", const="shutdown")
    p.add_argument("-l", dest="op", action="store_const", const="list")
    p.add_argument("-s", dest="op", action="store_const", const="status")
    p.add_argument("-v", dest="verbose", action="store_true")
    p.add_argument("-c", dest="cluster")
    p.add_argument("-p", dest="socket")
    p.add_argument("--run-dir")
    p.add_argument("-h", dest="usage", action="store_true")
    p.add_argument("--help", dest="help", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.help:
        sys.stdout.write(_help())
        return EXIT_OK
    if args.usage or args.op is None:
        sys.stdout.write(_usage())
        return EXIT_USAGE
    path = args.socket
    if path is None:
        path = os.path.join(args.run_dir, SOCKET_FILE_NAME) if args.run_dir else DEFAULT_SOCKET
    as_json = args.json and args.op != "shutdown"
    command = build_command(args.op, args.verbose, args.cluster, as_json)
    try:
        reply = query(path, command)
    except OSError as exc:
        message = f"{PROGRAM}: Can't connect to qnetd socket {path} (is QNetd running?): {exc}"
        return _fail(message, args.json, "socket", EXIT_SOCKET_CONNECT)
    status, nl, rest = reply.partition(b"\n")
    unknown = f"{PROGRAM}: Unknown status line returned by IPC server"
    if not nl:
        return _fail(unknown, args.json, "ipc", EXIT_SOCKET_CONNECT)
    word = status.rstrip(b"\r").decode("utf-8", "replace").lower()
    text = rest.decode("utf-8", "replace")
    if word == "ok":
        if args.json and not as_json:
            sys.stdout.write(json.dumps({"ok": True}) + "\n")
        else:
            sys.stdout.write(text)
        return EXIT_OK
    if word == "error":
        return _fail("Error: " + text, args.json, "qnetd", EXIT_QNETD_ERROR)
    return _fail(unknown, args.json, "ipc", EXIT_SOCKET_CONNECT)


if __name__ == "__main__":
    sys.exit(main())
