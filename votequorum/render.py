"""``corosync-quorumtool -s`` / ``-l`` output, byte for byte (ref totem-wire.md section 11.4).

Pure functions from a :class:`~votequorum.status.VotequorumStatus` to text, in
``tools/corosync-quorumtool.c``'s layout: labels padded to column 18, numbers
and words of the membership table right-aligned in 10 characters plus one
space, ``Quorum:`` followed by two spaces when quorate (``Activity blocked``
otherwise), every word of ``Flags:`` followed by a space. Proxmox's
``pvecm status`` prints the same blocks (with ``-H``-style hex node ids in old
releases: ``nodeid_format="hex"``).

Names come from the caller (``names``: node id -> the nodelist ``name`` or the
address corosync would print). :func:`status_json` is the machine form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from votequorum.status import InfoFlags, NodeStatus, VotequorumStatus

__all__ = ["format_ctime", "render_nodes", "render_status", "status_json"]

NodeidFormat = Literal["decimal", "hex"]
SortOrder = Literal["addr", "nodeid", "name"]
Names = Mapping[int, str] | Callable[[int], str]


def format_ctime(when: datetime) -> str:
    """``ctime(3)`` without the newline: ``Wed Nov 25 05:39:17 2026``."""
    return when.strftime("%a %b ") + f"{when.day:2d}" + when.strftime(" %H:%M:%S %Y")


def _padded(text: str) -> str:
    return text.rjust(10) + " "


def _nodeid(node_id: int, fmt: NodeidFormat) -> str:
    return _padded(str(node_id)) if fmt == "decimal" else f"0x{node_id:08x} "


def _name_of(names: Names, node_id: int) -> str:
    if callable(names):
        return names(node_id)
    return names.get(node_id, "")


def render_nodes(
    status: VotequorumStatus,
    names: Names,
    *,
    nodeid_format: NodeidFormat = "decimal",
    sort: SortOrder = "addr",
    machine_parsable: bool = False,
    votequorum: bool = True,
) -> str:
    """The ``Membership information`` block (all of ``corosync-quorumtool -l``)."""
    out: list[str] = []
    infos: list[NodeStatus | None] = []
    display_qdevice = False
    if votequorum:
        for node_id in status.members:
            info = status.node(node_id)
            if info is None:
                out.append(f"Unable to get node {node_id} info\n")
            elif info.flags & InfoFlags.QDEVICE_REGISTERED:
                display_qdevice = True
            infos.append(info)
    else:
        infos = [None] * len(status.members)
    rows = [
        (nid, _name_of(names, nid), info) for nid, info in zip(status.members, infos, strict=True)
    ]
    out.append("\nMembership information\n")
    out.append("----------------------\n")
    header = _padded("Nodeid")
    if votequorum:
        header += _padded("Votes")
        if display_qdevice or machine_parsable:
            header += _padded("Qdevice")
    out.append(header + "Name\n")
    if sort == "nodeid":
        rows.sort(key=lambda r: r[0])
    elif sort == "name":
        rows.sort(key=lambda r: r[1].encode())
    our_flags = InfoFlags(0)
    for node_id, name, info in rows:
        line = _nodeid(node_id, nodeid_format)
        if votequorum:
            line += _padded(str(info.votes if info is not None else 0))
            if display_qdevice or machine_parsable:
                flags = info.flags if info is not None else InfoFlags(0)
                if flags & InfoFlags.QDEVICE_REGISTERED:
                    line += _padded(
                        ",".join(
                            (
                                "A" if flags & InfoFlags.QDEVICE_ALIVE else "NA",
                                "V" if flags & InfoFlags.QDEVICE_CAST_VOTE else "NV",
                                "MW" if flags & InfoFlags.QDEVICE_MASTER_WINS else "NMW",
                            )
                        )
                    )
                else:
                    line += _padded("NR")
        line += name
        if node_id == status.node_id:
            line += " (local)"
            if info is not None:
                our_flags = info.flags
        out.append(line + "\n")
    if display_qdevice:
        cast = bool(our_flags & InfoFlags.QDEVICE_CAST_VOTE)
        line = _nodeid(0, nodeid_format)
        line += _padded(str(status.qdevice_votes if cast else 0))
        line += f"           {status.qdevice_name}"
        if not cast:
            line += f" (votes {status.qdevice_votes})"
        out.append(line + "\n")
    return "".join(out)


def render_status(
    status: VotequorumStatus,
    names: Names,
    *,
    date: datetime,
    nodeid_format: NodeidFormat = "decimal",
    sort: SortOrder = "addr",
    machine_parsable: bool = False,
) -> str:
    """All of ``corosync-quorumtool -s`` (``date`` is the ``Date:`` line's time)."""
    if nodeid_format == "decimal":
        node_line = f"Node ID:          {status.node_id}\n"
    else:
        node_line = f"Node ID:          0x{status.node_id:08x}\n"
    flags = "".join(f"{word} " for word in status.flag_words)
    quorate_tail = " " if status.flags & InfoFlags.QUORATE else "Activity blocked"
    head = (
        "Quorum information\n"
        "------------------\n"
        f"Date:             {format_ctime(date)}\n"
        f"Quorum provider:  {status.provider}\n"
        f"Nodes:            {len(status.members)}\n"
        f"{node_line}"
        f"Ring ID:          {status.ring_id}\n"
        f"Quorate:          {'Yes' if status.quorate else 'No'}\n"
        "\n"
        "Votequorum information\n"
        "----------------------\n"
        f"Expected votes:   {status.expected_votes}\n"
        f"Highest expected: {status.highest_expected}\n"
        f"Total votes:      {status.total_votes}\n"
        f"Quorum:           {status.quorum} {quorate_tail}\n"
        f"Flags:            {flags}\n"
    )
    return head + render_nodes(
        status, names, nodeid_format=nodeid_format, sort=sort, machine_parsable=machine_parsable
    )


def status_json(status: VotequorumStatus, names: Names) -> dict[str, Any]:
    """The machine-readable status (``--json``)."""
    members = []
    for node_id in status.members:
        info = status.node(node_id)
        members.append(
            {
                "node_id": node_id,
                "votes": None if info is None else info.votes,
                "name": _name_of(names, node_id),
            }
        )
    return {
        "node_id": status.node_id,
        "ring_id": str(status.ring_id),
        "quorate": status.quorate,
        "expected_votes": status.expected_votes,
        "highest_expected": status.highest_expected,
        "total_votes": status.total_votes,
        "quorum": status.quorum,
        "flags": list(status.flag_words),
        "members": members,
    }
