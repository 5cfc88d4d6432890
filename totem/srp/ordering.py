"""SRP's ordering: the ORF token's visit, flow control, retransmission, delivery (ref 6).

Per valid token visit (``message_handler_orf_token``, ref 6.1) a node
re-multicasts what others asked for on the token's retransmit list, adds its
own gaps to that list, multicasts new messages within the flow-control
allowance (``window_size``, ``max_messages``, backlog share), lowers the
token's aru if it lacks something, and forwards the token to the next node of
the sorted ring. The representative holds the token on an idle ring (ref 6.4).
Each of these is a step of its own (``_token_accept``, then ``_token_visit``);
the received token is only read and the forwarded one is built from the steps'
results. State: the ``Ordering``, ``TokenVisit`` and ``FlowControl`` records
(``totem.srp.records``), which only this module writes.

Delivery is in sequence order without gaps (agreed order). A packet sent with
the SAFE guarantee, and everything after it, waits until the token's aru has
covered it on two successive visits, i.e. every member holds it.
"""

from __future__ import annotations

from totem.ringid import RingId
from totem.srp.events import Delivery, LogLevel
from totem.srp.seqno import U32, seq_lt, seq_lte, seq_min
from totem.srp.sortqueue import QUEUE_RTR_ITEMS_SIZE_MAX, SortQueue
from totem.srp.state import Datagram, MembState, Pending, SrpState, Stored
from totem.srp.timers import Timer
from totem.wire import (
    ENCAPSULATED,
    NOT_ENCAPSULATED,
    RTR_ENTRIES_MAX,
    Mcast,
    OrfToken,
    RtrItem,
    TokenHoldCancel,
    encode,
)
from totem.wire.mcast import new_mcast

__all__ = ["OrderingMixin"]

_SAFE = 1
_RTR_LOG_INTERVAL = 1.0
"""Seconds between two "Retransmit List" notices; the rest are counted (anchors C3)."""


# One Delivery per delivered packet: filled through its slot descriptors rather than
# the frozen dataclass __init__ (object.__setattr__ per field), the same object.
_new = object.__new__
_SLOT_SETTERS = tuple(getattr(Delivery, name).__set__ for name in Delivery.__slots__)
_set_sender, _set_ring_id, _set_seq, _set_payload, _set_byteswapped = _SLOT_SETTERS


def _delivery(
    sender: int, ring_id: RingId, seq: int, payload: bytes, byteswapped: bool
) -> Delivery:
    """``Delivery(sender, ring_id, seq, payload, byteswapped)``, fast."""
    event: Delivery = _new(Delivery)
    _set_sender(event, sender)
    _set_ring_id(event, ring_id)
    _set_seq(event, seq)
    _set_payload(event, payload)
    _set_byteswapped(event, byteswapped)
    return event


