"""Refusals of libvotequorum's calls, in corosync's order of checks (ref totem-wire.md 11.3).

Each function raises :class:`~votequorum.events.VotequorumError` with the words
``corosync-quorumtool`` prints and corosync's error name, or returns when the call may go
on. The arithmetic is :mod:`votequorum.calc`'s; the engine
(:class:`~votequorum.service.VotequorumService`) applies an accepted call.
"""

from __future__ import annotations

from collections.abc import Sequence

from votequorum import calc
from votequorum.calc import NodeVotes
from votequorum.events import VotequorumError
from votequorum.wire import QDEVICE_NODEID

__all__ = ["INT_MAX", "expected_votes", "node_votes", "qdevice_call"]

INT_MAX = (1 << 31) - 1
"""Votes and expected votes are C ints on the library's side."""


def expected_votes(
    nodes: Sequence[NodeVotes],
    new_expected: int,
    *,
    quorate: bool,
    two_node: bool,
    qdevice_votes: int,
    qdevice_cast_vote: bool,
) -> None:
    """``corosync-quorumtool -e N``: refused if N < 1, N < total votes, or quorum is lost."""
    if new_expected < 1 or new_expected > INT_MAX:
        raise VotequorumError(
            "New expected votes value was not valid, try a positive number",
            detail=f"got {new_expected}",
        )
    ok, figures = calc.validate_expected_votes(
        tuple(nodes),
        new_expected=new_expected,
        quorate=quorate,
        two_node=two_node,
        qdevice_votes=qdevice_votes,
        qdevice_cast_vote=qdevice_cast_vote,
    )
    if ok:
        return
    if new_expected < figures.total_votes:
        why = f"{new_expected} is lower than the total votes {figures.total_votes}"
    else:
        why = f"quorum would become {figures.quorum} with only {figures.total_votes} votes present"
    raise VotequorumError(
        "Unable to set expected votes: CS_ERR_INVALID_PARAM", "CS_ERR_INVALID_PARAM", why
    )


def node_votes(
    nodes: Sequence[NodeVotes],
    node_id: int,
    votes: int,
    *,
    two_node: bool,
    allow_downscale: bool,
    ev_barrier: int,
    qdevice_votes: int,
    qdevice_cast_vote: bool,
) -> None:
    """``corosync-quorumtool -v V -n X``: refused for an unknown node or a quorum it breaks."""
    if votes < 0 or votes > INT_MAX:
        raise VotequorumError(
            "New votes value was not valid, try a positive number or zero",
            detail=f"got {votes}",
        )
    prefix = f"Unable to set votes {votes} for nodeid: {node_id}"
    if node_id != QDEVICE_NODEID and all(n.node_id != node_id for n in nodes):
        raise VotequorumError(
            f"{prefix}: CS_ERR_NAME_NOT_FOUND",
            "CS_ERR_NAME_NOT_FOUND",
            f"node {node_id} is unknown to votequorum",
        )
    ok, figures = calc.validate_node_votes(
        tuple(nodes),
        node_id=node_id,
        new_votes=votes,
        two_node=two_node,
        allow_downscale=allow_downscale,
        ev_barrier=ev_barrier,
        qdevice_votes=qdevice_votes,
        qdevice_cast_vote=qdevice_cast_vote,
    )
    if not ok:
        raise VotequorumError(
            f"{prefix}: CS_ERR_INVALID_PARAM",
            "CS_ERR_INVALID_PARAM",
            f"quorum would be {figures.quorum} of {figures.total_votes} total votes",
        )


def qdevice_call(
    action: str,
    name: str,
    *,
    can_operate: bool,
    registered: bool,
    ring_matches: bool,
    qdevice_name: str,
) -> None:
    """A quorum device call (unregister, update, poll, master_wins), as corosync checks it.

    ``CS_ERR_ACCESS`` when the configuration forbids a device, then ``CS_ERR_NOT_EXIST``
    when none is registered, ``CS_ERR_MESSAGE_ERROR`` for a poll of another ring than the
    last synchronised one, ``CS_ERR_INVALID_PARAM`` for another device name.
    """
    error = None
    if not can_operate:
        error = "CS_ERR_ACCESS"
    elif not registered:
        error = "CS_ERR_NOT_EXIST"
    elif not ring_matches:
        error = "CS_ERR_MESSAGE_ERROR"
    elif name != qdevice_name:
        error = "CS_ERR_INVALID_PARAM"
    if error is not None:
        raise VotequorumError(f"Unable to {action}: {error}", error)
