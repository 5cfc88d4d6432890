"""The tunables the SRP core runs with (ref totem-wire.md 6.5).

A plain frozen value so the core does not depend on the corosync.conf parser;
``totem.config`` computes the effective figures (token coefficient, derived
retransmit/hold/consensus) and the daemon builds this from them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SrpSettings"]


@dataclass(frozen=True, slots=True)
class SrpSettings:
    """Effective Totem timers (milliseconds) and protocol constants.

    The defaults are corosync 3.1.7's for a nodelist of at most two nodes.
    """

    token: int = 3000
    token_retransmit: int = 714
    hold: int = 561
    join: int = 50
    send_join: int = 0
    """If > 0, each JOIN waits a random 0..send_join ms (spreads joins of large rings)."""
    consensus: int = 3600
    merge: int = 200
    token_warning: int = 75
    """Percent of ``token`` after which a missing token is logged (0 disables)."""
    fail_recv_const: int = 2500
    seqno_unchanged_const: int = 30
    miss_count_const: int = 5
    window_size: int = 50
    max_messages: int = 17
    cancel_token_hold_on_retransmit: bool = False
    net_mtu: int = 1500
    message_queue_max: int = 0
    """Queued packets before ``mcast`` refuses; 0 means corosync's 4 MiB / netmtu."""

    @property
    def queue_limit(self) -> int:
        """The new-message queue capacity in packets."""
        if self.message_queue_max:
            return self.message_queue_max
        return (4 * 1024 * 1024) // self.net_mtu

    @property
    def max_packet_payload(self) -> int:
        """The largest totempg packet one MCAST may carry: netmtu - 2 * 45 - 8 (ref 2.3)."""
        return self.net_mtu - 90 - 8
