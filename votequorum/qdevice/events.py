"""What the sans-IO qdevice-net client hands to its driver (ref qnetd-protocol.md 5.2-5.3, 8).

Outputs (``QdeviceNetClient.outbox()``), in order; the driver carries them out in that order:

- :class:`Connect`: open a TCP connection to the qnetd (resolve, try each address); report
  ``connected``/``connect_failed``;
- :class:`Send`: write these bytes (through TLS once a :class:`StartTls` was handled);
- :class:`StartTls`: the bytes before it are written in plain; now start the client side of
  the TLS handshake and send everything after it through TLS;
- :class:`Close`: close the connection or abandon the connection attempt;
- :class:`Poll`: call votequorum's ``qdevice_poll`` with this vote and ring id;
- :class:`RunHeuristics`: run the heuristics exec list, then report the result with ``seq``.

Events (``QdeviceNetClient.events()``) are for logs, tests and observers: state changes,
votes, disconnections, log lines (:class:`~totem.srp.events.LogRecord`, subsystem
``QDEVICE``).

:class:`DisconnectReason` is ``enum qdevice_net_disconnect_reason`` with the two classes of
``qdevice-net-disconnect-reason.h``: reasons after which the real client reconnects, and
reasons that end it whatever the algorithm says.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeAlias

from qnetd.protocol.constants import MsgType, Vote
from qnetd.protocol.tlv import RingId
from totem.srp.events import LogRecord

__all__ = [
    "ClientState",
    "Close",
    "Connect",
    "DisconnectReason",
    "Disconnected",
    "Event",
    "HeuristicsResult",
    "Output",
    "Poll",
    "RunHeuristics",
    "Send",
    "StartTls",
    "StateChanged",
    "Stopped",
    "VoteReceived",
]


class ClientState(enum.Enum):
    """``enum qdevice_net_instance_state`` plus the two states between connections."""

    WAITING_CONNECT = "waiting connect"
    """TCP connection under way (or refused: waiting for the connect timer)."""
    WAITING_PREINIT_REPLY = "waiting preinit reply"
    WAITING_INIT_REPLY = "waiting init reply"
    """STARTTLS (if any) and INIT sent; also while the connect heuristics run."""
    CONNECTED = "connected"
    """``WAITING_VOTEQUORUM_CMAP_EVENTS``: node lists sent, votes flow."""
    RECONNECT_DELAY = "reconnect delay"
    """Disconnected; the next connection starts at the reconnect deadline."""
    STOPPED = "stopped"
    """Not started, shut down, or ended by a reason the client does not retry."""


class HeuristicsResult(enum.Enum):
    """``enum qdevice_heuristics_exec_result``."""

    DISABLED = "Disabled"
    PASS = "Pass"
    FAIL = "Fail"


class DisconnectReason(enum.Enum):
    """``enum qdevice_net_disconnect_reason`` (the names without the prefix)."""

    UNEXPECTED_MSG = "received a message that was not expected"
    UNSUPPORTED_MSG = "received a message of an unknown type"
    INCOMPATIBLE_TLS = "TLS settings of server and client are incompatible"
    INCOMPATIBLE_MSG_SIZE = "message size limits of server and client are incompatible"
    REQUIRED_OPTION_MISSING = "message does not contain a required option"
    CANT_ALLOCATE_MSG_BUFFER = "message too long for the server"
    CANT_SCHEDULE_VOTING_TIMER = "votequorum refused the poll"
    CANT_START_TLS = "cannot start TLS (certificates)"
    SERVER_SENT_ERROR = "server sent an error"
    SERVER_SENT_DUPLICATE_NODE_ID_ERROR = "server sent error: duplicate node id"
    SERVER_SENT_TIE_BREAKER_DIFFERS_FROM_OTHER_NODES_ERROR = (
        "server sent error: tie-breaker differs from other nodes"
    )
    SERVER_SENT_ALGORITHM_DIFFERS_FROM_OTHER_NODES_ERROR = (
        "server sent error: algorithm differs from other nodes"
    )
    SERVER_DOESNT_SUPPORT_REQUIRED_ALGORITHM = "server does not support the decision algorithm"
    SERVER_DOESNT_SUPPORT_REQUIRED_OPT = "server does not support a required option"
    MSG_DECODE_ERROR = "cannot decode a message from the server"
    SERVER_CLOSED_CONNECTION = "server closed the connection"
    CANT_READ_MESSAGE = "cannot read a message from the server"
    CANT_SEND_MESSAGE = "cannot send a message to the server"
    COROSYNC_CONNECTION_CLOSED = "votequorum went away"
    LOCAL_SOCKET_CLOSED = "shut down"
    CANT_CONNECT_TO_THE_SERVER = "cannot connect to the server"
    ALGO_CONFIG_NODE_LIST_CHANGED_ERR = "algorithm refused the changed config node list"
    ALGO_VOTEQUORUM_EXPECTED_VOTES_NOTIFY_ERR = "algorithm refused the expected votes"
    ALGO_ECHO_REPLY_RECEIVED_ERR = "echo reply with an unexpected sequence number"
    ALGO_ECHO_REPLY_NOT_RECEIVED_ERR = "server did not send an echo reply on time"

    @property
    def try_reconnect(self) -> bool:
        """``qdevice_net_disconnect_reason_try_reconnect``."""
        return self in _TRY_RECONNECT

    @property
    def force_disconnect(self) -> bool:
        """``qdevice_net_disconnect_reason_force_disconnect``: never retried."""
        return self in _FORCE_DISCONNECT


_TRY_RECONNECT = frozenset(
    {
        DisconnectReason.MSG_DECODE_ERROR,
        DisconnectReason.SERVER_CLOSED_CONNECTION,
        DisconnectReason.CANT_READ_MESSAGE,
        DisconnectReason.CANT_SEND_MESSAGE,
        DisconnectReason.CANT_CONNECT_TO_THE_SERVER,
        DisconnectReason.ALGO_ECHO_REPLY_NOT_RECEIVED_ERR,
        DisconnectReason.SERVER_SENT_DUPLICATE_NODE_ID_ERROR,
        DisconnectReason.SERVER_SENT_TIE_BREAKER_DIFFERS_FROM_OTHER_NODES_ERROR,
        DisconnectReason.SERVER_SENT_ALGORITHM_DIFFERS_FROM_OTHER_NODES_ERROR,
    }
)
_FORCE_DISCONNECT = frozenset(
    {
        DisconnectReason.COROSYNC_CONNECTION_CLOSED,
        DisconnectReason.LOCAL_SOCKET_CLOSED,
        DisconnectReason.CANT_SCHEDULE_VOTING_TIMER,
    }
)


# ---------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class Connect:
    host: str
    port: int
    force_ip_version: int = 0
    """0: resolver order; 4 or 6: only that family."""


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes
    msg_type: MsgType


@dataclass(frozen=True, slots=True)
class StartTls:
    server_name: str
    """The name the server certificate must carry (and the SNI sent)."""


@dataclass(frozen=True, slots=True)
class Close:
    reason: DisconnectReason


@dataclass(frozen=True, slots=True)
class Poll:
    """``votequorum_qdevice_poll(name, cast_vote, ring_id)``."""

    cast_vote: bool
    ring_id: RingId


@dataclass(frozen=True, slots=True)
class RunHeuristics:
    """Run the exec list within ``timeout_ms``; answer ``heuristics_result(seq, ...)``."""

    seq: int
    timeout_ms: int


Output: TypeAlias = Connect | Send | StartTls | Close | Poll | RunHeuristics


# ---------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class StateChanged:
    state: ClientState


@dataclass(frozen=True, slots=True)
class VoteReceived:
    """A vote from the server (in a reply or a VOTE_INFO) and what the algorithm made of it."""

    msg_type: MsgType
    vote: Vote
    ring_id: RingId
    ring_id_is_valid: bool
    result: Vote


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: DisconnectReason
    reconnect_at: float | None
    """When the next connection starts; None when the client stopped."""


@dataclass(frozen=True, slots=True)
class Stopped:
    """The client ended (``reason``); votequorum should forget the device."""

    reason: DisconnectReason


Event: TypeAlias = StateChanged | VoteReceived | Disconnected | Stopped | LogRecord
