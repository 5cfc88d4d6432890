"""The SHM ring buffer: chunk format, wrap-around, a full ring -- against libqb itself.

The sans-IO tests run the ring over bytearrays with a counting notifier. The file-backed
tests open our ring with libqb's own ``qb_rb_open`` (ctypes on libqb100, what every corosync
client links) and pass chunks both ways across the end of the data area.
"""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

import pytest

from tests.ipc.layouts import layout
from tests.ipc.qbclient import LIBQB
from totem.ipc.ringbuffer import (
    CHUNK_MAGIC,
    CHUNK_MAGIC_DEAD,
    DATA_PATH_OFFSET,
    HDR_PATH_OFFSET,
    REF_COUNT_OFFSET,
    SEM_OFFSET,
    SHARED_HEADER_SIZE,
    USER_DATA_OFFSET,
    RingBuffer,
    ring_sizes,
)
from totem.ipc.setup import Credentials
from totem.ipc.shm import ShmRing


class Counter:
    def __init__(self) -> None:
        self.count = 0

    def post(self) -> None:
        self.count += 1

    def trywait(self) -> bool:
        if self.count:
            self.count -= 1
            return True
        return False

    def value(self) -> int:
        return self.count


def small_ring(words: int = 64) -> tuple[RingBuffer, bytearray, Counter]:
    header = bytearray(SHARED_HEADER_SIZE + 4)
    data = bytearray(words * 4)
    RingBuffer.format(header, data, words)
    notifier = Counter()
    return RingBuffer(header, data, notifier), data, notifier


def test_header_layout_is_libqbs() -> None:
    shared = layout("struct qb_ringbuffer_shared_s")
    assert shared.size == SHARED_HEADER_SIZE
    assert shared.offset("hdr_path") == HDR_PATH_OFFSET
    assert shared.offset("data_path") == DATA_PATH_OFFSET
    assert shared.offset("ref_count") == REF_COUNT_OFFSET
    assert shared.offset("posix_sem") == SEM_OFFSET
    assert shared.offset("user_data") == USER_DATA_OFFSET
    assert ring_sizes(1 << 20) == (1052672, 263168)  # corosync's log: real_size, word_size


def test_chunk_format_and_reclaim() -> None:
    ring, data, notifier = small_ring()
    assert ring.write(b"hello")
    assert struct.unpack_from("<II", data, 0) == (5, CHUNK_MAGIC)
    assert data[8:13] == b"hello"
    assert (ring.write_pt, notifier.value()) == (4, 1)  # 2 header words + 2 data words
    assert ring.read() == b"hello"
    assert struct.unpack_from("<II", data, 0) == (0, CHUNK_MAGIC_DEAD)
    assert (ring.read_pt, notifier.value()) == (4, 0)
    assert ring.read() is None


def test_wrap_around_keeps_every_chunk_in_order() -> None:
    ring, _, _ = small_ring(64)
    sent: list[bytes] = []
    got: list[bytes] = []
    for i in range(200):
        message = bytes([i % 251]) * (1 + (i * 7) % 37)
        while not ring.write(message):
            chunk = ring.read()
            assert chunk is not None
            got.append(chunk)
        sent.append(message)
    while (chunk := ring.read()) is not None:
        got.append(chunk)
    assert got == sent
    assert ring.space_used() == 0


def test_full_ring_refuses_until_a_chunk_is_read() -> None:
    ring, _, notifier = small_ring(64)
    written = 0
    while ring.write(b"x" * 20):
        written += 1
    assert written == 8  # 7 words each in 64, with the 12-byte margin
    assert notifier.value() == written
    assert not ring.fits(20)
    assert ring.read() == b"x" * 20
    assert ring.write(b"x" * 20)
    assert not ring.write(b"y" * (64 * 4))  # never more than the area


def test_a_posted_chunk_without_its_magic_is_not_read() -> None:
    ring, data, notifier = small_ring()
    assert ring.write(b"abc")
    struct.pack_into("<I", data, 4, 0xA110CED0)  # still being written
    assert ring.read() is None
    assert notifier.value() == 1  # the count is given back


libqb = pytest.mark.skipif(LIBQB is None, reason="libqb is not installed")
QB_RB_FLAG_SHARED_PROCESS = 0x08


def open_with_libqb(name: str, size: int) -> int:
    assert LIBQB is not None
    LIBQB.qb_rb_open.argtypes = (ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32, ctypes.c_size_t)
    LIBQB.qb_rb_open.restype = ctypes.c_void_p
    LIBQB.qb_rb_chunk_write.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
    LIBQB.qb_rb_chunk_write.restype = ctypes.c_ssize_t
    LIBQB.qb_rb_chunk_read.argtypes = (
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int32,
    )
    LIBQB.qb_rb_chunk_read.restype = ctypes.c_ssize_t
    LIBQB.qb_rb_close.argtypes = (ctypes.c_void_p,)
    LIBQB.qb_rb_refcount_get.argtypes = (ctypes.c_void_p,)
    LIBQB.qb_rb_refcount_get.restype = ctypes.c_int32
    rb = LIBQB.qb_rb_open(name.encode(), size, QB_RB_FLAG_SHARED_PROCESS, 4)
    assert rb, f"qb_rb_open: {os.strerror(ctypes.get_errno())}"
    return int(rb)


@libqb
def test_libqb_reads_what_we_write_across_the_end(tmp_path: Path) -> None:
    creds = Credentials(os.getpid(), os.getuid(), os.getgid())
    ours = ShmRing(str(tmp_path / "ring"), 8192, creds)
    assert ours.ring is not None
    rb = open_with_libqb(str(tmp_path / "ring"), 8192)
    assert LIBQB is not None
    try:
        assert LIBQB.qb_rb_refcount_get(rb) == 2
        buffer = ctypes.create_string_buffer(8192)
        for i in range(300):  # ~40 turns of an 8 KiB ring
            message = os.urandom(1 + (i * 131) % 1500)
            assert ours.ring.write(message)
            size = LIBQB.qb_rb_chunk_read(rb, buffer, 8192, 1000)
            assert buffer.raw[:size] == message
        while ours.ring.write(b"z" * 1000):
            pass
        assert not ours.ring.fits(1000)
        assert LIBQB.qb_rb_chunk_read(rb, buffer, 8192, 1000) == 1000
        assert ours.ring.fits(1000)
    finally:
        LIBQB.qb_rb_close(rb)
        ours.close()
    assert os.listdir(tmp_path) == []


@libqb
def test_we_read_what_libqb_writes_across_the_end(tmp_path: Path) -> None:
    creds = Credentials(os.getpid(), os.getuid(), os.getgid())
    ours = ShmRing(str(tmp_path / "ring"), 8192, creds)
    assert ours.ring is not None
    rb = open_with_libqb(str(tmp_path / "ring"), 8192)
    assert LIBQB is not None
    try:
        for i in range(300):
            message = os.urandom(1 + (i * 97) % 2000)
            assert LIBQB.qb_rb_chunk_write(rb, message, len(message)) == len(message)
            assert ours.ring.read() == message
        ours.ring.user_word = 2  # the flow-control word libqb clients read
        header = (tmp_path / "ring-header").read_bytes()
        assert struct.unpack_from("<i", header, USER_DATA_OFFSET)[0] == 2
    finally:
        LIBQB.qb_rb_close(rb)
        ours.close()
