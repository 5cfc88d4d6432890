"""Parsers for the text output of corosync's command-line tools (corosync 3.1.7).

* ``corosync-quorumtool -s`` (``tools/corosync-quorumtool.c``: ``display_quorum_data`` and
  ``display_nodes_data``): quorum and votequorum sections, and the membership table whose
  ``Qdevice`` column appears only when a quorum device is registered; the quorum device itself is
  a last row with node id 0 and no Qdevice column value.
* ``corosync-cfgtool -s`` and ``-n`` (``tools/corosync-cfgtool.c``: ``nodestatusget_do``).
  Note that with udp/udpu the ``addr`` printed by ``-s`` is another member's address
  (``ref/real-corosync.md`` §9 gotcha 4); ``-n`` shows the right one.
* ``corosync-cmapctl`` (``key (type) = value`` lines).

Sample outputs are in ``ref/samples/``.  The parsers are pure functions; text they do not
understand raises `ToolOutputError` (a `ValueError`) naming the offending line.
"""

from __future__ import annotations

import re
from typing import TypedDict

__all__ = [
    "CfgLink",
    "CfgNodeLink",
    "CfgReachableNode",
    "CfgStatus",
    "MemberRow",
    "QdeviceRow",
    "QuorumStatus",
    "ToolOutputError",
    "member_ids",
    "parse_cfgtool_n",
    "parse_cfgtool_s",
    "parse_cmapctl",
    "parse_quorumtool_s",
    "parse_ring_id",
]


class ToolOutputError(ValueError):
    """Tool output that does not have the layout corosync 3.1.7 prints."""


class MemberRow(TypedDict):
    """One row of the membership table of ``corosync-quorumtool -s``."""

    nodeid: int
    votes: int | None
    """None when votequorum is not the quorum provider (no Votes column)."""
    qdevice: str | None
    """Qdevice column: ``"A,V,NMW"``-style flags, ``"NR"`` (not registered), or None when the
    column is not printed (no quorum device registered anywhere)."""
    name: str
    local: bool


class QdeviceRow(TypedDict):
    """The quorum-device row (node id 0) of the membership table."""

    votes: int
    """Votes shown: 0 when the device is not casting a vote on this node."""
    name: str
    configured_votes: int | None
    """The ``(votes N)`` suffix printed while the device is not casting its vote."""


class QuorumStatus(TypedDict):
    """``corosync-quorumtool -s``, fully parsed."""

    provider: str
    nodes: int
    node_id: int
    ring_id: str
    """As printed, e.g. ``"1.d"`` (hex representative . hex sequence)."""
    ring_id_rep: int | None
    """Representative node id (None when votequorum is not the provider: only the seq is shown)."""
    ring_id_seq: int
    quorate: bool
    expected_votes: int | None
    highest_expected: int | None
    total_votes: int | None
    quorum: int | None
    activity_blocked: bool
    flags: list[str]
    """e.g. ``["2Node", "Quorate", "WaitForAll"]``, in corosync's printing order."""
    members: list[MemberRow]
    qdevice: QdeviceRow | None


class CfgNodeLink(TypedDict):
    """One ``nodeid: N: status`` line of a link in ``corosync-cfgtool -s``."""

    nodeid: int
    status: str
    """``localhost``, ``connected`` or ``disconnected``; with ``-b``, the character printed."""


class CfgLink(TypedDict):
    """One ``LINK ID`` block of ``corosync-cfgtool -s``."""

    link: int
    transport: str
    """Empty for udp/udpu (corosync prints it only for knet)."""
    addr: str
    """Beware: another member's address with udp/udpu (``ref/real-corosync.md`` §9 gotcha 4)."""
    nodes: list[CfgNodeLink]


class CfgReachableLink(TypedDict):
    link: int
    transport: str
    src: str
    dst: str | None
    """knet prints ``src->dst``; udp/udpu only the peer address (in ``src``)."""
    enabled: bool
    connected: bool
    dynconnected: bool
    mtu: int


class CfgReachableNode(TypedDict):
    """One ``nodeid: N reachable`` block of ``corosync-cfgtool -n`` (only reachable peers)."""

    nodeid: int
    remote: bool
    external: bool
    links: list[CfgReachableLink]


class CfgStatus(TypedDict):
    """``corosync-cfgtool -s`` and ``-n`` together."""

    local_nodeid: int
    transport: str
    links: list[CfgLink]
    reachable: dict[int, CfgReachableNode]
    """Peers listed by ``-n``; a configured node missing here is not reachable."""


_KV = re.compile(r"^(?P<key>[A-Za-z][A-Za-z ]*?):\s*(?P<value>.*?)\s*$")
_NODEID = r"(?:0x[0-9a-fA-F]+|\d+)"
_MEMBER = re.compile(rf"^\s*(?P<nodeid>{_NODEID})\s+(?P<rest>\S.*?)\s*$")
_QDEV_NAME = re.compile(r"^(?P<name>.*?)(?: \(votes (?P<votes>\d+)\))?$")
_LOCAL_NODE = re.compile(r"^Local node ID (?P<nodeid>\d+), transport (?P<transport>\S+)\s*$")


