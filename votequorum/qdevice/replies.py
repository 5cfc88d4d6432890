"""What qnetd sends, checked as corosync-qdevice 3.0.3 checks it (ref qnetd-protocol.md 1-5.2).

Pure functions over received bytes and decoded messages (``qdevice-net-socket.c``,
``qdevice-net-msg-received.c``). Each raises :class:`ProtocolError` naming the
:class:`~votequorum.qdevice.events.DisconnectReason` the real client records and the line it
logs; the client core turns that into a disconnection.

* :func:`split_frames`: a header with an unknown message type (UNSUPPORTED_MSG) or a length
  above the receive limit (CANT_READ_MESSAGE) ends the connection at once -- unlike qnetd,
  the client never skips a message;
* :func:`decode`: a malformed message is MSG_DECODE_ERROR;
* :func:`check_preinit_reply` / :func:`check_init_reply`: the sequence number must be the one
  sent, the options present, the limits compatible, the algorithm supported;
* :func:`check_vote`: NODE_LIST_REPLY, ASK_FOR_VOTE_REPLY, VOTE_INFO and
  HEURISTICS_CHANGE_REPLY need their vote, sequence number and ring id (and list type or
  heuristics);
* everything a server never sends (PREINIT, INIT, NODE_LIST, ...) is UNEXPECTED_MSG, and a
  SERVER_ERROR always ends the connection.
"""

from __future__ import annotations

from dataclasses import dataclass

from qnetd.protocol.constants import (
    DecisionAlgorithm,
    Heuristics,
    MsgType,
    OptType,
    ReplyErrorCode,
    TlsSupported,
    Vote,
)
from qnetd.protocol.decoder import DecodedMessage, MessageDecodeError, decode_message
from qnetd.protocol.header import HEADER_LEN, MAX_MSG_TYPE, parse_header
from qnetd.protocol.tlv import RingId
from totem.srp.events import LogLevel
from votequorum.qdevice.events import DisconnectReason
from votequorum.qdevice.settings import MAX_MSG_RECEIVE_SIZE, MIN_MSG_SEND_SIZE

__all__ = [
    "VOTE_MESSAGES",
    "InitReplyInfo",
    "ProtocolError",
    "VoteMessage",
    "check_echo_reply",
    "check_init_reply",
    "check_preinit_reply",
    "check_vote",
    "decode",
    "server_error",
    "split_frames",
    "tls_decision",
    "unexpected",
]

VOTE_MESSAGES = frozenset(
    {
        MsgType.NODE_LIST_REPLY,
        MsgType.ASK_FOR_VOTE_REPLY,
        MsgType.VOTE_INFO,
        MsgType.HEURISTICS_CHANGE_REPLY,
    }
)
_RETRY_INIT_ERRORS: dict[int, DisconnectReason] = {
    int(ReplyErrorCode.DUPLICATE_NODE_ID): DisconnectReason.SERVER_SENT_DUPLICATE_NODE_ID_ERROR,
    int(ReplyErrorCode.TIE_BREAKER_DIFFERS_FROM_OTHER_NODES): (
        DisconnectReason.SERVER_SENT_TIE_BREAKER_DIFFERS_FROM_OTHER_NODES_ERROR
    ),
    int(ReplyErrorCode.ALGORITHM_DIFFERS_FROM_OTHER_NODES): (
        DisconnectReason.SERVER_SENT_ALGORITHM_DIFFERS_FROM_OTHER_NODES_ERROR
    ),
}
"""INIT_REPLY errors after which qdevice retries (the server may not have seen us leave)."""


