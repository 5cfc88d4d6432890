"""What votequorum tells its users: events and refused library calls (ref totem-wire.md 11).

:class:`~votequorum.service.VotequorumService` emits these as frozen records, in the order
corosync's ``exec/votequorum.c`` sends its library notifications; the library side
(:mod:`votequorum.lib`) and the quorum device bridge turn them into libvotequorum's
callbacks. :class:`VotequorumError` is a library call refused with corosync's error name.
"""

from __future__ import annotations

from dataclasses import dataclass

from totem.ringid import RingId

__all__ = [
    "EvTrackingBarrierChanged",
    "ExpectedVotesChanged",
    "NodeListNotification",
    "QdeviceRegistration",
    "QuorumChanged",
    "VotequorumError",
    "VotequorumEvent",
]


class VotequorumError(Exception):
    """A library call was refused. ``str()`` is what corosync-quorumtool prints."""

    def __init__(self, message: str, cs_error: str | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.cs_error = cs_error
        """corosync's error name (``CS_ERR_INVALID_PARAM``...); None for argument errors."""
        self.detail = detail
        """Why, in words."""

    def __str__(self) -> str:
        return self.message if not self.detail else f"{self.message} ({self.detail})"


@dataclass(frozen=True, slots=True)
class QuorumChanged:
    """The quorum view votequorum reported to the quorum service (after sync or on change)."""

    quorate: bool
    ring_id: RingId
    members: tuple[int, ...]
    quorum: int
    total_votes: int
    expected_votes: int


@dataclass(frozen=True, slots=True)
class ExpectedVotesChanged:
    """The expected-votes notification of libvotequorum."""

    expected_votes: int


@dataclass(frozen=True, slots=True)
class EvTrackingBarrierChanged:
    """expected_votes_tracking: persist ``value`` in ``<state_dir>/ev_tracking``."""

    value: int


@dataclass(frozen=True, slots=True)
class QdeviceRegistration:
    """The answer to :meth:`VotequorumService.qdevice_register`, once the cluster saw it."""

    name: str
    error: str | None
    """None on success, else corosync's error name (``CS_ERR_EXIST``)."""


@dataclass(frozen=True, slots=True)
class NodeListNotification:
    """libvotequorum's node list callback: the ring being synchronised and its members.

    Sent once per sync round from ``sync_process``, as ``votequorum_sync_process`` sends
    ``votequorum_exec_send_nodelist_notification``; a quorum device polls with this ring id.
    """

    ring_id: RingId
    members: tuple[int, ...]


VotequorumEvent = (
    QuorumChanged
    | ExpectedVotesChanged
    | EvTrackingBarrierChanged
    | QdeviceRegistration
    | NodeListNotification
)
