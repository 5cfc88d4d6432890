"""SRP's membership: GATHER and COMMIT, token loss, the ring's sets (ref 5, 7).

How a ring forms (ref 5.1-5.5):

1. GATHER: every node multicasts a JOIN (its ``proc_list`` and ``failed_list``)
   every ``join`` ms. A JOIN whose sets equal mine marks its sender in
   ``consensus``; a JOIN with processors I did not know merges them into my
   sets and restarts GATHER. When everyone in ``proc - failed`` agrees, the
   lowest node id creates the commit token. Nodes that never agree within
   ``consensus`` ms are moved to ``failed_list``.
2. COMMIT: the commit token goes round the new ring (sorted by node id) once;
   each node records its old ring id, aru and high delivered in it.
3. RECOVERY: on the second round each node learns which old-ring messages some
   transitional member lacks and re-sends them ENCAPSULATED on the new ring;
   the representative then starts the ORF token (``recovery``).
4. OPERATIONAL: old-ring messages are delivered, then the TRANSITIONAL
   configuration, the rest of the old ring's messages from transitional
   members, and the REGULAR configuration of the new ring (EVS, ``recovery``).

The handlers of JOINs, commit tokens and token loss are one method per state
(``join_in_gather``, ``commit_token_in_commit``, ``token_lost_in_recovery``...),
reached through the table of ``totem.srp.dispatch``; every GATHER names its
``GatherReason`` (``totem.srp.transitions``). State: the ``Ring`` record
(``totem.srp.records``), which only this module writes.
"""

from __future__ import annotations

from totem.ringid import RingId
from totem.srp.events import LogLevel
from totem.srp.memb import merge, set_equal, subset, subtract
from totem.srp.seqno import U32, seq_lt
from totem.srp.state import Datagram, MembState, SrpState
from totem.srp.timers import Timer
from totem.srp.transitions import GatherReason
from totem.wire import (
    CommitToken,
    MembEntry,
    MembJoin,
    MergeDetect,
    encode,
)

__all__ = ["LEAVE_DUMMY_NODEID", "MembershipMixin"]

LEAVE_DUMMY_NODEID = 0
"""``header.nodeid`` of a JOIN that announces a graceful leave (ref 7)."""

_NO_RING = RingId(0, 0)

_FOREIGN_IN_OPERATIONAL = {
    False: GatherReason.FOREIGN_MESSAGE_IN_OPERATIONAL_STATE,
    True: GatherReason.MERGE_DURING_OPERATIONAL_STATE,
}
_FOREIGN_IN_GATHER = {
    False: GatherReason.FOREIGN_MESSAGE_IN_GATHER_STATE,
    True: GatherReason.MERGE_DURING_GATHER_STATE,
}


