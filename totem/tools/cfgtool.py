"""``pycorosync-cfgtool``: ring and node status of a running ``pycorosync``.

    pycorosync-cfgtool [--run-dir DIR] -s [--json]   # links and nodes, as corosync-cfgtool -s
    pycorosync-cfgtool [--run-dir DIR] -n [--json]   # nodes and their links, as -n
    pycorosync-cfgtool [--run-dir DIR] -r            # re-enable faulty redundant rings
    pycorosync-cfgtool [--run-dir DIR] -R [--json]   # every node reloads corosync.conf
    pycorosync-cfgtool [--run-dir DIR] -H            # shut the node down (graceful leave)

The text layouts are corosync-cfgtool's (``ref/samples/realcluster-udpu-3node.txt``),
except that ``addr`` shows this node's own address (corosync 3.1.7 prints another
member's there for udp/udpu). With knet (corosync 3's default) the status is knet's, as
3.1.7 prints it: ``-s`` shows per link (``LINK ID 0 udp``) whether each node's link is
``connected``, ``-n`` lists the reachable nodes with each enabled link as
``LINK: 0 udp (local->peer) enabled connected mtu: 1446``. With ``rrp_mode: passive``
every LINK also shows its redundant-ring status in corosync 2.x's words (``ring\t= ring 1
active with no faults`` or ``ring\t= Marking ringid 1 interface 10.0.1.1 FAULTY``); ``-r``
asks every node to re-enable its FAULTY rings (cfg RINGREENABLE, as 2.x). ``--json`` prints one
object for programs, with each link's ``faulty`` flag, ring status and RRP counters.

``-R`` is ``corosync-cfgtool -R``: cfg RELOAD_CONFIG tells every node of the cluster (ours
and real ones) to re-read its corosync.conf; the answer is this node's own outcome. It
prints ``Reloading corosync.conf...`` then ``Done``, or on stderr ``Could not reload
configuration. Error CS_ERR_INVALID_PARAM`` with the reason (``file:line: ...``) and exits
with status 7, as the real tool. ``-R --json`` prints what changed (nodes added and
removed, timers, keys that cannot change at run time).

With ``--json`` every outcome is one JSON object on stdout: the status for ``-s``/``-n``,
``{"ok": true, ...}`` for the other actions, ``{"ok": false, "error": ..., "message": ...}``
for a failure (whose message also goes to stderr), with the exit status of the text mode.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from totem.node.client import ControlClient, NodeUnavailable, RequestFailed

__all__ = ["RELOAD_TIMEOUT", "main", "node_lines", "reload", "status_json", "status_lines"]

RELOAD_TIMEOUT = 90.0
"""Seconds ``-R`` waits for the answer (the daemon gives up on an undelivered request
after 60 s)."""
_CS_ERRORS = {"CS_ERR_LIBRARY": 2, "CS_ERR_TRY_AGAIN": 6, "CS_ERR_INVALID_PARAM": 7}
"""``corotypes.h`` values: ``corosync-cfgtool -R`` exits with the error code."""

_COUNTERS = (
    "orf_token_rx",
    "orf_token_tx",
    "mcast_rx",
    "mcast_tx",
    "mcast_retx",
    "rtr_requested",
    "token_retransmits",
    "rx_msg_dropped",
    "operational_entered",
    "gather_entered",
    "consensus_timeouts",
    "last_rotation_ms",
    "avg_rotation_ms",
    "max_rotation_ms",
)


_RRP_COUNTERS = ("token_rx", "mcast_rx", "token_tx", "mcast_tx", "token_problem", "mcast_problem")


def _links(status: dict[str, Any]) -> list[dict[str, Any]]:
    """Every link; with redundant rings also its ``faulty`` flag, status text and counters."""
    node = status["node"]
    faulty = set(node.get("faulty_rings", []))
    rings = {ring["ring"]: ring for ring in node.get("rings", [])}
    redundant = node.get("rrp_mode", "none") != "none"
    out = []
    for ring, link in enumerate(status["links"]):
        entry: dict[str, Any] = {
            "ring": ring,
            "address": link["address"],
            "status": "FAULTY" if ring in faulty else "connected",
        }
        if redundant:
            rrp = rings.get(ring, {})
            entry["faulty"] = ring in faulty
            entry["ring_status"] = rrp.get("status", f"ring {ring} active with no faults")
            entry["rrp"] = {key: rrp[key] for key in _RRP_COUNTERS if key in rrp}
        entry["counters"] = link.get("counters", {})
        out.append(entry)
    return out


def _member_state(status: dict[str, Any], node_id: int) -> str:
    if node_id == status["node_id"]:
        return "localhost"
    return "connected" if node_id in status["node"]["members"] else "disconnected"


def _knet_hosts(status: dict[str, Any]) -> dict[int, dict[str, Any]] | None:
    """knet's hosts by node id (None when the node does not run knet)."""
    knet = status["node"].get("knet")
    if knet is None:
        return None
    return {host["host_id"]: host for host in knet["hosts"]}


