"""Typed messages: one frozen dataclass per message type (ref qnetd-protocol.md section 3).

``encode()`` emits the options in the order of the C ``msg_create_*`` functions, so our bytes
are identical to corosync-qdevice's. ``from_decoded()`` builds a message from a
:class:`~qnetd.protocol.decoder.DecodedMessage` and raises :class:`MissingOptionError` when an
option the C sender always includes is absent (a real peer disconnects in that case).
:func:`parse_message` does both steps for a complete frame.

The same classes serve both ends: a qdevice client encodes PREINIT/INIT/NODE_LIST/... and
parses the replies, the server does the opposite.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Self, TypeAlias

from qnetd.protocol.constants import (
    ALL_MESSAGE_TYPES,
    ALL_OPTION_TYPES,
    DecisionAlgorithm,
    Heuristics,
    KeepActivePartitionTieBreaker,
    MsgType,
    NodeListType,
    OptType,
    Quorate,
    TlsSupported,
    Vote,
)
from qnetd.protocol.decoder import DecodedMessage, decode_message
from qnetd.protocol.header import encode_message
from qnetd.protocol.tlv import (
    NodeInfo,
    RingId,
    TieBreaker,
    opt_bytes,
    opt_node_info,
    opt_ring_id,
    opt_tie_breaker,
    opt_u8,
    opt_u16,
    opt_u16_array,
    opt_u32,
    opt_u64,
)

__all__ = [
    "MESSAGE_CLASSES",
    "AskForVote",
    "AskForVoteReply",
    "EchoReply",
    "EchoRequest",
    "HeuristicsChange",
    "HeuristicsChangeReply",
    "Init",
    "InitReply",
    "Message",
    "MissingOptionError",
    "NodeList",
    "NodeListReply",
    "Preinit",
    "PreinitReply",
    "ServerError",
    "SetOption",
    "SetOptionReply",
    "StartTls",
    "VoteInfo",
    "VoteInfoReply",
    "echo_reply_for",
    "encode_node_list_reply",
    "encode_vote_frame",
    "parse_message",
]


class MissingOptionError(ValueError):
    """A message lacks an option its sender always includes."""

    def __init__(self, msg_type: int, option: OptType) -> None:
        super().__init__(f"message type {msg_type} without option {option.name}")
        self.msg_type = msg_type
        self.option = option


def _need(d: DecodedMessage, value: object, option: OptType) -> None:
    if value is None:
        raise MissingOptionError(d.msg_type, option)


def _seq(seq: int | None) -> bytes:
    return b"" if seq is None else opt_u32(OptType.MSG_SEQ_NUMBER, seq)


def _req_seq(d: DecodedMessage) -> int:
    if d.seq_number is None:
        raise MissingOptionError(d.msg_type, OptType.MSG_SEQ_NUMBER)
    return d.seq_number


def _req_ring(d: DecodedMessage) -> RingId:
    if d.ring_id is None:
        raise MissingOptionError(d.msg_type, OptType.RING_ID)
    return d.ring_id


def _req_vote(d: DecodedMessage) -> Vote:
    if d.vote is None:
        raise MissingOptionError(d.msg_type, OptType.VOTE)
    return d.vote


def _req_list_type(d: DecodedMessage) -> NodeListType:
    if d.node_list_type is None:
        raise MissingOptionError(d.msg_type, OptType.NODE_LIST_TYPE)
    return d.node_list_type


@dataclass(frozen=True, slots=True)
class Preinit:
    """PREINIT (0), client → server: the cluster name, before anything else."""

    TYPE: ClassVar[MsgType] = MsgType.PREINIT
    cluster_name: bytes
    seq_number: int | None = None

    def encode(self) -> bytes:
        body = _seq(self.seq_number) + opt_bytes(OptType.CLUSTER_NAME, self.cluster_name)
        return encode_message(self.TYPE, body)

    @classmethod
    def from_decoded(cls, d: DecodedMessage) -> Preinit:
        if d.cluster_name is None:
            raise MissingOptionError(d.msg_type, OptType.CLUSTER_NAME)
        return cls(d.cluster_name, d.seq_number)


@dataclass(frozen=True, slots=True)
class PreinitReply:
    """PREINIT_REPLY (1): the server's TLS mode and whether it requires a client certificate."""

    TYPE: ClassVar[MsgType] = MsgType.PREINIT_REPLY
    tls_supported: TlsSupported
    tls_client_cert_required: bool
    seq_number: int | None = None

    def encode(self) -> bytes:
        body = (
            _seq(self.seq_number)
            + opt_u8(OptType.TLS_SUPPORTED, self.tls_supported)
            + opt_u8(OptType.TLS_CLIENT_CERT_REQUIRED, 1 if self.tls_client_cert_required else 0)
        )
        return encode_message(self.TYPE, body)

    @classmethod
    def from_decoded(cls, d: DecodedMessage) -> PreinitReply:
        if d.tls_supported is None:
            raise MissingOptionError(d.msg_type, OptType.TLS_SUPPORTED)
        if d.tls_client_cert_required is None:
            raise MissingOptionError(d.msg_type, OptType.TLS_CLIENT_CERT_REQUIRED)
        return cls(d.tls_supported, bool(d.tls_client_cert_required), d.seq_number)


