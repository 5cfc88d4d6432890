"""libqb IPC framing shared by both transports (ref libqb-ipc/README.md sections 1.2-2.2).

Every message starts with a header whose members are each ``aligned(8)``; all integers are
native x86-64 little-endian and padding bytes are never read (real clients leave garbage
in them):

* ``qb_ipc_request_header`` (16 bytes): ``i32 id``@0, ``i32 size``@8 -- client to server;
* ``qb_ipc_response_header`` (24 bytes): ``i32 id``@0, ``i32 size``@8, ``i32 error``@16 --
  responses and events.

``size`` is the length of the whole message, header included. The connection set-up
exchanges ``qb_ipc_connection_request`` (24 bytes: the request header with id
``QB_IPC_MSG_AUTHENTICATE`` and the client's ``u32 max_msg_size``@16) and
``qb_ipc_connection_response`` (12328 bytes: the response header, ``i32
connection_type``@24, ``u32 max_msg_size``@28, an opaque ``intptr connection``@32 and three
``char[4096]`` paths @40, @4136, @8232). corosync's services answer in ``cs_error_t``
(``corotypes.h``), the set-up in ``-errno``.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

__all__ = [
    "CONNECTION_REQUEST_SIZE",
    "CONNECTION_RESPONSE_SIZE",
    "PATH_MAX",
    "QB_IPC_MSG_AUTHENTICATE",
    "QB_IPC_MSG_DISCONNECT",
    "QB_IPC_MSG_NEW_EVENT_SOCK",
    "REQUEST_HEADER",
    "REQUEST_HEADER_SIZE",
    "RESPONSE_HEADER",
    "RESPONSE_HEADER_SIZE",
    "ConnectionRequest",
    "CsError",
    "IpcType",
    "encode_connection_response",
    "error_response",
    "response_header",
]

QB_IPC_MSG_AUTHENTICATE = -1
QB_IPC_MSG_NEW_EVENT_SOCK = -2
QB_IPC_MSG_DISCONNECT = -3
PATH_MAX = 4096

REQUEST_HEADER = struct.Struct("<i4xi4x")
"""``qb_ipc_request_header``: id, size."""
RESPONSE_HEADER = struct.Struct("<i4xi4xi4x")
"""``qb_ipc_response_header``: id, size, error."""
REQUEST_HEADER_SIZE = REQUEST_HEADER.size
RESPONSE_HEADER_SIZE = RESPONSE_HEADER.size

_CONNECTION_REQUEST = struct.Struct("<i4xi4xI4x")
_CONNECTION_RESPONSE = struct.Struct(f"<i4xi4xi4xiIq{PATH_MAX}s{PATH_MAX}s{PATH_MAX}s")
CONNECTION_REQUEST_SIZE = _CONNECTION_REQUEST.size
CONNECTION_RESPONSE_SIZE = _CONNECTION_RESPONSE.size


class IpcType(enum.IntEnum):
    """``enum qb_ipc_type`` as the set-up response carries it (the server chooses)."""

    SOCKET = 0
    SHM = 1


class CsError(enum.IntEnum):
    """``cs_error_t`` (``include/corosync/corotypes.h``)."""

    OK = 1
    ERR_LIBRARY = 2
    ERR_VERSION = 3
    ERR_INIT = 4
    ERR_TIMEOUT = 5
    ERR_TRY_AGAIN = 6
    ERR_INVALID_PARAM = 7
    ERR_NO_MEMORY = 8
    ERR_BAD_HANDLE = 9
    ERR_BUSY = 10
    ERR_ACCESS = 11
    ERR_NOT_EXIST = 12
    ERR_NAME_TOO_LONG = 13
    ERR_EXIST = 14
    ERR_NO_SPACE = 15
    ERR_INTERRUPT = 16
    ERR_NAME_NOT_FOUND = 17
    ERR_NO_RESOURCES = 18
    ERR_NOT_SUPPORTED = 19
    ERR_BAD_OPERATION = 20
    ERR_FAILED_OPERATION = 21
    ERR_MESSAGE_ERROR = 22
    ERR_QUEUE_FULL = 23
    ERR_QUEUE_NOT_AVAILABLE = 24
    ERR_BAD_FLAGS = 25
    ERR_TOO_BIG = 26
    ERR_NO_SECTIONS = 27
    ERR_CONTEXT_NOT_FOUND = 28
    ERR_TOO_MANY_GROUPS = 30
    ERR_SECURITY = 100

    @classmethod
    def by_name(cls, name: str) -> CsError:
        """``CS_ERR_EXIST`` (corosync's spelling) -> ``CsError.ERR_EXIST``."""
        return cls[name.removeprefix("CS_")]


def response_header(message_id: int, size: int, error: int = CsError.OK) -> bytes:
    """The 24-byte ``qb_ipc_response_header`` of a message of ``size`` bytes in all."""
    return RESPONSE_HEADER.pack(message_id, size, error)


def error_response(error: int) -> bytes:
    """corosync's answer to a request it will not run: a bare header, id 0, 24 bytes.

    ``cs_ipcs_msg_process`` sends this for an out-of-range id (``CS_ERR_INVALID_PARAM``)
    and for a flow-controlled request (``CS_ERR_TRY_AGAIN``); 24 bytes never overflow a
    client's response buffer.
    """
    return RESPONSE_HEADER.pack(0, RESPONSE_HEADER_SIZE, error)


@dataclass(frozen=True, slots=True)
class ConnectionRequest:
    """``qb_ipc_connection_request``: what a client sends first on the set-up socket."""

    message_id: int
    size: int
    max_msg_size: int

    @classmethod
    def decode(cls, data: bytes) -> ConnectionRequest:
        """Parse the 24 bytes; ValueError if there are fewer."""
        if len(data) < CONNECTION_REQUEST_SIZE:
            raise ValueError(f"connection request of {len(data)} bytes")
        message_id, size, max_msg_size = _CONNECTION_REQUEST.unpack_from(data)
        return cls(message_id, size, max_msg_size)

    def encode(self) -> bytes:
        return _CONNECTION_REQUEST.pack(self.message_id, self.size, self.max_msg_size)


def _path(text: str) -> bytes:
    raw = text.encode()
    if len(raw) >= PATH_MAX:
        raise ValueError(f"path of {len(raw)} bytes does not fit in PATH_MAX")
    return raw


def encode_connection_response(
    error: int,
    connection_type: IpcType = IpcType.SOCKET,
    max_msg_size: int = 0,
    connection: int = 0,
    request: str = "",
    response: str = "",
    event: str = "",
) -> bytes:
    """``qb_ipc_connection_response`` (12328 bytes); ``error`` is 0 or ``-errno``."""
    return _CONNECTION_RESPONSE.pack(
        QB_IPC_MSG_AUTHENTICATE,
        CONNECTION_RESPONSE_SIZE,
        error,
        int(connection_type),
        max_msg_size,
        connection,
        _path(request),
        _path(response),
        _path(event),
    )
