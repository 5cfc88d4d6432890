"""``pycorosync-quorumtool``: quorum status and runtime changes, as ``corosync-quorumtool``.

    pycorosync-quorumtool [--run-dir DIR] -s [--json]   # Quorum/Votequorum/Membership information
    pycorosync-quorumtool [--run-dir DIR] -l [--json]   # the node list
    pycorosync-quorumtool [--run-dir DIR] -e N [--json] # set expected votes (pvecm expected N)
    pycorosync-quorumtool [--run-dir DIR] -v V [-n ID]  # set a node's votes (default: this node)
    pycorosync-quorumtool [--run-dir DIR] -m [--json]   # monitor: the status on each change
    options: -H (node ids in hex), -i (addresses in the Name column),
             -o a|n|i (sort by address, name, node id)

Exit status as corosync-quorumtool: for ``-s``, 0 when quorate, 2 when not quorate,
1 when the node cannot be reached or a request is refused.

``-e N`` follows votequorum's rule (``message_handler_req_lib_votequorum_setexpected``): N may
not be lower than the total votes of the partition, nor make a quorate partition inquorate;
so it lowers the expectation of a partition whose nodes have gone (``pvecm expected 1`` on the
last node), and a refusal prints ``Unable to set expected votes: CS_ERR_INVALID_PARAM`` (with
the reason in parentheses) and exits 1.

``--json`` applies to every action: ``-s``/``-l`` print the status object; ``-m`` prints one
status object per line, at start and on every change; ``-e``/``-v`` print ``{"ok": true, ...}``;
every failure prints ``{"ok": false, "error": CS_ERR_... or null, "message": ...}`` on stdout
(the message also goes to stderr) with the exit status of the text mode.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from totem.node.client import ControlClient, NodeUnavailable, RequestFailed

__all__ = ["main"]

EXIT_NOT_QUORATE = 2
_SORT = {"a": "addr", "n": "name", "i": "nodeid"}
_CS_ERROR = re.compile(r"\bCS_ERR_[A-Z_]+\b")


class _Refused(Exception):
    """A request the tool or the node refused: the message corosync-quorumtool prints."""


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
    def show() -> None:
        if args.json:
            print(json.dumps(client.call("quorum.status"), sort_keys=True), flush=True)
        else:
            print(_render(client, "status", args), flush=True)

    show()
    client.call("subscribe", topics=["QuorumChanged", "membership"])
    for _event in client.events():
        show()
    return 0


def _change(client: ControlClient, args: argparse.Namespace) -> dict[str, Any]:
    """``-e`` or ``-v``: the node's answer, or :class:`_Refused` with corosync's words."""
    try:
        if args.expected is not None:
            client.call("quorum.set_expected", value=args.expected)
            return {"expected_votes": args.expected}
        request: dict[str, Any] = {"value": args.votes}
        if args.node_id is not None:
            request["node_id"] = args.node_id
        client.call("quorum.set_votes", **request)
        return {"node_id": args.node_id, "votes": args.votes}
    except RequestFailed as err:
        text = str(err)
        if text.startswith("unknown op"):
            what = "expected votes" if args.expected is not None else "node votes"
            raise _Refused(f"You cannot change {what}, corosync is not using votequorum") from None
        raise _Refused(text) from None


def _fail(message: str, as_json: bool, status: int = 1) -> int:
    print(message, file=sys.stderr)
    if as_json:
        match = _CS_ERROR.search(message)
        error = match.group(0) if match else None
        print(json.dumps({"ok": False, "error": error, "message": message}))
    return status


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
        return _fail("New expected votes value was not valid, try a positive number", args.json)
    if args.votes is not None and args.votes < 0:
        return _fail("New votes value was not valid, try a positive number or zero", args.json)
    try:
        with ControlClient(args.run_dir) as client:
            if args.expected is not None or args.votes is not None:
                done = _change(client, args)
                if args.json:
                    print(json.dumps({"ok": True, **done}))
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
        return _fail(f"Cannot initialize QUORUM service: {err}", args.json)
    except _Refused as err:
        return _fail(str(err), args.json)
    except RequestFailed as err:
        return _fail(f"Unable to get quorum status: {err}", args.json)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