class ProtocolError(Exception):
    """The connection must be dropped for ``reason``; ``message`` is what qdevice logs."""

    def __init__(
        self, reason: DisconnectReason, message: str, level: LogLevel = LogLevel.ERROR
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.level = level


def _missing(message: str) -> ProtocolError:
    return ProtocolError(DisconnectReason.REQUIRED_OPTION_MISSING, message)


def _name(msg_type: int) -> str:
    return MsgType(msg_type).name.lower().replace("_", " ")


def tls_decision(server: TlsSupported, client: TlsSupported) -> bool | None:
    """``check_tls_compatibility``: True = STARTTLS, False = plain, None = incompatible.

    ======================  =======  ============  ============
    server \\ client         off      on            required
    ======================  =======  ============  ============
    unsupported             plain    plain         incompatible
    supported               plain    TLS           TLS
    required                incomp.  TLS           TLS
    ======================  =======  ============  ============
    """
    if server == TlsSupported.UNSUPPORTED:
        return None if client == TlsSupported.REQUIRED else False
    if server == TlsSupported.SUPPORTED:
        return client != TlsSupported.UNSUPPORTED
    return None if client == TlsSupported.UNSUPPORTED else True


def split_frames(buffer: bytearray, limit: int) -> list[bytes]:
    """Remove and return the complete messages at the start of ``buffer``.

    ``limit`` is the receive limit including the 6-byte header (32768 until INIT_REPLY, then the
    server's maximum reply size).
    """
    frames: list[bytes] = []
    while len(buffer) >= HEADER_LEN:
        msg_type, length = parse_header(bytes(buffer[:HEADER_LEN]))
        if msg_type > MAX_MSG_TYPE:
            raise ProtocolError(
                DisconnectReason.UNSUPPORTED_MSG,
                f"Server sent unsupported msg type {msg_type}. Disconnecting from server",
                LogLevel.WARNING,
            )
        end = HEADER_LEN + length
        if end > limit:
            raise ProtocolError(
                DisconnectReason.CANT_READ_MESSAGE,
                f"Server wants to send too long message {length} bytes. Disconnecting from server",
                LogLevel.WARNING,
            )
        if len(buffer) < end:
            break
        frames.append(bytes(buffer[:end]))
        del buffer[:end]
    return frames


def decode(frame: bytes) -> DecodedMessage:
    """``msg_decode`` of one frame; a malformed one is MSG_DECODE_ERROR."""
    try:
        return decode_message(frame)
    except MessageDecodeError as exc:
        raise ProtocolError(
            DisconnectReason.MSG_DECODE_ERROR, f"{exc.kind.log_text}. Disconnecting from server"
        ) from None


def unexpected(msg_type: int) -> ProtocolError:
    """A message the client never expects in its current state (or at all)."""
    return ProtocolError(
        DisconnectReason.UNEXPECTED_MSG,
        f"Received unexpected {_name(msg_type)} message. Disconnecting from server",
    )


def server_error(msg: DecodedMessage) -> ProtocolError:
    """SERVER_ERROR always ends the connection."""
    if msg.reply_error_code is None:
        return _missing("Received server error without error code set. Disconnecting from server")
    return ProtocolError(
        DisconnectReason.SERVER_SENT_ERROR,
        f"Received server error {msg.reply_error_code}. Disconnecting from server",
    )


def _check_seq(msg: DecodedMessage, expected_seq: int) -> None:
    if msg.seq_number is None or msg.seq_number != expected_seq:
        raise _missing("Received message doesn't contain seq_number or it's not expected one.")


def check_preinit_reply(msg: DecodedMessage, expected_seq: int, client_tls: TlsSupported) -> bool:
    """A PREINIT_REPLY in its state; return whether to STARTTLS."""
    _check_seq(msg, expected_seq)
    if msg.tls_supported is None or msg.tls_client_cert_required is None:
        raise _missing("Required tls_supported or tls_client_cert_required option is unset")
    start_tls = tls_decision(msg.tls_supported, client_tls)
    if start_tls is None:
        raise ProtocolError(
            DisconnectReason.INCOMPATIBLE_TLS,
            f"Incompatible tls configuration (server {int(msg.tls_supported)} "
            f"client {int(client_tls)})",
        )
    return start_tls


@dataclass(frozen=True, slots=True)
class InitReplyInfo:
    """What an accepted INIT_REPLY tells the client."""

    max_request_size: int
    max_reply_size: int
    supports_heuristics: bool
    supports_kap: bool


def check_init_reply(
    msg: DecodedMessage,
    expected_seq: int,
    algorithm: DecisionAlgorithm,
    heuristics_enabled: bool,
) -> InitReplyInfo:
    """An INIT_REPLY in its state, checked in qdevice's order."""
    _check_seq(msg, expected_seq)
    code = msg.reply_error_code
    if code is None:
        raise _missing("Received init reply message without error code.Disconnecting from server")
    if code != ReplyErrorCode.NO_ERROR:
        raise ProtocolError(
            _RETRY_INIT_ERRORS.get(code, DisconnectReason.SERVER_SENT_ERROR),
            f"Received init reply message with error code {code}. Disconnecting from server",
        )
    request_size = msg.server_maximum_request_size
    reply_size = msg.server_maximum_reply_size
    if request_size is None or reply_size is None:
        raise _missing("Required maximum_request_size or maximum_reply_size option is unset")
    if msg.supported_messages is None or msg.supported_options is None:
        raise _missing("Required supported messages or supported options option is unset")
    if msg.supported_decision_algorithms is None:
        raise _missing("Required supported decision algorithms option is unset")
    if request_size < MIN_MSG_SEND_SIZE:
        raise ProtocolError(
            DisconnectReason.INCOMPATIBLE_MSG_SIZE,
            f"Server accepts maximum {request_size} bytes message but this client minimum "
            f"is {MIN_MSG_SEND_SIZE} bytes.",
        )
    if reply_size > MAX_MSG_RECEIVE_SIZE:
        raise ProtocolError(
            DisconnectReason.INCOMPATIBLE_MSG_SIZE,
            f"Server may send message up to {reply_size} bytes message but this client "
            f"maximum is {MAX_MSG_RECEIVE_SIZE} bytes.",
        )
    if int(algorithm) not in msg.supported_decision_algorithms:
        raise ProtocolError(
            DisconnectReason.SERVER_DOESNT_SUPPORT_REQUIRED_ALGORITHM,
            "Server doesn't support required decision algorithm",
        )
    info = InitReplyInfo(
        request_size,
        reply_size,
        int(OptType.HEURISTICS) in msg.supported_options,
        int(OptType.KEEP_ACTIVE_PARTITION_TIE_BREAKER) in msg.supported_options,
    )
    if heuristics_enabled and not info.supports_heuristics:
        raise ProtocolError(
            DisconnectReason.SERVER_DOESNT_SUPPORT_REQUIRED_OPT,
            "Heuristics are enabled but not supported by server",
        )
    return info


def check_echo_reply(msg: DecodedMessage) -> int:
    """The sequence number of an ECHO_REPLY."""
    if msg.seq_number is None:
        raise _missing("Received echo reply message doesn't contain seq_number.")
    return msg.seq_number


@dataclass(frozen=True, slots=True)
class VoteMessage:
    """A vote from qnetd: in a reply, or pushed as VOTE_INFO."""

    msg_type: MsgType
    seq_number: int
    vote: Vote
    ring_id: RingId


def check_vote(msg: DecodedMessage) -> VoteMessage:
    """One of :data:`VOTE_MESSAGES`, received while connected."""
    what = _name(msg.msg_type)
    required = f"Received {what} message without required options. Disconnecting from server"
    if msg.vote is None or msg.seq_number is None:
        raise _missing(required)
    if msg.msg_type == MsgType.NODE_LIST_REPLY and msg.node_list_type is None:
        raise _missing(required)
    if msg.msg_type == MsgType.HEURISTICS_CHANGE_REPLY and msg.heuristics == Heuristics.UNDEFINED:
        raise _missing(required)
    if msg.ring_id is None:
        raise _missing(f"Received {what} message without ring id set. Disconnecting from server")
    return VoteMessage(MsgType(msg.msg_type), msg.seq_number, msg.vote, msg.ring_id)