def _int(text: str, line: str) -> int:
    try:
        return int(text, 0) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise ToolOutputError(f"not a number {text!r} in line {line!r}") from None


def parse_ring_id(text: str) -> tuple[int | None, int]:
    """``"1.d"`` -> ``(1, 13)``; a bare ``"d"`` (non-votequorum provider) -> ``(None, 13)``."""
    rep, dot, seq = text.strip().partition(".")
    try:
        if dot:
            return int(rep, 16), int(seq, 16)
        return None, int(rep, 16)
    except ValueError:
        raise ToolOutputError(f"bad ring id {text!r}") from None


def member_ids(status: QuorumStatus) -> set[int]:
    """The node ids of the membership table (the quorum device excluded)."""
    return {row["nodeid"] for row in status["members"]}


def parse_quorumtool_s(text: str) -> QuorumStatus:
    """Parse the output of ``corosync-quorumtool -s`` (also with ``-H`` hex node ids)."""
    lines = text.splitlines()
    values: dict[str, str] = {}
    table_at = None
    for idx, line in enumerate(lines):
        if line.strip() == "Membership information":
            table_at = idx
            break
        m = _KV.match(line)
        if m:
            values[m["key"]] = m["value"]
    for key in ("Quorum provider", "Nodes", "Node ID", "Ring ID", "Quorate"):
        if key not in values:
            raise ToolOutputError(f"corosync-quorumtool -s output lacks {key!r}")
    rep, seq = parse_ring_id(values["Ring ID"])
    quorum_line = values.get("Quorum")
    quorum: int | None = None
    blocked = False
    if quorum_line is not None:
        number, _, note = quorum_line.partition(" ")
        quorum = _int(number, quorum_line)
        blocked = note.strip() == "Activity blocked"

    def opt_int(key: str) -> int | None:
        return _int(values[key], values[key]) if key in values else None

    members: list[MemberRow] = []
    qdevice: QdeviceRow | None = None
    if table_at is not None:
        rows = [ln for ln in lines[table_at + 1 :] if ln.strip() and not ln.startswith("---")]
        if not rows:
            raise ToolOutputError("membership table without a header")
        header = rows[0].split()
        if not header or header[0] != "Nodeid" or header[-1] != "Name":
            raise ToolOutputError(f"unexpected membership header {rows[0]!r}")
        has_votes = "Votes" in header
        has_qdev = "Qdevice" in header
        for line in rows[1:]:
            m = _MEMBER.match(line)
            if m is None:
                raise ToolOutputError(f"unexpected membership row {line!r}")
            nodeid = _int(m["nodeid"], line)
            rest = m["rest"]
            votes: int | None = None
            if has_votes:
                votes_text, _, rest = rest.partition(" ")
                votes = _int(votes_text, line)
                rest = rest.strip()
            if nodeid == 0 and has_qdev and votes is not None:
                qm = _QDEV_NAME.match(rest)
                assert qm is not None  # the pattern matches any text
                qdevice = {
                    "votes": votes,
                    "name": qm["name"],
                    "configured_votes": int(qm["votes"]) if qm["votes"] else None,
                }
                continue
            qflags: str | None = None
            if has_qdev:
                qflags, _, rest = rest.partition(" ")
                rest = rest.strip()
            local = rest.endswith(" (local)") or rest == "(local)"
            name = rest.removesuffix("(local)").strip() if local else rest
            if not name:
                raise ToolOutputError(f"membership row without a name {line!r}")
            members.append(
                {"nodeid": nodeid, "votes": votes, "qdevice": qflags, "name": name, "local": local}
            )
    return {
        "provider": values["Quorum provider"],
        "nodes": _int(values["Nodes"], values["Nodes"]),
        "node_id": _int(values["Node ID"], values["Node ID"]),
        "ring_id": values["Ring ID"],
        "ring_id_rep": rep,
        "ring_id_seq": seq,
        "quorate": values["Quorate"] == "Yes",
        "expected_votes": opt_int("Expected votes"),
        "highest_expected": opt_int("Highest expected"),
        "total_votes": opt_int("Total votes"),
        "quorum": quorum,
        "activity_blocked": blocked,
        "flags": values.get("Flags", "").split(),
        "members": members,
        "qdevice": qdevice,
    }


def _local_node(lines: list[str], tool: str) -> tuple[int, str]:
    for line in lines:
        m = _LOCAL_NODE.match(line)
        if m:
            return int(m["nodeid"]), m["transport"]
    raise ToolOutputError(f"{tool} output lacks 'Local node ID N, transport T'")


