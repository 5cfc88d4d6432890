"""State of one SRP instance, shared by the membership, recovery and ordering parts (ref 5-6).

``SrpState`` holds corosync's ``totemsrp_instance``: the protocol's variables in the
owned records of ``totem.srp.records`` (``ring``, ``recovery``, ``order``, ``visit``,
``flow``), the instance's identity and configuration, the membership state (changed
only by ``set_state``, checked against ``totem.srp.transitions``), and the output and
timer helpers. ``MembershipMixin``, ``RecoveryMixin`` and ``OrderingMixin`` add
behaviour; ``SrpCore`` is the driver-facing class. Cross-calls between the parts are
declared here.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from totem.ringid import RingId
from totem.srp.events import LogLevel, LogRecord, RingSeqChanged, SrpEvent, StateChanged
from totem.srp.records import (
    FlowControl,
    Ordering,
    Pending,
    Recovery,
    Ring,
    Stored,
    TokenVisit,
)
from totem.srp.settings import SrpSettings
from totem.srp.stats import SrpStats
from totem.srp.timers import Timer, Timers
from totem.srp.transitions import GatherReason, MembState, StateHandlers, check_transition
from totem.wire import CommitToken, Mcast, OrfToken

__all__ = ["Datagram", "MembState", "Pending", "SrpState", "Stored"]


@dataclass(frozen=True, slots=True)
class Datagram:
    """One datagram for the transport."""

    dest: int | None
    """Node id for a unicast (tokens); None for a multicast to every node, sender included."""
    data: bytes
    link: int = 0
    """Ring (link) number to send on; SRP always says 0, the redundant ring layer chooses."""


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

        self.state = MembState.OPERATIONAL  # as corosync, until the interface comes up
        self.handlers = self.HANDLERS[self.state]
        """The current state's handlers: ``set_state`` keeps it in step with ``state``."""
        self.illegal_transitions = 0
        """State changes outside ``LEGAL_TRANSITIONS`` (none expected; see ``set_state``)."""
        self.started = False
        self.leaving = False
        self.pause_on_token = False
        """Stop each token visit once the token is accepted (``visit.pending``) until
        ``resume_token``: the layer above queues what it has packed in between."""
        self.token_retransmit_copy: Datagram | None = None
        """The last token or commit token sent (``send_token``), for ``token_retransmit``."""

        # -- the protocol's variables, in owned records (``totem.srp.records``) ----------
        ring_id = RingId(node_id, stored_ring_seq)
        self.ring = Ring(ring_id, stored_ring_seq, node_id)
        self.recovery = Recovery(ring_id)
        self.order = Ordering()
        self.visit = TokenVisit()
        self.flow = FlowControl()

    # ------------------------------------------------------------------------------------
    # Cross-calls between the halves (implemented by the mixins)
    # ------------------------------------------------------------------------------------
    def gather_enter(self, now: float, reason: GatherReason) -> None:
        """Enter GATHER (``memb_state_gather_enter``); see ``MembershipMixin``."""
        raise NotImplementedError

    def operational_enter(self, now: float) -> None:
        """Enter OPERATIONAL (``memb_state_operational_enter``); see ``RecoveryMixin``."""
        raise NotImplementedError

    def recovery_token_loss(self, now: float) -> None:
        """Restore the old ring state and gather; see ``RecoveryMixin``."""
        raise NotImplementedError

    def foreign_ring_seen(self, sender: int, now: float, *, merge_detect: bool) -> None:
        """A listed node speaks for another ring; see ``MembershipMixin``."""
        raise NotImplementedError

    def recovery_enter(self, token: CommitToken, now: float) -> None:
        """The commit token's second round; see ``RecoveryMixin``."""
        raise NotImplementedError

    def old_ring_state_save(self) -> None:
        """Remember the old ring's aru and high seq; see ``RecoveryMixin``."""
        raise NotImplementedError

    def old_ring_id_follow(self) -> None:
        """The current ring becomes the old ring; see ``RecoveryMixin``."""
        raise NotImplementedError

    def received_flg_set(self, received: bool) -> None:
        """Set ``my_received_flg``; see ``RecoveryMixin``."""
        raise NotImplementedError

    def _recovery_progress(self, retrans_flg: int, seq: int, aru: int, now: float) -> int:
        """RECOVERY bookkeeping on a token visit; see ``RecoveryMixin``."""
        raise NotImplementedError

    def failed_to_receive(self, now: float) -> None:
        """FAILED TO RECEIVE: fail myself and gather; see ``MembershipMixin``."""
        raise NotImplementedError

    def ring_operational_begin(self) -> None:
        """See ``MembershipMixin``."""
        raise NotImplementedError

    def ring_members_install(self, trans_memb_list: list[int]) -> tuple[list[int], list[int]]:
        """See ``MembershipMixin``."""
        raise NotImplementedError

    def ring_install(self, left: list[int]) -> list[int]:
        """See ``MembershipMixin``."""
        raise NotImplementedError

    def _commit_token_send(self, token: CommitToken, now: float) -> None:
        """Send the commit token on; see ``MembershipMixin``."""
        raise NotImplementedError

    def token_send(self, token: OrfToken, forward: bool) -> None:
        """Store the token for retransmission and send it; see ``OrderingMixin``."""
        raise NotImplementedError

    def fcc_reset(self) -> None:
        """See ``OrderingMixin``."""
        raise NotImplementedError

    def ordering_restore(self, aru: int, high_seq_received: int) -> None:
        """See ``OrderingMixin``."""
        raise NotImplementedError

    def ordering_recovery_start(self, retrans: list[Pending]) -> None:
        """See ``OrderingMixin``."""
        raise NotImplementedError

    def recovered_add(self, message: Mcast, raw: bytes) -> bool:
        """See ``OrderingMixin``."""
        raise NotImplementedError

    def deliver_old_ring(self, safe_aru: int, end_point: int) -> None:
        """See ``OrderingMixin``."""
        raise NotImplementedError

    def deliver_transitional(self, end_point: int) -> None:
        """See ``OrderingMixin``."""
        raise NotImplementedError

    def ordering_install(self) -> None:
        """See ``OrderingMixin``."""
        raise NotImplementedError

    def deliver_to_app(self, skip: bool, end_point: int) -> None:
        """Deliver in order up to ``end_point``; see ``OrderingMixin``."""
        raise NotImplementedError

    def orf_token_send_initial(self) -> None:
        """The representative starts the ORF token; see ``RecoveryMixin``."""
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
        self._events.append(RingSeqChanged(self.ring.ring_id.seq))

    def forget_retired(self) -> None:
        """A regular configuration formed: nodes a reload removed from the nodelist are no
        longer accepted, unless they are still members of the new ring."""
        if self.nodelist is None:
            self.retired_nodes = frozenset()
            return
        still = self.retired_nodes & set(self.ring.memb_list)
        self.nodelist = (self.nodelist - self.retired_nodes) | still
        self.retired_nodes = still
