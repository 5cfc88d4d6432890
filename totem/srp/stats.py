"""Counters of the SRP core, as corosync's ``stats.srp`` cmap keys (ref real-corosync.md 10).

Every dropped datagram is counted under a reason, so bad input is visible to
operators (``pycorosync-cfgtool -s --json``) and to tests.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["SrpStats"]


@dataclass(slots=True)
class SrpStats:
    """Monotonic counters plus token rotation timings."""

    orf_token_tx: int = 0
    orf_token_rx: int = 0
    memb_merge_detect_tx: int = 0
    memb_merge_detect_rx: int = 0
    memb_join_tx: int = 0
    memb_join_rx: int = 0
    mcast_tx: int = 0
    mcast_retx: int = 0
    mcast_rx: int = 0
    memb_commit_token_tx: int = 0
    memb_commit_token_rx: int = 0
    token_hold_cancel_tx: int = 0
    token_hold_cancel_rx: int = 0
    operational_entered: int = 0
    operational_token_lost: int = 0
    gather_entered: int = 0
    gather_token_lost: int = 0
    commit_entered: int = 0
    commit_token_lost: int = 0
    recovery_entered: int = 0
    recovery_token_lost: int = 0
    consensus_timeouts: int = 0
    rx_msg_dropped: int = 0
    continuous_gather: int = 0
    rtr_requested: int = 0
    """Sequence numbers this node put on the token's retransmit list."""
    token_retransmits: int = 0
    """Stored tokens re-sent after ``token_retransmit`` without a newer one."""
    failed_to_receive: int = 0
    pause_detected: int = 0
    last_rotation_ms: float = 0.0
    """Time between this node's last two token visits."""
    max_rotation_ms: float = 0.0
    avg_rotation_ms: float = 0.0
    """Exponentially weighted average (1/8) of the rotation time."""
    dropped: Counter[str] = field(default_factory=Counter)
    """Malformed or refused datagrams, by reason (``short``, ``bad_magic``, ...)."""

    def drop(self, reason: str) -> None:
        """Count one dropped datagram."""
        self.rx_msg_dropped += 1
        self.dropped[reason] += 1

    def rotation(self, ms: float) -> None:
        """Record one token rotation time."""
        self.last_rotation_ms = ms
        if ms > self.max_rotation_ms:
            self.max_rotation_ms = ms
        if self.avg_rotation_ms == 0.0:
            self.avg_rotation_ms = ms
        else:
            self.avg_rotation_ms += (ms - self.avg_rotation_ms) / 8

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able copy."""
        out = asdict(self)
        out["dropped"] = dict(self.dropped)
        return out
