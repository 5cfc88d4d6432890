"""libqb's shared-memory ring buffer on a header and a data buffer, sans-IO (``ringbuffer.c``).

Layout (ref libqb-ipc/README.md section 7; offsets measured with gcc on x86-64, see
``tests/fixtures/libqb/libqb-layouts.txt``). The *header* file holds
``struct qb_ringbuffer_shared_s`` (8248 bytes) followed by the ring's shared user data:

====  ============  =========================================================================
off   field         use
====  ============  =========================================================================
0     write_pt      u32, in words; written by the writer only
4     read_pt       u32, in words; written by the reader only
8     word_size     u32, size of the data area in 4-byte words
12    hdr_path      char[4096]
4108  data_path     char[4096]
8204  ref_count     i32: 1 once the server created the ring, 2 once the client opened it
8208  posix_sem     glibc ``sem_t`` (process-shared): posted once per committed chunk
8240  user_data     the request ring's 4 bytes: the flow-control word clients read
====  ============  =========================================================================

The *data* file is ``word_size`` words. A chunk is a size word (bytes of data), a magic word
(``0xA1A1A1A1`` once committed) and the data, padded to whole words; a chunk may wrap past
the end of the area (clients map the file twice back to back and never see the seam; here
we copy in two pieces). The writer needs ``len + 12`` bytes free (``QB_RB_CHUNK_MARGIN``);
when ``write_pt == read_pt`` the ring is empty unless the semaphore counts a chunk, in which
case it is full. A writer stores the data and the size word, then ``write_pt``, then the
magic word (release order), then posts; a reader waits for the post, checks the magic word,
copies the data, then clears the header and moves ``read_pt`` (``_rb_chunk_reclaim``).

Shared words are read and written through ctypes (single 4-byte loads and stores), never
byte by byte.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any, Protocol

__all__ = [
    "CHUNK_HEADER_SIZE",
    "CHUNK_MAGIC",
    "CHUNK_MAGIC_ALLOC",
    "CHUNK_MAGIC_DEAD",
    "CHUNK_MARGIN",
    "DATA_PATH_OFFSET",
    "HDR_PATH_OFFSET",
    "REF_COUNT_OFFSET",
    "SEM_OFFSET",
    "SHARED_HEADER_SIZE",
    "USER_DATA_OFFSET",
    "Notifier",
    "RingBuffer",
    "ring_sizes",
]

CHUNK_MAGIC = 0xA1A1A1A1
CHUNK_MAGIC_DEAD = 0xD0D0D0D0
CHUNK_MAGIC_ALLOC = 0xA110CED0
CHUNK_HEADER_SIZE = 8
CHUNK_MARGIN = 12
"""``QB_RB_CHUNK_MARGIN``: chunk header (2 words) + 1 word for rounding up."""

HDR_PATH_OFFSET = 12
DATA_PATH_OFFSET = 4108
REF_COUNT_OFFSET = 8204
SEM_OFFSET = 8208
USER_DATA_OFFSET = 8240
SHARED_HEADER_SIZE = 8248
_PATH_MAX = 4096


def ring_sizes(max_msg_size: int, page_size: int = 4096) -> tuple[int, int]:
    """``(real_size, word_size)`` of a ring opened for ``max_msg_size`` (``qb_rb_open_2``).

    For corosync's 1 MiB: 1048589 bytes asked, 1052672 real, 263168 words.
    """
    size = max_msg_size + CHUNK_MARGIN + 1
    real = (size + page_size - 1) // page_size * page_size
    return real, real // 4


class Notifier(Protocol):
    """The ring's semaphore (``qb_rb_notifier``): a count of committed chunks."""

    def post(self) -> None: ...

    def trywait(self) -> bool: ...

    def value(self) -> int: ...


