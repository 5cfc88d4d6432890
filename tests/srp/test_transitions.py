"""The membership state machine as data: gather reasons, legal transitions, handler rows."""

from __future__ import annotations

import pytest

from tests.srp.harness import Network
from totem.srp.core import SrpCore
from totem.srp.dispatch import HANDLERS, MESSAGE_TYPES
from totem.srp.events import LogLevel, LogRecord, StateChanged
from totem.srp.settings import SrpSettings
from totem.srp.timers import Timer
from totem.srp.transitions import (
    LEGAL_TRANSITIONS,
    GatherReason,
    IllegalTransition,
    MembState,
    check_transition,
    strict_transitions,
)


def test_gather_reasons_are_corosyncs_sixteen() -> None:
    assert [r.number for r in GatherReason] == list(range(16))
    assert GatherReason.INTERFACE_CHANGE.corosync_text == "interface change"
    assert GatherReason.THE_CONSENSUS_TIMEOUT_EXPIRED.text == "consensus timeout expired"


def test_every_state_has_a_row_naming_every_message_and_timer() -> None:
    assert set(HANDLERS) == set(MembState) == set(LEGAL_TRANSITIONS)
    for state, row in HANDLERS.items():
        assert row.state is state
        assert set(row.messages) == set(MESSAGE_TYPES)
        assert len(row.timers) == len(Timer)


def test_the_gather_log_line_and_event_carry_our_text() -> None:
    net = Network([1], SrpSettings())
    net.start(1)
    events = net.logs[1].events
    assert StateChanged("OPERATIONAL", "GATHER", "interface change") in events
    assert LogRecord(LogLevel.DEBUG, "TOTEM", "entering GATHER state from interface change.") in (
        events
    )


def test_an_illegal_transition_raises_under_test_and_is_logged_otherwise() -> None:
    core = SrpCore(1)
    assert core.state is MembState.OPERATIONAL
    assert check_transition(MembState.OPERATIONAL, MembState.GATHER)
    with pytest.raises(IllegalTransition, match="OPERATIONAL -> RECOVERY"):
        core.set_state(MembState.RECOVERY, "test")
    strict_transitions(False)
    try:
        core.set_state(MembState.RECOVERY, "test")
    finally:
        strict_transitions(True)
    assert core.state.name == "RECOVERY" and core.illegal_transitions == 1
    assert (
        LogRecord(
            LogLevel.ERROR, "TOTEM", "illegal membership transition OPERATIONAL -> RECOVERY (test)"
        )
        in core.events()
    )
