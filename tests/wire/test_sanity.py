"""Every acceptance rule of ref 4.7 (with the Debian hardening) on a crafted
datagram, and malformed input of any kind only ever raises WireError."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.wire.captures import CAPTURES, datagrams
from totem.ringid import RingId
from totem.totempg import Reassembler
from totem.wire import (
    CommitToken,
    ExecHeader,
    Mcast,
    MembEntry,
    MembJoin,
    OrfToken,
    RtrItem,
    TotempgPacket,
    WireError,
    decode,
    decode_group_message,
    decode_sync,
    encode,
    peek_type,
)

RING = RingId(1, 9)


def _header(kind: int, magic: int = 0xC070, version: int = 3) -> bytes:
    return struct.pack("<HBBBII", magic, version, kind, 0, 1, 0)


def _reason(data: bytes) -> str:
    with pytest.raises(WireError) as info:
        decode(data)
    return info.value.reason


def _orf(entries: int, rtr: int | None = None, extra: bytes = b"") -> bytes:
    body = struct.pack("<IIIIIQIIii", 0, 0, 0, 0, 1, 9, 0, 0, 0, entries if rtr is None else rtr)
    return _header(0) + body + struct.pack("<IQI", 1, 9, 1) * entries + extra


def _join(proc: int, failed: int, present: int) -> bytes:
    return _header(3) + struct.pack("<IIIQ", 1, proc, failed, 5) + struct.pack("<I", 1) * present


def _commit(entries: int, memb_index: int = 0, present: int | None = None) -> bytes:
    count = entries if present is None else present
    return (
        _header(4)
        + struct.pack("<IIQIii", 1, 1, 9, 0, memb_index, entries)
        + struct.pack("<I", 1) * count
        + bytes(24 * count)
    )


class TestHeader:
    def test_short(self) -> None:
        for size in range(13):
            assert _reason(_header(0)[:size]) == "short"

    def test_receive_limit(self) -> None:
        assert _reason(_header(1) + bytes(136192 - 13 + 1)) == "oversized"

    @pytest.mark.parametrize("magic", [0xFFFF, 0xFEFE, 0x0000, 0xC071, 0x0170])
    def test_bad_magic(self, magic: int) -> None:
        # 0xFFFF corosync 2.2, 0xFEFE corosync 2.3+, others knet/encrypted/unknown
        assert _reason(_header(5, magic=magic) + bytes(12)) == "bad_magic"

    @pytest.mark.parametrize("version", [0, 2, 4, 255])
    def test_bad_version(self, version: int) -> None:
        assert _reason(_header(5, version=version) + bytes(12)) == "bad_version"

    @pytest.mark.parametrize("kind", [6, 7, 128, 255])
    def test_bad_type(self, kind: int) -> None:
        assert _reason(_header(kind) + bytes(100)) == "bad_type"

    def test_peek_type(self) -> None:
        assert peek_type(_header(4)) == 4
        assert peek_type(_header(9)) == 9  # peek validates nothing but the length
        with pytest.raises(WireError, match="short"):
            peek_type(b"\x70\xc0\x03")


class TestOrfToken:
    def test_fixed_part(self) -> None:
        assert _reason(_orf(0)[:56]) == "short"
        assert isinstance(decode(_orf(0)), OrfToken)

    def test_too_long_for_corosyncs_buffer(self) -> None:
        assert len(_orf(30)) == 537
        assert isinstance(decode(_orf(30, extra=bytes(1500 - 537))), OrfToken)
        assert _reason(_orf(30, extra=bytes(1501 - 537))) == "oversized"
        assert _reason(_orf(0, extra=bytes(1501 - 57))) == "oversized"

    def test_rtr_entries(self) -> None:
        token = decode(_orf(30))
        assert isinstance(token, OrfToken) and token.rtr == [RtrItem(RING, 1)] * 30
        assert _reason(_orf(31)) == "too_many_rtr"
        assert _reason(_orf(0, rtr=0x7FFFFFFF)) == "too_many_rtr"

    def test_declared_entries_must_be_present(self) -> None:
        assert _reason(_orf(2)[:-1]) == "short"
        assert _reason(_orf(0, rtr=1)) == "short"
        assert _reason(_orf(0, rtr=-1)) == "short"  # corosync's size_t arithmetic

    def test_trailing_bytes_ignored(self) -> None:
        token = decode(_orf(1, extra=b"\xff" * 7))
        assert isinstance(token, OrfToken) and len(token.rtr) == 1
        assert encode(token) == _orf(1)


class TestOthers:
    def test_mcast(self) -> None:
        base = _header(1) + struct.pack("<IIiIQIi", 1, 1, 0, 1, 9, 0, 0)
        assert _reason(base[:44]) == "short"
        message = decode(base)
        assert isinstance(message, Mcast) and message.payload == b""
        assert isinstance(decode(base + bytes(65536 - 45)), Mcast)
        assert _reason(base + bytes(65537 - 45)) == "oversized"  # corosync asserts

    def test_merge_detect(self) -> None:
        data = _header(2) + struct.pack("<IIQ", 1, 1, 9)
        assert _reason(data[:28]) == "short"
        decode(data)

    def test_token_hold_cancel(self) -> None:
        data = _header(5) + struct.pack("<IQ", 1, 9)
        assert _reason(data[:24]) == "short"
        decode(data)

    def test_memb_join(self) -> None:
        assert _reason(_join(0, 0, 0)[:32]) == "short"
        assert decode(_join(2, 1, 3)) == MembJoin(1, 0, 1, (1, 1), (1,), 5)
        assert _reason(_join(2, 1, 2)) == "short"
        assert isinstance(decode(_join(384, 384, 768)), MembJoin)
        assert _reason(_join(385, 0, 385)) == "too_many_members"
        assert _reason(_join(0, 385, 385)) == "too_many_members"
        # CVE-2026-35092: the u32 sum used to wrap to 0
        assert _reason(_join(0x80000000, 0x80000000, 0)) == "too_many_members"

    def test_commit_token(self) -> None:
        assert _reason(_commit(0)[:40]) == "short"  # CVE-2026-35091: rejected now
        token = decode(_commit(2, memb_index=2))
        assert isinstance(token, CommitToken)
        assert token.addr == [1, 1] and token.memb_list == [MembEntry(RingId(0, 0), 0, 0, 0)] * 2
        assert _reason(_commit(2)[:-1]) == "short"
        assert _reason(_commit(3, present=2)) == "short"
        assert _reason(_commit(-1, present=0)) == "short"
        assert isinstance(decode(_commit(384)), CommitToken)
        assert _reason(_commit(385)) == "too_many_members"
        assert _reason(_commit(2, memb_index=3)) == "bad_memb_index"
        assert _reason(_commit(2, memb_index=-1)) == "bad_memb_index"


def _decode_everything(data: bytes) -> None:
    """Decode ``data`` as far as it goes; any error must be a WireError."""
    try:
        message = decode(data)
    except WireError:
        return
    encode(message)
    if isinstance(message, Mcast):
        if message.encapsulated == 1:
            try:
                message.inner()
            except WireError:
                pass
        try:
            for piece in Reassembler().deliver(
                message.nodeid, message.payload, message.byteswapped
            ):
                _decode_message(piece)
        except WireError:
            pass


def _decode_message(data: bytes) -> None:
    for decoder in (decode_group_message, ExecHeader.decode, decode_sync, TotempgPacket.decode):
        try:
            decoder(data)
        except WireError:
            pass


@given(st.binary(max_size=300))
@settings(max_examples=500)
def test_random_bytes_only_raise_wire_error(data: bytes) -> None:
    _decode_everything(data)
    _decode_message(data)


@given(st.binary(max_size=100))
@settings(max_examples=300)
def test_random_body_behind_valid_header(body: bytes) -> None:
    for kind in range(6):
        for magic in (0xC070, 0x70C0):
            _decode_everything(_header(kind, magic=magic) + body)


_SAMPLES = sorted(
    {gram.payload for gram in datagrams(CAPTURES[2])}, key=lambda data: (data[3], len(data))
)


@given(
    st.sampled_from(_SAMPLES),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=6),
    st.integers(-60, 60),
)
@settings(max_examples=500)
def test_mutated_captured_datagrams_only_raise_wire_error(
    data: bytes, flips: list[tuple[int, int]], resize: int
) -> None:
    mutated = bytearray(data)
    for offset, value in flips:
        if mutated:
            mutated[offset % len(mutated)] = value
    if resize < 0:
        del mutated[resize:]
    else:
        mutated += bytes(resize)
    _decode_everything(bytes(mutated))


def test_wire_error_is_a_value_error_with_a_reason() -> None:
    error = WireError("short", "12 bytes")
    assert isinstance(error, ValueError)
    assert error.reason == "short" and str(error) == "short: 12 bytes"
    assert str(WireError("bad_magic")) == "bad_magic"