@dataclass(frozen=True, slots=True)
class StartTls:
    """STARTTLS (2): no reply; the TLS handshake starts right after it."""

    TYPE: ClassVar[MsgType] = MsgType.STARTTLS
    seq_number: int | None = None

    def encode(self) -> bytes:
        return encode_message(self.TYPE, _seq(self.seq_number))

    @classmethod
    def from_decoded(cls, d: DecodedMessage) -> StartTls:
        return cls(d.seq_number)


@dataclass(frozen=True, slots=True)
class Init:
    """INIT (3): node id, algorithm, heartbeat, tie-breaker and ring id of a qdevice."""

    TYPE: ClassVar[MsgType] = MsgType.INIT
    node_id: int
    decision_algorithm: int
    heartbeat_interval: int
    tie_breaker: TieBreaker
    ring_id: RingId
    seq_number: int | None = None
    supported_messages: tuple[int, ...] | None = ALL_MESSAGE_TYPES
    supported_options: tuple[int, ...] | None = ALL_OPTION_TYPES

    def encode(self) -> bytes:
        body = _seq(self.seq_number)
        if self.supported_messages:
            body += opt_u16_array(OptType.SUPPORTED_MESSAGES, self.supported_messages)
        if self.supported_options:
            body += opt_u16_array(OptType.SUPPORTED_OPTIONS, self.supported_options)
        body += (
            opt_u32(OptType.NODE_ID, self.node_id)
            + opt_u16(OptType.DECISION_ALGORITHM, self.decision_algorithm)
            + opt_u32(OptType.HEARTBEAT_INTERVAL, self.heartbeat_interval)
            + opt_tie_breaker(self.tie_breaker)
            + opt_ring_id(self.ring_id)
        )
        return encode_message(self.TYPE, body)

    @classmethod
    def from_decoded(cls, d: DecodedMessage) -> Init:
        _need(d, d.node_id, OptType.NODE_ID)
        _need(d, d.decision_algorithm, OptType.DECISION_ALGORITHM)
        _need(d, d.heartbeat_interval, OptType.HEARTBEAT_INTERVAL)
        _need(d, d.tie_breaker, OptType.TIE_BREAKER)
        assert d.node_id is not None and d.decision_algorithm is not None
        assert d.heartbeat_interval is not None and d.tie_breaker is not None
        return cls(
            d.node_id,
            d.decision_algorithm,
            d.heartbeat_interval,
            d.tie_breaker,
            _req_ring(d),
            d.seq_number,
            d.supported_messages,
            d.supported_options,
        )


@dataclass(frozen=True, slots=True)
class InitReply:
    """INIT_REPLY (4): the result of INIT and the server's limits and algorithms."""

    TYPE: ClassVar[MsgType] = MsgType.INIT_REPLY
    reply_error_code: int
    server_maximum_request_size: int
    server_maximum_reply_size: int
    seq_number: int | None = None
    supported_messages: tuple[int, ...] | None = ALL_MESSAGE_TYPES
    supported_options: tuple[int, ...] | None = ALL_OPTION_TYPES
    supported_decision_algorithms: tuple[int, ...] | None = tuple(int(a) for a in DecisionAlgorithm)

    def encode(self) -> bytes:
        body = opt_u16(OptType.REPLY_ERROR_CODE, self.reply_error_code)
        if self.supported_messages:
            body += opt_u16_array(OptType.SUPPORTED_MESSAGES, self.supported_messages)
        if self.supported_options:
            body += opt_u16_array(OptType.SUPPORTED_OPTIONS, self.supported_options)
        body += (
            _seq(self.seq_number)
            + opt_u32(OptType.SERVER_MAXIMUM_REQUEST_SIZE, self.server_maximum_request_size)
            + opt_u32(OptType.SERVER_MAXIMUM_REPLY_SIZE, self.server_maximum_reply_size)
        )
        if self.supported_decision_algorithms:
            body += opt_u16_array(
                OptType.SUPPORTED_DECISION_ALGORITHMS, self.supported_decision_algorithms
            )
        return encode_message(self.TYPE, body)

    @classmethod
    def from_decoded(cls, d: DecodedMessage) -> InitReply:
        _need(d, d.reply_error_code, OptType.REPLY_ERROR_CODE)
        _need(d, d.server_maximum_request_size, OptType.SERVER_MAXIMUM_REQUEST_SIZE)
        _need(d, d.server_maximum_reply_size, OptType.SERVER_MAXIMUM_REPLY_SIZE)
        assert d.reply_error_code is not None
        assert d.server_maximum_request_size is not None
        assert d.server_maximum_reply_size is not None
        return cls(
            d.reply_error_code,
            d.server_maximum_request_size,
            d.server_maximum_reply_size,
            d.seq_number,
            d.supported_messages,
            d.supported_options,
            d.supported_decision_algorithms,
        )


