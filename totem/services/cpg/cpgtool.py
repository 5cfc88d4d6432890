"""``corosync-cpgtool`` output from ``CpgService.iteration`` rows.

Formats as corosync 3.1.7 ``tools/corosync-cpgtool.c`` prints.

The default view lists each group name on its own line followed by one
``\\t\\t%10u\\t%10u (addresses)`` line per member (pid, node id); ``-d``
prints ``name<d>pid<d>nodeid`` rows; ``-n`` prints the names only. Non-printable
bytes of a name are escaped as ``\\xHH`` unless ``escape`` is off; like the C
tool (which prints a signed ``char``), bytes from 0x80 come out as ``\\xFFFFFF80``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from totem.services.cpg.events import CpgIterationEntry

__all__ = ["format_group_name", "format_groups", "format_names"]


def format_group_name(group: bytes, escape: bool = True) -> str:
    """``fprint_group``."""
    out = []
    for byte in group:
        if not escape or (0x20 <= byte < 0x7F and byte != 0x5C):
            out.append(chr(byte))
        elif byte == 0x5C:
            out.append("\\\\")
        else:
            signed = byte - 256 if byte >= 0x80 else byte
            out.append(f"\\x{signed & 0xFFFFFFFF:02X}")
    return "".join(out)


def format_groups(
    rows: Sequence[CpgIterationEntry],
    addresses: Callable[[int], str],
    delimiter: str = "",
    escape: bool = True,
) -> str:
    """``display_groups_with_members`` for rows of ``CpgIterationType.ALL``.

    ``addresses(nodeid)`` gives the space-separated addresses the tool prints
    in parentheses (``corosync_cfg_get_node_addrs``), e.g. ``"10.99.0.2"``.
    """
    if delimiter:
        d = delimiter[0]
        lines = [f"GRP_NAME{d}PID{d}NODEID"]
        for row in rows:
            lines.append(f"{format_group_name(row.group, escape)}{d}{row.pid}{d}{row.nodeid}")
        return "\n".join(lines) + "\n"
    lines = [f"Group Name\t{'PID':>10}\t{'Node ID':>10}"]
    previous = b""  # the tool starts from a zeroed name
    for row in rows:
        if row.group != previous:
            lines.append(format_group_name(row.group, escape))
            previous = row.group
        lines.append(f"\t\t{row.pid:>10}\t{row.nodeid:>10} ({addresses(row.nodeid)})")
    return "\n".join(lines) + "\n"


def format_names(
    rows: Sequence[CpgIterationEntry], delimiter: str = "", escape: bool = True
) -> str:
    """``display_groups`` (``-n``) for rows of ``CpgIterationType.NAME_ONLY``."""
    names = [format_group_name(row.group, escape) for row in rows]
    if delimiter:
        return "".join(name + delimiter[0] for name in names) + "\n"
    return "".join(name + "\n" for name in names)
