"""``pycorosync-qdevice-tool``: the quorum device status of a running pycorosync.

    pycorosync-qdevice-tool [--run-dir DIR] -s [-v] [--json]

``-s`` prints what ``corosync-qdevice-tool -s`` prints (``-v``: verbose), in its layout, from
the qdevice-net client inside the node daemon (control operation ``qdevice.status``).
``--json`` prints the machine-readable status instead, and a failure as
``{"ok": false, "error": ..., "message": ...}`` (the message also goes to stderr).

Exit status as corosync-qdevice-tool: 0 on success, 1 for a usage error, 3 when the daemon
cannot be reached, 4 when it answers with an error (no quorum device configured).
"""

from __future__ import annotations

import argparse
import json
import sys

from totem.node.client import ControlClient, NodeUnavailable, RequestFailed

__all__ = ["main"]

EXIT_USAGE = 1
EXIT_SOCKET_CONNECT = 3
EXIT_QDEVICE_RETURNED_ERROR = 4


def _fail(message: str, as_json: bool, error: str, status: int) -> int:
    print(message, file=sys.stderr)
    if as_json:
        print(json.dumps({"ok": False, "error": error, "message": message}))
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pycorosync-qdevice-tool",
        description="Status of the quorum device client of a running pycorosync.",
    )
    parser.add_argument("--run-dir", help="the daemon's run directory (default /run/pycorosync)")
    parser.add_argument("-s", dest="status", action="store_true", help="show status")
    parser.add_argument("-v", dest="verbose", action="store_true", help="verbose output")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    if not args.status:
        parser.print_usage(sys.stderr)
        return EXIT_USAGE
    try:
        with ControlClient(args.run_dir) as client:
            result = client.call("qdevice.status", verbose=args.verbose)
    except NodeUnavailable as err:
        message = f"Can't connect to QDevice socket (is QDevice running?): {err}"
        return _fail(message, args.json, "socket", EXIT_SOCKET_CONNECT)
    except RequestFailed as err:
        message = f"Error: {err}"
        if "unknown op" in str(err):
            message = "Error: no quorum device (quorum.device.model net) is running"
        return _fail(message, args.json, "qdevice", EXIT_QDEVICE_RETURNED_ERROR)
    if args.json:
        print(json.dumps(result["status"], indent=2))
    else:
        print(result["text"], end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