@dataclass(frozen=True, slots=True)
class ServerError:
    """SERVER_ERROR (5): an error code, with the request's sequence number when it had one."""

    TYPE: ClassVar[MsgType] = MsgType.SERVER_ERROR
    reply_error_code: int
    seq_number: int | None = None

    def encode(self) -> bytes:
        body = _seq(self.seq_number) + opt_u16(OptType.REPLY_ERROR_CODE, self.reply_error_code)
        return encode_message(self.TYPE, body)

    @classmethod
    def from_decoded(cls, d: DecodedMessage) -> ServerError:
        _need(d, d.reply_error_code, OptType.REPLY_ERROR_CODE)
        assert d.reply_error_code is not None
        return cls(d.reply_error_code, d.seq_number)


def _set_option_body(
    seq: int | None, hb: int | None, kap: KeepActivePartitionTieBreaker | None
) -> bytes:
    body = _seq(seq)
    if hb is not None:
        body += opt_u32(OptType.HEARTBEAT_INTERVAL, hb)
    if kap is not None:
        body += opt_u8(OptType.KEEP_ACTIVE_PARTITION_TIE_BREAKER, kap)
    return body


@dataclass(frozen=True, slots=True)
class _OptionsShape:
    """SET_OPTION and its reply: the heartbeat interval and/or the KAP tie-breaker flag."""

    TYPE: ClassVar[MsgType]
    seq_number: int | None = None
    heartbeat_interval: int | None = None
    keep_active_partition_tie_breaker: KeepActivePartitionTieBreaker | None = None

    def encode(self) -> bytes:
        body = _set_option_body(
            self.seq_number, self.heartbeat_interval, self.keep_active_partition_tie_breaker
        )
        return encode_message(self.TYPE, body)

    @classmethod
    def from_decoded(cls, d: DecodedMessage) -> Self:
        return cls(d.seq_number, d.heartbeat_interval, d.keep_active_partition_tie_breaker)


@dataclass(frozen=True, slots=True)
class SetOption(_OptionsShape):
    """SET_OPTION (6): change the heartbeat interval and/or the KAP tie-breaker flag."""

    TYPE: ClassVar[MsgType] = MsgType.SET_OPTION


@dataclass(frozen=True, slots=True)
class SetOptionReply(_OptionsShape):
    """SET_OPTION_REPLY (7): the options of the request, with the values now in force."""

    TYPE: ClassVar[MsgType] = MsgType.SET_OPTION_REPLY


@dataclass(frozen=True, slots=True)
class _OptionalSeqShape:
    """A message whose only option is an optional sequence number (the echoes)."""

    TYPE: ClassVar[MsgType]
    seq_number: int | None = None

    def encode(self) -> bytes:
        return encode_message(self.TYPE, _seq(self.seq_number))

    @classmethod
    def from_decoded(cls, d: DecodedMessage) -> Self:
        return cls(d.seq_number)


@dataclass(frozen=True, slots=True)
class EchoRequest(_OptionalSeqShape):
    """ECHO_REQUEST (8): the client heartbeat; it has its own sequence counter."""

    TYPE: ClassVar[MsgType] = MsgType.ECHO_REQUEST


@dataclass(frozen=True, slots=True)
class EchoReply(_OptionalSeqShape):
    """ECHO_REPLY (9): the server sends back the request's bytes (see :func:`echo_reply_for`)."""

    TYPE: ClassVar[MsgType] = MsgType.ECHO_REPLY


def echo_reply_for(request_raw: bytes) -> bytes:
    """``msg_create_echo_reply``: the request frame with its type rewritten to ECHO_REPLY."""
    return b"\x00\x09" + request_raw[2:]


