"""Events the SRP core emits (ref totem-wire.md sections 5.5, 6.2).

Events are immutable: a driver drains them from ``SrpCore.events()`` and hands
them up (totempg, services) or to the operator (logs).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from totem.ringid import RingId

__all__ = [
    "ConfigurationChange",
    "ConfigurationKind",
    "Delivery",
    "LogLevel",
    "LogRecord",
    "RingSeqChanged",
    "SrpEvent",
    "StateChanged",
]


class ConfigurationKind(enum.Enum):
    """Extended virtual synchrony configuration kinds (ref 5.5)."""

    TRANSITIONAL = 0
    REGULAR = 1


@dataclass(frozen=True, slots=True)
class ConfigurationChange:
    """A configuration change, delivered in EVS order with the messages.

    A TRANSITIONAL change (members = survivors of the old ring) always precedes
    the REGULAR change of the new ring; messages delivered between them are the
    old ring's messages from transitional members.
    """

    kind: ConfigurationKind
    ring_id: RingId
    members: tuple[int, ...]
    left: tuple[int, ...]
    joined: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One ordered message (a totempg packet) delivered to the layer above."""

    sender: int
    """Node id of the originator (``header.nodeid`` of the original MCAST)."""
    ring_id: RingId
    """Ring the message was ordered on (the old ring for recovered messages)."""
    seq: int
    """Ring sequence number of the message on that ring."""
    payload: bytes
    """The totempg packet carried by the MCAST."""
    byteswapped: bool = False
    """The originator is big-endian: the packet's integers are in its byte order."""


@dataclass(frozen=True, slots=True)
class RingSeqChanged:
    """The ring sequence to persist in ``<state_dir>/ringid_<nodeid>`` (ref 5.3 step 5)."""

    seq: int


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The membership state machine moved (OPERATIONAL, GATHER, COMMIT, RECOVERY)."""

    old: str
    new: str
    reason: str


class LogLevel(enum.IntEnum):
    """syslog-style levels, as corosync's logsys uses."""

    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6
    DEBUG = 7


@dataclass(frozen=True, slots=True)
class LogRecord:
    """A line for the operator, worded as corosync words it (``[TOTEM ] ...``)."""

    level: LogLevel
    subsys: str
    message: str


SrpEvent = ConfigurationChange | Delivery | RingSeqChanged | StateChanged | LogRecord
