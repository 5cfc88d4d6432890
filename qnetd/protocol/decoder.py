"""Generic message decoding: ``msg_decode`` of corosync-qdevice (ref qnetd-protocol.md section 2).

:func:`decode_message` turns one complete frame into a :class:`DecodedMessage` holding every
option the message carried, whatever its type (as ``struct msg_decoded`` does). Unknown option
types are ignored; a repeated option overwrites the earlier one, except NODE_INFO which
accumulates. Errors raise :class:`MessageDecodeError`, which remembers the sequence number if
the MSG_SEQ_NUMBER option was decoded before the failing option: qnetd echoes it in the
SERVER_ERROR it sends back.

Servers check per-message required options on a :class:`DecodedMessage` (the error codes depend
on which one is missing); the typed messages of :mod:`qnetd.protocol.messages` are built from
it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from qnetd.protocol.constants import (
    Heuristics,
    KeepActivePartitionTieBreaker,
    NodeListType,
    NodeState,
    OptType,
    Quorate,
    TlsSupported,
    Vote,
)
from qnetd.protocol.header import HEADER_LEN
from qnetd.protocol.tlv import (
    TLV_HEADER_LEN,
    DecodeErrorKind,
    NodeInfo,
    RingId,
    TieBreaker,
    TlvDecodeError,
    decode_heuristics,
    decode_keep_active_partition_tie_breaker,
    decode_node_info,
    decode_node_list_type,
    decode_node_state,
    decode_quorate,
    decode_ring_id,
    decode_tie_breaker,
    decode_tls_supported,
    decode_u8,
    decode_u16,
    decode_u16_array,
    decode_u32,
    decode_u64,
    decode_vote,
)

__all__ = ["DecodedMessage", "MessageDecodeError", "decode_message"]

_TL = struct.Struct(">HH")
_HEADER = struct.Struct(">HI")
_U32 = struct.Struct(">I")
_SEQ_ONLY_TL = _TL.pack(OptType.MSG_SEQ_NUMBER, 4)
_SEQ_ONLY_END = HEADER_LEN + 4
_SEQ = int(OptType.MSG_SEQ_NUMBER)
_NODE_INFO = int(OptType.NODE_INFO)
_LAST_OPT = int(OptType.KEEP_ACTIVE_PARTITION_TIE_BREAKER)


class MessageDecodeError(ValueError):
    """The frame is not a well-formed message (``msg_decode`` returned < 0)."""

    def __init__(self, kind: DecodeErrorKind, msg_type: int, seq_number: int | None) -> None:
        super().__init__(kind.log_text)
        self.kind = kind
        self.msg_type = msg_type
        self.seq_number = seq_number
        """Sequence number decoded before the error, if any (echoed in SERVER_ERROR)."""


@dataclass
class DecodedMessage:
    """All options of one message (``struct msg_decoded``); ``None`` = option absent.

    A plain record (not frozen, no slots): :func:`decode_message` stores only the options the
    message carried in the instance and the class supplies every other field's default, which
    costs a fraction of running a 26-field ``__init__`` per message. The typed messages built
    from it are frozen.
    """

    msg_type: int
    seq_number: int | None = None
    cluster_name: bytes | None = None
    tls_supported: TlsSupported | None = None
    tls_client_cert_required: int | None = None
    supported_messages: tuple[int, ...] | None = None
    supported_options: tuple[int, ...] | None = None
    reply_error_code: int | None = None
    server_maximum_request_size: int | None = None
    server_maximum_reply_size: int | None = None
    node_id: int | None = None
    supported_decision_algorithms: tuple[int, ...] | None = None
    decision_algorithm: int | None = None
    """Any u16: the value is only checked by the server (error 12)."""
    heartbeat_interval: int | None = None
    ring_id: RingId | None = None
    config_version: int | None = None
    data_center_id: int = 0
    node_state: NodeState = NodeState.NOT_SET
    nodes: tuple[NodeInfo, ...] = ()
    node_list_type: NodeListType | None = None
    vote: Vote | None = None
    quorate: Quorate | None = None
    tie_breaker: TieBreaker | None = None
    heuristics: Heuristics = Heuristics.UNDEFINED
    """Always valid; UNDEFINED when the option is absent."""
    keep_active_partition_tie_breaker: KeepActivePartitionTieBreaker | None = None


def decode_message(raw: bytes) -> DecodedMessage:
    """Decode a complete frame (header included). Raises :class:`MessageDecodeError`."""
    msg_type, length = _HEADER.unpack_from(raw)
    end = HEADER_LEN + length
    if len(raw) < end:
        raise MessageDecodeError(DecodeErrorKind.INCONSISTENT, msg_type, None)
    if length == 8 and raw[HEADER_LEN:_SEQ_ONLY_END] == _SEQ_ONLY_TL:
        # The body is one sequence number (echo request, vote info reply, ...): the walk
        # below would find exactly this.
        decoded: DecodedMessage = _new_record(DecodedMessage)
        decoded.__dict__ = {
            "seq_number": _U32.unpack_from(raw, _SEQ_ONLY_END)[0],
            "msg_type": msg_type,
        }
        return decoded
    fields: dict[str, Any] = {}
    seq: int | None = None
    nodes: list[NodeInfo] | None = None
    pos = HEADER_LEN
    unpack = _TL.unpack_from
    try:
        # Walk and decode in one pass, like tlv_iter_next + msg_decode: the first bad option in
        # stream order decides the error, and the sequence number decoded before it is kept.
        while True:
            if pos + TLV_HEADER_LEN > end:
                raise TlvDecodeError(DecodeErrorKind.INCONSISTENT)
            opt, vlen = unpack(raw, pos)
            off = pos + TLV_HEADER_LEN
            nxt = off + vlen
            if nxt > end:
                raise TlvDecodeError(DecodeErrorKind.INCONSISTENT)
            if opt == _SEQ:
                seq = decode_u32(raw, off, vlen)
                fields["seq_number"] = seq
            elif opt == _NODE_INFO:
                if nodes is None:
                    nodes = []
                nodes.append(decode_node_info(raw, off, vlen))
            elif opt <= _LAST_OPT:
                name, decoder = _DECODERS[opt]
                fields[name] = decoder(raw, off, vlen)
            if nxt >= end:
                break
            pos = nxt
    except TlvDecodeError as exc:
        raise MessageDecodeError(exc.kind, msg_type, seq) from None
    if nodes is not None:
        fields["nodes"] = tuple(nodes)
    fields["msg_type"] = msg_type
    decoded = _new_record(DecodedMessage)
    decoded.__dict__ = fields
    return decoded


_new_record = object.__new__


def _cluster_name(buf: bytes, off: int, length: int) -> bytes:
    return bytes(buf[off : off + length])


_DECODERS: dict[int, tuple[str, Any]] = {
    OptType.CLUSTER_NAME: ("cluster_name", _cluster_name),
    OptType.TLS_SUPPORTED: ("tls_supported", decode_tls_supported),
    OptType.TLS_CLIENT_CERT_REQUIRED: ("tls_client_cert_required", decode_u8),
    OptType.SUPPORTED_MESSAGES: ("supported_messages", decode_u16_array),
    OptType.SUPPORTED_OPTIONS: ("supported_options", decode_u16_array),
    OptType.REPLY_ERROR_CODE: ("reply_error_code", decode_u16),
    OptType.SERVER_MAXIMUM_REQUEST_SIZE: ("server_maximum_request_size", decode_u32),
    OptType.SERVER_MAXIMUM_REPLY_SIZE: ("server_maximum_reply_size", decode_u32),
    OptType.NODE_ID: ("node_id", decode_u32),
    OptType.SUPPORTED_DECISION_ALGORITHMS: ("supported_decision_algorithms", decode_u16_array),
    OptType.DECISION_ALGORITHM: ("decision_algorithm", decode_u16),
    OptType.HEARTBEAT_INTERVAL: ("heartbeat_interval", decode_u32),
    OptType.RING_ID: ("ring_id", decode_ring_id),
    OptType.CONFIG_VERSION: ("config_version", decode_u64),
    OptType.DATA_CENTER_ID: ("data_center_id", decode_u32),
    OptType.NODE_STATE: ("node_state", decode_node_state),
    OptType.NODE_LIST_TYPE: ("node_list_type", decode_node_list_type),
    OptType.VOTE: ("vote", decode_vote),
    OptType.QUORATE: ("quorate", decode_quorate),
    OptType.TIE_BREAKER: ("tie_breaker", decode_tie_breaker),
    OptType.HEURISTICS: ("heuristics", decode_heuristics),
    OptType.KEEP_ACTIVE_PARTITION_TIE_BREAKER: (
        "keep_active_partition_tie_breaker",
        decode_keep_active_partition_tie_breaker,
    ),
}