@dataclass(frozen=True, slots=True)
class NodeList:
    """NODE_LIST (10): a config, membership or quorum node list of the client."""

    TYPE: ClassVar[MsgType] = MsgType.NODE_LIST
    seq_number: int
    node_list_type: NodeListType
    nodes: tuple[NodeInfo, ...] = ()
    ring_id: RingId | None = None
    config_version: int | None = None
    quorate: Quorate | None = None
    heuristics: Heuristics = Heuristics.UNDEFINED

    def encode(self) -> bytes:
        body = opt_u32(OptType.MSG_SEQ_NUMBER, self.seq_number) + opt_u8(
            OptType.NODE_LIST_TYPE, self.node_list_type
        )
        if self.ring_id is not None:
            body += opt_ring_id(self.ring_id)
        if self.config_version is not None:
            body += opt_u64(OptType.CONFIG_VERSION, self.config_version)
        if self.quorate is not None:
            body += opt_u8(OptType.QUORATE, self.quorate)
        for node in self.nodes:
            body += opt_node_info(node)
        if self.heuristics != Heuristics.UNDEFINED:
            body += opt_u8(OptType.HEURISTICS, self.heuristics)
        return encode_message(self.TYPE, body)

    @classmethod
    def from_decoded(cls, d: DecodedMessage) -> NodeList:
        return cls(
            _req_seq(d),
            _req_list_type(d),
            d.nodes,
            d.ring_id,
            d.config_version,
            d.quorate,
            d.heuristics,
        )


_NODE_LIST_REPLY = struct.Struct(">HI HHI HHB HHIQ HHB")
"""A whole NODE_LIST_REPLY: header, seq, node list type, ring id, vote (options in C order)."""

_VOTE_FRAME = struct.Struct(">HI HHI HHB HHIQ")
"""A whole ASK_FOR_VOTE_REPLY / VOTE_INFO: header, seq, vote, ring id."""


def encode_node_list_reply(
    seq_number: int, node_list_type: int, ring_id: RingId, vote: int
) -> bytes:
    """The bytes of ``NodeListReply(...).encode()`` in one step (the server's hot path)."""
    return _NODE_LIST_REPLY.pack(
        MsgType.NODE_LIST_REPLY,
        34,
        OptType.MSG_SEQ_NUMBER,
        4,
        seq_number,
        OptType.NODE_LIST_TYPE,
        1,
        node_list_type,
        OptType.RING_ID,
        12,
        ring_id.rep,
        ring_id.seq,
        OptType.VOTE,
        1,
        vote,
    )


def encode_vote_frame(msg_type: int, seq_number: int, vote: int, ring_id: RingId) -> bytes:
    """The bytes of a VOTE_INFO / ASK_FOR_VOTE_REPLY ``encode()`` in one step."""
    return _VOTE_FRAME.pack(
        msg_type,
        29,
        OptType.MSG_SEQ_NUMBER,
        4,
        seq_number,
        OptType.VOTE,
        1,
        vote,
        OptType.RING_ID,
        12,
        ring_id.rep,
        ring_id.seq,
    )


@dataclass(frozen=True, slots=True)
class NodeListReply:
    """NODE_LIST_REPLY (11): the vote for a node list, with the server's ring id for the client."""

    TYPE: ClassVar[MsgType] = MsgType.NODE_LIST_REPLY
    seq_number: int
    node_list_type: NodeListType
    ring_id: RingId
    vote: Vote

    def encode(self) -> bytes:
        return encode_node_list_reply(self.seq_number, self.node_list_type, self.ring_id, self.vote)

    @classmethod
    def from_decoded(cls, d: DecodedMessage) -> NodeListReply:
        return cls(_req_seq(d), _req_list_type(d), _req_ring(d), _req_vote(d))


@dataclass(frozen=True, slots=True)
class _SeqShape:
    """A message whose only option is a required sequence number."""

    TYPE: ClassVar[MsgType]
    seq_number: int

    def encode(self) -> bytes:
        return encode_message(self.TYPE, opt_u32(OptType.MSG_SEQ_NUMBER, self.seq_number))

    @classmethod
    def from_decoded(cls, d: DecodedMessage) -> Self:
        return cls(_req_seq(d))


@dataclass(frozen=True, slots=True)
class AskForVote(_SeqShape):
    """ASK_FOR_VOTE (12): never sent by the 3.0.3 qdevice, still served by qnetd."""

    TYPE: ClassVar[MsgType] = MsgType.ASK_FOR_VOTE


def _seq_vote_ring(seq: int, vote: Vote, ring_id: RingId) -> bytes:
    return opt_u32(OptType.MSG_SEQ_NUMBER, seq) + opt_u8(OptType.VOTE, vote) + opt_ring_id(ring_id)


