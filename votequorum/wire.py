"""votequorum exec messages: bodies, sizes and flags (ref totem-wire.md section 11.1).

All four messages travel in group ``"a"`` behind the 16-byte exec header
(``id = 5 << 16 | fn``; see :func:`totem.services.dispatch.encode_exec`). The C
structs are packed but their header is ``aligned(8)``, so each total size is
rounded up to a multiple of 8; the tail padding is zero when we send and
ignored when we receive.

=====  ===================  =============================================================  =====
 fn    message              body layout (offsets from the start of the whole message)      size
=====  ===================  =============================================================  =====
 0     NODEINFO             u32 nodeid@16, u32 votes@20, u32 expected_votes@24,            32
                            u32 flags@28
 1     RECONFIGURE          u32 nodeid@16, u32 value@20, u8 param@24, 3 pad, 4 tail pad    32
 2     QDEVICE_REG          u32 operation@16, char name[255]@20, 5 tail pad                280
 3     QDEVICE_RECONFIGURE  char oldname[255]@16, char newname[255]@271, 2 tail pad        528
=====  ===================  =============================================================  =====

Decoding is strict: a body of the wrong length, a name without its NUL
terminator or an unknown RECONFIGURE param raises :class:`MalformedMessage`;
the service drops such messages and counts them.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

__all__ = [
    "MESSAGE_SIZES",
    "QDEVICE_MAX_NAME_LEN",
    "QDEVICE_NODEID",
    "VOTEQUORUM_SERVICE_ID",
    "ExecFn",
    "MalformedMessage",
    "NodeFlags",
    "NodeInfo",
    "QdeviceOperation",
    "QdeviceReconfigure",
    "QdeviceReg",
    "ReconfigParam",
    "Reconfigure",
    "VotequorumMessage",
    "decode_body",
    "encode_body",
]

VOTEQUORUM_SERVICE_ID = 5
QDEVICE_NODEID = 0
"""NODEINFO with this nodeid describes the quorum device."""
QDEVICE_MAX_NAME_LEN = 255
_HEADER_SIZE = 16


class ExecFn(enum.IntEnum):
    """votequorum exec function ids (``MESSAGE_REQ_EXEC_VOTEQUORUM_*``)."""

    NODEINFO = 0
    RECONFIGURE = 1
    QDEVICE_REG = 2
    QDEVICE_RECONFIGURE = 3


MESSAGE_SIZES = {
    ExecFn.NODEINFO: 32,
    ExecFn.RECONFIGURE: 32,
    ExecFn.QDEVICE_REG: 280,
    ExecFn.QDEVICE_RECONFIGURE: 528,
}
"""Total message size, exec header included."""


class NodeFlags(enum.IntFlag):
    """NODEINFO flags (``NODE_FLAGS_*``)."""

    QUORATE = 1
    LEAVING = 2
    WFASTATUS = 4
    FIRST = 8
    QDEVICE_REGISTERED = 16
    QDEVICE_ALIVE = 32
    QDEVICE_CAST_VOTE = 64
    QDEVICE_MASTER_WINS = 128


class ReconfigParam(enum.IntEnum):
    """RECONFIGURE params (``VOTEQUORUM_RECONFIG_PARAM_*``)."""

    EXPECTED_VOTES = 1
    NODE_VOTES = 2
    CANCEL_WFA = 3


class QdeviceOperation(enum.IntEnum):
    UNREGISTER = 0
    REGISTER = 1


class MalformedMessage(ValueError):
    """A votequorum message that does not have the layout of ref 11.1."""


@dataclass(frozen=True, slots=True)
class NodeInfo:
    nodeid: int
    votes: int
    expected_votes: int
    flags: int


@dataclass(frozen=True, slots=True)
class Reconfigure:
    nodeid: int
    value: int
    param: ReconfigParam


@dataclass(frozen=True, slots=True)
class QdeviceReg:
    operation: QdeviceOperation
    name: str


@dataclass(frozen=True, slots=True)
class QdeviceReconfigure:
    oldname: str
    newname: str


VotequorumMessage = NodeInfo | Reconfigure | QdeviceReg | QdeviceReconfigure

_NODEINFO = struct.Struct("<IIII")
_RECONFIGURE = struct.Struct("<IIB3x4x")
_QDEVICE_REG = struct.Struct(f"<I{QDEVICE_MAX_NAME_LEN}s5x")
_QDEVICE_RECONFIGURE = struct.Struct(f"<{QDEVICE_MAX_NAME_LEN}s{QDEVICE_MAX_NAME_LEN}s2x")
_U32 = (1 << 32) - 1


def _u32(name: str, value: int) -> int:
    if not 0 <= value <= _U32:
        raise ValueError(f"{name} {value} does not fit in a u32")
    return value


def _name(value: str) -> bytes:
    raw = value.encode()
    if len(raw) >= QDEVICE_MAX_NAME_LEN or b"\0" in raw:
        raise ValueError(f"qdevice name must be shorter than {QDEVICE_MAX_NAME_LEN} bytes, no NUL")
    return raw


def _read_name(raw: bytes, what: str) -> str:
    end = raw.find(b"\0")
    if end < 0:
        raise MalformedMessage(f"{what} is not NUL-terminated")
    try:
        return raw[:end].decode()
    except UnicodeDecodeError as exc:
        raise MalformedMessage(f"{what} is not UTF-8") from exc


def encode_body(msg: VotequorumMessage) -> tuple[ExecFn, bytes]:
    """Return the exec fn id and the body (without the 16-byte exec header)."""
    if isinstance(msg, NodeInfo):
        return ExecFn.NODEINFO, _NODEINFO.pack(
            _u32("nodeid", msg.nodeid),
            _u32("votes", msg.votes),
            _u32("expected_votes", msg.expected_votes),
            _u32("flags", msg.flags),
        )
    if isinstance(msg, Reconfigure):
        return ExecFn.RECONFIGURE, _RECONFIGURE.pack(
            _u32("nodeid", msg.nodeid), _u32("value", msg.value), int(msg.param)
        )
    if isinstance(msg, QdeviceReg):
        return ExecFn.QDEVICE_REG, _QDEVICE_REG.pack(int(msg.operation), _name(msg.name))
    return ExecFn.QDEVICE_RECONFIGURE, _QDEVICE_RECONFIGURE.pack(
        _name(msg.oldname), _name(msg.newname)
    )


def decode_body(fn_id: int, body: bytes) -> VotequorumMessage:
    """Decode the body of exec function ``fn_id``; :class:`MalformedMessage` if it is wrong."""
    try:
        fn = ExecFn(fn_id)
    except ValueError as exc:
        raise MalformedMessage(f"unknown votequorum exec function {fn_id}") from exc
    expected = MESSAGE_SIZES[fn] - _HEADER_SIZE
    if len(body) != expected:
        raise MalformedMessage(
            f"{fn.name} body of {len(body)} bytes, expected {expected} "
            f"(message of {MESSAGE_SIZES[fn]})"
        )
    if fn is ExecFn.NODEINFO:
        return NodeInfo(*_NODEINFO.unpack(body))
    if fn is ExecFn.RECONFIGURE:
        nodeid, value, param = _RECONFIGURE.unpack(body)
        try:
            return Reconfigure(nodeid, value, ReconfigParam(param))
        except ValueError as exc:
            raise MalformedMessage(f"unknown RECONFIGURE param {param}") from exc
    if fn is ExecFn.QDEVICE_REG:
        operation, name = _QDEVICE_REG.unpack(body)
        try:
            op = QdeviceOperation(operation)
        except ValueError as exc:
            raise MalformedMessage(f"unknown QDEVICE_REG operation {operation}") from exc
        return QdeviceReg(op, _read_name(name, "qdevice name"))
    old, new = _QDEVICE_RECONFIGURE.unpack(body)
    return QdeviceReconfigure(
        _read_name(old, "old qdevice name"), _read_name(new, "new qdevice name")
    )