def _knet_link(hosts: dict[int, dict[str, Any]], node_id: int, link: int) -> dict[str, Any] | None:
    host = hosts.get(node_id)
    if host is None:
        return None
    return next((lk for lk in host["links"] if lk["link"] == link), None)


def _knet_links(status: dict[str, Any], hosts: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every knet link with each node's status on it (``--json``)."""
    me = status["node_id"]
    out = []
    links = sorted({int(k) for e in status["nodelist"] for k in e.get("links", {"0": ""})})
    for link in links:
        own = next((e for e in status["nodelist"] if e["node_id"] == me), None)
        nodes = []
        for entry in sorted(status["nodelist"], key=lambda e: e["node_id"]):
            node_id = entry["node_id"]
            if node_id == me:
                nodes.append({"node_id": node_id, "status": "localhost"})
                continue
            knet_link = _knet_link(hosts, node_id, link)
            connected = bool(knet_link and knet_link["connected"])
            row: dict[str, Any] = {
                "node_id": node_id,
                "status": "connected" if connected else "disconnected",
            }
            if knet_link is not None:
                row.update(
                    {
                        "enabled": knet_link["enabled"],
                        "connected": connected,
                        "mtu": knet_link["mtu"],
                        "latency_us": knet_link["latency"],
                        "priority": knet_link["priority"],
                        "src": knet_link["src_ipaddr"],
                        "dst": knet_link["dst_ipaddr"],
                        "stats": knet_link["stats"],
                    }
                )
            nodes.append(row)
        out.append(
            {
                "link": link,
                "transport": "udp",
                "address": (own or {}).get("links", {}).get(str(link), ""),
                "nodes": nodes,
            }
        )
    return out


def status_json(status: dict[str, Any]) -> dict[str, Any]:
    """The ``--json`` object of ``-s`` and ``-n``."""
    node = status["node"]
    stats = node["stats"]
    counters = {key: stats[key] for key in _COUNTERS if key in stats}
    counters["dropped"] = stats.get("dropped", {})
    counters["transport_rx_unlisted"] = sum(
        link.get("counters", {}).get("rx_unlisted", 0) for link in status["links"]
    )
    return {
        "node_id": status["node_id"],
        "ring_id": node["ring_id"],
        "state": node["state"],
        "members": node["members"],
        "transport": status["transport"],
        "rrp_mode": node.get("rrp_mode", "none"),
        "faulty_rings": node.get("faulty_rings", []),
        "crypto": status.get("crypto", {}),
        "links": _links(status),
        "nodes": [
            {
                "node_id": entry["node_id"],
                "name": entry["name"],
                "addresses": entry["addresses"],
                "status": _member_state(status, entry["node_id"]),
            }
            for entry in status["nodelist"]
        ],
        "counters": counters,
        "timers": status.get("timers", {}),
        **_knet_json(status),
    }


def _knet_json(status: dict[str, Any]) -> dict[str, Any]:
    hosts = _knet_hosts(status)
    if hosts is None:
        return {}
    knet = status["node"]["knet"]
    return {
        "links": _knet_links(status, hosts),
        "knet": {
            "data_mtu": knet["data_mtu"],
            "crypto": knet["crypto"],
            "compress": knet["compress"],
            "pmtud": knet["pmtud"],
            "stats": knet["stats"],
            "dropped": knet["dropped"],
            "hosts": [
                {
                    "node_id": h["host_id"],
                    "reachable": h["reachable"],
                    "policy": h["policy"],
                    "active_links": h["active_links"],
                }
                for h in knet["hosts"]
            ],
        },
    }


def status_lines(status: dict[str, Any]) -> list[str]:
    """``corosync-cfgtool -s``."""
    hosts = _knet_hosts(status)
    if hosts is not None:
        return _knet_status_lines(status, hosts)
    lines = [f"Local node ID {status['node_id']}, transport {status['transport']}"]
    redundant = status["node"].get("rrp_mode", "none") != "none"
    for link in _links(status):
        lines.append(f"LINK ID {link['ring']} ")
        lines.append(f"\taddr\t= {link['address']}")
        if redundant:
            lines.append(f"\tring\t= {link['ring_status']}")
        lines.append("\tstatus:")
        for entry in status["nodelist"]:
            node_id = entry["node_id"]
            lines.append(f"\t\tnodeid: {node_id:>11}:\t{_member_state(status, node_id)}")
    return lines


def _knet_status_lines(status: dict[str, Any], hosts: dict[int, dict[str, Any]]) -> list[str]:
    """``corosync-cfgtool -s`` of a knet node (``nodestatusget_do``, link order)."""
    lines = [f"Local node ID {status['node_id']}, transport knet"]
    for link in _knet_links(status, hosts):
        lines.append(f"LINK ID {link['link']} {link['transport']}")
        lines.append(f"\taddr\t= {link['address']}")
        lines.append("\tstatus:")
        for row in link["nodes"]:
            lines.append(f"\t\tnodeid: {row['node_id']:>11}:\t{row['status']}")
    return lines


def _knet_node_lines(status: dict[str, Any], hosts: dict[int, dict[str, Any]]) -> list[str]:
    """``corosync-cfgtool -n`` of a knet node: reachable peers and their enabled links."""
    me = status["node_id"]
    lines = [f"Local node ID {me}, transport knet"]
    for node_id in sorted(hosts):
        host = hosts[node_id]
        if node_id == me or not host["reachable"]:
            continue
        lines.append(f"nodeid: {node_id} reachable")
        for link in host["links"]:
            if not link["enabled"]:
                continue
            flags = " enabled" + (" connected" if link["connected"] else "")
            lines.append(
                f"   LINK: {link['link']} {link['transport']} "
                f"({link['src_ipaddr']}->{link['dst_ipaddr']}){flags} mtu: {link['mtu']}"
            )
        lines.append("")
    return lines


def node_lines(status: dict[str, Any]) -> list[str]:
    """``corosync-cfgtool -n``."""
    hosts = _knet_hosts(status)
    if hosts is not None:
        return _knet_node_lines(status, hosts)
    lines = [f"Local node ID {status['node_id']}, transport {status['transport']}"]
    mtu = status.get("netmtu", 1500) - 90
    for entry in status["nodelist"]:
        node_id = entry["node_id"]
        if node_id == status["node_id"]:
            continue
        state = _member_state(status, node_id)
        reachable = "reachable" if state == "connected" else "unreachable"
        lines.append(f"nodeid: {node_id} {reachable}")
        for ring, address in enumerate(entry["addresses"]):
            lines.append(f"   LINK: {ring}  ({address}) enabled {state} mtu: {mtu}")
    return lines


def reload(run_dir: str | None, *, as_json: bool = False) -> int:
    """``-R``: ask every node to reload corosync.conf; this node's outcome is the answer."""
    if not as_json:
        print("Reloading corosync.conf...", flush=True)
    try:
        with ControlClient(run_dir, timeout=RELOAD_TIMEOUT) as client:
            result = client.call("cfg.reload")
    except NodeUnavailable as err:
        print(f"Could not initialize corosync configuration API: {err}", file=sys.stderr)
        return 1
    except RequestFailed as err:
        code, _, reason = str(err).partition(": ")
        if code not in _CS_ERRORS:
            code, reason = "CS_ERR_LIBRARY", str(err)
        print(f"Could not reload configuration. Error {code}", file=sys.stderr)
        if reason:
            print(reason, file=sys.stderr)
        if as_json:
            print(json.dumps({"ok": False, "error": code, "reason": reason}, indent=2))
        return _CS_ERRORS[code]
    if as_json:
        print(json.dumps({"ok": True, **result}, indent=2))
    else:
        print("Done")
    return 0


def _fail(message: str, as_json: bool, error: str | None = None) -> int:
    print(message, file=sys.stderr)
    if as_json:
        print(json.dumps({"ok": False, "error": error, "message": message}))
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pycorosync-cfgtool", description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", help="the daemon's run directory (default /run/pycorosync)")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("-s", dest="action", action="store_const", const="s", help="ring status")
    action.add_argument("-n", dest="action", action="store_const", const="n", help="nodes")
    action.add_argument(
        "-r", dest="action", action="store_const", const="r", help="re-enable faulty rings"
    )
    action.add_argument(
        "-R",
        dest="action",
        action="store_const",
        const="R",
        help="tell every node of the cluster to reload corosync.conf",
    )
    action.add_argument("-H", dest="action", action="store_const", const="H", help="shut down")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    if args.action == "R":
        return reload(args.run_dir, as_json=args.json)
    try:
        with ControlClient(args.run_dir) as client:
            if args.action == "H":
                result = client.call("cfg.shutdown")
                if args.json:
                    print(json.dumps({"ok": True, "result": result}))
                return 0
            if args.action == "r":
                result = client.call("cfg.ring_reenable")
                if args.json:
                    print(json.dumps({"ok": True, "result": result}))
                else:
                    print(result if isinstance(result, str) else json.dumps(result))
                return 0
            status = client.call("status")
    except NodeUnavailable as err:
        return _fail(f"Could not initialize corosync configuration API: {err}", args.json)
    except RequestFailed as err:
        return _fail(f"pycorosync-cfgtool: {err}", args.json)
    if args.json:
        print(json.dumps(status_json(status), indent=2))
    else:
        lines = status_lines(status) if args.action == "s" else node_lines(status)
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
