"""``pycorosync-quorumtool``: quorum status and runtime changes, as ``corosync-quorumtool``.

    pycorosync-quorumtool [--run-dir DIR] -s [--json]   # Quorum/Votequorum/Membership information
    pycorosync-quorumtool [--run-dir DIR] -l [--json]   # the node list
    pycorosync-quorumtool [--run-dir DIR] -e N          # set expected votes (pvecm expected N)
    pycorosync-quorumtool [--run-dir DIR] -v V [-n ID]  # set a node's votes (default: this node)
    pycorosync-quorumtool [--run-dir DIR] -m            # monitor: print the status on each change
    options: -H (node ids in hex), -i (addresses in the Name column),
             -o a|n|i (sort by address, name, node id)

Exit status as corosync-quorumtool: for ``-s``, 0 when quorate, 2 when not quorate,
1 when the node cannot be reached or a request is refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from totem.node.client import ControlClient, NodeUnavailable, RequestFailed

__all__ = ["main"]

EXIT_NOT_QUORATE = 2
_SORT = {"a": "addr", "n": "name", "i": "nodeid"}


def _render(client: ControlClient, what: str, args: argparse.Namespace) -> str:
    text: str = client.call(
        "quorum.render",
        what=what,
        nodeid_format="hex" if args.hex else "decimal",
        sort=_SORT[args.order],
        name_column="address" if args.ip else "name",
    )
    return text


def _monitor(client: ControlClient, args: argparse.Namespace) -> int:
    print(_render(client, "status", args), flush=True)
    client.call("subscribe", topics=["QuorumChanged", "membership"])
    for _event in client.events():
        print(_render(client, "status", args), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pycorosync-quorumtool", description="Quorum status of a running pycorosync."
    )
    parser.add_argument("--run-dir", help="the daemon's run directory (default /run/pycorosync)")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("-s", dest="action", action="store_const", const="s", help="status")
    action.add_argument("-l", dest="action", action="store_const", const="l", help="nodes")
    action.add_argument("-m", dest="action", action="store_const", const="m", help="monitor")
    action.add_argument("-e", dest="expected", type=int, metavar="N", help="set expected votes")
    action.add_argument("-v", dest="votes", type=int, metavar="V", help="set votes")
    parser.add_argument("-n", dest="node_id", type=int, help="node id for -v (default: this node)")
    parser.add_argument("-H", dest="hex", action="store_true", help="node ids in hex")
    parser.add_argument("-i", dest="ip", action="store_true", help="show addresses, not names")
    parser.add_argument("-o", dest="order", choices=sorted(_SORT), default="a", help="sort order")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    if args.expected is not None and args.expected < 1:
        print("Cannot set expected votes: expected votes must be at least 1", file=sys.stderr)
        return 1
    if args.votes is not None and args.votes < 0:
        print("Cannot set votes: votes must not be negative", file=sys.stderr)
        return 1
    try:
        with ControlClient(args.run_dir) as client:
            if args.expected is not None:
                client.call("quorum.set_expected", value=args.expected)
                return 0
            if args.votes is not None:
                request: dict[str, Any] = {"value": args.votes}
                if args.node_id is not None:
                    request["node_id"] = args.node_id
                client.call("quorum.set_votes", **request)
                return 0
            if args.action == "m":
                return _monitor(client, args)
            status = client.call("quorum.status")
            if args.json:  # one object for -s and -l, as the members list is part of it
                print(json.dumps(status, indent=2))
            else:
                what = "nodes" if args.action == "l" else "status"
                print(_render(client, what, args), end="")
            if args.action == "s" and not status.get("quorate"):
                return EXIT_NOT_QUORATE
            return 0
    except NodeUnavailable as err:
        print(f"Cannot initialize QUORUM service: {err}", file=sys.stderr)
        return 1
    except RequestFailed as err:
        what = "expected votes" if args.expected is not None else "votes"
        if args.expected is None and args.votes is None:
            what = "status"
        print(f"Unable to set {what}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
