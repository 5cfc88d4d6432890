"""The membership state machine as data: why GATHER is entered, which moves are legal (ref 5).

``MembState`` is corosync 3.1.7's ``memb_state``. ``GatherReason`` is its
``enum gather_state_from`` (totemsrp.c, ``TOTEMSRP_GSFROM_*``, 0..15) with the
text ``gsfrom_to_msg`` gives each value; every ``gather_enter`` names one. Our
log line and ``StateChanged.reason`` keep the text this implementation has
always printed (``GatherReason.text``): three of them say "during"/"expired"
where corosync's table says "in"/"The ... expired.", and the simulator's trace
digests, which the safety campaign's rows are checked against, include it.

``LEGAL_TRANSITIONS`` is the Totem membership diagram (ref 5.1-5.5: OPERATIONAL
-> GATHER -> COMMIT -> RECOVERY -> OPERATIONAL, any state back to GATHER) plus the
one move it does not draw that ``memb_join_process`` makes: a JOIN handled in
COMMIT or RECOVERY whose sets equal mine, with consensus still standing from the
gather and me the lowest node, creates a commit token and enters COMMIT again
before the JOIN handler gathers (corosync does the same). ``check_transition``
is called at the single place the state changes (``SrpState.set_state``), which
also selects the new state's ``StateHandlers`` (the rows of ``totem.srp.dispatch``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LEGAL_TRANSITIONS",
    "GatherReason",
    "IllegalTransition",
    "MembState",
    "MessageHandler",
    "StateHandlers",
    "TimerHandler",
    "check_transition",
    "strict_transitions",
]


class MembState(enum.Enum):
    """The membership states (``memb_state``)."""

    OPERATIONAL = 1
    GATHER = 2
    COMMIT = 3
    RECOVERY = 4


class GatherReason(enum.Enum):
    """``enum gather_state_from``: why ``memb_state_gather_enter`` was called.

    Each member's value is ``(number, corosync's text, our text)``; ``number`` is the
    ``TOTEMSRP_GSFROM_*`` value, ``corosync_text`` what ``gsfrom_to_msg`` returns,
    ``text`` what our log line and ``StateChanged`` carry.
    """

    CONSENSUS_TIMEOUT = (0, "consensus timeout", "consensus timeout")
    GATHER_MISSING1 = (1, "MISSING", "MISSING")
    """Unused by corosync 3.1.7 (a hole in its numbering), kept for the numbers."""
    THE_TOKEN_WAS_LOST_IN_THE_OPERATIONAL_STATE = (
        2,
        "The token was lost in the OPERATIONAL state.",
        "The token was lost in the OPERATIONAL state.",
    )
    THE_CONSENSUS_TIMEOUT_EXPIRED = (
        3,
        "The consensus timeout expired.",
        "consensus timeout expired",
    )
    THE_TOKEN_WAS_LOST_IN_THE_COMMIT_STATE = (
        4,
        "The token was lost in the COMMIT state.",
        "The token was lost in the COMMIT state.",
    )
    THE_TOKEN_WAS_LOST_IN_THE_RECOVERY_STATE = (
        5,
        "The token was lost in the RECOVERY state.",
        "The token was lost in the RECOVERY state.",
    )
    FAILED_TO_RECEIVE = (6, "failed to receive", "failed to receive")
    FOREIGN_MESSAGE_IN_OPERATIONAL_STATE = (
        7,
        "foreign message in operational state",
        "foreign message during operational state",
    )
    FOREIGN_MESSAGE_IN_GATHER_STATE = (
        8,
        "foreign message in gather state",
        "foreign message during gather state",
    )
    MERGE_DURING_OPERATIONAL_STATE = (
        9,
        "merge during operational state",
        "merge during operational state",
    )
    MERGE_DURING_GATHER_STATE = (10, "merge during gather state", "merge during gather state")
    MERGE_DURING_JOIN = (11, "merge during join", "merge during join")
    JOIN_DURING_OPERATIONAL_STATE = (
        12,
        "join during operational state",
        "join during operational state",
    )
    JOIN_DURING_COMMIT_STATE = (13, "join during commit state", "join during commit state")
    JOIN_DURING_RECOVERY = (14, "join during recovery", "join during recovery")
    """Unused: a JOIN in RECOVERY is a recovery token loss (``memb_recovery_state_token_loss``)."""
    INTERFACE_CHANGE = (15, "interface change", "interface change")

    def __init__(self, number: int, corosync_text: str, text: str) -> None:
        self.number = number
        self.corosync_text = corosync_text
        self.text = text


_O, _G, _C, _R = MembState.OPERATIONAL, MembState.GATHER, MembState.COMMIT, MembState.RECOVERY

LEGAL_TRANSITIONS: dict[MembState, frozenset[MembState]] = {
    _O: frozenset({_G}),
    _G: frozenset({_G, _C}),
    _C: frozenset({_G, _C, _R}),
    _R: frozenset({_G, _C, _O}),
}
"""From-state -> the states ``set_state`` may move to (see the module docstring)."""

_LEGAL_PAIRS = frozenset(
    (old, new) for old, targets in LEGAL_TRANSITIONS.items() for new in targets
)


class IllegalTransition(Exception):
    """A state change outside ``LEGAL_TRANSITIONS``, raised when transitions are strict."""


_strict = [False]


def strict_transitions(enabled: bool) -> None:
    """Make an illegal transition raise ``IllegalTransition`` (tests) instead of being
    logged and counted (a daemon or a simulation keeps running: bad state never raises
    out of a driver, DESIGN.md)."""
    _strict[0] = enabled


def check_transition(old: MembState, new: MembState) -> bool:
    """True when ``old -> new`` is legal; raises ``IllegalTransition`` if not and strict."""
    if (old, new) in _LEGAL_PAIRS:
        return True
    if _strict[0]:
        raise IllegalTransition(f"{old.name} -> {new.name}")
    return False


MessageHandler = Callable[[Any, Any, bytes, float], None]
"""``handler(core, message, data, now)``: a row's entry for a message type."""
TimerHandler = Callable[[Any, float], None]
"""``handler(core, now)``: a row's entry for a timer."""


@dataclass(frozen=True, slots=True)
class StateHandlers:
    """The handlers of one membership state (the rows are ``totem.srp.dispatch.HANDLERS``)."""

    state: MembState
    messages: Mapping[type, MessageHandler]
    """Decoded message type -> handler; a type absent here is ignored in this state."""
    timers: tuple[TimerHandler | None, ...]
    """Indexed by ``Timer``: the handler run when that timer expires, or None."""
