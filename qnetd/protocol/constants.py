"""Numeric vocabulary of the qdevice-net protocol (ref qnetd-protocol.md sections 1-4).

Every code here is a wire value of corosync-qdevice 3.0.3 (``msg.h``, ``tlv.h``); the
``*_str`` helpers return the exact strings the C programs print (``msg_type_to_str``,
``tlv_vote_to_str``, ...), which the status tool output depends on.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "ALL_MESSAGE_TYPES",
    "ALL_OPTION_TYPES",
    "SUPPORTED_DECISION_ALGORITHMS",
    "DecisionAlgorithm",
    "Heuristics",
    "KeepActivePartitionTieBreaker",
    "MsgType",
    "NodeListType",
    "NodeState",
    "OptType",
    "Quorate",
    "ReplyErrorCode",
    "TieBreakerMode",
    "TlsSupported",
    "Vote",
    "algorithm_str",
    "heuristics_cmp",
    "heuristics_str",
    "msg_type_str",
    "node_state_str",
    "tls_supported_str",
    "vote_str",
]


class MsgType(IntEnum):
    """``enum msg_type`` (ref 1): the u16 in the first two header bytes."""

    PREINIT = 0
    PREINIT_REPLY = 1
    STARTTLS = 2
    INIT = 3
    INIT_REPLY = 4
    SERVER_ERROR = 5
    SET_OPTION = 6
    SET_OPTION_REPLY = 7
    ECHO_REQUEST = 8
    ECHO_REPLY = 9
    NODE_LIST = 10
    NODE_LIST_REPLY = 11
    ASK_FOR_VOTE = 12
    ASK_FOR_VOTE_REPLY = 13
    VOTE_INFO = 14
    VOTE_INFO_REPLY = 15
    HEURISTICS_CHANGE = 16
    HEURISTICS_CHANGE_REPLY = 17


class OptType(IntEnum):
    """``enum tlv_opt_type`` (ref 2): the u16 type of a TLV option."""

    MSG_SEQ_NUMBER = 0
    CLUSTER_NAME = 1
    TLS_SUPPORTED = 2
    TLS_CLIENT_CERT_REQUIRED = 3
    SUPPORTED_MESSAGES = 4
    SUPPORTED_OPTIONS = 5
    REPLY_ERROR_CODE = 6
    SERVER_MAXIMUM_REQUEST_SIZE = 7
    SERVER_MAXIMUM_REPLY_SIZE = 8
    NODE_ID = 9
    SUPPORTED_DECISION_ALGORITHMS = 10
    DECISION_ALGORITHM = 11
    HEARTBEAT_INTERVAL = 12
    RING_ID = 13
    CONFIG_VERSION = 14
    DATA_CENTER_ID = 15
    NODE_STATE = 16
    NODE_INFO = 17
    NODE_LIST_TYPE = 18
    VOTE = 19
    QUORATE = 20
    TIE_BREAKER = 21
    HEURISTICS = 22
    KEEP_ACTIVE_PARTITION_TIE_BREAKER = 23


class TlsSupported(IntEnum):
    """``enum tlv_tls_supported``: qnetd ``-s off|on|req``, qdevice ``tls: off|on|required``."""

    UNSUPPORTED = 0
    SUPPORTED = 1
    REQUIRED = 2


class ReplyErrorCode(IntEnum):
    """``enum tlv_reply_error_code`` (ref 4)."""

    NO_ERROR = 0
    UNSUPPORTED_NEEDED_MESSAGE = 1
    UNSUPPORTED_NEEDED_OPTION = 2
    TLS_REQUIRED = 3
    UNSUPPORTED_MESSAGE = 4
    MESSAGE_TOO_LONG = 5
    PREINIT_REQUIRED = 6
    DOESNT_CONTAIN_REQUIRED_OPTION = 7
    UNEXPECTED_MESSAGE = 8
    ERROR_DECODING_MSG = 9
    INTERNAL_ERROR = 10
    INIT_REQUIRED = 11
    UNSUPPORTED_DECISION_ALGORITHM = 12
    INVALID_HEARTBEAT_INTERVAL = 13
    UNSUPPORTED_DECISION_ALGORITHM_MESSAGE = 14
    TIE_BREAKER_DIFFERS_FROM_OTHER_NODES = 15
    ALGORITHM_DIFFERS_FROM_OTHER_NODES = 16
    DUPLICATE_NODE_ID = 17
    INVALID_CONFIG_NODE_LIST = 18
    INVALID_MEMBERSHIP_NODE_LIST = 19


class DecisionAlgorithm(IntEnum):
    """``enum tlv_decision_algorithm_type`` (ref 7)."""

    TEST = 0
    FFSPLIT = 1
    TWO_NODE_LMS = 2
    LMS = 3


class NodeState(IntEnum):
    """``enum tlv_node_state``; ``NOT_SET`` is never on the wire."""

    NOT_SET = 0
    MEMBER = 1
    DEAD = 2
    LEAVING = 3


class NodeListType(IntEnum):
    """``enum tlv_node_list_type``."""

    INITIAL_CONFIG = 0
    CHANGED_CONFIG = 1
    MEMBERSHIP = 2
    QUORUM = 3


class Vote(IntEnum):
    """``enum tlv_vote``; ``UNDEFINED`` is never on the wire."""

    UNDEFINED = 0
    ACK = 1
    NACK = 2
    ASK_LATER = 3
    WAIT_FOR_REPLY = 4
    NO_CHANGE = 5


class Quorate(IntEnum):
    """``enum tlv_quorate``."""

    INQUORATE = 0
    QUORATE = 1


class TieBreakerMode(IntEnum):
    """``enum tlv_tie_breaker_mode``."""

    LOWEST = 1
    HIGHEST = 2
    NODE_ID = 3


class Heuristics(IntEnum):
    """``enum tlv_heuristics``; ``UNDEFINED`` is expressed by omitting the option."""

    UNDEFINED = 0
    PASS = 1
    FAIL = 2


class KeepActivePartitionTieBreaker(IntEnum):
    """``enum tlv_keep_active_partition_tie_breaker``."""

    DISABLED = 0
    ENABLED = 1


ALL_MESSAGE_TYPES: tuple[int, ...] = tuple(int(t) for t in MsgType)
"""``msg_static_supported_messages``: what both sides advertise (0..17)."""

ALL_OPTION_TYPES: tuple[int, ...] = tuple(int(t) for t in OptType)
"""``tlv_static_supported_options``: what both sides advertise (0..23)."""

SUPPORTED_DECISION_ALGORITHMS: tuple[int, ...] = (0, 1, 2, 3)
"""``qnetd_static_supported_decision_algorithms`` in its INIT_REPLY order."""

_MSG_TYPE_STR: dict[int, str] = {
    MsgType.PREINIT: "Preinit",
    MsgType.PREINIT_REPLY: "Preinit reply",
    MsgType.STARTTLS: "StartTLS",
    MsgType.INIT: "Init",
    MsgType.INIT_REPLY: "Init reply",
    MsgType.SERVER_ERROR: "Server error",
    MsgType.SET_OPTION: "Set option",
    MsgType.SET_OPTION_REPLY: "Set option reply",
    MsgType.ECHO_REQUEST: "Echo request",
    MsgType.ECHO_REPLY: "Echo reply",
    MsgType.NODE_LIST: "Node list",
    MsgType.NODE_LIST_REPLY: "Node list reply",
    MsgType.ASK_FOR_VOTE: "Ask for vote",
    MsgType.ASK_FOR_VOTE_REPLY: "Ask for vote reply",
    MsgType.VOTE_INFO: "Vote info",
    MsgType.VOTE_INFO_REPLY: "Vote info reply",
    MsgType.HEURISTICS_CHANGE: "Heuristics change",
    MsgType.HEURISTICS_CHANGE_REPLY: "Heuristics change reply",
}

_VOTE_STR: dict[int, str] = {
    Vote.ACK: "ACK",
    Vote.NACK: "NACK",
    Vote.ASK_LATER: "Ask later",
    Vote.WAIT_FOR_REPLY: "Wait for reply",
    Vote.NO_CHANGE: "No change",
}

_NODE_STATE_STR: dict[int, str] = {
    NodeState.NOT_SET: "not set",
    NodeState.MEMBER: "member",
    NodeState.DEAD: "dead",
    NodeState.LEAVING: "leaving",
}

_TLS_STR: dict[int, str] = {
    TlsSupported.UNSUPPORTED: "Unsupported",
    TlsSupported.SUPPORTED: "Supported",
    TlsSupported.REQUIRED: "Required",
}

_ALGORITHM_STR: dict[int, str] = {
    DecisionAlgorithm.TEST: "Test",
    DecisionAlgorithm.FFSPLIT: "Fifty-Fifty split",
    DecisionAlgorithm.TWO_NODE_LMS: "2 Node LMS",
    DecisionAlgorithm.LMS: "LMS",
}

_HEURISTICS_STR: dict[int, str] = {
    Heuristics.UNDEFINED: "Undefined",
    Heuristics.PASS: "Pass",
    Heuristics.FAIL: "Fail",
}


def msg_type_str(value: int) -> str:
    """``msg_type_to_str``."""
    return _MSG_TYPE_STR.get(value, "Unknown message type")


def vote_str(value: int) -> str:
    """``tlv_vote_to_str``."""
    return _VOTE_STR.get(value, "Unknown vote value")


def node_state_str(value: int) -> str:
    """``tlv_node_state_to_str``."""
    return _NODE_STATE_STR.get(value, "Unhandled node state")


def tls_supported_str(value: int) -> str:
    """``tlv_tls_supported_to_str``."""
    return _TLS_STR.get(value, "Unhandled tls supported state")


def algorithm_str(value: int) -> str:
    """``tlv_decision_algorithm_type_to_str``."""
    return _ALGORITHM_STR.get(value, "Unknown algorithm")


def heuristics_str(value: int) -> str:
    """``tlv_heuristics_to_str``."""
    return _HEURISTICS_STR.get(value, "Unknown heuristics type")


_HEURISTICS_RANK = {Heuristics.FAIL: 0, Heuristics.UNDEFINED: 1, Heuristics.PASS: 2}


def heuristics_cmp(h1: Heuristics, h2: Heuristics) -> int:
    """``tlv_heuristics_cmp``: PASS > UNDEFINED > FAIL; returns -1, 0 or 1."""
    r1, r2 = _HEURISTICS_RANK[h1], _HEURISTICS_RANK[h2]
    return (r1 > r2) - (r1 < r2)
