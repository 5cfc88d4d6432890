"""Byte codecs of corosync 3.1.7 Totem datagrams (ref totem-wire.md sections 3-4, 8-10).

One module per format: ``header`` (13-byte header, ring id, acceptance of any
datagram), ``orf_token``, ``mcast``, ``merge_detect``, ``memb_join``,
``commit_token``, ``token_hold_cancel``, ``decode`` (dispatch over the six),
``totempg_packet`` (the MCAST body), ``group`` (group framing of a message),
``exec_header`` (service message header) and ``sync`` (sync protocol
messages). Each format is declared with construct (``FORMAT``, compiled) and
coded on the hot path by precompiled ``struct`` objects; the tests prove the two
byte-identical. Malformed input raises :class:`WireError` with a stable
``reason`` usable as a drop counter.
"""

from totem.wire.commit_token import CommitToken, MembEntry
from totem.wire.constants import (
    ENCAPSULATED,
    FRAME_SIZE_MAX,
    MAGIC,
    NOT_ENCAPSULATED,
    ORF_TOKEN_SIZE_MAX,
    PROCESSOR_COUNT_MAX,
    RTR_ENTRIES_MAX,
    UDP_RECEIVE_FRAME_SIZE_MAX,
    VERSION,
    MessageType,
)
from totem.wire.decode import Message, decode, encode, message_type, peek_type
from totem.wire.errors import WireError
from totem.wire.exec_header import EXEC_HEADER_SIZE, ExecHeader, exec_id, fn_id, service_id
from totem.wire.group import (
    GROUP_EXEC,
    GROUP_SYNC,
    decode_group_message,
    encode_group_message,
    group_pieces,
)
from totem.wire.mcast import Mcast
from totem.wire.memb_join import LEAVE_DUMMY_NODEID, MembJoin
from totem.wire.merge_detect import MergeDetect
from totem.wire.orf_token import OrfToken, RtrItem
from totem.wire.sync import SyncBarrier, SyncMessage, SyncServiceBuild, decode_sync
from totem.wire.token_hold_cancel import TokenHoldCancel
from totem.wire.totempg_packet import TOTEMPG_HEADER_SIZE, TotempgPacket

__all__ = [
    "ENCAPSULATED",
    "EXEC_HEADER_SIZE",
    "FRAME_SIZE_MAX",
    "GROUP_EXEC",
    "GROUP_SYNC",
    "LEAVE_DUMMY_NODEID",
    "MAGIC",
    "NOT_ENCAPSULATED",
    "ORF_TOKEN_SIZE_MAX",
    "PROCESSOR_COUNT_MAX",
    "RTR_ENTRIES_MAX",
    "TOTEMPG_HEADER_SIZE",
    "UDP_RECEIVE_FRAME_SIZE_MAX",
    "VERSION",
    "CommitToken",
    "ExecHeader",
    "Mcast",
    "MembEntry",
    "MembJoin",
    "MergeDetect",
    "Message",
    "MessageType",
    "OrfToken",
    "RtrItem",
    "SyncBarrier",
    "SyncMessage",
    "SyncServiceBuild",
    "TokenHoldCancel",
    "TotempgPacket",
    "WireError",
    "decode",
    "decode_group_message",
    "decode_sync",
    "encode",
    "encode_group_message",
    "exec_id",
    "fn_id",
    "group_pieces",
    "message_type",
    "peek_type",
    "service_id",
]
