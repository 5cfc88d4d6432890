"""The ordering half of SRP: the ORF token, flow control, retransmission, delivery (ref 6).

Per valid token visit (``message_handler_orf_token``, ref 6.1) a node
re-multicasts what others asked for on the token's retransmit list, adds its
own gaps to that list, multicasts new messages within the flow-control
allowance (``window_size``, ``max_messages``, backlog share), lowers the
token's aru if it lacks something, and forwards the token to the next node of
the sorted ring. The representative holds the token on an idle ring (ref 6.4).

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
from totem.srp.transitions import GatherReason
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
        queue = self.new_queue_trans if self.waiting_trans_ack else self.new_queue
        if len(queue) >= self.settings.queue_limit:
            return False
        queue.append(Pending(payload, guarantee))
        self.stats.mcast_tx += 1
        return True

    def avail(self) -> int:
        """Free places in the new-message queue (``totemsrp_avail``)."""
        queue = self.new_queue_trans if self.waiting_trans_ack else self.new_queue
        return self.settings.queue_limit - len(queue)

    def trans_ack(self) -> None:
        """Sync completed: application packets may flow again (``totemsrp_trans_ack``)."""
        self.waiting_trans_ack = False

    def signal_new_message(self) -> None:
        """A message is waiting: ask a holding representative to release the token."""
        self.token_hold_cancel_send()

    def token_hold_cancel_send(self) -> None:
        """Multicast TOKEN_HOLD_CANCEL if the representative holds the token (ref 6.4)."""
        if not self.my_token_held:
            return
        self.my_token_held = False
        message = TokenHoldCancel(nodeid=self.node_id, target_nodeid=0, ring_id=self.ring_id)
        self.stats.token_hold_cancel_tx += 1
        self.send_multicast(encode(message))

    def handle_token_hold_cancel(self, message: TokenHoldCancel, now: float) -> None:
        """A node has data while the token is held: the representative releases it."""
        if message.ring_id != self.ring_id:
            return
        self.my_seq_unchanged = 0
        if self.ring_id.rep == self.node_id and self.state is not MembState.GATHER:
            self.token_retransmit()
            self.reset_token_retransmit_timeout(now)

    # ------------------------------------------------------------------------------------
    # MCAST
    # ------------------------------------------------------------------------------------
    def handle_mcast(self, message: Mcast, raw: bytes, now: float) -> None:
        """``message_handler_mcast``: store, advance aru, deliver (ref 6.2)."""
        ring_id = message.ring_id
        if ring_id is not self.ring_id and ring_id != self.ring_id:  # (decoders share ids)
            self.foreign_ring_seen(message.system_from, now, merge_detect=False)
            return
        queue = self.recovery_queue if message.encapsulated == ENCAPSULATED else self.regular_queue
        seq = message.seq
        if queue.in_range(seq) and seq not in queue:
            if seq_lt(self.my_high_seq_received, seq):
                self.my_high_seq_received = seq
            queue.add(seq, (message, raw))
        self.update_aru()
        if self.state is MembState.OPERATIONAL:
            self.deliver_to_app(False, self.my_high_seq_received)

    def _active_queue(self) -> SortQueue[Stored]:
        return self.recovery_queue if self.state is MembState.RECOVERY else self.regular_queue

    def update_aru(self) -> None:
        """Advance ``my_aru`` over contiguously received sequence numbers."""
        queue = self._active_queue()
        span = (self.my_high_seq_received - self.my_aru) & U32
        aru = self.my_aru
        advanced = 0
        while advanced < span and ((aru + advanced + 1) & U32) in queue:
            advanced += 1
        self.my_aru = (aru + advanced) & U32

    # ------------------------------------------------------------------------------------
    # ORF token
    # ------------------------------------------------------------------------------------
    def handle_orf_token(self, token: OrfToken, now: float) -> None:
        """``message_handler_orf_token`` (ref 6.1)."""
        if self.orf_token_discard:
            return
        settings = self.settings
        if token.seq == self.my_last_seq:
            if not self.timers.armed(Timer.MERGE_DETECT):
                self.timers.start(Timer.MERGE_DETECT, now + settings.merge / 1000)
            self.my_seq_unchanged += 1
        else:
            self.timers.cancel(Timer.MERGE_DETECT)
            self.timers.cancel(Timer.TOKEN_HOLD)
            self.my_seq_unchanged = 0
        self.my_last_seq = token.seq

        is_rep = self.ring_id.rep == self.node_id
        if is_rep:
            held = self.my_seq_unchanged > settings.seqno_unchanged_const
        else:
            held = self.my_seq_unchanged >= settings.seqno_unchanged_const
        self.my_token_held = held
        forward = not (is_rep and held)

        state = self.state
        if state is MembState.COMMIT:
            return
        if token.ring_id != self.ring_id:
            return
        if seq_lte(token.token_seq, self.my_token_seq):
            return

        # A valid token: this node's turn. Only now may messages be released (a
        # deliberate deviation from corosync 3.1.7, which releases before the two
        # checks above): see ``messages_free``.
        if state is MembState.OPERATIONAL:
            self.messages_free(token.aru)
        if self.last_token_rx is not None:
            self.stats.rotation((now - self.last_token_rx) * 1000)
        self.last_token_rx = now
        if state is MembState.OPERATIONAL:
            if self.prev_token_aru is not None:
                candidate = seq_min(self.prev_token_aru, token.aru)
                if seq_lt(self.safe_aru, candidate):
                    self.safe_aru = candidate
            self.prev_token_aru = token.aru
        if self.on_token_received is not None:
            self.on_token_received()

        last_aru = self.my_last_aru
        self.my_last_aru = token.aru
        allowed = self.fcc_calculate(token)
        remcasted, allowed = self.orf_token_rtr(token, allowed, now)
        if settings.cancel_token_hold_on_retransmit and held and (token.rtr or remcasted > 0):
            held = False
            self.my_token_held = False
            forward = True
        allowed = self.fcc_rtr_limit(token, allowed)
        mcasted = self.orf_token_mcast(token, allowed, now)
        self.fcc_token_update(token, remcasted + mcasted)

        if seq_lt(self.my_aru, token.aru) or token.aru_addr in (self.node_id, 0):
            token.aru = self.my_aru
            token.aru_addr = 0 if token.aru == token.seq else self.node_id
        if token.aru == last_aru and token.aru_addr != 0:
            self.my_aru_count += 1
        else:
            self.my_aru_count = 0

        if self.my_aru_count > settings.fail_recv_const and token.aru_addr == self.node_id:
            self._log(LogLevel.ERROR, "FAILED TO RECEIVE")
            self.stats.failed_to_receive += 1
            self.failed_to_recv = True
            if self.node_id not in self.failed_list:
                self.failed_list.append(self.node_id)
            self.gather_enter(now, GatherReason.FAILED_TO_RECEIVE)
            return

        self.my_token_seq = token.token_seq
        token.token_seq = (token.token_seq + 1) & U32
        if self.state is MembState.RECOVERY:
            self._recovery_progress(token, now)
        self.token_send(token, forward)
        if self.state is MembState.OPERATIONAL:
            self.deliver_to_app(False, self.my_high_seq_received)
        self.reset_token_timeout(now)
        self.reset_token_retransmit_timeout(now)
        if is_rep and held:
            self.timers.start(Timer.TOKEN_HOLD, now + settings.hold / 1000)

    def _recovery_progress(self, token: OrfToken, now: float) -> None:
        """RECOVERY bookkeeping on the token: when everyone is done, go OPERATIONAL (ref 5.4)."""
        if self.retrans_queue:
            if token.retrans_flg == 0:
                token.retrans_flg = 1
                self.my_set_retrans_flg = True
        elif token.retrans_flg == 1 and self.my_set_retrans_flg:
            token.retrans_flg = 0
            self.my_set_retrans_flg = False
        if token.retrans_flg == 0:
            self.my_retrans_flg_count += 1
        else:
            self.my_retrans_flg_count = 0
        if self.my_retrans_flg_count == 2:
            self.my_install_seq = token.seq
        if (
            self.my_retrans_flg_count >= 2
            and not self.my_received_flg
            and seq_lte(self.my_install_seq, self.my_aru)
        ):
            self.my_received_flg = True
            self.deliver_memb_list = list(self.trans_memb_list)
        if self.my_retrans_flg_count >= 3 and seq_lte(self.my_install_seq, token.aru):
            self.my_rotation_counter += 1
        else:
            self.my_rotation_counter = 0
        if self.my_rotation_counter == 2:
            self.operational_enter(now)
            self.my_rotation_counter = 0
            self.my_retrans_flg_count = 0

    def token_send(self, token: OrfToken, forward: bool) -> None:
        """Keep a copy for retransmission; send it to the next node unless held."""
        token.nodeid = self.node_id
        data = encode(token)
        self.token_retransmit_copy = Datagram(self.token_target, data)
        if forward:
            self.stats.orf_token_tx += 1
            self.send_unicast(self.token_target, data)

    def orf_token_send_initial(self) -> None:
        """The representative starts the new ring's token (ref 4.1)."""
        self.my_set_retrans_flg = bool(self.retrans_queue)
        token = OrfToken(
            nodeid=self.node_id,
            target_nodeid=0,
            seq=0,
            token_seq=0,
            aru=U32,
            aru_addr=self.node_id,
            ring_id=self.ring_id,
            backlog=0,
            fcc=0,
            retrans_flg=int(self.my_set_retrans_flg),
            rtr=[],
        )
        self.token_send(token, True)

    # ------------------------------------------------------------------------------------
    # Flow control (ref 6.1 steps 5, 7, 9)
    # ------------------------------------------------------------------------------------
    def _backlog(self) -> int:
        if self.state is MembState.OPERATIONAL:
            return len(self.new_queue_trans if self.waiting_trans_ack else self.new_queue)
        if self.state is MembState.RECOVERY:
            return len(self.retrans_queue)
        return 0

    def fcc_calculate(self, token: OrfToken) -> int:
        """Messages this node may send on this visit (``fcc_calculate``)."""
        window = self.settings.window_size
        allowed = self.settings.max_messages
        room = (window - token.fcc) & U32
        if allowed > room:
            allowed = room
        self.my_cbl = self._backlog()
        total = (token.backlog + self.my_cbl - self.my_pbl) & U32
        if total:
            share = ((window * self.my_pbl) & U32) // total
            if 0 < share < allowed:
                allowed = share
        return allowed

    def fcc_rtr_limit(self, token: OrfToken, allowed: int) -> int:
        """Never let new sends overrun the sort queue window (``fcc_rtr_limit``)."""
        limit = (
            self.last_released + QUEUE_RTR_ITEMS_SIZE_MAX - allowed - self.settings.window_size
        ) & U32
        return 0 if seq_lt(limit, token.seq) else allowed

    def fcc_token_update(self, token: OrfToken, transmitted: int) -> None:
        """Account this visit's sends and backlog on the token (``fcc_token_update``)."""
        token.fcc = (token.fcc + transmitted - self.my_trc) & U32
        token.backlog = (token.backlog + self.my_cbl - self.my_pbl) & U32
        self.my_trc = transmitted
        self.my_pbl = self.my_cbl

    # ------------------------------------------------------------------------------------
    # Retransmission and sending (ref 6.1 steps 6, 8)
    # ------------------------------------------------------------------------------------
    def orf_token_rtr(self, token: OrfToken, allowed: int, now: float) -> tuple[int, int]:
        """Serve the token's retransmit list, then add my own gaps to it."""
        queue = self._active_queue()
        rtr = token.rtr
        if rtr:
            self._log_retransmit_list(rtr, now)
        remcasted = 0
        i = 0
        while remcasted < allowed and i < len(rtr):
            item = rtr[i]
            stored = queue.get(item.seq) if item.ring_id == self.ring_id else None
            if stored is None:
                i += 1
                continue
            self.send_multicast(stored[1])
            del rtr[i]
            self.stats.mcast_retx += 1
            remcasted += 1
        allowed -= remcasted

        span = (token.seq - self.my_aru) & U32
        if span >= QUEUE_RTR_ITEMS_SIZE_MAX:
            span = QUEUE_RTR_ITEMS_SIZE_MAX - 1
        miss_const = self.settings.miss_count_const
        for offset in range(1, span + 1):
            if len(rtr) >= RTR_ENTRIES_MAX:
                break
            seq = (self.my_aru + offset) & U32
            if not queue.in_range(seq):
                break
            if seq in queue or queue.miss(seq) < miss_const:
                continue
            if all(entry.seq != seq for entry in rtr):
                rtr.append(RtrItem(self.ring_id, seq))
                self.stats.rtr_requested += 1
        return remcasted, allowed

    def _log_retransmit_list(self, rtr: list[RtrItem], now: float) -> None:
        text = " ".join(f"{item.seq:x}" for item in rtr)
        self._log(LogLevel.DEBUG, f"Retransmit List {len(rtr)}")
        if now - self.last_rtr_log >= _RTR_LOG_INTERVAL:
            suppressed = self.rtr_log_suppressed
            suffix = f" ({suppressed} similar lines suppressed)" if suppressed else ""
            self._log(LogLevel.NOTICE, f"Retransmit List: {text} {suffix}".rstrip())
            self.last_rtr_log = now
            self.rtr_log_suppressed = 0
        else:
            self.rtr_log_suppressed += 1

    def orf_token_mcast(self, token: OrfToken, allowed: int, now: float) -> int:
        """Stamp queued packets with sequence numbers and multicast them (``orf_token_mcast``)."""
        if self.state is MembState.RECOVERY:
            queue = self.retrans_queue
            store = self.recovery_queue
            self.reset_token_retransmit_timeout(now)
        else:
            queue = self.new_queue_trans if self.waiting_trans_ack else self.new_queue
            store = self.regular_queue
        sent = 0
        node_id = self.node_id
        ring_id = self.ring_id
        while sent < allowed and queue:
            pending = queue.popleft()
            seq = (token.seq + 1) & U32
            token.seq = seq
            stored = new_mcast(
                node_id,
                ENCAPSULATED if pending.encapsulated else NOT_ENCAPSULATED,
                seq,
                self.global_seqno,
                ring_id,
                pending.guarantee,
                pending.payload,
            )
            self.global_seqno = (self.global_seqno + 1) & 0x7FFFFFFF
            data = stored[1]
            store.add(seq, stored)
            self.send_multicast(data)
            self.my_high_seq_received = seq
            sent += 1
        self.update_aru()
        return sent

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
        release_to = token_aru
        if seq_lt(self.my_last_aru, release_to):
            release_to = self.my_last_aru
        if seq_lt(self.my_high_delivered, release_to):
            release_to = self.my_high_delivered
        if seq_lt(release_to, self.last_released) or release_to == self.last_released:
            return
        if ((release_to - self.last_released) & U32) >= QUEUE_RTR_ITEMS_SIZE_MAX:
            return
        self.regular_queue.release_to(release_to)
        self.last_released = release_to

    def deliver_to_app(self, skip: bool, end_point: int) -> None:
        """Deliver in sequence order up to ``end_point`` (``messages_deliver_to_app``).

        ``skip`` is the transitional pass: holes are skipped and only messages
        from ``deliver_memb_list`` are delivered; safety is not waited for.
        """
        span = (end_point - self.my_high_delivered) & U32
        if span == 0 or span >= QUEUE_RTR_ITEMS_SIZE_MAX:
            return
        queue = self.regular_queue
        base = self.my_high_delivered
        for offset in range(1, span + 1):
            seq = (base + offset) & U32
            if not queue.in_range(seq):
                break
            stored = queue.get(seq)
            if stored is None:
                if not skip:
                    break
                self.my_high_delivered = seq
                continue
            message = stored[0]
            if not skip and message.guarantee == _SAFE and not seq_lte(seq, self.safe_aru):
                break
            self.my_high_delivered = seq
            if skip and message.system_from not in self.deliver_memb_list:
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