class MembershipMixin(SrpState):
    """GATHER/COMMIT/RECOVERY/OPERATIONAL transitions and the messages that drive them."""

    # ------------------------------------------------------------------------------------
    # GATHER
    # ------------------------------------------------------------------------------------
    def gather_enter(self, now: float, reason: GatherReason) -> None:
        """Enter GATHER: announce my sets and wait for consensus (``memb_state_gather_enter``)."""
        self.ring.orf_token_discard = True
        self.ring.originated_orf_token = False
        merge(self.ring.proc_list, (self.node_id,))
        self.join_message_send(now)
        self.timers.start(Timer.JOIN, now + self.settings.join / 1000)
        self.timers.start(Timer.CONSENSUS, now + self.settings.consensus / 1000)
        self.timers.cancel(Timer.TOKEN_RETRANSMIT)
        self.cancel_token_timeout()
        self.timers.cancel(Timer.MERGE_DETECT)
        self.ring.consensus = {self.node_id}
        self._log(LogLevel.DEBUG, f"entering GATHER state from {reason.text}.")
        self.set_state(MembState.GATHER, reason.text)
        self.stats.gather_entered += 1
        if reason is GatherReason.THE_CONSENSUS_TIMEOUT_EXPIRED:
            self.stats.continuous_gather += 1

    def join_message_send(self, now: float) -> None:
        """Multicast my JOIN (proc and failed lists, my ring seq).

        With ``send_join`` the JOIN goes out after a random delay of up to that many
        ms (corosync sleeps there; we arm a timer), carrying the lists as they are
        then, so that the JOINs of a large ring do not all arrive at once.
        """
        if self.settings.send_join > 0:
            if not self.timers.armed(Timer.SEND_JOIN):
                delay = self.rng.uniform(0, self.settings.send_join) / 1000
                self.timers.start(Timer.SEND_JOIN, now + delay)
            return
        self.send_join_now()

    def join_timer_expired(self, now: float) -> None:
        """GATHER: the periodic JOIN (``memb_timer_function_state_gather``)."""
        self.join_message_send(now)
        self.timers.start(Timer.JOIN, now + self.settings.join / 1000)

    def send_join_expired(self, now: float) -> None:
        """GATHER: the JOIN held back by ``send_join`` goes out."""
        self.send_join_now()

    def merge_detect_expired(self, now: float) -> None:
        """OPERATIONAL: the representative announces its ring
        (``timer_function_merge_detect_timeout``)."""
        if self.ring.ring_id.rep == self.node_id:
            self.merge_detect_transmit()

    def pause_expired(self, now: float) -> None:
        """The scheduler-pause detector's tick (``timer_function_pause_timeout``)."""
        self.ring.pause_timestamp = now
        self.timers.start(Timer.PAUSE, now + self.settings.token / 5000)

    def send_join_now(self) -> None:
        """Multicast my JOIN at once."""
        join = MembJoin(
            nodeid=self.node_id,
            target_nodeid=0,
            system_from=self.node_id,
            proc_list=tuple(self.ring.proc_list),
            failed_list=tuple(self.ring.failed_list),
            ring_seq=self.ring.ring_id.seq,
        )
        self.stats.memb_join_tx += 1
        self.send_multicast(encode(join))

    def leave_message_send(self) -> None:
        """Announce a graceful leave: a JOIN with node id 0 listing me last as failed (ref 7)."""
        merge(self.ring.failed_list, (self.node_id,))
        active = subtract(self.ring.proc_list, (self.node_id,))
        join = MembJoin(
            nodeid=LEAVE_DUMMY_NODEID,
            target_nodeid=0,
            system_from=self.node_id,
            proc_list=tuple(active),
            failed_list=tuple(self.ring.failed_list),
            ring_seq=self.ring.ring_id.seq,
        )
        self._log(LogLevel.DEBUG, "sending join/leave message")
        self.stats.memb_join_tx += 1
        self.send_multicast(encode(join))

    def merge_detect_transmit(self) -> None:
        """The representative tells listed nodes outside the ring that the ring exists."""
        message = MergeDetect(
            nodeid=self.node_id,
            target_nodeid=0,
            system_from=self.node_id,
            ring_id=self.ring.ring_id,
        )
        self.stats.memb_merge_detect_tx += 1
        self.send_multicast(encode(message))

    # ``message_handler_memb_join`` (ref 5.1), one handler per state (``dispatch``).
    def _join_accepted(self, join: MembJoin, now: float) -> bool:
        """What every state does with a JOIN first: count it, drop it after a process
        pause (``pause_flush``), and follow the highest ring seq any JOIN names."""
        self.stats.memb_join_rx += 1
        if now - self.ring.pause_timestamp > self.settings.token / 2000:
            paused_ms = int((now - self.ring.pause_timestamp) * 1000)
            self.stats.pause_detected += 1
            self._log(
                LogLevel.NOTICE,
                f"Process pause detected for {paused_ms} ms, flushing membership messages.",
            )
            self.ring.pause_timestamp = now
            return False
        if join.ring_seq > self.ring.token_ring_id_seq:
            self.ring.token_ring_id_seq = join.ring_seq
        return True

    def join_in_operational(self, join: MembJoin, data: bytes, now: float) -> None:
        """OPERATIONAL: a JOIN that does not fail me and is not stale starts a membership round."""
        if self._join_accepted(join, now) and not self._ignore_join_under_operational(join):
            self.join_process(join, now)

    def join_in_gather(self, join: MembJoin, data: bytes, now: float) -> None:
        """GATHER: every JOIN counts towards consensus."""
        if self._join_accepted(join, now):
            self.join_process(join, now)

    def join_in_commit(self, join: MembJoin, data: bytes, now: float) -> None:
        """COMMIT: a member of the ring being formed gathers again (or leaves): so do I."""
        if self._join_accepted(join, now) and self._join_from_forming_ring(join):
            self.join_process(join, now)
            self.gather_enter(now, GatherReason.JOIN_DURING_COMMIT_STATE)

    def join_in_recovery(self, join: MembJoin, data: bytes, now: float) -> None:
        """RECOVERY: as in COMMIT, but the old ring's state is restored first
        (``memb_recovery_state_token_loss``)."""
        if self._join_accepted(join, now) and self._join_from_forming_ring(join):
            self.join_process(join, now)
            self.recovery_token_loss(now)

    def _join_from_forming_ring(self, join: MembJoin) -> bool:
        return join.system_from in self.ring.new_memb_list and (
            join.ring_seq >= self.ring.ring_id.seq or self._leave_from_forming_ring(join)
        )

    def _leave_from_forming_ring(self, join: MembJoin) -> bool:
        """A LEAVE from a member of the ring being committed, sent from the ring we left.

        corosync's ``message_handler_memb_join`` takes a JOIN in COMMIT or RECOVERY only from
        a member of ``my_new_memb_list`` whose ``ring_seq`` is not older than the new ring's.
        A LEAVE (``memb_leave_message_send``: header node id 0, the leaver last in its failed
        list) carries the leaver's own ring seq, i.e. the old ring's when it leaves before
        the commit token reaches it. That happens when two nodes leave at once: the second
        one answers the first one's LEAVE with a JOIN (so the survivor commits a ring with
        it), then sends its own LEAVE. corosync 3.1.7 drops that LEAVE, the commit token is
        lost with the leaver, and the survivor waits token + consensus ("The token was lost
        in the COMMIT state", then "Failed to receive the leave message") -- about one time
        in three against real nodes (``tests/interop/test_leave.py``). We accept it when it
        is not older than the ring we are leaving (``old_ring_id``, so a stale LEAVE from an
        earlier incarnation still counts for nothing) and gather again without the leaver
        at once. The JOIN we then send carries the new ring's seq, which real nodes in
        COMMIT accept, so they follow.
        """
        return join.nodeid == LEAVE_DUMMY_NODEID and join.ring_seq >= self.recovery.old_ring_id.seq

    def _ignore_join_under_operational(self, join: MembJoin) -> bool:
        if self.node_id in join.failed_list:
            return True
        return join.system_from in self.ring.memb_list and join.ring_seq < self.ring.ring_id.seq

    def join_process(self, join: MembJoin, now: float) -> None:
        """``memb_join_process``: consensus, or merge of the sender's view into mine.

        One deliberate deviation from corosync 3.1.7: a JOIN is merged, and GATHER
        re-entered, only if my sets grew. corosync re-enters GATHER after every JOIN
        that is not a subset of my sets, even when it takes nothing from it: the
        sender's failed list is adopted only if the sender was in my ring, so a JOIN
        from a node of another ring whose failed list names nodes mine does not is
        "new" every time it comes. Each re-entry multicasts my JOIN and restarts the
        consensus timer. Two such nodes then answer each other's JOINs for ever (the
        periodic JOINs alone, every ``join`` ms, keep the ``consensus`` timer from
        firing), and three of them double the JOINs in flight at every hop: a storm
        in which no ring forms. Without the re-entry my periodic JOIN still carries
        my sets, the consensus timer fires, and the nodes that did not agree are
        failed (ref 5.1).
        """
        proc, failed, sender = join.proc_list, join.failed_list, join.system_from
        if join.nodeid == LEAVE_DUMMY_NODEID:
            leaver = failed[-1] if failed else LEAVE_DUMMY_NODEID
            self._log(LogLevel.DEBUG, f"Received LEAVE message from {leaver}")
            if failed:
                self.ring.leave_memb.add(failed[-1])
        if set_equal(proc, self.ring.proc_list) and set_equal(failed, self.ring.failed_list):
            if join.nodeid != LEAVE_DUMMY_NODEID:
                self.ring.consensus.add(sender)
            if self._consensus_agreed() and self.ring.failed_to_recv:
                self.ring.failed_to_recv = False
                self.ring.proc_list = [self.node_id]
                self.ring.failed_list = []
                self.commit_token_create()
                self.commit_enter(now)
                return
            if self._consensus_agreed() and self._lowest_in_config():
                self.commit_token_create()
                self.commit_enter(now)
        elif (
            subset(proc, self.ring.proc_list) and subset(failed, self.ring.failed_list)
        ) or sender in self.ring.failed_list:
            pass  # nothing new, or a node I already consider failed
        else:
            grew = merge(self.ring.proc_list, proc)
            if self.node_id in failed:
                grew = merge(self.ring.failed_list, (sender,)) or grew
            elif sender in self.ring.memb_list:
                grew = merge(self.ring.failed_list, failed) or grew
            if grew:
                self.gather_enter(now, GatherReason.MERGE_DURING_JOIN)
                return
            # Nothing of it was taken (see the docstring): no new GATHER.
        if self.state is MembState.OPERATIONAL:
            self.gather_enter(now, GatherReason.JOIN_DURING_OPERATIONAL_STATE)

    def _consensus_agreed(self) -> bool:
        return all(
            node in self.ring.consensus
            for node in self.ring.proc_list
            if node not in self.ring.failed_list
        )

    def _lowest_in_config(self) -> bool:
        candidates = subtract(self.ring.proc_list, self.ring.failed_list)
        return bool(candidates) and min(candidates) == self.node_id

    def consensus_timeout_expired(self, now: float) -> None:
        """Nodes that did not agree in time are failed (``memb_state_consensus_timeout``)."""
        self.stats.consensus_timeouts += 1
        if self._consensus_agreed():
            self.ring.consensus = {self.node_id}
            self.reset_token_timeout(now)
        else:
            laggards = [node for node in self.ring.proc_list if node not in self.ring.consensus]
            merge(self.ring.failed_list, laggards)
            self.gather_enter(now, GatherReason.CONSENSUS_TIMEOUT)

    def handle_merge_detect(self, message: MergeDetect, data: bytes, now: float) -> None:
        """A representative of another ring exists: merge with it (ref 5.6)."""
        self.stats.memb_merge_detect_rx += 1
        if message.ring_id != self.ring.ring_id:
            self.foreign_ring_seen(message.system_from, now, merge_detect=True)

    def foreign_ring_seen(self, sender: int, now: float, *, merge_detect: bool) -> None:
        """A listed node speaks for another ring (a MERGE_DETECT if ``merge_detect``, else an MCAST
        of another ring): take it into ``proc_list`` and gather."""
        if self.state is MembState.OPERATIONAL:
            merge(self.ring.proc_list, (sender,))
            self.gather_enter(now, _FOREIGN_IN_OPERATIONAL[merge_detect])
        elif self.state is MembState.GATHER and sender not in self.ring.proc_list:
            merge(self.ring.proc_list, (sender,))
            self.gather_enter(now, _FOREIGN_IN_GATHER[merge_detect])
        elif not merge_detect and self.state in (MembState.COMMIT, MembState.RECOVERY):
            self.stats.rx_msg_dropped += 1

    # ------------------------------------------------------------------------------------
    # COMMIT
    # ------------------------------------------------------------------------------------
    def commit_token_create(self) -> None:
        """The representative creates the commit token of the new ring (ref 5.2)."""
        members = sorted(subtract(self.ring.proc_list, self.ring.failed_list))
        self._log(LogLevel.DEBUG, "Creating commit token because I am the rep.")
        self.ring.commit_token = CommitToken(
            nodeid=self.node_id,
            target_nodeid=0,
            token_seq=0,
            ring_id=RingId(self.node_id, self.ring.token_ring_id_seq + 4),
            retrans_flg=0,
            memb_index=0,
            addr=members,
            memb_list=[MembEntry(_NO_RING, 0, 0, 0) for _ in members],
        )

    # ``message_handler_memb_commit_token`` (ref 5.3, 5.4), one handler per state.
    def _commit_token_valid(self, token: CommitToken) -> bool:
        """Count the commit token; drop one whose lists disagree in length."""
        self.stats.memb_commit_token_rx += 1
        count = len(token.addr)
        if count == 0 or len(token.memb_list) != count:
            self.stats.drop("bad_commit_token")
            return False
        return True

    def commit_token_in_operational(self, token: CommitToken, data: bytes, now: float) -> None:
        """OPERATIONAL: a commit token is only checked (and dropped)."""
        self._commit_token_valid(token)

    def commit_token_in_gather(self, token: CommitToken, data: bytes, now: float) -> None:
        """GATHER: the token of the ring I agreed on, newer than mine: commit to it."""
        if not self._commit_token_valid(token):
            return
        if not 0 <= token.memb_index < len(token.addr):
            self.stats.drop("bad_commit_token")
            return
        members = subtract(self.ring.proc_list, self.ring.failed_list)
        if set_equal(token.addr, members) and token.ring_id.seq > self.ring.ring_id.seq:
            self.ring.commit_token = token
            self.commit_enter(now)

    def commit_token_in_commit(self, token: CommitToken, data: bytes, now: float) -> None:
        """COMMIT: the token's second round (every member has filled its entry): recover."""
        if not self._commit_token_valid(token):
            return
        if token.ring_id.seq == self.ring.ring_id.seq and token.memb_index == len(token.addr):
            if not self._my_commit_entry(token):
                return
            self.ring.orf_token_discard = False  # the new ring's ORF token is coming
            self.recovery_enter(token, now)

    def _my_commit_entry(self, token: CommitToken) -> bool:
        """Whether the completed commit token carries the entry I wrote into it: my old
        ring. It does not when I committed to a copy of its first round (a duplicate that
        reached me after a restart) while the token itself passed my place in my earlier
        life: its entry names that life's ring, and corosync 3.1.7 would recover from it
        with a transitional configuration that leaves me out (``memb_set_and_with_ring_id``
        finds me in no old ring). Such a token is dropped: lost for me, so the ring forms
        again with me in it."""
        for node, entry in zip(token.addr, token.memb_list, strict=True):
            if node == self.node_id:
                if entry.ring_id == self.recovery.old_ring_id:
                    return True
                self.stats.drop("foreign_commit_entry")
                self._log(
                    LogLevel.NOTICE,
                    f"Discarding a commit token whose entry for me names ring {entry.ring_id}, "
                    f"not my old ring {self.recovery.old_ring_id}.",
                )
                return False
        return True

    def commit_token_in_recovery(self, token: CommitToken, data: bytes, now: float) -> None:
        """RECOVERY: back at the representative, the commit token becomes the ORF token."""
        if not self._commit_token_valid(token) or self.node_id != self.ring.ring_id.rep:
            return
        if self.ring.originated_orf_token:
            return
        self.ring.originated_orf_token = True
        self._log(LogLevel.DEBUG, "Sending initial ORF token")
        self.orf_token_send_initial()
        self.reset_token_timeout(now)
        self.reset_token_retransmit_timeout(now)

    def commit_enter(self, now: float) -> None:
        """Take my place in the commit token and pass it on (``memb_state_commit_enter``).

        The failed list is forgotten here, when the node commits to a new ring, rather
        than only when that ring is installed (corosync 3.1.7 clears it in
        ``memb_state_operational_enter`` alone). It served to agree on this ring; if the
        ring is never installed (its token is lost in COMMIT or RECOVERY, a member gathers
        again) a node that kept it would go on failing, in every later GATHER, nodes it
        can reach again, and hand that list to every member of its ring that has been
        installed since (they adopt the failed list of a JOIN from their ring). Two groups
        of a healed network then form two rings, each breaking the other as soon as it is
        installed, for ever (a campaign found 11 nodes doing that 125 times a second).
        """
        token = self.ring.commit_token
        assert token is not None
        self.ring.failed_list = []
        self.old_ring_state_save()
        self._commit_token_update(token)
        self.ring.token_target = token.addr[token.memb_index % len(token.addr)]
        self.timers.cancel(Timer.JOIN)
        self.timers.cancel(Timer.SEND_JOIN)
        self.timers.cancel(Timer.CONSENSUS)
        self.ring.ring_id = token.ring_id
        self.store_ring_seq()
        self.ring.token_ring_id_seq = self.ring.ring_id.seq
        self._log(LogLevel.DEBUG, "entering COMMIT state.")
        self.set_state(MembState.COMMIT, "commit token")
        self.reset_token_retransmit_timeout(now)
        self.reset_token_timeout(now)
        self.stats.commit_entered += 1
        self.stats.continuous_gather = 0
        self.fcc_reset()
        self._commit_token_send(token, now)

    def _commit_token_update(self, token: CommitToken) -> None:
        index = token.memb_index
        self.ring.new_memb_list = list(token.addr)
        received = self.order.my_aru == self.order.my_high_seq_received
        mine = MembEntry(
            self.recovery.old_ring_id,
            self.recovery.old_ring_state_aru,
            self.order.my_high_delivered,
            int(received),
        )
        token.memb_list[index] = mine
        high_aru = mine.aru
        for entry in token.memb_list[: index + 1]:
            if entry.ring_id == mine.ring_id and seq_lt(high_aru, entry.aru):
                high_aru = entry.aru
        for i, entry in enumerate(token.memb_list[: index + 1]):
            if entry.ring_id == mine.ring_id and seq_lt(entry.aru, high_aru):
                token.memb_list[i] = MembEntry(entry.ring_id, entry.aru, entry.high_delivered, 0)
                if i == index:
                    received = False
        self.received_flg_set(received)
        token.nodeid = self.node_id
        token.memb_index = index + 1

    def _commit_token_send(self, token: CommitToken, now: float) -> None:
        token.token_seq = (token.token_seq + 1) & U32
        token.nodeid = self.node_id
        data = encode(token)
        self.token_retransmit_copy = Datagram(self.ring.token_target, data)
        self.stats.memb_commit_token_tx += 1
        self.send_unicast(self.ring.token_target, data)
        self.reset_token_retransmit_timeout(now)

    # ------------------------------------------------------------------------------------
    # The ring's life (called by the core, ordering and recovery: Ring is written here only)
    # ------------------------------------------------------------------------------------
    def ring_start(self, now: float) -> None:
        """The interface is up: my singleton ring, one above the stored ring seq."""
        ring = self.ring
        ring.ring_id = RingId(self.node_id, ring.ring_id.seq + 1)
        self.old_ring_id_follow()
        ring.token_ring_id_seq = ring.ring_id.seq
        ring.pause_timestamp = now

    def failed_to_receive(self, now: float) -> None:
        """The token's aru stayed mine too long: I fail myself and gather (ref 5.6)."""
        self._log(LogLevel.ERROR, "FAILED TO RECEIVE")
        self.stats.failed_to_receive += 1
        self.ring.failed_to_recv = True
        if self.node_id not in self.ring.failed_list:
            self.ring.failed_list.append(self.node_id)
        self.gather_enter(now, GatherReason.FAILED_TO_RECEIVE)

    def ring_operational_begin(self) -> None:
        """Installing the new ring: its token has been originated, consensus is spent."""
        self.ring.originated_orf_token = False
        self.ring.consensus = set()

    def ring_members_install(self, trans_memb_list: list[int]) -> tuple[list[int], list[int]]:
        """The new ring's members become the regular configuration's; returns who left
        and who joined (relative to the transitional members)."""
        ring = self.ring
        left = subtract(ring.memb_list, trans_memb_list)
        joined = subtract(ring.new_memb_list, trans_memb_list)
        ring.left_memb_list = left
        ring.memb_list = list(ring.new_memb_list)
        return left, joined

    def ring_install(self, left: list[int]) -> list[int]:
        """The sets start again from the new ring; returns the nodes of ``left`` that
        failed (sent no LEAVE)."""
        ring = self.ring
        ring.proc_list = list(ring.new_memb_list)
        ring.failed_list = []
        failed = [node for node in left if node not in ring.leave_memb]
        ring.leave_memb.clear()
        return failed

    # ------------------------------------------------------------------------------------
    # Token loss
    # ------------------------------------------------------------------------------------
    # ``timer_function_orf_token_timeout``, one handler per state (``dispatch``).
    def token_lost_in_operational(self, now: float) -> None:
        """The token did not come back: a processor failed."""
        self._log(LogLevel.DEBUG, "The token was lost in the OPERATIONAL state.")
        self._log(
            LogLevel.NOTICE,
            "A processor failed, forming new configuration: token timed out "
            f"({self.settings.token}ms), waiting {self.settings.consensus}ms for consensus.",
        )
        self.gather_enter(now, GatherReason.THE_TOKEN_WAS_LOST_IN_THE_OPERATIONAL_STATE)
        self.stats.operational_token_lost += 1

    def token_lost_in_gather(self, now: float) -> None:
        """In GATHER the token timer is the consensus re-check: fail laggards, gather again."""
        self._log(LogLevel.DEBUG, f"The consensus timeout expired ({self.settings.consensus}ms).")
        self.consensus_timeout_expired(now)
        self.gather_enter(now, GatherReason.THE_CONSENSUS_TIMEOUT_EXPIRED)
        self.stats.gather_token_lost += 1

    def token_lost_in_commit(self, now: float) -> None:
        """The commit token was lost: gather again."""
        self._log(LogLevel.DEBUG, "The token was lost in the COMMIT state.")
        self.gather_enter(now, GatherReason.THE_TOKEN_WAS_LOST_IN_THE_COMMIT_STATE)
        self.stats.commit_token_lost += 1

    def token_lost_in_recovery(self, now: float) -> None:
        """The token was lost in RECOVERY: the old ring's state applies again; gather."""
        self._log(LogLevel.DEBUG, "The token was lost in the RECOVERY state.")
        self.recovery_token_loss(now)
        self.ring.orf_token_discard = True
