"""SRP's variables grouped in owned records (corosync's ``totemsrp_instance``, ref 5, 6).

Each record holds the variables of one concern under corosync's names, and only its
owner module assigns them or mutates what they hold (``tests/srp/test_records.py``
checks it); the others read them, or call a method of the owner:

    Ring        membership.py  the ring, its membership sets and the GATHER/COMMIT rounds
    Recovery    recovery.py    the old ring's state and the RECOVERY bookkeeping
    Ordering    ordering.py    sequence numbers, aru, delivery, and the message queues
    TokenVisit  ordering.py    what one token visit keeps for the next (hold, seq checks)
    FlowControl ordering.py    fcc_calculate's counters (ref 6.1 steps 5, 7, 9)

They are plain ``slots`` dataclasses: an attribute costs one slot load, as on the
instance itself (the hot paths bind a record to a local once).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from totem.ringid import RingId
from totem.srp.seqno import U32
from totem.srp.sortqueue import SortQueue
from totem.wire import CommitToken, Mcast, OrfToken

__all__ = [
    "OWNERS",
    "FlowControl",
    "Ordering",
    "Pending",
    "Recovery",
    "Ring",
    "Stored",
    "TokenVisit",
]


@dataclass(frozen=True, slots=True)
class Pending:
    """A message waiting for the token: a totempg packet, or an old-ring MCAST to re-send."""

    payload: bytes
    guarantee: int = 0
    encapsulated: bool = False
    """True in RECOVERY: ``payload`` is a complete old-ring MCAST datagram (ref 4.2)."""


Stored = tuple[Mcast, bytes]
"""A message in a sort queue: its decoded form and its exact bytes (re-sent unchanged)."""


@dataclass(slots=True)
class Ring:
    """The ring and the membership rounds that form it (ref 5.1-5.3). Owner: membership."""

    ring_id: RingId
    token_ring_id_seq: int
    """The highest ring seq seen in any JOIN: the next commit token's ring is 4 above."""
    token_target: int
    """The next node of the ring (the commit token's, then the ORF token's, destination)."""
    proc_list: list[int] = field(default_factory=list)
    failed_list: list[int] = field(default_factory=list)
    memb_list: list[int] = field(default_factory=list)
    """The regular configuration's members."""
    new_memb_list: list[int] = field(default_factory=list)
    """The members of the ring being committed."""
    left_memb_list: list[int] = field(default_factory=list)
    consensus: set[int] = field(default_factory=set)
    commit_token: CommitToken | None = None
    leave_memb: set[int] = field(default_factory=set)
    """Nodes whose LEAVE was received (not reported as failed)."""
    failed_to_recv: bool = False
    originated_orf_token: bool = False
    orf_token_discard: bool = False
    """GATHER and COMMIT ignore ORF tokens (until RECOVERY)."""
    pause_timestamp: float = 0.0


@dataclass(slots=True)
class Recovery:
    """The old ring's state and RECOVERY's progress (ref 5.4, 5.5). Owner: recovery."""

    old_ring_id: RingId
    old_ring_state_saved: bool = False
    old_ring_state_aru: int = 0
    old_ring_state_high_seq_received: int = 0
    trans_memb_list: list[int] = field(default_factory=list)
    deliver_memb_list: list[int] = field(default_factory=list)
    """Whose old-ring messages the transitional delivery pass delivers."""
    my_high_ring_delivered: int = 0
    my_install_seq: int = 0
    my_retrans_flg_count: int = 0
    my_rotation_counter: int = 0
    my_set_retrans_flg: bool = False
    my_received_flg: bool = True


@dataclass(slots=True)
class Ordering:
    """Sequence numbers, aru, delivery and the message queues (ref 6). Owner: ordering."""

    regular_queue: SortQueue[Stored] = field(default_factory=SortQueue)
    recovery_queue: SortQueue[Stored] = field(default_factory=SortQueue)
    new_queue: deque[Pending] = field(default_factory=deque)
    new_queue_trans: deque[Pending] = field(default_factory=deque)
    retrans_queue: deque[Pending] = field(default_factory=deque)
    """Old-ring messages to re-send ENCAPSULATED in RECOVERY."""
    waiting_trans_ack: bool = True
    my_aru: int = 0
    my_high_seq_received: int = 0
    my_high_delivered: int = 0
    my_last_aru: int = 0
    last_released: int = 0
    global_seqno: int = 0
    safe_aru: int = 0
    prev_token_aru: int | None = None


@dataclass(slots=True)
class TokenVisit:
    """What the token visits keep (ref 6.1, 6.4). Owner: ordering."""

    my_token_seq: int = U32
    my_last_seq: int = 0
    my_seq_unchanged: int = 0
    my_aru_count: int = 0
    my_token_held: bool = False
    forward: bool = True
    """This visit forwards the token (not held by an idle ring's representative)."""
    hold: bool = False
    """This visit holds the token: arm the hold timer once it is stored."""
    pending: OrfToken | None = None
    """The accepted token whose visit waits for ``resume_token`` (``pause_on_token``)."""
    last_token_rx: float | None = None
    last_rtr_log: float = float("-inf")
    rtr_log_suppressed: int = 0


@dataclass(slots=True)
class FlowControl:
    """``fcc_calculate``'s counters: transmitted, previous and current backlog. Owner: ordering."""

    my_trc: int = 0
    my_pbl: int = 0
    my_cbl: int = 0


OWNERS: dict[str, tuple[type, str]] = {
    "ring": (Ring, "membership"),
    "recovery": (Recovery, "recovery"),
    "order": (Ordering, "ordering"),
    "visit": (TokenVisit, "ordering"),
    "flow": (FlowControl, "ordering"),
}
"""The core's attribute holding each record -> (record type, owner module in totem.srp)."""