@dataclass(frozen=True, slots=True)
class _SeqVoteRingShape:
    """A vote: sequence number, vote and the ring id it is for."""

    TYPE: ClassVar[MsgType]
    seq_number: int
    vote: Vote
    ring_id: RingId

    def encode(self) -> bytes:
        return encode_vote_frame(self.TYPE, self.seq_number, self.vote, self.ring_id)

    @classmethod
    def from_decoded(cls, d: DecodedMessage) -> Self:
        return cls(_req_seq(d), _req_vote(d), _req_ring(d))


@dataclass(frozen=True, slots=True)
class AskForVoteReply(_SeqVoteRingShape):
    """ASK_FOR_VOTE_REPLY (13)."""

    TYPE: ClassVar[MsgType] = MsgType.ASK_FOR_VOTE_REPLY


@dataclass(frozen=True, slots=True)
class VoteInfo(_SeqVoteRingShape):
    """VOTE_INFO (14), server → client: a vote pushed outside any request."""

    TYPE: ClassVar[MsgType] = MsgType.VOTE_INFO


@dataclass(frozen=True, slots=True)
class VoteInfoReply(_SeqShape):
    """VOTE_INFO_REPLY (15): acknowledges a VOTE_INFO by its sequence number."""

    TYPE: ClassVar[MsgType] = MsgType.VOTE_INFO_REPLY


@dataclass(frozen=True, slots=True)
class HeuristicsChange:
    """HEURISTICS_CHANGE (16): the result of the regular heuristics changed."""

    TYPE: ClassVar[MsgType] = MsgType.HEURISTICS_CHANGE
    seq_number: int
    heuristics: Heuristics

    def encode(self) -> bytes:
        body = opt_u32(OptType.MSG_SEQ_NUMBER, self.seq_number) + opt_u8(
            OptType.HEURISTICS, self.heuristics
        )
        return encode_message(self.TYPE, body)

    @classmethod
    def from_decoded(cls, d: DecodedMessage) -> HeuristicsChange:
        if d.heuristics == Heuristics.UNDEFINED:
            raise MissingOptionError(d.msg_type, OptType.HEURISTICS)
        return cls(_req_seq(d), d.heuristics)


@dataclass(frozen=True, slots=True)
class HeuristicsChangeReply:
    """HEURISTICS_CHANGE_REPLY (17)."""

    TYPE: ClassVar[MsgType] = MsgType.HEURISTICS_CHANGE_REPLY
    seq_number: int
    vote: Vote
    ring_id: RingId
    heuristics: Heuristics

    def encode(self) -> bytes:
        body = _seq_vote_ring(self.seq_number, self.vote, self.ring_id) + opt_u8(
            OptType.HEURISTICS, self.heuristics
        )
        return encode_message(self.TYPE, body)

    @classmethod
    def from_decoded(cls, d: DecodedMessage) -> HeuristicsChangeReply:
        if d.heuristics == Heuristics.UNDEFINED:
            raise MissingOptionError(d.msg_type, OptType.HEURISTICS)
        return cls(_req_seq(d), _req_vote(d), _req_ring(d), d.heuristics)


Message: TypeAlias = (
    Preinit
    | PreinitReply
    | StartTls
    | Init
    | InitReply
    | ServerError
    | SetOption
    | SetOptionReply
    | EchoRequest
    | EchoReply
    | NodeList
    | NodeListReply
    | AskForVote
    | AskForVoteReply
    | VoteInfo
    | VoteInfoReply
    | HeuristicsChange
    | HeuristicsChangeReply
)

MESSAGE_CLASSES: dict[int, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        Preinit,
        PreinitReply,
        StartTls,
        Init,
        InitReply,
        ServerError,
        SetOption,
        SetOptionReply,
        EchoRequest,
        EchoReply,
        NodeList,
        NodeListReply,
        AskForVote,
        AskForVoteReply,
        VoteInfo,
        VoteInfoReply,
        HeuristicsChange,
        HeuristicsChangeReply,
    )
}


def parse_message(raw: bytes) -> Message:
    """Decode one complete frame into its typed message.

    Raises :class:`~qnetd.protocol.decoder.MessageDecodeError` for malformed bytes,
    :class:`MissingOptionError` for a missing required option and ``ValueError`` for an unknown
    message type.
    """
    decoded = decode_message(raw)
    cls = MESSAGE_CLASSES.get(decoded.msg_type)
    if cls is None:
        raise ValueError(f"unknown message type {decoded.msg_type}")
    return cls.from_decoded(decoded)
