"""Process-shared POSIX semaphores in shared memory, through libc (ref libqb-ipc/README.md 7).

libqb's SHM ring buffers signal through a glibc ``sem_t`` (32 bytes, process-shared) kept
in the ring's header file: the writer of a chunk posts it, the reader waits on it, and its
value doubles as the number of chunks waiting (``q_len``). The kernel interface is glibc's
futex protocol, so we call libc itself -- ``sem_init``, ``sem_post``, ``sem_trywait``,
``sem_getvalue``, ``sem_destroy`` -- on the address of the mapped ``sem_t`` (ctypes on
libc; no C of our own).
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os

__all__ = ["SEM_SIZE", "Semaphore"]

SEM_SIZE = 32
"""``sizeof(sem_t)`` on x86-64 glibc (8-byte aligned)."""

_libc = ctypes.CDLL(None, use_errno=True)
"""The symbols the process has loaded, libc's among them (``dlopen(NULL)``): no library
search, which would cost ``ctypes.util`` and an ``ldconfig -p`` child at every start."""
_sem_init = _libc.sem_init
_sem_init.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_uint)
_sem_init.restype = ctypes.c_int
_sem_post = _libc.sem_post
_sem_post.argtypes = (ctypes.c_void_p,)
_sem_post.restype = ctypes.c_int
_sem_trywait = _libc.sem_trywait
_sem_trywait.argtypes = (ctypes.c_void_p,)
_sem_trywait.restype = ctypes.c_int
_sem_getvalue = _libc.sem_getvalue
_sem_getvalue.argtypes = (ctypes.c_void_p, ctypes.POINTER(ctypes.c_int))
_sem_getvalue.restype = ctypes.c_int
_sem_destroy = _libc.sem_destroy
_sem_destroy.argtypes = (ctypes.c_void_p,)
_sem_destroy.restype = ctypes.c_int


def _check(result: int, call: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{call}: {os.strerror(code)}")


class Semaphore:
    """A ``sem_t`` at ``offset`` of a shared mapping (it pins the mapping until ``release``)."""

    def __init__(self, mapping: mmap.mmap, offset: int) -> None:
        if offset % 8:
            raise ValueError(f"sem_t at offset {offset} is not 8-byte aligned")
        self._anchor: ctypes.Array[ctypes.c_char] | None = (ctypes.c_char * SEM_SIZE).from_buffer(
            mapping, offset
        )
        self._address = ctypes.addressof(self._anchor)
        self._value = ctypes.c_int()

    def init(self, value: int = 0) -> None:
        """``sem_init(sem, pshared=1, value)``: only the creator of the ring does this."""
        _check(_sem_init(self._address, 1, value), "sem_init")

    def post(self) -> None:
        _check(_sem_post(self._address), "sem_post")

    def trywait(self) -> bool:
        """Take one unit if there is one; False (EAGAIN) if the value is 0."""
        if _sem_trywait(self._address) == 0:
            return True
        code = ctypes.get_errno()
        if code in (errno.EAGAIN, errno.EINTR):
            return False
        raise OSError(code, f"sem_trywait: {os.strerror(code)}")

    def value(self) -> int:
        _check(_sem_getvalue(self._address, ctypes.byref(self._value)), "sem_getvalue")
        return max(0, self._value.value)

    def destroy(self) -> None:
        if self._anchor is not None:
            _sem_destroy(self._address)

    def release(self) -> None:
        """Drop the pin on the mapping (before it is closed); the object is dead afterwards."""
        self._anchor = None
