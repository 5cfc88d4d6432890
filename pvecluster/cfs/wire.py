"""pmxcfs's message layouts on the process group (ref cluster-manager.md 4.3, 4.4).

Little-endian, as pmxcfs writes host byte order on x86:

* base header (16 bytes): ``type u16, subtype u16, protocol_version u32, time u32, reserved u32``;
* normal messages (24 bytes): base + ``count u64`` (the sender's message counter);
* state messages (32 bytes): base + epoch ``{epoch u32, time u32, nodeid u32, pid u32}``;
* DCDB file operations: ``size u32, offset u32, pathlen u32, tolen u32, flags u32, path\\0,
  to\\0, data[size]``; unlock requests ``csum[32], path\\0``;
* UPDATE (one tree entry): ``parent u64, inode u64, version u64, writer u32, mtime u32,
  size u32, namelen u32, type u8, name\\0, data``.

Decoders raise :class:`WireError` with pmxcfs's wording for what is wrong.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from pvecluster.cfs.memdb import DT_DIR, DT_REG, TreeEntry

__all__ = [
    "BASE_HEADER",
    "NORMAL_HEADER",
    "STATE_HEADER",
    "DcdbOp",
    "Epoch",
    "FsMessage",
    "MessageType",
    "WireError",
    "decode_fs_message",
    "decode_normal",
    "decode_state",
    "decode_unlock",
    "decode_update",
    "encode_fs_message",
    "encode_normal",
    "encode_state",
    "encode_unlock",
    "encode_update",
]

BASE_HEADER = struct.Struct("<HHIII")
NORMAL_HEADER = struct.Struct("<HHIIIQ")
STATE_HEADER = struct.Struct("<HHIIIIIII")
_FS_HEADER = struct.Struct("<IIIII")
_UPDATE_HEADER = struct.Struct("<QQQIIIIB")


class WireError(ValueError):
    """A malformed message (the text is pmxcfs's log line for it)."""


class MessageType(enum.IntEnum):
    NORMAL = 0
    SYNC_START = 1
    STATE = 2
    UPDATE = 3
    UPDATE_COMPLETE = 4
    VERIFY_REQUEST = 5
    VERIFY = 6


class DcdbOp(enum.IntEnum):
    """DCDB operation codes (the subtype of normal messages)."""

    WRITE = 1
    MKDIR = 2
    DELETE = 3
    RENAME = 4
    CREATE = 5
    MTIME = 6
    UNLOCK_REQUEST = 7
    UNLOCK = 8


@dataclass(frozen=True, slots=True)
class Epoch:
    """``dfsm_sync_epoch_t``: names one sync round (per process counter, time, node, pid)."""

    epoch: int
    time: int
    nodeid: int
    pid: int


ZERO_EPOCH = Epoch(0, 0, 0, 0)


def encode_normal(subtype: int, version: int, time: int, count: int, body: bytes) -> bytes:
    return (
        NORMAL_HEADER.pack(MessageType.NORMAL, subtype, version, time & 0xFFFFFFFF, 0, count) + body
    )


def decode_normal(data: bytes) -> tuple[int, int, int, bytes]:
    """``(subtype, time, count, body)`` of a normal message."""
    if len(data) < NORMAL_HEADER.size:
        raise WireError(f"received short message (type = 0, {len(data)} bytes)")
    _type, subtype, _version, time, _reserved, count = NORMAL_HEADER.unpack_from(data)
    return subtype, time, count, data[NORMAL_HEADER.size :]


def encode_state(kind: MessageType, version: int, time: int, epoch: Epoch, body: bytes) -> bytes:
    return (
        STATE_HEADER.pack(
            kind, 0, version, time & 0xFFFFFFFF, 0, epoch.epoch, epoch.time, epoch.nodeid, epoch.pid
        )
        + body
    )


def decode_state(data: bytes) -> tuple[MessageType | int, Epoch, bytes]:
    """``(type, epoch, body)`` of a state message."""
    if len(data) < STATE_HEADER.size:
        raise WireError(f"received short state message ({len(data)} bytes)")
    kind, _sub, _version, _time, _reserved, e_epoch, e_time, e_node, e_pid = (
        STATE_HEADER.unpack_from(data)
    )
    return kind, Epoch(e_epoch, e_time, e_node, e_pid), data[STATE_HEADER.size :]


@dataclass(frozen=True, slots=True)
class FsMessage:
    """The body of a DCDB file operation."""

    path: str | None
    to: str | None = None
    data: bytes = b""
    offset: int = 0
    flags: int = 0


def _cstr(text: str | None) -> bytes:
    return b"" if text is None else text.encode() + b"\0"


def encode_fs_message(message: FsMessage, size: int | None = None) -> bytes:
    path, to = _cstr(message.path), _cstr(message.to)
    length = len(message.data) if size is None else size
    return (
        _FS_HEADER.pack(length, message.offset, len(path), len(to), message.flags)
        + path
        + to
        + message.data
    )


def decode_fs_message(data: bytes) -> FsMessage:
    if len(data) < _FS_HEADER.size:
        raise WireError(f"received short fuse message ({len(data)} < 20)")
    size, offset, pathlen, tolen, flags = _FS_HEADER.unpack_from(data)
    rest = data[_FS_HEADER.size :]
    if len(rest) != size + pathlen + tolen:
        raise WireError("received mailformed fuse message")
    raw_path, raw_to = rest[:pathlen], rest[pathlen : pathlen + tolen]
    if pathlen and raw_path[-1] != 0:
        raise WireError("received mailformed fuse message - 'path' not terminated")
    if tolen and raw_to[-1] != 0:
        raise WireError("received mailformed fuse message - 'to' not terminated")
    try:
        path = raw_path[:-1].decode() if pathlen else None
        to = raw_to[:-1].decode() if tolen else None
    except UnicodeDecodeError:
        raise WireError("received mailformed fuse message - name is not UTF-8") from None
    return FsMessage(path, to, bytes(rest[pathlen + tolen :]), offset, flags)


def encode_unlock(path: str, csum: bytes) -> bytes:
    return csum + path.encode() + b"\0"


def decode_unlock(data: bytes) -> tuple[str, bytes]:
    if len(data) < 33:
        raise WireError(f"received short unlock message ({len(data)} < 33)")
    if data[-1] != 0:
        raise WireError("received mailformed unlock message - 'path' not terminated")
    try:
        return data[32:-1].decode(), bytes(data[:32])
    except UnicodeDecodeError:
        raise WireError("received mailformed unlock message - path is not UTF-8") from None


def encode_update(entry: TreeEntry) -> bytes:
    name = entry.name.encode() + b"\0"
    data = entry.data if entry.type == DT_REG else b""
    return (
        _UPDATE_HEADER.pack(
            entry.parent,
            entry.inode,
            entry.version,
            entry.writer,
            entry.mtime,
            len(data),
            len(name),
            entry.type,
        )
        + name
        + data
    )


def decode_update(data: bytes) -> TreeEntry:
    if len(data) < _UPDATE_HEADER.size:
        raise WireError("received short message (msg_len < 40)")
    parent, inode, version, writer, mtime, size, namelen, kind = _UPDATE_HEADER.unpack_from(data)
    rest = data[_UPDATE_HEADER.size :]
    if kind not in (DT_REG, DT_DIR):
        raise WireError(f"received mailformed message (unknown inode type {kind})")
    if len(rest) != size + namelen or namelen < 1:
        raise WireError("received mailformed message (msg_len != (size + namelen))")
    if rest[namelen - 1] != 0:
        raise WireError("received mailformed message (name[namelen-1] != 0)")
    try:
        name = rest[: namelen - 1].decode()
    except UnicodeDecodeError:
        raise WireError("received mailformed message (name is not UTF-8)") from None
    payload = bytes(rest[namelen:]) if kind == DT_REG else b""
    return TreeEntry(inode, parent, version, writer, mtime, kind, name, payload)
