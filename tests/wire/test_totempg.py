"""totempg packing and reassembly (ref 8, ``exec/totempg.c`` behaviour): exact
packets, fragment ids, throw-away mode, and Packer -> Reassembler round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from totem.ringid import RingId
from totem.totempg import TOTEMPG_PACKET_SIZE, Packer, Reassembler
from totem.wire import (
    GROUP_EXEC,
    GROUP_SYNC,
    SyncBarrier,
    TotempgPacket,
    WireError,
    encode_group_message,
)


def _shape(packet: bytes) -> tuple[int, int, list[int]]:
    parsed = TotempgPacket.decode(packet)
    return parsed.fragmented, parsed.continuation, [len(m) for m in parsed.messages]


def _exec(size: int, fill: bytes = b"x") -> bytes:
    """A group "a" message of ``size`` bytes in total (5 bytes of framing)."""
    return encode_group_message(GROUP_EXEC, fill * (size - 5))


BARRIER = encode_group_message(GROUP_SYNC, SyncBarrier(RingId(1, 5)).encode())


class TestPacker:
    def test_small_messages_share_a_packet_until_the_token(self) -> None:
        packer = Packer()
        nodeinfo = _exec(37)
        packer.add(nodeinfo)
        packer.add(nodeinfo)
        packer.add(BARRIER)
        assert packer.pending_count == 1
        assert packer.pending_bytes == 8 + 6 + 37 + 37 + 40
        assert packer.flush(include_staged=False) == []
        (packet,) = packer.flush()
        assert packet == (
            bytes.fromhex("0000 0000 00 00 0300 2500 2500 2800") + nodeinfo + nodeinfo + BARRIER
        )
        assert packer.pending_count == packer.pending_bytes == 0
        assert packer.flush() == []

    def test_downlist_is_1400_plus_173_sent_at_once(self) -> None:
        packer = Packer()
        downlist = _exec(1573)
        packer.add(downlist)
        assert packer.pending_count == 2 and packer.pending_bytes == 1410 + 183
        first, second = packer.flush(include_staged=False)
        assert _shape(first) == (1, 0, [1400]) and len(first) == 1410
        assert _shape(second) == (0, 1, [173])
        assert first[10:] + second[10:] == downlist
        packer.add(BARRIER)  # the next message is not packed with the continuation
        (barrier,) = packer.flush()
        assert _shape(barrier) == (0, 0, [40])

    @pytest.mark.parametrize(
        ("size", "immediate", "shapes"),
        [
            (1397, False, [(0, 0, [1397])]),  # fits with room to spare: staged
            (1398, True, [(0, 0, [1398])]),  # just fits: sent at once, complete
            (1400, True, [(0, 0, [1400])]),  # fills the packet: sent at once, complete
            (1401, True, [(1, 0, [1400])]),  # one byte too many: fragmented
        ],
    )
    def test_message_that_exactly_fills_a_packet(
        self, size: int, immediate: bool, shapes: list[tuple[int, int, list[int]]]
    ) -> None:
        packer = Packer()
        packer.add(_exec(size))
        assert [_shape(p) for p in packer.flush(include_staged=False)] == (
            shapes if immediate else []
        )

    def test_continued_piece_tested_with_its_full_length(self) -> None:
        """After a cut, the rest of a piece is staged if the *whole* piece would
        have fitted an empty packet; otherwise it is sent at once."""
        packer = Packer()
        packer.add(_exec(37))
        packer.add(_exec(1362))  # payload 1357: 1356 fit beside the first message
        (first,) = packer.flush(include_staged=False)
        assert _shape(first) == (1, 0, [37, 1361])
        (second,) = packer.flush()
        assert _shape(second) == (0, 1, [1])

    def test_fragment_ids_count_up_until_a_whole_piece_is_staged(self) -> None:
        packer = Packer()
        packer.add_pieces([b"x" * 3000])
        packer.add_pieces([b"y" * 3000])
        assert [_shape(p) for p in packer.flush()] == [
            (1, 0, [1400]),
            (2, 1, [1400]),
            (0, 2, [200]),
            (3, 0, [1400]),
            (4, 3, [1400]),
            (0, 4, [200]),
        ]
        packer.add(_exec(37))  # its group header is staged whole: next_fragment = 1
        packer.add(_exec(1500))
        assert [_shape(p) for p in packer.flush()] == [(1, 0, [37, 1361]), (0, 1, [139])]

    def test_fragment_id_wraps_skipping_zero(self) -> None:
        packer = Packer()
        packer.add_pieces([b"z" * (1400 * 300)])
        shapes = [_shape(p) for p in packer.flush(include_staged=False)]
        ids = [*range(1, 256), *range(1, 45)]
        assert [s[0] for s in shapes] == [*ids, 0]
        assert [s[1] for s in shapes] == [0, *ids]
        assert all(s[2] == [1400] for s in shapes)

    def test_piece_boundary_at_the_end_of_a_packet(self) -> None:
        packer = Packer()
        packer.add_pieces([b"a" * 1398, b"b" * 10])
        packets = packer.flush()
        assert [_shape(p) for p in packets] == [(1, 0, [1398]), (0, 1, [10])]
        assert Reassembler().deliver(1, packets[0]) == []
        reassembler = Reassembler()
        assert [m for p in packets for m in reassembler.deliver(1, p)] == [b"a" * 1398 + b"b" * 10]

    def test_empty_pieces_and_messages(self) -> None:
        packer = Packer()
        packer.add_pieces([])
        packer.add_pieces([b"", b""])
        assert packer.pending_count == 0
        packer.add_pieces([b"", b"ab", b"", b"c"])
        assert [_shape(p) for p in packer.flush()] == [(0, 0, [3])]

    def test_smaller_mtu_and_bad_arguments(self) -> None:
        packer = Packer(max_payload=100)
        assert packer.max_payload == 100 and TOTEMPG_PACKET_SIZE == 1402
        packer.add(_exec(250))
        assert [_shape(p) for p in packer.flush()] == [(1, 0, [98]), (2, 1, [98]), (0, 2, [54])]
        for bad in (15, 65537):
            with pytest.raises(ValueError):
                Packer(max_payload=bad)
        with pytest.raises(ValueError):
            packer.add(b"\x05" * 2000)  # not group-framed, and must be cut


def _packet(fragmented: int, continuation: int, *messages: bytes) -> bytes:
    return TotempgPacket(fragmented, continuation, messages).encode()


class TestReassembler:
    def test_complete_messages(self) -> None:
        reassembler = Reassembler()
        assert reassembler.deliver(1, _packet(0, 0, b"a", b"bc", b"")) == [b"a", b"bc", b""]
        assert reassembler.held_bytes(1) == 0

    def test_fragments_across_packets(self) -> None:
        reassembler = Reassembler()
        assert reassembler.deliver(1, _packet(1, 0, b"one", b"tw")) == [b"one"]
        assert reassembler.held_bytes(1) == 2
        assert reassembler.deliver(2, _packet(0, 0, b"other")) == [b"other"]  # per sender
        assert reassembler.deliver(1, _packet(2, 1, b"o-")) == []
        assert reassembler.held_bytes(1) == 4
        assert reassembler.deliver(1, _packet(3, 2, b"end", b"three", b"fo")) == [
            b"two-end",
            b"three",
        ]
        assert reassembler.deliver(1, _packet(0, 3, b"ur", b"five")) == [b"four", b"five"]
        assert reassembler.held_bytes(1) == 0

    def test_byteswapped_packets(self) -> None:
        swapped = bytes.fromhex("0000 0000 01 00 0002 0001 0004") + b"abcde"
        reassembler = Reassembler()
        assert reassembler.deliver(1, swapped, byteswapped=True) == [b"a"]
        tail = bytes.fromhex("0000 0000 00 01 0001 0001") + b"!"
        assert reassembler.deliver(1, tail, byteswapped=True) == [b"bcde!"]

    def test_mismatched_continuation_drops_the_whole_packet(self) -> None:
        """A sender first heard mid-message: corosync delivers nothing of that packet."""
        reassembler = Reassembler()
        assert reassembler.deliver(1, _packet(0, 4, b"tail", b"lost")) == []
        assert not reassembler.throwing_away(1)  # fragmented 0 released the assembly
        assert reassembler.deliver(1, _packet(0, 0, b"next")) == [b"next"]

    def test_throw_away_mode_until_fragment_0_or_1(self) -> None:
        reassembler = Reassembler()
        assert reassembler.deliver(1, _packet(3, 2, b"tail", b"lost", b"hea")) == []
        assert reassembler.throwing_away(1)
        assert reassembler.deliver(1, _packet(4, 3, b"d-more")) == []
        assert reassembler.throwing_away(1)
        # leaves throw-away mode, skips the first piece; the rest of this packet is
        # not delivered either (corosync's behaviour)
        assert reassembler.deliver(1, _packet(0, 4, b"-end", b"also lost")) == []
        assert not reassembler.throwing_away(1) and reassembler.held_bytes(1) == 0
        assert reassembler.deliver(1, _packet(0, 0, b"fine")) == [b"fine"]

    def test_throw_away_exit_on_fragment_1_keeps_the_old_fragment_id(self) -> None:
        reassembler = Reassembler()
        assert reassembler.deliver(1, _packet(1, 5, b"x", b"y")) == []
        assert reassembler.deliver(1, _packet(1, 1, b"skip", b"start")) == []
        assert not reassembler.throwing_away(1) and reassembler.held_bytes(1) == 5
        # the expected continuation is still 0, so the continuation 1 mismatches
        assert reassembler.deliver(1, _packet(0, 1, b"-end", b"lost")) == []
        assert reassembler.deliver(1, _packet(0, 0, b"ok")) == [b"ok"]

    def test_forget(self) -> None:
        reassembler = Reassembler()
        reassembler.deliver(7, _packet(1, 0, b"partial"))
        reassembler.forget(7)
        reassembler.forget(8)
        assert reassembler.held_bytes(7) == 0
        # a continuation after forgetting is thrown away
        assert reassembler.deliver(7, _packet(0, 1, b"rest", b"x")) == []

    def test_malformed_packets_leave_state_untouched(self) -> None:
        reassembler = Reassembler()
        reassembler.deliver(1, _packet(1, 0, b"ab"))
        for bad in (b"", bytes(7), _packet(0, 1, b"cd")[:-1], _packet(1, 1)):
            with pytest.raises(WireError):
                reassembler.deliver(1, bad)
        assert reassembler.held_bytes(1) == 2
        assert reassembler.deliver(1, _packet(0, 1, b"cd")) == [b"abcd"]

    def test_empty_packet_releases(self) -> None:
        reassembler = Reassembler()
        assert reassembler.deliver(1, _packet(0, 0)) == []
        reassembler.deliver(1, _packet(1, 0, b"ab"))
        assert reassembler.deliver(1, _packet(0, 0)) == []
        assert reassembler.held_bytes(1) == 0

    def test_assembly_overflow(self) -> None:
        reassembler = Reassembler(assembly_size=100)
        reassembler.deliver(1, _packet(1, 0, b"x" * 40))
        reassembler.deliver(1, _packet(2, 1, b"x" * 40))
        with pytest.raises(WireError, match="oversized"):
            reassembler.deliver(1, _packet(3, 2, b"x" * 40))
        assert reassembler.held_bytes(1) == 0
        assert reassembler.deliver(1, _packet(0, 0, b"fresh")) == [b"fresh"]


_pieces = st.lists(st.binary(max_size=700), min_size=1, max_size=4)
_group_messages = st.builds(
    encode_group_message, st.sampled_from([GROUP_EXEC, GROUP_SYNC]), st.binary(max_size=4000)
).map(lambda m: (True, [m]))
_messages = st.one_of(_group_messages, _pieces.map(lambda p: (False, p)))


@given(
    st.integers(16, 1500),
    st.lists(st.tuples(_messages, st.booleans()), max_size=25),
)
@settings(max_examples=200, deadline=None)
def test_packer_to_reassembler_round_trip(
    max_payload: int, script: list[tuple[tuple[bool, list[bytes]], bool]]
) -> None:
    packer = Packer(max_payload)
    reassembler = Reassembler()
    expected: list[bytes] = []
    received: list[bytes] = []

    def deliver(packets: list[bytes]) -> None:
        for packet in packets:
            assert len(packet) <= 8 + max_payload
            received.extend(reassembler.deliver(3, packet))

    for (framed, pieces), flush in script:
        if framed:
            packer.add(pieces[0])
        else:
            packer.add_pieces(pieces)
        if any(pieces):
            expected.append(b"".join(pieces))
        if flush:
            deliver(packer.flush())
    deliver(packer.flush())
    assert received == expected
    assert reassembler.held_bytes(3) == 0


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=40),
    max_payload=st.sampled_from([64, 300, TOTEMPG_PACKET_SIZE]),
    flush_every=st.integers(min_value=1, max_value=50),
)
def test_add_each_packs_exactly_as_add_pieces(
    sizes: list[int], max_payload: int, flush_every: int
) -> None:
    """The bulk path (``Packer.add_each``) makes the very packets of ``add_pieces`` per
    message, fragments and fragment ids included."""
    head = (b"\x01\x00\x01\x00", GROUP_EXEC)
    payloads = [bytes([i % 251]) * size for i, size in enumerate(sizes)]
    one, bulk = Packer(max_payload), Packer(max_payload)
    out_one: list[bytes] = []
    out_bulk: list[bytes] = []
    for start in range(0, len(payloads), flush_every):
        chunk = payloads[start : start + flush_every]
        for payload in chunk:
            one.add_pieces((*head, payload))
        bulk.add_each(head, chunk)
        out_one += one.flush()
        out_bulk += bulk.flush()
    assert out_bulk == out_one
