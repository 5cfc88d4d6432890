"""Hostile Totem datagrams for the bad-input interop cases (``ref/totem-wire.md`` §3, §4.7, §13).

Two families, each a list of `Hostile` (a label, the bytes, and why a receiver must drop it):

* `garbage_frames`: what a broken or compromised *listed* node might emit -- datagrams every
  corosync 3.1.7 receiver rejects before acting on them (header acceptance checks of §3,
  per-type length rules of §4.7 including the three Debian hardening patches of §0), plus a
  well-formed token of a stale ring, which a node ignores (§4.1: only tokens of its own ring).
  None of them may change any node's state; corosync itself drops them all, so a mixed ring must
  stay as it is.
* `member_impostor_frames`: well-formed, *current-ring* frames (joins, tokens, data, a leave,
  a merge_detect of a foreign ring) that would each disturb the ring if accepted; sent from an
  address outside the nodelist, udpu's ``block_unlisted_ips`` (default yes, §2.1) drops them
  at the transport on real nodes and ours alike.

Byte-swapped frames are limited to bare headers: a full-size byte-swapped message is converted
and processed by corosync (it is how big-endian peers talk), so it is not garbage.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from totem.ringid import RingId
from totem.wire import (
    MAGIC,
    NOT_ENCAPSULATED,
    VERSION,
    CommitToken,
    Mcast,
    MembEntry,
    MembJoin,
    MergeDetect,
    MessageType,
    OrfToken,
    TokenHoldCancel,
    encode,
)

__all__ = ["Hostile", "garbage_frames", "member_impostor_frames"]

_HEADER = struct.Struct("<HBBBII")


@dataclass(frozen=True, slots=True)
class Hostile:
    """One hostile datagram: ``reason`` is the drop reason ours counts for it (None: it is
    well formed and must be ignored, or filtered by address, rather than rejected)."""

    label: str
    data: bytes
    reason: str | None


def _header(kind: int, nodeid: int, *, magic: int = MAGIC, version: int = VERSION) -> bytes:
    return _HEADER.pack(magic, version, kind, 0, nodeid, 0)


def garbage_frames(sender: int, ring: RingId, seed: int = 4) -> list[Hostile]:
    """Malformed or stale datagrams as node ``sender`` (a listed node) might send them."""
    rng = random.Random(seed)

    def noise(n: int) -> bytes:
        return bytes(rng.getrandbits(8) for _ in range(n))

    out = [
        Hostile("empty", b"", "short"),
        Hostile("one byte", b"\x70", "short"),
        Hostile("12 bytes", _header(0, sender)[:12], "short"),
        Hostile("corosync 2.x magic", b"\xff\xff" + noise(60), "bad_magic"),
        Hostile("knet-like noise", b"\x00\x01" + noise(100), "bad_magic"),
        Hostile("version 2", _header(0, sender, version=2) + bytes(44), "bad_version"),
        Hostile("version 4", _header(1, sender, version=4) + bytes(32), "bad_version"),
        Hostile("type 6", _header(6, sender) + bytes(40), "bad_type"),
        Hostile("type 255", _header(255, sender) + noise(40), "bad_type"),
    ]
    out += [
        Hostile(f"bare header of type {kind.name}", _header(kind, sender), "short")
        for kind in MessageType
    ]
    swapped = struct.pack(">HBBBII", MAGIC, VERSION, int(MessageType.ORF_TOKEN), 0, sender, 0)
    out.append(Hostile("byte-swapped bare ORF header", swapped, "short"))
    ring_bytes = struct.pack("<IQ", ring.rep, ring.seq)
    # ORF after the header: seq, token_seq, aru, aru_addr, ring_id, backlog, fcc, retrans_flg,
    # rtr_list_entries (57 bytes in all).
    orf_fixed = (
        struct.pack("<IIII", 0, 0, 0, sender) + ring_bytes + struct.pack("<IIII", 0, 0, 0, 0)
    )
    orf = _header(int(MessageType.ORF_TOKEN), sender) + orf_fixed
    assert len(orf) == 57
    out += [
        Hostile("ORF claiming 5 rtr entries, has none", orf[:-4] + struct.pack("<I", 5), "short"),
        Hostile(
            "ORF with 31 rtr entries (max 30)",
            orf[:-4] + struct.pack("<I", 31) + bytes(16 * 31),
            "too_many_rtr",
        ),
        Hostile("ORF of 1501 bytes (Debian: max 1500)", orf + bytes(1501 - 57), "oversized"),
    ]
    join = _header(int(MessageType.MEMB_JOIN), sender) + struct.pack("<III", sender, 385, 0)
    out += [
        Hostile(
            "JOIN with 385 proc entries (Debian: max 384)",
            join + struct.pack("<Q", ring.seq) + bytes(4 * 385),
            "too_many_members",
        ),
        Hostile(
            "JOIN claiming 10 procs, has 1",
            _header(int(MessageType.MEMB_JOIN), sender)
            + struct.pack("<IIIQI", sender, 10, 0, ring.seq, sender),
            "short",
        ),
        Hostile(
            "COMMIT claiming 3 members, has none",
            _header(int(MessageType.MEMB_COMMIT_TOKEN), sender)
            + struct.pack("<I", 9)
            + ring_bytes
            + struct.pack("<III", 0, 0, 3),
            "short",
        ),
        Hostile("MCAST of 44 bytes", _header(int(MessageType.MCAST), sender) + bytes(31), "short"),
        Hostile(
            "MERGE_DETECT of 28 bytes",
            _header(int(MessageType.MEMB_MERGE_DETECT), sender) + bytes(15),
            "short",
        ),
        Hostile(
            "TOKEN_HOLD_CANCEL of 24 bytes",
            _header(int(MessageType.TOKEN_HOLD_CANCEL), sender) + bytes(11),
            "short",
        ),
    ]
    stale = RingId(ring.rep, max(ring.seq - 4, 0))
    out.append(
        Hostile(
            "well-formed ORF token of a stale ring",
            encode(OrfToken(sender, 0, 1000, 1_000_000, 1000, sender, stale, 0, 0, 0, [])),
            None,
        )
    )
    return out


def member_impostor_frames(ring: RingId, members: tuple[int, ...], stranger: int) -> list[Hostile]:
    """Current-ring frames that would disturb the ring ``ring`` of ``members`` if accepted,
    as sent from a host that is not in the nodelist (``stranger`` is a node id nobody knows)."""
    first, second = members[0], members[1]
    last = members[-1]
    foreign = RingId(stranger, ring.seq + 400)
    new_ring = RingId(first, ring.seq + 4)
    return [
        Hostile(
            "JOIN of an unknown node",
            encode(MembJoin(stranger, 0, stranger, (*members, stranger), (), ring.seq)),
            None,
        ),
        Hostile(
            "JOIN spoofing a member, failing another",
            encode(MembJoin(second, 0, second, members, (first,), ring.seq)),
            None,
        ),
        Hostile(
            "LEAVE spoofing a member",
            encode(MembJoin(0, 0, last, members, (last,), ring.seq)),
            None,
        ),
        Hostile(
            "ORF token of the current ring far ahead",
            encode(OrfToken(first, 0, 5000, 10_000_000, 5000, first, ring, 0, 0, 0, [])),
            None,
        ),
        Hostile(
            "MCAST of the current ring far ahead",
            encode(
                Mcast(second, 0, NOT_ENCAPSULATED, second, 5000, 0, ring, second, 2, b"\0" * 40)
            ),
            None,
        ),
        Hostile(
            "MERGE_DETECT of a foreign ring",
            encode(MergeDetect(stranger, 0, stranger, foreign)),
            None,
        ),
        Hostile(
            "COMMIT token for a new ring",
            encode(
                CommitToken(
                    first,
                    0,
                    1,
                    new_ring,
                    0,
                    1,
                    list(members),
                    [MembEntry(ring, 0, 0, 0) for _ in members],
                )
            ),
            None,
        ),
        Hostile(
            "TOKEN_HOLD_CANCEL of the current ring",
            encode(TokenHoldCancel(second, 0, ring)),
            None,
        ),
    ]