class OrderingMixin(SrpState):
    """Token handling, message ordering and delivery."""

    # ------------------------------------------------------------------------------------
    # Application side
    # ------------------------------------------------------------------------------------
    def mcast(self, payload: bytes, guarantee: int = 0) -> bool:
        """Queue a totempg packet for ordering; False if the queue is full (``totemsrp_mcast``).

        While a new ring is being synchronised (``waiting_trans_ack``) packets go
        to a separate queue that is sent first, as corosync does.
        """
        order = self.order
        queue = order.new_queue_trans if order.waiting_trans_ack else order.new_queue
        if len(queue) >= self.settings.queue_limit:
            return False
        queue.append(Pending(payload, guarantee))
        self.stats.mcast_tx += 1
        return True

    def avail(self) -> int:
        """Free places in the new-message queue (``totemsrp_avail``)."""
        order = self.order
        queue = order.new_queue_trans if order.waiting_trans_ack else order.new_queue
        return self.settings.queue_limit - len(queue)

    def trans_ack(self) -> None:
        """Sync completed: application packets may flow again (``totemsrp_trans_ack``)."""
        self.order.waiting_trans_ack = False

    def signal_new_message(self) -> None:
        """A message is waiting: ask a holding representative to release the token."""
        self.token_hold_cancel_send()

    def token_hold_cancel_send(self) -> None:
        """Multicast TOKEN_HOLD_CANCEL if the representative holds the token (ref 6.4)."""
        if not self.visit.my_token_held:
            return
        self.visit.my_token_held = False
        message = TokenHoldCancel(nodeid=self.node_id, target_nodeid=0, ring_id=self.ring.ring_id)
        self.stats.token_hold_cancel_tx += 1
        self.send_multicast(encode(message))

    def handle_token_hold_cancel(self, message: TokenHoldCancel, data: bytes, now: float) -> None:
        """A node has data while the token is held: the representative releases it."""
        self.stats.token_hold_cancel_rx += 1
        if message.ring_id != self.ring.ring_id:
            return
        self.visit.my_seq_unchanged = 0
        if self.ring.ring_id.rep == self.node_id and self.state is not MembState.GATHER:
            self.token_retransmit()
            self.reset_token_retransmit_timeout(now)

    # ------------------------------------------------------------------------------------
    # MCAST
    # ------------------------------------------------------------------------------------
    def handle_mcast(self, message: Mcast, raw: bytes, now: float) -> None:
        """``message_handler_mcast``: store, advance aru, deliver (ref 6.2)."""
        self.stats.mcast_rx += 1
        ring_id = message.ring_id
        mine = self.ring.ring_id
        if ring_id is not mine and ring_id != mine:  # (decoders share ids)
            self.foreign_ring_seen(message.system_from, now, merge_detect=False)
            return
        order = self.order
        encapsulated = message.encapsulated == ENCAPSULATED
        queue = order.recovery_queue if encapsulated else order.regular_queue
        seq = message.seq
        if queue.in_range(seq) and seq not in queue:
            if seq_lt(order.my_high_seq_received, seq):
                order.my_high_seq_received = seq
            queue.add(seq, (message, raw))
        self.update_aru()
        if self.state is MembState.OPERATIONAL:
            self.deliver_to_app(False, order.my_high_seq_received)

    # ------------------------------------------------------------------------------------
    # Token timers
    # ------------------------------------------------------------------------------------
    def token_retransmit_expired(self, now: float) -> None:
        """Not in GATHER: re-send the last token (``timer_function_token_retransmit_timeout``)."""
        self.token_retransmit()
        self.reset_token_retransmit_timeout(now)

    def token_hold_expired(self, now: float) -> None:
        """OPERATIONAL or RECOVERY: the representative releases the token it held."""
        self.token_retransmit()

    def token_warning_expired(self, now: float) -> None:
        """The token has not come for ``token_warning`` percent of ``token``: say so."""
        last = self.visit.last_token_rx
        since = (now - last) if last is not None else 0.0
        self._log(LogLevel.NOTICE, f"Token has not been received in {int(since * 1000)} ms ")
        self.reset_token_warning(now)

    def _active_queue(self) -> SortQueue[Stored]:
        order = self.order
        return order.recovery_queue if self.state is MembState.RECOVERY else order.regular_queue

    def update_aru(self) -> None:
        """Advance ``my_aru`` over contiguously received sequence numbers."""
        order = self.order
        queue = order.recovery_queue if self.state is MembState.RECOVERY else order.regular_queue
        aru = order.my_aru
        span = (order.my_high_seq_received - aru) & U32
        advanced = 0
        while advanced < span and ((aru + advanced + 1) & U32) in queue:
            advanced += 1
        order.my_aru = (aru + advanced) & U32

    # ------------------------------------------------------------------------------------
    # ORF token
    # ------------------------------------------------------------------------------------
    # A valid token's visit (``message_handler_orf_token``, ref 6.1), in steps that each do
    # one thing. The received token is only read; the forwarded one is built at the end.
    def handle_orf_token(self, token: OrfToken, data: bytes, now: float) -> None:
        """``message_handler_orf_token`` (ref 6.1): accept the token, then visit.

        With ``pause_on_token`` the visit stops once the token is accepted and waits in
        ``pending_token``: the layer above queues what it has packed (totempg's token
        callback), then calls ``resume_token``.
        """
        self.stats.orf_token_rx += 1
        if not self._token_accept(token, now):
            return
        if self.pause_on_token:
            self.visit.pending = token
            return
        self._token_visit(token, now)

    def resume_token(self, now: float) -> None:
        """Finish the visit of the token ``handle_orf_token`` paused on (no-op if none)."""
        token = self.visit.pending
        if token is not None:
            self.visit.pending = None
            self._token_visit(token, now)

    def _token_accept(self, token: OrfToken, now: float) -> bool:
        """Steps 1-3: hold bookkeeping, validation, release, rotation statistics."""
        if self.ring.orf_token_discard:
            return False
        self._token_hold_check(token, now)
        state = self.state
        if state is MembState.COMMIT:
            return False
        if token.ring_id != self.ring.ring_id:
            return False
        if seq_lte(token.token_seq, self.visit.my_token_seq):
            return False
        # A valid token: this node's turn. Only now may messages be released (a
        # deliberate deviation from corosync 3.1.7, which releases before the two
        # checks above): see ``messages_free``.
        if state is MembState.OPERATIONAL:
            self.messages_free(token.aru)
        self._token_rotation_stats(now)
        if state is MembState.OPERATIONAL:
            self._safe_aru_update(token.aru)
        return True

    def _token_hold_check(self, token: OrfToken, now: float) -> None:
        """Count rotations without new messages; an idle ring's representative holds the
        token (ref 6.4) and multicasts MERGE_DETECT while it stays idle (ref 5.6)."""
        settings = self.settings
        visit = self.visit
        if token.seq == visit.my_last_seq:
            if not self.timers.armed(Timer.MERGE_DETECT):
                self.timers.start(Timer.MERGE_DETECT, now + settings.merge / 1000)
            visit.my_seq_unchanged += 1
        else:
            self.timers.cancel(Timer.MERGE_DETECT)
            self.timers.cancel(Timer.TOKEN_HOLD)
            visit.my_seq_unchanged = 0
        visit.my_last_seq = token.seq
        is_rep = self.ring.ring_id.rep == self.node_id
        if is_rep:
            held = visit.my_seq_unchanged > settings.seqno_unchanged_const
        else:
            held = visit.my_seq_unchanged >= settings.seqno_unchanged_const
        visit.my_token_held = held
        visit.forward = not (is_rep and held)
        visit.hold = is_rep and held

    def _token_rotation_stats(self, now: float) -> None:
        """The time since my last valid token (``token_event_stats_collector``)."""
        visit = self.visit
        if visit.last_token_rx is not None:
            self.stats.rotation((now - visit.last_token_rx) * 1000)
        visit.last_token_rx = now

    def _safe_aru_update(self, token_aru: int) -> None:
        """Two successive tokens' aru: every member holds messages up to the lower."""
        order = self.order
        if order.prev_token_aru is not None:
            candidate = seq_min(order.prev_token_aru, token_aru)
            if seq_lt(order.safe_aru, candidate):
                order.safe_aru = candidate
        order.prev_token_aru = token_aru

    def _token_visit(self, token: OrfToken, now: float) -> None:
        """Steps 4-9: retransmit, multicast, the token's aru, failed to receive, forward."""
        settings = self.settings
        visit = self.visit
        last_aru = self.order.my_last_aru
        self.order.my_last_aru = token.aru
        allowed = self.fcc_calculate(token)
        rtr = list(token.rtr)
        remcasted, allowed = self.orf_token_rtr(rtr, token.seq, allowed, now)
        cancel_hold = settings.cancel_token_hold_on_retransmit and visit.my_token_held
        if cancel_hold and (rtr or remcasted > 0):
            visit.my_token_held = False
            visit.forward = True
            visit.hold = False
        allowed = self.fcc_rtr_limit(token, allowed)
        seq = self.orf_token_mcast(token.seq, allowed, now)
        fcc, backlog = self.fcc_token_update(token, remcasted + ((seq - token.seq) & U32))
        aru, aru_addr = self._token_aru_update(token, seq, last_aru)
        if self._failed_to_receive(aru_addr, now):
            return
        visit.my_token_seq = token.token_seq
        retrans_flg = token.retrans_flg
        if self.state is MembState.RECOVERY:
            retrans_flg = self._recovery_progress(retrans_flg, seq, aru, now)
        forwarded = OrfToken(
            self.node_id,
            token.target_nodeid,
            seq,
            (token.token_seq + 1) & U32,
            aru,
            aru_addr,
            token.ring_id,
            backlog,
            fcc,
            retrans_flg,
            rtr,
        )
        self.token_send(forwarded, visit.forward)
        if self.state is MembState.OPERATIONAL:
            self.deliver_to_app(False, self.order.my_high_seq_received)
        self.reset_token_timeout(now)
        self.reset_token_retransmit_timeout(now)
        if visit.hold:
            self.timers.start(Timer.TOKEN_HOLD, now + settings.hold / 1000)

    def _token_aru_update(self, token: OrfToken, seq: int, last_aru: int) -> tuple[int, int]:
        """Lower the token's aru to mine if I lack something (or I lowered it last);
        count the visits on which it did not move (``my_aru_count``)."""
        aru, aru_addr = token.aru, token.aru_addr
        my_aru = self.order.my_aru
        if seq_lt(my_aru, aru) or aru_addr in (self.node_id, 0):
            aru = my_aru
            aru_addr = 0 if aru == seq else self.node_id
        if aru == last_aru and aru_addr != 0:
            self.visit.my_aru_count += 1
        else:
            self.visit.my_aru_count = 0
        return aru, aru_addr

    def _failed_to_receive(self, aru_addr: int, now: float) -> bool:
        """The token's aru has been mine for ``fail_recv_const`` visits: I cannot receive
        what the others have; leave the ring (ref 5.6, FAILED TO RECEIVE)."""
        if self.visit.my_aru_count > self.settings.fail_recv_const and aru_addr == self.node_id:
            self.failed_to_receive(now)
            return True
        return False

    def token_send(self, token: OrfToken, forward: bool) -> None:
        """Keep a copy for retransmission; send it to the next node unless held."""
        token.nodeid = self.node_id
        data = encode(token)
        self.token_retransmit_copy = Datagram(self.ring.token_target, data)
        if forward:
            self.stats.orf_token_tx += 1
            self.send_unicast(self.ring.token_target, data)

    # ------------------------------------------------------------------------------------
    # Flow control (ref 6.1 steps 5, 7, 9)
    # ------------------------------------------------------------------------------------
    def _backlog(self) -> int:
        order = self.order
        if self.state is MembState.OPERATIONAL:
            return len(order.new_queue_trans if order.waiting_trans_ack else order.new_queue)
        if self.state is MembState.RECOVERY:
            return len(order.retrans_queue)
        return 0

    def fcc_calculate(self, token: OrfToken) -> int:
        """Messages this node may send on this visit (``fcc_calculate``)."""
        window = self.settings.window_size
        allowed = self.settings.max_messages
        room = (window - token.fcc) & U32
        if allowed > room:
            allowed = room
        flow = self.flow
        flow.my_cbl = self._backlog()
        total = (token.backlog + flow.my_cbl - flow.my_pbl) & U32
        if total:
            share = ((window * flow.my_pbl) & U32) // total
            if 0 < share < allowed:
                allowed = share
        return allowed

    def fcc_rtr_limit(self, token: OrfToken, allowed: int) -> int:
        """Never let new sends overrun the sort queue window (``fcc_rtr_limit``)."""
        window = self.settings.window_size
        limit = (self.order.last_released + QUEUE_RTR_ITEMS_SIZE_MAX - allowed - window) & U32
        return 0 if seq_lt(limit, token.seq) else allowed

    def fcc_token_update(self, token: OrfToken, transmitted: int) -> tuple[int, int]:
        """This visit's sends and backlog on the token (``fcc_token_update``): the
        forwarded token's ``fcc`` and ``backlog``."""
        flow = self.flow
        fcc = (token.fcc + transmitted - flow.my_trc) & U32
        backlog = (token.backlog + flow.my_cbl - flow.my_pbl) & U32
        flow.my_trc = transmitted
        flow.my_pbl = flow.my_cbl
        return fcc, backlog

    # ------------------------------------------------------------------------------------
    # Retransmission and sending (ref 6.1 steps 6, 8)
    # ------------------------------------------------------------------------------------
    def orf_token_rtr(
        self, rtr: list[RtrItem], seq: int, allowed: int, now: float
    ) -> tuple[int, int]:
        """Serve the retransmit list ``rtr`` (the forwarded token's: served entries leave
        it), then add my own gaps below the token's ``seq`` to it."""
        queue = self._active_queue()
        if rtr:
            self._log_retransmit_list(rtr, now)
        remcasted = 0
        i = 0
        while remcasted < allowed and i < len(rtr):
            item = rtr[i]
            stored = queue.get(item.seq) if item.ring_id == self.ring.ring_id else None
            if stored is None:
                i += 1
                continue
            self.send_multicast(stored[1])
            del rtr[i]
            self.stats.mcast_retx += 1
            remcasted += 1
        allowed -= remcasted

        my_aru = self.order.my_aru
        span = (seq - my_aru) & U32
        if span >= QUEUE_RTR_ITEMS_SIZE_MAX:
            span = QUEUE_RTR_ITEMS_SIZE_MAX - 1
        miss_const = self.settings.miss_count_const
        for offset in range(1, span + 1):
            if len(rtr) >= RTR_ENTRIES_MAX:
                break
            missing = (my_aru + offset) & U32
            if not queue.in_range(missing):
                break
            if missing in queue or queue.miss(missing) < miss_const:
                continue
            if all(entry.seq != missing for entry in rtr):
                rtr.append(RtrItem(self.ring.ring_id, missing))
                self.stats.rtr_requested += 1
        return remcasted, allowed

    def _log_retransmit_list(self, rtr: list[RtrItem], now: float) -> None:
        text = " ".join(f"{item.seq:x}" for item in rtr)
        self._log(LogLevel.DEBUG, f"Retransmit List {len(rtr)}")
        visit = self.visit
        if now - visit.last_rtr_log >= _RTR_LOG_INTERVAL:
            suppressed = visit.rtr_log_suppressed
            suffix = f" ({suppressed} similar lines suppressed)" if suppressed else ""
            self._log(LogLevel.NOTICE, f"Retransmit List: {text} {suffix}".rstrip())
            visit.last_rtr_log = now
            visit.rtr_log_suppressed = 0
        else:
            visit.rtr_log_suppressed += 1

    def orf_token_mcast(self, seq: int, allowed: int, now: float) -> int:
        """Stamp queued packets with the sequence numbers after the token's ``seq`` and
        multicast them (``orf_token_mcast``); returns the forwarded token's ``seq``."""
        order = self.order
        if self.state is MembState.RECOVERY:
            queue = order.retrans_queue
            store = order.recovery_queue
            self.reset_token_retransmit_timeout(now)
        else:
            queue = order.new_queue_trans if order.waiting_trans_ack else order.new_queue
            store = order.regular_queue
        sent = 0
        node_id = self.node_id
        ring_id = self.ring.ring_id
        while sent < allowed and queue:
            pending = queue.popleft()
            seq = (seq + 1) & U32
            stored = new_mcast(
                node_id,
                ENCAPSULATED if pending.encapsulated else NOT_ENCAPSULATED,
                seq,
                order.global_seqno,
                ring_id,
                pending.guarantee,
                pending.payload,
            )
            order.global_seqno = (order.global_seqno + 1) & 0x7FFFFFFF
            data = stored[1]
            store.add(seq, stored)
            self.send_multicast(data)
            order.my_high_seq_received = seq
            sent += 1
        self.update_aru()
        return seq

    # ------------------------------------------------------------------------------------
    # A new ring (called by recovery: the ordering variables are written here only)
    # ------------------------------------------------------------------------------------
    def ordering_restore(self, aru: int, high_seq_received: int) -> None:
        """A new ring failed to form: the old ring's aru and high seq apply again."""
        self.order.my_aru = aru
        self.order.my_high_seq_received = high_seq_received

    def ordering_recovery_start(self, retrans: list[Pending]) -> None:
        """RECOVERY starts: an empty recovery queue, the old-ring messages to re-send,
        and the new ring's sequence numbers and token sequence from the start."""
        order, visit = self.order, self.visit
        order.recovery_queue.reinit(0)
        order.retrans_queue.clear()
        order.retrans_queue.extend(retrans)
        order.my_aru = 0
        order.my_high_seq_received = 0
        order.last_released = 0
        visit.my_token_seq = U32
        visit.my_aru_count = 0
        visit.my_seq_unchanged = 0

    def recovered_add(self, message: Mcast, raw: bytes) -> bool:
        """An old-ring message recovered in RECOVERY joins the regular queue (unless
        held already or outside its window); True if it was added."""
        queue = self.order.regular_queue
        seq = message.seq
        if seq in queue or not queue.in_range(seq):
            return False
        queue.add(seq, (message, raw))
        return True

    def deliver_old_ring(self, safe_aru: int, end_point: int) -> None:
        """Deliver the old ring's messages in the old configuration, SAFE ones up to
        ``safe_aru`` (``operational_enter`` step 1)."""
        self.order.safe_aru = safe_aru
        self.deliver_to_app(False, end_point)

    def deliver_transitional(self, end_point: int) -> None:
        """The transitional pass (``operational_enter`` step 3); application packets wait
        for the sync's ``trans_ack`` from now on."""
        self.order.waiting_trans_ack = True
        self.deliver_to_app(True, end_point)

    def ordering_install(self) -> None:
        """The new ring is installed: messages received in RECOVERY join the regular
        queue and count as delivered (``operational_enter`` step 4)."""
        order = self.order
        queue = order.regular_queue
        queue.copy_from(order.recovery_queue)
        order.my_last_aru = 0
        high = order.my_high_seq_received
        while high != 0 and high not in queue:
            high = (high - 1) & U32
        order.my_high_delivered = high
        queue.release_to(high)
        order.last_released = high
        order.safe_aru = high
        order.prev_token_aru = None

    def fcc_reset(self) -> None:
        """A new ring is committed: flow control starts from nothing."""
        flow = self.flow
        flow.my_trc = flow.my_pbl = flow.my_cbl = 0

    # ------------------------------------------------------------------------------------
    # Release and delivery
    # ------------------------------------------------------------------------------------
    def messages_free(self, token_aru: int) -> None:
        """Forget messages every member holds (``messages_free``, ref 6.1 step 3).

        The release point is the lower of the aru of this token and of the previous
        valid one (``my_last_aru``): one token's aru proves nothing for the nodes the
        token visited before the node that last raised it, two successive ones do.
        corosync 3.1.7 also releases on a token it then discards as stale (a duplicate
        datagram, or the sender's retransmission of the token just handled); for such
        a copy "the previous aru" is its own, so one rotation's aru is trusted and a
        message some member still lacks can be released. If that member then loses the
        ring, the recovery (ref 5.4) copies old-ring messages from the retransmit
        buffers: the released message is in nobody's, and the survivors deliver
        different old-ring messages (an extended virtual synchrony violation). So
        this runs only for a token accepted as valid, which releases the same
        messages on a clean ring.
        """
        order = self.order
        release_to = token_aru
        if seq_lt(order.my_last_aru, release_to):
            release_to = order.my_last_aru
        if seq_lt(order.my_high_delivered, release_to):
            release_to = order.my_high_delivered
        if seq_lt(release_to, order.last_released) or release_to == order.last_released:
            return
        if ((release_to - order.last_released) & U32) >= QUEUE_RTR_ITEMS_SIZE_MAX:
            return
        order.regular_queue.release_to(release_to)
        order.last_released = release_to

    def deliver_to_app(self, skip: bool, end_point: int) -> None:
        """Deliver in sequence order up to ``end_point`` (``messages_deliver_to_app``).

        ``skip`` is the transitional pass: holes are skipped and only messages
        from ``deliver_memb_list`` are delivered; safety is not waited for.
        """
        order = self.order
        span = (end_point - order.my_high_delivered) & U32
        if span == 0 or span >= QUEUE_RTR_ITEMS_SIZE_MAX:
            return
        queue = order.regular_queue
        base = order.my_high_delivered
        for offset in range(1, span + 1):
            seq = (base + offset) & U32
            if not queue.in_range(seq):
                break
            stored = queue.get(seq)
            if stored is None:
                if not skip:
                    break
                order.my_high_delivered = seq
                continue
            message = stored[0]
            if not skip and message.guarantee == _SAFE and not seq_lte(seq, order.safe_aru):
                break
            order.my_high_delivered = seq
            if skip and message.system_from not in self.recovery.deliver_memb_list:
                continue
            self.emit(
                _delivery(
                    message.nodeid,
                    message.ring_id,
                    message.seq,
                    message.payload,
                    message.byteswapped,
                )
            )
