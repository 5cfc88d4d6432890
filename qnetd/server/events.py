"""What the sans-IO qnetd server hands to its driver and observers.

Outputs (``QnetdServer.outbox()``), per connection and in order:

- :class:`Send`: bytes to write (plaintext, or through TLS once :class:`StartTls` was handled);
- :class:`StartTls`: STARTTLS was received; start the server side of the TLS handshake on
  this connection now, feeding it ``pending`` first (bytes that arrived after STARTTLS);
- :class:`Close`: close the connection (queued output for it has been withdrawn, as qnetd
  closes a client before writing to it again).

Events (``QnetdServer.events()``) are for logs, tests and simulations.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

from qnetd.protocol.constants import MsgType, Vote
from qnetd.protocol.tlv import RingId

__all__ = [
    "ClientDisconnected",
    "ClientInitialized",
    "Close",
    "DisconnectReason",
    "Event",
    "Output",
    "Send",
    "StartTls",
    "VoteSent",
]


class DisconnectReason(Enum):
    CLIENT_CLOSED = "client closed connection"
    DPD_TIMEOUT = "no message within the dead peer detection interval"
    TLS_UNAVAILABLE = "STARTTLS without a server certificate"
    TLS_HANDSHAKE_FAILED = "TLS handshake failed"
    NO_CLIENT_CERTIFICATE = "client did not send a valid certificate"
    CERTIFICATE_NAME_MISMATCH = "client certificate name does not match the cluster name"
    SEND_BUFFER_FULL = "send buffer full"
    REPLY_TOO_LONG = "reply longer than max_client_send_size"
    IO_ERROR = "socket error"
    SERVER_SHUTDOWN = "server is going down"


@dataclass(frozen=True, slots=True)
class Send:
    conn_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class StartTls:
    conn_id: int
    pending: bytes = b""


@dataclass(frozen=True, slots=True)
class Close:
    conn_id: int
    reason: DisconnectReason


Output: TypeAlias = Send | StartTls | Close


@dataclass(frozen=True, slots=True)
class ClientInitialized:
    """INIT accepted: the client joined ``cluster_name`` as ``node_id``."""

    conn_id: int
    cluster_name: bytes
    node_id: int


@dataclass(frozen=True, slots=True)
class ClientDisconnected:
    conn_id: int
    addr_str: str
    cluster_name: bytes | None
    node_id: int | None
    """None when the client never completed INIT."""
    reason: DisconnectReason


@dataclass(frozen=True, slots=True)
class VoteSent:
    """A vote left the server, in a reply (``msg_type``) or a VOTE_INFO push."""

    conn_id: int
    cluster_name: bytes
    node_id: int
    msg_type: MsgType
    vote: Vote
    ring_id: RingId


Event: TypeAlias = ClientInitialized | ClientDisconnected | VoteSent
