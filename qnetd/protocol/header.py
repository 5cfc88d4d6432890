"""Message framing: 6-byte header ``u16 type | u32 body length`` (ref qnetd-protocol.md section 1).

:class:`FrameReader` is the sans-IO equivalent of ``msgio_read``: feed it whatever bytes the
stream produced and it returns complete frames. Once a header is complete it is checked: an
unknown message type, or ``6 + length`` above the receive limit, makes the reader *skip* the rest
of that message (consume and discard its body) and report a :class:`SkippedFrame` carrying the
reply error code qnetd answers with (UNSUPPORTED_MESSAGE = 4, MESSAGE_TOO_LONG = 5). The
stream stays usable after a skip, as with the real server.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from qnetd.protocol.constants import ReplyErrorCode

__all__ = [
    "HEADER_LEN",
    "MAX_MSG_TYPE",
    "Frame",
    "FrameReader",
    "SkippedFrame",
    "encode_message",
    "frame_type",
    "parse_header",
]

HEADER_LEN = 6
MAX_MSG_TYPE = 17
"""Highest message type of ``msg_static_supported_messages`` (0..17 are all valid)."""

_HEADER = struct.Struct(">HI")


def encode_message(msg_type: int, body: bytes) -> bytes:
    """Prefix ``body`` (a sequence of TLVs) with its 6-byte header."""
    return _HEADER.pack(msg_type, len(body)) + body


def parse_header(data: bytes, offset: int = 0) -> tuple[int, int]:
    """Return ``(msg_type, body_length)`` of the header at ``offset``."""
    msg_type, length = _HEADER.unpack_from(data, offset)
    return int(msg_type), int(length)


def frame_type(raw: bytes) -> int:
    """Message type of a complete frame."""
    return int.from_bytes(raw[0:2], "big")


class Frame:
    """A complete message: ``raw`` includes the header (an echo reply copies it).

    Immutable; equal when type and bytes are (a hand-written class: one is built per message,
    at a fraction of a frozen dataclass's cost).
    """

    __slots__ = ("msg_type", "raw")

    msg_type: int
    raw: bytes

    def __init__(self, msg_type: int, raw: bytes) -> None:
        _set_msg_type(self, msg_type)
        _set_raw(self, raw)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Frame:
            return NotImplemented
        assert isinstance(other, Frame)
        return self.msg_type == other.msg_type and self.raw == other.raw

    def __hash__(self) -> int:
        return hash((self.msg_type, self.raw))

    def __repr__(self) -> str:
        return f"Frame(msg_type={self.msg_type!r}, raw={self.raw!r})"


# The slots' own setters, which bypass the class's refusing __setattr__.
_set_msg_type: Callable[[Frame, int], None] = Frame.__dict__["msg_type"].__set__
_set_raw: Callable[[Frame, bytes], None] = Frame.__dict__["raw"].__set__


@dataclass(frozen=True, slots=True)
class SkippedFrame:
    """A message that was consumed and discarded; ``reason`` is the server error to send."""

    msg_type: int
    length: int
    reason: ReplyErrorCode


class FrameReader:
    """Reassemble frames from a byte stream with the skip rules of ``msgio_read``.

    ``max_size`` is the receive buffer limit **including** the 6-byte header (qnetd default
    32768, ``-S max_client_receive_size``).
    """

    __slots__ = ("_buf", "_skip_remaining", "_skipping", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buf = bytearray()
        self._skip_remaining = 0
        self._skipping: SkippedFrame | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame."""
        return len(self._buf)

    @property
    def in_message(self) -> bool:
        """True while part of a message (kept or skipped) has been read."""
        return bool(self._buf) or self._skipping is not None

    def take_unparsed(self) -> bytes:
        """Remove and return buffered bytes not yet part of a frame (used after STARTTLS)."""
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def feed(self, data: bytes, stop_after: int = -1) -> list[Frame | SkippedFrame]:
        """Add ``data``; return the frames completed by it, in order.

        A skipped message is reported when its last byte has been consumed, as qnetd sends its
        error only then. Parsing stops after a frame of type ``stop_after`` and the remaining
        bytes stay buffered (:meth:`take_unparsed`, or :meth:`feed` with ``b""`` to go on): a
        server stops at STARTTLS, after which the bytes are TLS records.
        """
        buf = self._buf
        if (
            not buf
            and self._skipping is None
            and data.__class__ is bytes
            and len(data) >= HEADER_LEN
        ):
            # Fast path: one whole, acceptable message and nothing held (the usual read).
            msg_type, length = _HEADER.unpack_from(data)
            if (
                len(data) == HEADER_LEN + length
                and msg_type <= MAX_MSG_TYPE
                and HEADER_LEN + length <= self.max_size
            ):
                return [Frame(msg_type, data)]
        out: list[Frame | SkippedFrame] = []
        if self._skipping is not None:
            if len(data) < self._skip_remaining:
                self._skip_remaining -= len(data)
                return out
            data = data[self._skip_remaining :]
            self._skip_remaining = 0
            out.append(self._skipping)
            self._skipping = None
        if buf:
            buf += data
            view: bytes = bytes(buf)
            buf.clear()
        else:
            view = data
        pos = 0
        end = len(view)
        unpack = _HEADER.unpack_from
        max_size = self.max_size
        while end - pos >= HEADER_LEN:
            msg_type, length = unpack(view, pos)
            if msg_type > MAX_MSG_TYPE or HEADER_LEN + length > max_size:
                reason = (
                    ReplyErrorCode.UNSUPPORTED_MESSAGE
                    if msg_type > MAX_MSG_TYPE
                    else ReplyErrorCode.MESSAGE_TOO_LONG
                )
                skipped = SkippedFrame(msg_type, length, reason)
                body_avail = end - pos - HEADER_LEN
                if body_avail < length:
                    self._skipping = skipped
                    self._skip_remaining = length - body_avail
                    return out
                out.append(skipped)
                pos += HEADER_LEN + length
                continue
            frame_end = pos + HEADER_LEN + length
            if frame_end > end:
                break
            out.append(Frame(msg_type, view[pos:frame_end]))
            pos = frame_end
            if msg_type == stop_after:
                break
        if pos < end:
            buf += view[pos:]
        return out
