"""State of one SRP instance, shared by the membership and ordering halves (ref 5-6).

``SrpState`` holds every variable of corosync's ``totemsrp_instance`` that the
protocol needs, under corosync's names, plus the output and timer helpers.
``MembershipMixin`` and ``OrderingMixin`` add behaviour; ``SrpCore`` is the
driver-facing class. Cross-calls between the two halves are declared here.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from totem.ringid import RingId
from totem.srp.events import LogLevel, LogRecord, RingSeqChanged, SrpEvent, StateChanged
from totem.srp.settings import SrpSettings
from totem.srp.sortqueue import SortQueue
from totem.srp.stats import SrpStats
from totem.srp.timers import Timer, Timers
from totem.srp.transitions import GatherReason, MembState, check_transition
from totem.wire import CommitToken, Mcast, OrfToken

if TYPE_CHECKING:
    from totem.srp.dispatch import StateHandlers

__all__ = ["Datagram", "MembState", "Pending", "SrpState", "Stored"]


@dataclass(frozen=True, slots=True)
class Datagram:
    """One datagram for the transport."""

    dest: int | None
    """Node id for a unicast (tokens); None for a multicast to every node, sender included."""
    data: bytes
    link: int = 0
    """Ring (link) number to send on; SRP always says 0, the redundant ring layer chooses."""


@dataclass(frozen=True, slots=True)
class Pending:
    """A message waiting for the token: a totempg packet, or an old-ring MCAST to re-send."""

    payload: bytes
    guarantee: int = 0
    encapsulated: bool = False
    """True in RECOVERY: ``payload`` is a complete old-ring MCAST datagram (ref 4.2)."""


Stored = tuple[Mcast, bytes]
"""A message in a sort queue: its decoded form and its exact bytes (re-sent unchanged)."""


class SrpState:
    """Every variable of one SRP instance, plus output and timer helpers."""

    HANDLERS: ClassVar[Mapping[MembState, StateHandlers]]
    """Each state's handlers (``totem.srp.dispatch``), bound by ``SrpCore``."""

    def __init__(
        self,
        node_id: int,
        settings: SrpSettings | None = None,
        *,
        stored_ring_seq: int = 0,
        rng: random.Random | None = None,
        nodelist: Iterable[int] | None = None,
    ) -> None:
        if not 0 < node_id <= 0xFFFFFFFF:
            raise ValueError(f"node id must be 1..2^32-1, not {node_id}")
        self.node_id = node_id
        self.nodelist: frozenset[int] | None = None if nodelist is None else frozenset(nodelist)
        """Node ids that may appear in a message; None accepts any (corosync's behaviour)."""
        self.retired_nodes: frozenset[int] = frozenset()
        """Node ids a reload removed from the nodelist while they were still in the ring:
        accepted (in ``nodelist``) until a regular configuration forms without them."""
        self.settings = settings or SrpSettings()
        self.rng = rng or random.Random(node_id)
        self.stats = SrpStats()
        self.timers = Timers()
        self._out: list[Datagram] = []
        self._events: list[SrpEvent] = []

        # -- membership state (ref 5) --------------------------------------------------
        self.state = MembState.OPERATIONAL  # as corosync, until the interface comes up
        self.handlers = self.HANDLERS[self.state]
        """The current state's handlers: ``set_state`` keeps it in step with ``state``."""
        self.illegal_transitions = 0
        """State changes outside ``LEGAL_TRANSITIONS`` (none expected; see ``set_state``)."""
        self.started = False
        self.ring_id = RingId(node_id, stored_ring_seq)
        self.old_ring_id = self.ring_id
        self.token_ring_id_seq = stored_ring_seq
        self.proc_list: list[int] = []
        self.failed_list: list[int] = []
        self.memb_list: list[int] = []
        self.new_memb_list: list[int] = []
        self.trans_memb_list: list[int] = []
        self.deliver_memb_list: list[int] = []
        self.left_memb_list: list[int] = []
        self.consensus: set[int] = set()
        self.commit_token: CommitToken | None = None
        self.leave_memb: set[int] = set()
        self.failed_to_recv = False
        self.originated_orf_token = False
        self.orf_token_discard = False
        self.old_ring_state_saved = False
        self.old_ring_state_aru = 0
        self.old_ring_state_high_seq_received = 0
        self.pause_timestamp = 0.0
        self.leaving = False

        # -- ordering state (ref 6) ----------------------------------------------------
        self.regular_queue: SortQueue[Stored] = SortQueue()
        self.recovery_queue: SortQueue[Stored] = SortQueue()
        self.new_queue: deque[Pending] = deque()
        self.new_queue_trans: deque[Pending] = deque()
        self.retrans_queue: deque[Pending] = deque()
        self.waiting_trans_ack = True
        self.my_aru = 0
        self.my_high_seq_received = 0
        self.my_high_delivered = 0
        self.my_high_ring_delivered = 0
        self.my_last_aru = 0
        self.last_released = 0
        self.my_token_seq = 0xFFFFFFFF
        self.my_last_seq = 0
        self.my_seq_unchanged = 0
        self.my_aru_count = 0
        self.my_install_seq = 0
        self.my_retrans_flg_count = 0
        self.my_rotation_counter = 0
        self.my_set_retrans_flg = False
        self.my_received_flg = True
        self.my_token_held = False
        self.my_trc = 0
        self.my_pbl = 0
        self.my_cbl = 0
        self.global_seqno = 0
        self.safe_aru = 0
        self.prev_token_aru: int | None = None
        self.token_target = node_id
        self.token_retransmit_copy: Datagram | None = None
        self.last_token_rx: float | None = None
        self.last_rtr_log = float("-inf")
        self.rtr_log_suppressed = 0
        self.token_forward = True
        """This visit forwards the token (not held by an idle ring's representative)."""
        self.token_hold = False
        """This visit holds the token: arm the hold timer once it is stored."""
        self.pause_on_token = False
        """Stop each token visit once the token is accepted (``pending_token``) until
        ``resume_token``: the layer above queues what it has packed in between."""
        self.pending_token: OrfToken | None = None
        """The accepted token whose visit waits for ``resume_token``."""

    # ------------------------------------------------------------------------------------
    # Cross-calls between the halves (implemented by the mixins)
    # ------------------------------------------------------------------------------------
    def gather_enter(self, now: float, reason: GatherReason) -> None:
        """Enter GATHER (``memb_state_gather_enter``); see ``MembershipMixin``."""
        raise NotImplementedError

    def operational_enter(self, now: float) -> None:
        """Enter OPERATIONAL (``memb_state_operational_enter``); see ``MembershipMixin``."""
        raise NotImplementedError

    def recovery_token_loss(self, now: float) -> None:
        """Restore the old ring state and gather; see ``MembershipMixin``."""
        raise NotImplementedError

    def foreign_ring_seen(self, sender: int, now: float, *, merge_detect: bool) -> None:
        """A listed node speaks for another ring; see ``MembershipMixin``."""
        raise NotImplementedError

    def deliver_to_app(self, skip: bool, end_point: int) -> None:
        """Deliver in order up to ``end_point``; see ``OrderingMixin``."""
        raise NotImplementedError

    def orf_token_send_initial(self) -> None:
        """The representative starts the ORF token; see ``OrderingMixin``."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------
    # Timers
    # ------------------------------------------------------------------------------------
    def reset_token_timeout(self, now: float) -> None:
        """(Re)arm token loss detection and the token warning."""
        self.timers.start(Timer.TOKEN, now + self.settings.token / 1000)
        if self.settings.token_warning:
            self.reset_token_warning(now)

    def reset_token_warning(self, now: float) -> None:
        """(Re)arm the token warning at ``token_warning`` percent of ``token``."""
        warn_ms = self.settings.token_warning * self.settings.token // 100
        self.timers.start(Timer.TOKEN_WARNING, now + warn_ms / 1000)

    def cancel_token_timeout(self) -> None:
        """Stop token loss detection."""
        self.timers.cancel(Timer.TOKEN)
        self.timers.cancel(Timer.TOKEN_WARNING)

    def reset_token_retransmit_timeout(self, now: float) -> None:
        """(Re)arm the re-send of the stored token."""
        self.timers.start(Timer.TOKEN_RETRANSMIT, now + self.settings.token_retransmit / 1000)

    def token_retransmit(self) -> None:
        """Re-send the last token or commit token this node sent."""
        if self.token_retransmit_copy is not None:
            self.stats.token_retransmits += 1
            self._out.append(self.token_retransmit_copy)

    # ------------------------------------------------------------------------------------
    # Output helpers
    # ------------------------------------------------------------------------------------
    def send_multicast(self, data: bytes) -> None:
        """Queue a datagram for every node (sender included)."""
        self._out.append(Datagram(None, data))

    def send_unicast(self, dest: int, data: bytes) -> None:
        """Queue a datagram for one node."""
        self._out.append(Datagram(dest, data))

    def emit(self, event: SrpEvent) -> None:
        """Queue an event for the layer above."""
        self._events.append(event)

    def _log(self, level: LogLevel, message: str) -> None:
        self._events.append(LogRecord(level, "TOTEM", message))

    def set_state(self, new: MembState, reason: str) -> None:
        """Move the membership state machine, with a StateChanged event.

        The single place the state changes: the move is checked against
        ``LEGAL_TRANSITIONS``; an illegal one is logged and counted
        (``illegal_transitions``), or raises when transitions are strict (tests).
        """
        old = self.state
        if not check_transition(old, new):
            self.illegal_transitions += 1
            self._log(
                LogLevel.ERROR,
                f"illegal membership transition {old.name} -> {new.name} ({reason})",
            )
        self.state = new
        self.handlers = self.HANDLERS[new]
        self._events.append(StateChanged(old.name, new.name, reason))

    def store_ring_seq(self) -> None:
        """Ask the driver to persist the ring sequence (``ringid_<nodeid>``)."""
        self._events.append(RingSeqChanged(self.ring_id.seq))

    def forget_retired(self) -> None:
        """A regular configuration formed: nodes a reload removed from the nodelist are no
        longer accepted, unless they are still members of the new ring."""
        if self.nodelist is None:
            self.retired_nodes = frozenset()
            return
        still = self.retired_nodes & set(self.memb_list)
        self.nodelist = (self.nodelist - self.retired_nodes) | still
        self.retired_nodes = still
