"""What ``python -m bench soak`` checks in the clients' records: every message sent was
delivered once, in one order, everywhere (virtual synchrony, as the CPG clients see it).

Each client session (one process on one node, from its join to its end) leaves the
``(node id, pid, seq)`` triples it delivered, in order, and how far it sent
(:mod:`bench.soak_client`). The reference is the session of a node that is never killed:
it was in the group from before any other client joined to the end, so

* it delivered each message at most once (**duplicates**: 0);
* from each sender, the sequence numbers ``1..k`` in order, without a hole (FIFO; a hole is
  a **lost** message), where ``k`` is everything the sender's node took (``acked``) for a
  sender that lived to the end, and at most what it handed over (``attempted``) for one
  whose node was killed: the rest were **in flight** when the node died -- never ordered,
  never delivered anywhere, which is what corosync promises;
* every other session delivered a contiguous stretch of the reference's sequence: the same
  messages in the same order while both were members (a message delivered elsewhere and not
  by the reference is **not in reference**; a skipped one is a **gap**; a different order is
  an **order violation**).

``lost`` sums holes, gaps, messages acked by a surviving sender and never delivered, and
messages delivered elsewhere but not by the reference: 0 is the soak's pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["Session", "Verdict", "check", "key_array"]


@dataclass(slots=True)
class Session:
    """One client process: what it delivered and how far it sent."""

    node: int
    pid: int
    deliveries: Any
    """numpy uint32 array of shape (n, 3): node id, pid, seq in delivery order."""
    attempted: int
    acked: int
    ended: str
    """``drained`` (lived to the end), ``connection_lost`` (its node went), other: a failure."""

    @property
    def sender(self) -> tuple[int, int]:
        return (self.node, self.pid)


@dataclass(slots=True)
class Verdict:
    sessions: int = 0
    sent: int = 0
    """Messages the nodes took from their clients (acked)."""
    delivered_reference: int = 0
    delivered_total: int = 0
    """Deliveries summed over every session (each message counts once per receiver)."""
    in_flight_at_kill: int = 0
    duplicates: int = 0
    holes: int = 0
    unacked_lost: int = 0
    gaps: int = 0
    order_violations: int = 0
    not_in_reference: int = 0
    unknown_senders: int = 0
    failed_sessions: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.holes + self.unacked_lost + self.gaps + self.not_in_reference

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicates == 0
            and self.order_violations == 0
            and self.unknown_senders == 0
            and not self.failed_sessions
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lost": self.lost, "ok": self.ok}


def key_array(triples: Any) -> Any:
    """One uint64 per message: node id (10 bits), pid (22 bits), seq (32 bits)."""
    t = np.asarray(triples, dtype=np.uint64).reshape(-1, 3)
    return (t[:, 0] << np.uint64(54)) | (t[:, 1] << np.uint64(32)) | t[:, 2]


def check(sessions: Sequence[Session], reference: Session) -> Verdict:
    """The verdict on a soak's sessions (``reference`` among them)."""
    verdict = Verdict(sessions=len(sessions))
    verdict.sent = sum(s.acked for s in sessions)
    verdict.delivered_total = sum(len(s.deliveries) for s in sessions)
    for s in sessions:
        if s.ended not in ("drained", "connection_lost"):
            verdict.failed_sessions.append(f"node {s.node} pid {s.pid}: {s.ended}")
    ref = np.asarray(reference.deliveries, dtype=np.uint32).reshape(-1, 3)
    verdict.delivered_reference = len(ref)
    keys = key_array(ref)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    verdict.duplicates = int(len(keys) - len(np.unique(keys)))
    by_sender = {s.sender: s for s in sessions}
    senders = {(int(a), int(b)) for a, b in np.unique(ref[:, :2], axis=0)} if len(ref) else set()
    verdict.unknown_senders = len(senders - set(by_sender))
    for sender, session in by_sender.items():
        mask = (ref[:, 0] == sender[0]) & (ref[:, 1] == sender[1])
        seqs = ref[mask, 2].astype(np.int64)
        highest = int(seqs.max()) if len(seqs) else 0
        if not np.array_equal(seqs, np.arange(1, len(seqs) + 1)):
            # a hole: a sequence number below the highest delivered that never came
            verdict.holes += highest - len(np.unique(seqs))
            verdict.order_violations += int(np.count_nonzero(np.diff(seqs) < 0))
        if session.ended == "drained":
            verdict.unacked_lost += max(0, session.acked - highest)
        else:
            verdict.in_flight_at_kill += max(0, session.attempted - highest)
    for session in sessions:
        if session is reference:
            continue
        mine = key_array(session.deliveries)
        if len(mine) == 0:
            continue
        verdict.duplicates += int(len(mine) - len(np.unique(mine)))
        slot = np.searchsorted(sorted_keys, mine)
        slot = np.minimum(slot, max(len(sorted_keys) - 1, 0))
        found = sorted_keys[slot] == mine if len(sorted_keys) else np.zeros(len(mine), dtype=bool)
        verdict.not_in_reference += int(np.count_nonzero(~found))
        positions = order[slot[found]].astype(np.int64)
        if len(positions) > 1:
            # the stretch of the reference this session spans, and what it missed in it
            span = int(positions.max() - positions.min() + 1)
            verdict.gaps += span - len(np.unique(positions))
            verdict.order_violations += int(np.count_nonzero(np.diff(positions) < 0))
    return verdict
