"""Recovery of the old ring's messages and the installation of the new ring (ref 5.4, 5.5).

After the commit token's second round (``recovery_enter``) each node knows, from
every member's commit token entry, which old-ring messages some transitional member
lacks: it re-sends them ENCAPSULATED on the new ring (the retransmit queue). The
representative starts the new ring's ORF token (``orf_token_send_initial``); on each
visit ``_recovery_progress`` follows the token's ``retrans_flg`` until every member
has re-sent what it had and received what it lacked, then ``operational_enter``
installs the ring with extended virtual synchrony's delivery order. If the new ring
fails, the old ring's counters are restored (``old_ring_state_restore``) and GATHER
starts again.

State: the ``Recovery`` record (``totem.srp.records``), which only this module writes.
"""

from __future__ import annotations

from totem.srp.events import ConfigurationChange, ConfigurationKind, LogLevel
from totem.srp.seqno import U32, seq_lt, seq_lte
from totem.srp.sortqueue import QUEUE_RTR_ITEMS_SIZE_MAX
from totem.srp.state import MembState, Pending, SrpState
from totem.srp.transitions import GatherReason
from totem.wire import ENCAPSULATED, CommitToken, OrfToken

__all__ = ["RecoveryMixin"]


class RecoveryMixin(SrpState):
    """Old ring state, RECOVERY and the move to OPERATIONAL."""

    # ------------------------------------------------------------------------------------
    # Old ring state (kept until a new ring is OPERATIONAL)
    # ------------------------------------------------------------------------------------
    def old_ring_state_save(self) -> None:
        """Remember the old ring's aru and high seq once per membership change."""
        recovery, order = self.recovery, self.order
        if not recovery.old_ring_state_saved:
            recovery.old_ring_state_saved = True
            recovery.old_ring_id = self.ring.ring_id
            recovery.old_ring_state_aru = order.my_aru
            recovery.old_ring_state_high_seq_received = order.my_high_seq_received
            self._log(
                LogLevel.DEBUG,
                f"Saving state aru {order.my_aru:x} "
                f"high seq received {order.my_high_seq_received:x}",
            )

    def old_ring_state_restore(self) -> None:
        """A new ring failed to form: the old ring's counters apply again."""
        recovery = self.recovery
        self.ordering_restore(
            recovery.old_ring_state_aru, recovery.old_ring_state_high_seq_received
        )

    def old_ring_id_follow(self) -> None:
        """The ring I am in is, from now on, the old ring of the next membership change."""
        self.recovery.old_ring_id = self.ring.ring_id

    def received_flg_set(self, received: bool) -> None:
        """Whether I hold every message of my old ring (the commit token's ``received_flg``)."""
        self.recovery.my_received_flg = received

    def recovery_token_loss(self, now: float) -> None:
        """Recovery failed: restore the old ring state and gather again."""
        self.old_ring_state_restore()
        self.gather_enter(now, GatherReason.THE_TOKEN_WAS_LOST_IN_THE_RECOVERY_STATE)
        self.stats.recovery_token_lost += 1

    # ------------------------------------------------------------------------------------
    # RECOVERY
    # ------------------------------------------------------------------------------------
    def recovery_enter(self, token: CommitToken, now: float) -> None:
        """Second round of the commit token: plan the recovery (``memb_state_recovery_enter``)."""
        self._log(LogLevel.DEBUG, "entering RECOVERY state.")
        recovery = self.recovery
        recovery.my_high_ring_delivered = 0
        low_ring_aru = recovery.old_ring_state_high_seq_received
        self._commit_token_send(token, now)
        recovery.my_retrans_flg_count = 0
        recovery.my_rotation_counter = 0

        # Transitional membership: old members still here, coming from my old ring.
        entries = zip(token.addr, token.memb_list, strict=True)
        new_ring_ids = {node: entry.ring_id for node, entry in entries}
        old_ring_id = recovery.old_ring_id
        recovery.trans_memb_list = [
            node for node in self.ring.memb_list if new_ring_ids.get(node) == old_ring_id
        ]
        trans = set(recovery.trans_memb_list)
        originate = any(
            node in trans and entry.received_flg == 0
            for node, entry in zip(token.addr, token.memb_list, strict=True)
        )
        retrans: list[Pending] = []
        # The transitional delivery pass (skip=True) delivers only messages from
        # deliver_memb_list. corosync sets it here only when some member lacks
        # messages, since otherwise its agreed-only first pass leaves nothing for
        # that pass; our first pass also stops at a SAFE message that is not yet
        # safe, so the list must always be this configuration's transitional
        # members, never a stale one (else such messages are silently skipped).
        self.recovery.deliver_memb_list = list(self.recovery.trans_memb_list)
        # The highest old-ring message a transitional member delivered (in the old
        # regular configuration), from every member's commit token entry: corosync
        # computes it only when it originates messages (it has no use for it, having
        # no SAFE delivery); ``operational_enter`` needs it every time.
        same_ring = [
            entry
            for node, entry in zip(token.addr, token.memb_list, strict=True)
            if node in trans and entry.ring_id == self.recovery.old_ring_id
        ]
        for entry in same_ring:
            if seq_lt(self.recovery.my_high_ring_delivered, entry.high_delivered):
                self.recovery.my_high_ring_delivered = entry.high_delivered
        if originate:
            for entry in same_ring:
                if seq_lt(entry.aru, low_ring_aru):
                    low_ring_aru = entry.aru
            span = (self.recovery.old_ring_state_high_seq_received - low_ring_aru) & U32
            if 0 < span < QUEUE_RTR_ITEMS_SIZE_MAX:
                self._log(
                    LogLevel.DEBUG,
                    f"copying all old ring messages from {low_ring_aru + 1:x}-"
                    f"{self.recovery.old_ring_state_high_seq_received:x}.",
                )
                last = recovery.old_ring_state_high_seq_received
                queue = self.order.regular_queue
                for _seq, (_mcast, raw) in queue.items_from(low_ring_aru + 1, last):
                    retrans.append(Pending(raw, 0, encapsulated=True))
        if retrans:
            self._log(LogLevel.DEBUG, f"Originated {len(retrans)} messages in RECOVERY.")
        else:
            self._log(LogLevel.DEBUG, "Did not need to originate any messages in recovery.")

        self.ordering_recovery_start(retrans)
        recovery.my_install_seq = 0
        self.reset_token_timeout(now)
        self.reset_token_retransmit_timeout(now)
        self.set_state(MembState.RECOVERY, "commit token completed its rotation")
        self.stats.recovery_entered += 1
        self.stats.continuous_gather = 0

    # ------------------------------------------------------------------------------------
    # OPERATIONAL
    # ------------------------------------------------------------------------------------
    def operational_enter(self, now: float) -> None:
        """Install the new ring with EVS delivery order (``memb_state_operational_enter``)."""
        recovery = self.recovery
        self.ring_operational_begin()
        recovery.old_ring_state_saved = False
        self._recovered_to_regular()

        # 1. Old-ring messages every transitional member holds, in the old configuration.
        # A SAFE message goes in this pass only up to the highest message a transitional
        # member delivered in the old configuration (the Totem recovery's
        # high_ring_delivered): that member knew it safe, so every member of the old
        # configuration held it. It is the same bound at every transitional member (one
        # commit token), whereas each one's own safe_aru differs; with those, one member
        # delivered a SAFE message in the regular configuration and another only in the
        # transitional one (extended virtual synchrony: members that move together
        # deliver the same messages in each). corosync has no SAFE delivery.
        # (corosync also sets my_aru to the old ring's here and back after the
        # transitional pass: delivery does not read it, so neither do we.)
        end_point = recovery.old_ring_state_high_seq_received
        self.deliver_old_ring(recovery.my_high_ring_delivered, end_point)

        left, joined = self.ring_members_install(recovery.trans_memb_list)
        recovery.my_set_retrans_flg = False

        # 2. The transitional configuration, then 3. the rest of the old ring's messages.
        self.emit(
            ConfigurationChange(
                ConfigurationKind.TRANSITIONAL,
                self.ring.ring_id,
                tuple(recovery.trans_memb_list),
                tuple(left),
                (),
            )
        )
        self.deliver_transitional(end_point)

        # 4. The regular configuration of the new ring.
        self.emit(
            ConfigurationChange(
                ConfigurationKind.REGULAR,
                self.ring.ring_id,
                tuple(self.ring.new_memb_list),
                (),
                tuple(joined),
            )
        )
        self.ordering_install()
        failed = self.ring_install(left)
        if self.retired_nodes:
            self.forget_retired()

        joined_text = (" joined: " + " ".join(map(str, joined))) if joined else ""
        left_text = (" left: " + " ".join(map(str, left))) if left else ""
        self._log(LogLevel.DEBUG, "entering OPERATIONAL state.")
        self._log(
            LogLevel.NOTICE,
            f"A new membership ({self.ring.ring_id}) was formed. Members{joined_text}{left_text}",
        )
        if failed:
            self._log(
                LogLevel.NOTICE,
                "Failed to receive the leave message. failed: " + " ".join(map(str, failed)),
            )
        self.set_state(MembState.OPERATIONAL, "recovery completed")
        self.stats.operational_entered += 1
        self.stats.continuous_gather = 0
        recovery.my_received_flg = True
        self.old_ring_id_follow()

    def _recovered_to_regular(self) -> None:
        """Unwrap ENCAPSULATED old-ring messages received in RECOVERY into the regular queue.

        Sequence numbers 1..my_aru, as corosync's loop; none when my_aru is 0 (a
        wrapped range would otherwise scan the whole sort-queue window).
        """
        recovery, order = self.recovery, self.order
        if order.my_aru == 0:
            return
        for _seq, (outer, _raw) in order.recovery_queue.items_from(1, order.my_aru):
            if outer.encapsulated != ENCAPSULATED:
                continue
            try:
                inner = outer.inner()
            except ValueError:
                self.stats.drop("bad_encapsulated")
                continue
            if inner.ring_id != recovery.old_ring_id:
                continue
            if not self.recovered_add(inner, outer.payload):
                continue
            if seq_lt(recovery.old_ring_state_high_seq_received, inner.seq):
                recovery.old_ring_state_high_seq_received = inner.seq

    # ------------------------------------------------------------------------------------
    # The new ring's token in RECOVERY
    # ------------------------------------------------------------------------------------
    def orf_token_send_initial(self) -> None:
        """The representative starts the new ring's token (ref 4.1)."""
        self.recovery.my_set_retrans_flg = bool(self.order.retrans_queue)
        token = OrfToken(
            nodeid=self.node_id,
            target_nodeid=0,
            seq=0,
            token_seq=0,
            aru=U32,
            aru_addr=self.node_id,
            ring_id=self.ring.ring_id,
            backlog=0,
            fcc=0,
            retrans_flg=int(self.recovery.my_set_retrans_flg),
            rtr=[],
        )
        self.token_send(token, True)

    def _recovery_progress(self, retrans_flg: int, seq: int, aru: int, now: float) -> int:
        """RECOVERY bookkeeping on the token: when everyone is done, go OPERATIONAL (ref 5.4).

        ``retrans_flg``, ``seq`` and ``aru`` are the forwarded token's so far; returns its
        ``retrans_flg``.
        """
        recovery = self.recovery
        if self.order.retrans_queue:
            if retrans_flg == 0:
                retrans_flg = 1
                recovery.my_set_retrans_flg = True
        elif retrans_flg == 1 and recovery.my_set_retrans_flg:
            retrans_flg = 0
            recovery.my_set_retrans_flg = False
        if retrans_flg == 0:
            recovery.my_retrans_flg_count += 1
        else:
            recovery.my_retrans_flg_count = 0
        if recovery.my_retrans_flg_count == 2:
            recovery.my_install_seq = seq
        if (
            recovery.my_retrans_flg_count >= 2
            and not recovery.my_received_flg
            and seq_lte(recovery.my_install_seq, self.order.my_aru)
        ):
            recovery.my_received_flg = True
            recovery.deliver_memb_list = list(recovery.trans_memb_list)
        if recovery.my_retrans_flg_count >= 3 and seq_lte(recovery.my_install_seq, aru):
            recovery.my_rotation_counter += 1
        else:
            recovery.my_rotation_counter = 0
        if recovery.my_rotation_counter == 2:
            self.operational_enter(now)
            recovery.my_rotation_counter = 0
            recovery.my_retrans_flg_count = 0
        return retrans_flg
