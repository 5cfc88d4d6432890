"""libqb's own client API (``qbipcc.h``) through ctypes, to drive our server from tests.

The real corosync client libraries sit on exactly these calls, so a test that connects
with :class:`QbClient` exercises the server as libcpg or libcmap would, without needing a
corosync service behind it. ``QbClient`` is usable in-process or in a child process
(:func:`run_client_process` runs one under another uid to test the access rule).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os

__all__ = ["LIBQB", "QbClient", "QbError", "libqb_available"]

_LIBQB_NAME = ctypes.util.find_library("qb") or "libqb.so.100"


def _load() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(_LIBQB_NAME, use_errno=True)
    except OSError:
        return None


LIBQB = _load()


def libqb_available() -> bool:
    return LIBQB is not None


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


if LIBQB is not None:
    LIBQB.qb_ipcc_connect.argtypes = (ctypes.c_char_p, ctypes.c_size_t)
    LIBQB.qb_ipcc_connect.restype = ctypes.c_void_p
    LIBQB.qb_ipcc_disconnect.argtypes = (ctypes.c_void_p,)
    LIBQB.qb_ipcc_disconnect.restype = None
    LIBQB.qb_ipcc_send.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
    LIBQB.qb_ipcc_send.restype = ctypes.c_ssize_t
    LIBQB.qb_ipcc_sendv_recv.argtypes = (
        ctypes.c_void_p,
        ctypes.POINTER(_Iovec),
        ctypes.c_uint32,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int32,
    )
    LIBQB.qb_ipcc_sendv_recv.restype = ctypes.c_ssize_t
    LIBQB.qb_ipcc_recv.argtypes = (
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int32,
    )
    LIBQB.qb_ipcc_recv.restype = ctypes.c_ssize_t
    LIBQB.qb_ipcc_event_recv.argtypes = (
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int32,
    )
    LIBQB.qb_ipcc_event_recv.restype = ctypes.c_ssize_t
    LIBQB.qb_ipcc_fd_get.argtypes = (ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32))
    LIBQB.qb_ipcc_fd_get.restype = ctypes.c_int32
    LIBQB.qb_ipcc_fc_enable_max_set.argtypes = (ctypes.c_void_p, ctypes.c_uint32)
    LIBQB.qb_ipcc_fc_enable_max_set.restype = ctypes.c_int32
    LIBQB.qb_ipcc_is_connected.argtypes = (ctypes.c_void_p,)
    LIBQB.qb_ipcc_is_connected.restype = ctypes.c_int32


class QbError(OSError):
    """A libqb client call failed with ``-errno``."""


class QbClient:
    """One ``qb_ipcc_connect``-ed connection."""

    def __init__(self, name: str, max_msg_size: int = 1 << 20) -> None:
        if LIBQB is None:
            raise RuntimeError("libqb is not installed")
        self.max_msg_size = max_msg_size
        handle = LIBQB.qb_ipcc_connect(name.encode(), max_msg_size)
        if not handle:
            code = ctypes.get_errno()
            raise QbError(code, f"qb_ipcc_connect({name}): {os.strerror(code)}")
        self._handle: int | None = handle
        self._buffer = ctypes.create_string_buffer(max_msg_size)

    def _live(self) -> int:
        if self._handle is None:
            raise QbError(errno.ENOTCONN, "disconnected")
        return self._handle

    def call(self, request: bytes, timeout_ms: int = 5000) -> bytes:
        """``qb_ipcc_sendv_recv``: send one request, return its response."""
        handle = self._live()
        raw = ctypes.create_string_buffer(request, len(request))
        iov = _Iovec(ctypes.cast(raw, ctypes.c_void_p), len(request))
        assert LIBQB is not None
        result = LIBQB.qb_ipcc_sendv_recv(
            handle, ctypes.byref(iov), 1, self._buffer, self.max_msg_size, timeout_ms
        )
        if result < 0:
            raise QbError(-result, f"qb_ipcc_sendv_recv: {os.strerror(-result)}")
        return self._buffer.raw[:result]

    def send(self, request: bytes) -> int:
        """``qb_ipcc_send`` (no response read): bytes sent, or ``-errno``."""
        handle = self._live()
        assert LIBQB is not None
        return int(LIBQB.qb_ipcc_send(handle, request, len(request)))

    def recv(self, timeout_ms: int = 5000) -> bytes:
        handle = self._live()
        assert LIBQB is not None
        result = LIBQB.qb_ipcc_recv(handle, self._buffer, self.max_msg_size, timeout_ms)
        if result < 0:
            raise QbError(-result, f"qb_ipcc_recv: {os.strerror(-result)}")
        return self._buffer.raw[:result]

    def event(self, timeout_ms: int = 5000) -> bytes:
        """``qb_ipcc_event_recv``: the next event."""
        handle = self._live()
        assert LIBQB is not None
        result = LIBQB.qb_ipcc_event_recv(handle, self._buffer, self.max_msg_size, timeout_ms)
        if result < 0:
            raise QbError(-result, f"qb_ipcc_event_recv: {os.strerror(-result)}")
        return self._buffer.raw[:result]

    def fd(self) -> int:
        value = ctypes.c_int32()
        assert LIBQB is not None
        LIBQB.qb_ipcc_fd_get(self._live(), ctypes.byref(value))
        return value.value

    def fc_enable_max(self, value: int) -> None:
        assert LIBQB is not None
        LIBQB.qb_ipcc_fc_enable_max_set(self._live(), value)

    def connected(self) -> bool:
        assert LIBQB is not None
        return bool(LIBQB.qb_ipcc_is_connected(self._live()))

    def close(self) -> None:
        if self._handle is not None and LIBQB is not None:
            LIBQB.qb_ipcc_disconnect(self._handle)
        self._handle = None

    def __enter__(self) -> QbClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
