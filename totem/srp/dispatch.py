"""Per-state handler tables of the SRP core: which message and which timer goes where (ref 5, 6).

corosync 3.1.7 dispatches a datagram by its type through ``totemsrp_message_handlers``
(``message_handler_orf_token``, ``_mcast``, ``_memb_merge_detect``, ``_memb_join``,
``_memb_commit_token``, ``_token_hold_cancel``), and each handler then switches on
``memb_state``. Here the switches that are pure state checks are the table itself:
``HANDLERS[state]`` says, for each message type and each timer, which method runs in
that state (``None``: the message or timer does nothing there). The checks that depend
on more than the state (the ring id, the token's sequence, the representative) stay
inside the handlers.

Every message handler takes ``(core, message, data, now)``: ``data`` is the datagram
as received (MCAST stores it to re-send it unchanged); every timer handler takes
``(core, now)``. ``SrpCore.receive`` and ``SrpCore.on_deadline`` look the handler up
in the row of the current state, which ``set_state`` selects when the state changes.
``describe`` prints the tables and the legal transitions
(``testdata/srp/state_machine.txt`` holds them).
"""

from __future__ import annotations

from collections.abc import Callable

from totem.srp.membership import MembershipMixin as M
from totem.srp.ordering import OrderingMixin as O
from totem.srp.timers import Timer
from totem.srp.transitions import (
    LEGAL_TRANSITIONS,
    GatherReason,
    MembState,
    MessageHandler,
    StateHandlers,
    TimerHandler,
)
from totem.wire import CommitToken, Mcast, MembJoin, MergeDetect, OrfToken, TokenHoldCancel

__all__ = [
    "HANDLERS",
    "MESSAGE_TYPES",
    "MessageHandler",
    "StateHandlers",
    "TimerHandler",
    "describe",
]

MESSAGE_TYPES: tuple[type, ...] = (
    OrfToken,
    Mcast,
    MergeDetect,
    MembJoin,
    CommitToken,
    TokenHoldCancel,
)
"""The decoded message types, in corosync's ``MESSAGE_TYPE_*`` order (0..5)."""


def _row(
    state: MembState,
    *,
    memb_join: MessageHandler,
    commit_token: MessageHandler,
    token: TimerHandler,
    gather_only: bool = False,
    retransmit: bool = True,
    hold: bool = False,
    merge_detect: bool = False,
) -> StateHandlers:
    messages: dict[type, MessageHandler] = {
        OrfToken: O.handle_orf_token,
        Mcast: O.handle_mcast,
        MergeDetect: M.handle_merge_detect,
        MembJoin: memb_join,
        CommitToken: commit_token,
        TokenHoldCancel: O.handle_token_hold_cancel,
    }
    timers: dict[Timer, TimerHandler | None] = {
        Timer.TOKEN: token,
        Timer.CONSENSUS: M.consensus_timeout_expired,
        Timer.JOIN: M.join_timer_expired if gather_only else None,
        Timer.TOKEN_RETRANSMIT: O.token_retransmit_expired if retransmit else None,
        Timer.TOKEN_HOLD: O.token_hold_expired if hold else None,
        Timer.MERGE_DETECT: M.merge_detect_expired if merge_detect else None,
        Timer.TOKEN_WARNING: O.token_warning_expired,
        Timer.PAUSE: M.pause_expired,
        Timer.SEND_JOIN: M.send_join_expired if gather_only else None,
    }
    return StateHandlers(state, messages, tuple(timers[t] for t in Timer))


HANDLERS: dict[MembState, StateHandlers] = {
    MembState.OPERATIONAL: _row(
        MembState.OPERATIONAL,
        memb_join=M.join_in_operational,
        commit_token=M.commit_token_in_operational,
        token=M.token_lost_in_operational,
        hold=True,
        merge_detect=True,
    ),
    MembState.GATHER: _row(
        MembState.GATHER,
        memb_join=M.join_in_gather,
        commit_token=M.commit_token_in_gather,
        token=M.token_lost_in_gather,
        gather_only=True,
        retransmit=False,
    ),
    MembState.COMMIT: _row(
        MembState.COMMIT,
        memb_join=M.join_in_commit,
        commit_token=M.commit_token_in_commit,
        token=M.token_lost_in_commit,
    ),
    MembState.RECOVERY: _row(
        MembState.RECOVERY,
        memb_join=M.join_in_recovery,
        commit_token=M.commit_token_in_recovery,
        token=M.token_lost_in_recovery,
        hold=True,
    ),
}
"""Every membership state's handlers (see the module docstring)."""


def _name(handler: Callable[..., None] | None) -> str:
    if handler is None:
        return "-"
    return f"{handler.__module__.rsplit('.', 1)[-1]}.{handler.__name__}"


def describe() -> list[str]:
    """The state machine as text: gather reasons, legal transitions, handler tables."""
    lines = ["gather reasons (corosync's enum gather_state_from):"]
    for reason in GatherReason:
        text = reason.corosync_text
        ours = "" if reason.text == text else f"  (we say: {reason.text})"
        lines.append(f"  {reason.number:2}  {reason.name}: {text}{ours}")
    lines.append("legal transitions:")
    for old, targets in LEGAL_TRANSITIONS.items():
        names = " ".join(s.name for s in MembState if s in targets)
        lines.append(f"  {old.name} -> {names}")
    for state, row in HANDLERS.items():
        lines.append(f"{state.name}:")
        for kind in MESSAGE_TYPES:
            lines.append(f"  message {kind.__name__}: {_name(row.messages.get(kind))}")
        for timer in Timer:
            lines.append(f"  timer {timer.name}: {_name(row.timers[timer])}")
    return lines