class RingBuffer:
    """One ring over ``header`` and ``data`` (any writable buffers: mmaps or bytearrays)."""

    def __init__(self, header: Any, data: Any, notifier: Notifier) -> None:
        self._pointers = (ctypes.c_uint32 * 3).from_buffer(header, 0)
        self._ref_count = ctypes.c_int32.from_buffer(header, REF_COUNT_OFFSET)
        self._user: ctypes.c_int32 | None = (
            ctypes.c_int32.from_buffer(header, USER_DATA_OFFSET)
            if len(header) >= USER_DATA_OFFSET + 4
            else None
        )
        words = self._pointers[2]
        if words <= 4 or len(data) < words * 4:
            raise ValueError(f"ring of {words} words over a data area of {len(data)} bytes")
        self.word_size = words
        self._size = words * 4
        self._data = data
        self._words = (ctypes.c_uint32 * words).from_buffer(data, 0)
        self.notifier = notifier

    @staticmethod
    def format(
        header: Any, data: Any, word_size: int, hdr_path: str = "", data_path: str = ""
    ) -> None:
        """Initialise a new ring (the creator's part of ``qb_rb_open_2``), semaphore aside."""
        struct.pack_into("<III", header, 0, 0, 0, word_size)
        for offset, path in ((HDR_PATH_OFFSET, hdr_path), (DATA_PATH_OFFSET, data_path)):
            raw = path.encode()[: _PATH_MAX - 1]
            header[offset : offset + _PATH_MAX] = raw + b"\0" * (_PATH_MAX - len(raw))
        data[: word_size * 4] = bytes(word_size * 4)
        struct.pack_into("<I", data, 0, 5)  # libqb stores 5 in the word after the area (= 0)
        struct.pack_into("<i", header, REF_COUNT_OFFSET, 1)

    # ------------------------------------------------------------------------------------
    @property
    def write_pt(self) -> int:
        return int(self._pointers[0])

    @property
    def read_pt(self) -> int:
        return int(self._pointers[1])

    @property
    def ref_count(self) -> int:
        return int(self._ref_count.value)

    @property
    def user_word(self) -> int:
        """The 4 bytes of shared user data (the request ring's flow-control word)."""
        return 0 if self._user is None else int(self._user.value)

    @user_word.setter
    def user_word(self, value: int) -> None:
        if self._user is None:
            raise ValueError("this ring has no shared user data")
        self._user.value = value

    def space_free(self) -> int:
        """Free bytes, as ``qb_rb_space_free`` computes them (semaphore = chunks queued)."""
        write, read = self._pointers[0], self._pointers[1]
        if write > read:
            free = read - write + self.word_size - 1
        elif write < read:
            free = read - write - 1
        else:
            free = 0 if self.notifier.value() > 0 else self.word_size
        return free * 4

    def space_used(self) -> int:
        write, read = self._pointers[0], self._pointers[1]
        if write > read:
            return (write - read) * 4
        if write < read:
            return (write - read + self.word_size - 1) * 4
        return 0

    def fits(self, length: int) -> bool:
        return self.space_free() >= length + CHUNK_MARGIN

    # ------------------------------------------------------------------------------------
    def write(self, payload: bytes) -> bool:
        """Commit one chunk and post; False (nothing written) if it does not fit now."""
        length = len(payload)
        if length > self._size - CHUNK_MARGIN or not self.fits(length):
            return False
        words = self._words
        word_size = self.word_size
        at = self._pointers[0]
        words[at] = 0
        words[(at + 1) % word_size] = CHUNK_MAGIC_ALLOC
        self._copy_in(((at + 2) % word_size) * 4, payload)
        words[at] = length
        self._pointers[0] = self._step(at, length)
        words[(at + 1) % word_size] = CHUNK_MAGIC
        self.notifier.post()
        return True

    def peek(self) -> bytes | None:
        """The data of the chunk at ``read_pt`` if one is committed there, else None."""
        at = self._pointers[1]
        words = self._words
        if words[(at + 1) % self.word_size] != CHUNK_MAGIC:
            return None
        length = words[at]
        if length > self._size - CHUNK_HEADER_SIZE:
            return None
        return self._copy_out(((at + 2) % self.word_size) * 4, length)

    def reclaim(self) -> None:
        """Release the chunk at ``read_pt`` (header cleared before ``read_pt`` moves)."""
        at = self._pointers[1]
        words = self._words
        length = words[at]
        new = self._step(at, length)
        words[at] = 0
        words[(at + 1) % self.word_size] = CHUNK_MAGIC_DEAD
        self._pointers[1] = new

    def read(self) -> bytes | None:
        """Take the next chunk (semaphore, copy, reclaim); None if there is none.

        A posted chunk whose magic word is not there yet gives its count back, as
        ``qb_rb_chunk_peek`` does, and reads as None.
        """
        if not self.notifier.trywait():
            return None
        data = self.peek()
        if data is None:
            self.notifier.post()
            return None
        self.reclaim()
        return data

    # ------------------------------------------------------------------------------------
    def _step(self, at: int, length: int) -> int:
        at += 2 + length // 4 + (1 if length % 4 else 0)
        if at > self.word_size - 1:
            at %= self.word_size
        return at

    def _copy_in(self, offset: int, payload: bytes) -> None:
        first = min(len(payload), self._size - offset)
        data = self._data
        data[offset : offset + first] = payload[:first]
        if first < len(payload):
            data[: len(payload) - first] = payload[first:]

    def _copy_out(self, offset: int, length: int) -> bytes:
        first = min(length, self._size - offset)
        data = self._data
        if first == length:
            return bytes(data[offset : offset + length])
        return bytes(data[offset : offset + first]) + bytes(data[: length - first])

    def release(self) -> None:
        """Drop the ctypes views that pin the buffers (before the mappings are closed)."""
        del self._pointers, self._ref_count, self._words
        self._user = None

    def decrement_ref_count(self) -> None:
        """``qb_rb_close``'s ``dec_and_test`` on ``ref_count`` (the server leaving)."""
        self._ref_count.value -= 1
