"""Shared printing helpers, and one line per Totem datagram decoded by :mod:`totem.wire`.

A printer takes the exact bytes that crossed the (virtual) wire, decodes them with the codec
the cores use and names the fields in corosync's vocabulary, so a transcript shows what is on
the wire, not what a test meant to send. The other interpreters decode their own messages
the same way (:mod:`totem.knet.wire`, :mod:`qnetd.protocol`, :mod:`votequorum.wire` and
:mod:`totem.wire.sync`, :mod:`pvecluster.cfs.wire`).
"""

from __future__ import annotations

from totem.wire import (
    ENCAPSULATED,
    CommitToken,
    Mcast,
    MembJoin,
    MergeDetect,
    OrfToken,
    TokenHoldCancel,
    WireError,
    decode,
)

__all__ = ["ids", "text", "totem"]


def ids(values: object) -> str:
    """``1,2,3`` (``-`` when empty)."""
    items = list(values)  # type: ignore[call-overload]
    return ",".join(str(v) for v in items) if items else "-"


def text(data: bytes, limit: int = 24) -> str:
    """A payload: quoted when it is printable text, else short hex."""
    if data and all(32 <= b < 127 for b in data):
        shown = data[:limit].decode()
        return repr(shown) + (".." if len(data) > limit else "")
    return "0x" + data[:limit].hex() + (".." if len(data) > limit else "")


def _mcast(m: Mcast) -> str:
    if m.encapsulated == ENCAPSULATED:
        try:
            inner = f"[{_mcast(m.inner())}]"
        except WireError as err:
            inner = f"[undecodable: {err.reason}]"
        return f"MCAST ring={m.ring_id} seq={m.seq} from={m.system_from} encapsulated {inner}"
    return f"MCAST ring={m.ring_id} seq={m.seq} from={m.nodeid} {text(m.payload)}"


def totem(data: bytes) -> str:
    """A Totem SRP datagram (ref totem-wire.md 4)."""
    try:
        message = decode(data)
    except WireError as err:
        return f"undecodable ({err.reason}) {data[:16].hex(' ')}"
    size = f"({len(data)}B)"
    if isinstance(message, Mcast):
        return f"{_mcast(message)} {size}"
    if isinstance(message, OrfToken):
        rtr = ",".join(f"{r.ring_id}:{r.seq}" for r in message.rtr) or "-"
        return (
            f"ORF_TOKEN ring={message.ring_id} token_seq={message.token_seq} "
            f"seq={message.seq} aru={message.aru} aru_addr={message.aru_addr} "
            f"fcc={message.fcc} backlog={message.backlog} retrans={message.retrans_flg} "
            f"rtr={rtr} {size}"
        )
    if isinstance(message, MembJoin):
        kind = "LEAVE" if message.is_leave else "JOIN"
        return (
            f"{kind} from={message.system_from} ring_seq={message.ring_seq:x} "
            f"proc={ids(sorted(message.proc_list))} failed={ids(sorted(message.failed_list))} "
            f"{size}"
        )
    if isinstance(message, CommitToken):
        memb = " ".join(
            f"{n}@{e.ring_id}/aru={e.aru}/hd={e.high_delivered}/rf={e.received_flg}"
            for n, e in zip(message.addr, message.memb_list, strict=False)
        )
        return (
            f"COMMIT_TOKEN ring={message.ring_id} token_seq={message.token_seq} "
            f"memb_index={message.memb_index} addr={ids(message.addr)}"
            + (f" memb=[{memb}]" if memb else "")
            + f" {size}"
        )
    if isinstance(message, MergeDetect):
        return f"MERGE_DETECT ring={message.ring_id} from={message.system_from} {size}"
    if isinstance(message, TokenHoldCancel):
        return f"TOKEN_HOLD_CANCEL ring={message.ring_id} {size}"
    return f"{type(message).__name__} {size}"