_LINK_ID = re.compile(r"^LINK ID (?P<link>\d+)\s*(?P<transport>\S*)\s*$")
_ADDR = re.compile(r"^\s+addr\s*=\s*(?P<addr>\S*)\s*$")
_NODE_STATUS = re.compile(r"^\s+nodeid:\s+(?P<nodeid>\d+):\s+(?P<status>\S+)\s*$")
_BRIEF_STATUS = re.compile(r"^\s+status\s*=\s*(?P<chars>\S*)\s*$")


def parse_cfgtool_s(text: str) -> tuple[int, str, list[CfgLink]]:
    """Parse ``corosync-cfgtool -s`` (or ``-sb``): ``(local nodeid, transport, links)``.

    With ``-b`` each node is one character, ``'0' + (enabled | connected << 1)`` (the local
    node's is garbage, e.g. ``n``); they carry no node ids and are returned with positions
    1..n (nodelist order) as ``nodeid``.
    """
    lines = text.splitlines()
    nodeid, transport = _local_node(lines, "corosync-cfgtool -s")
    links: list[CfgLink] = []
    for line in lines:
        if not line.strip() or _LOCAL_NODE.match(line) or line.strip() == "status:":
            continue
        m = _LINK_ID.match(line)
        if m:
            links.append(
                {"link": int(m["link"]), "transport": m["transport"], "addr": "", "nodes": []}
            )
            continue
        if not links:
            raise ToolOutputError(f"corosync-cfgtool -s: line before any LINK ID: {line!r}")
        if m := _ADDR.match(line):
            links[-1]["addr"] = m["addr"]
        elif m := _NODE_STATUS.match(line):
            links[-1]["nodes"].append({"nodeid": int(m["nodeid"]), "status": m["status"]})
        elif m := _BRIEF_STATUS.match(line):
            links[-1]["nodes"].extend(
                {"nodeid": i, "status": ch} for i, ch in enumerate(m["chars"], start=1)
            )
        else:
            raise ToolOutputError(f"corosync-cfgtool -s: unexpected line {line!r}")
    return nodeid, transport, links


_REACHABLE = re.compile(
    r"^nodeid:\s+(?P<nodeid>\d+)\s+reachable(?P<flags>(?:\s+(?:remote|external))*)"
)
_REACH_LINK = re.compile(
    r"^\s+LINK:\s+(?P<link>\d+)\s+(?:(?P<transport>[A-Za-z]\S*)\s+)?"
    r"\((?P<addrs>[^)]*)\)(?P<flags>(?:\s+(?:enabled|connected|dynconnected))*)"
    r"\s+mtu:\s+(?P<mtu>\d+)\s*$"
)


def parse_cfgtool_n(text: str) -> tuple[int, str, dict[int, CfgReachableNode]]:
    """Parse ``corosync-cfgtool -n``: ``(local nodeid, transport, reachable peers by node id)``."""
    lines = text.splitlines()
    nodeid, transport = _local_node(lines, "corosync-cfgtool -n")
    nodes: dict[int, CfgReachableNode] = {}
    current: CfgReachableNode | None = None
    for line in lines:
        if not line.strip() or _LOCAL_NODE.match(line):
            continue
        if m := _REACHABLE.match(line):
            flags = m["flags"].split()
            current = {
                "nodeid": int(m["nodeid"]),
                "remote": "remote" in flags,
                "external": "external" in flags,
                "links": [],
            }
            nodes[current["nodeid"]] = current
        elif (m := _REACH_LINK.match(line)) and current is not None:
            src, arrow, dst = m["addrs"].partition("->")
            flags = m["flags"].split()
            current["links"].append(
                {
                    "link": int(m["link"]),
                    "transport": m["transport"] or "",
                    "src": src,
                    "dst": dst if arrow else None,
                    "enabled": "enabled" in flags,
                    "connected": "connected" in flags,
                    "dynconnected": "dynconnected" in flags,
                    "mtu": int(m["mtu"]),
                }
            )
        else:
            raise ToolOutputError(f"corosync-cfgtool -n: unexpected line {line!r}")
    return nodeid, transport, nodes


_CMAP = re.compile(r"^(?P<key>\S+) \((?P<type>[a-z0-9]+)\) = (?P<value>.*)$")


def parse_cmapctl(text: str) -> dict[str, int | float | str]:
    """Parse ``corosync-cmapctl`` listings: integers for ``u8..u64/i8..i64``, floats for
    ``flt/dbl``, text otherwise (``str`` values keep their trailing spaces, as printed)."""
    out: dict[str, int | float | str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _CMAP.match(line)
        if m is None:
            raise ToolOutputError(f"corosync-cmapctl: unexpected line {line!r}")
        kind, value = m["type"], m["value"]
        if kind[0] in "ui" and kind[1:].isdigit():
            out[m["key"]] = _int(value, line)
        elif kind in ("flt", "dbl"):
            try:
                out[m["key"]] = float(value)
            except ValueError:
                raise ToolOutputError(f"not a number in line {line!r}") from None
        else:
            out[m["key"]] = value
    return out
