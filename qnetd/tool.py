"""``pycorosync-qnetd-tool``: status of a running qnetd (``corosync-qnetd-tool``, ref section 9).

::

    pycorosync-qnetd-tool [-Hhlsv] [-c cluster_name] [-p qnetd_ipc_socket_path] [--json]

``-s`` status, ``-l`` clusters and clients (``-v`` verbose, ``-c`` one cluster), ``-H`` shut the
server down, ``-p`` control socket (default ``/run/pycorosync-qnetd/pycorosync-qnetd.sock``),
``--json`` machine-readable output of ``-s`` / ``-l``. It speaks the line protocol of
``qnetd-ipc.c``, so it also reads a real corosync-qnetd (``-p
/var/run/corosync-qnetd/corosync-qnetd.sock``; ``--json`` needs pycorosync-qnetd). Exit codes
as the real tool: 0 ok, 1 usage, 2 internal error, 3 cannot connect, 4 qnetd returned an error.
"""

from __future__ import annotations

import argparse
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
    return f"usage: {PROGRAM} [-Hhlsv] [-c cluster_name] [-p qnetd_ipc_socket_path] [--json]\n"


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


def main(argv: list[str] | None = None) -> int:
    p = _Parser(prog=PROGRAM, add_help=False)
    p.add_argument("-H", dest="op", action="store_const", const="shutdown")
    p.add_argument("-l", dest="op", action="store_const", const="list")
    p.add_argument("-s", dest="op", action="store_const", const="status")
    p.add_argument("-v", dest="verbose", action="store_true")
    p.add_argument("-c", dest="cluster")
    p.add_argument("-p", dest="socket", default=DEFAULT_SOCKET)
    p.add_argument("-h", dest="help", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.help or args.op is None:
        sys.stdout.write(_usage())
        return EXIT_USAGE
    command = build_command(
        args.op, args.verbose, args.cluster, args.json and args.op != "shutdown"
    )
    try:
        reply = query(args.socket, command)
    except OSError as exc:
        sys.stderr.write(f"{PROGRAM}: Can't connect to qnetd socket (is QNetd running?): {exc}\n")
        return EXIT_SOCKET_CONNECT
    status, nl, rest = reply.partition(b"\n")
    if not nl:
        sys.stderr.write(f"{PROGRAM}: Unknown status line returned by IPC server\n")
        return EXIT_SOCKET_CONNECT
    word = status.rstrip(b"\r").decode("utf-8", "replace").lower()
    text = rest.decode("utf-8", "replace")
    if word == "ok":
        sys.stdout.write(text)
        return EXIT_OK
    if word == "error":
        sys.stderr.write("Error: " + text)
        return EXIT_QNETD_ERROR
    sys.stderr.write(f"{PROGRAM}: Unknown status line returned by IPC server\n")
    return EXIT_SOCKET_CONNECT


if __name__ == "__main__":
    sys.exit(main())
