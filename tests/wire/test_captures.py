"""Every datagram of the reference captures: exact decode, exact re-encode, the
construct declarations agree, totempg reassembly and corosync's packing."""

from __future__ import annotations

from collections import defaultdict

import pytest

from tests.wire.captures import CAPTURES, DECODED_CAPTURES, datagrams, decoded_lines
from totem.ringid import RingId
from totem.totempg import Packer, Reassembler
from totem.wire import (
    GROUP_EXEC,
    GROUP_SYNC,
    CommitToken,
    ExecHeader,
    Mcast,
    MembJoin,
    MergeDetect,
    Message,
    OrfToken,
    SyncBarrier,
    SyncServiceBuild,
    TokenHoldCancel,
    TotempgPacket,
    decode,
    decode_group_message,
    decode_sync,
    encode,
)
from totem.wire.decode import decode_construct, encode_construct

_NAMES = {
    OrfToken: "orf_token",
    Mcast: "mcast",
    MergeDetect: "merge_detect",
    MembJoin: "memb_join",
    CommitToken: "commit_token",
    TokenHoldCancel: "hold_cancel",
}


def _ring(ring: RingId) -> str:
    return f"{ring.rep}.{ring.seq:x}"  # totemdump prints the rep in decimal


def _fields(message: Message, payload: bytes) -> dict[str, str]:
    """The fields totemdump prints, computed from our decode."""
    fields = {"ver": "3", "from": str(message.nodeid), "encap": str(payload[4])}
    match message:
        case OrfToken():
            fields |= {
                "seq": str(message.seq),
                "token_seq": str(message.token_seq),
                "aru": str(message.aru),
                "aru_addr": str(message.aru_addr),
                "ring": _ring(message.ring_id),
                "backlog": str(message.backlog),
                "fcc": str(message.fcc),
                "retrans_flg": str(message.retrans_flg),
                "rtr": str(len(message.rtr)),
            }
        case Mcast():
            assert message.encapsulated == payload[4]
            fields |= {
                "system_from": str(message.system_from),
                "seq": str(message.seq),
                "this_seqno": str(message.this_seqno),
                "ring": _ring(message.ring_id),
                "node_id": str(message.node_id),
                "guarantee": str(message.guarantee),
                "payload": str(len(message.payload)),
            }
        case MergeDetect():
            fields |= {"system_from": str(message.system_from), "ring": _ring(message.ring_id)}
        case MembJoin():
            fields |= {
                "system_from": str(message.system_from),
                "ring_seq": f"{message.ring_seq:x}",
                "proc": str(list(message.proc_list)),
                "failed": str(list(message.failed_list)),
            }
        case CommitToken():
            fields |= {
                "token_seq": str(message.token_seq),
                "ring": _ring(message.ring_id),
                "memb_index": str(message.memb_index),
                "addr": str(message.addr),
            }
        case TokenHoldCancel():
            fields |= {"ring": _ring(message.ring_id)}
    return fields


@pytest.mark.parametrize("name", DECODED_CAPTURES)
def test_decode_matches_reference_decoder(name: str) -> None:
    for gram, line in zip(datagrams(name), decoded_lines(name), strict=True):
        message = decode(gram.payload)
        assert _NAMES[type(message)] == line["type"]
        expected = {
            k: v
            for k, v in line.items()
            if k not in ("ts", "src", "sport", "dst", "dport", "size", "type")
        }
        assert _fields(message, gram.payload) == expected, line


@pytest.mark.parametrize("name", CAPTURES)
def test_reencode_is_byte_exact(name: str) -> None:
    for gram in datagrams(name):
        message = decode(gram.payload)
        assert encode(message) == gram.payload
        # the construct declarations agree in both directions
        assert decode_construct(gram.payload) == message
        assert encode_construct(message) == gram.payload


def test_garbage_target_nodeid_survives() -> None:
    targets = {
        (type(m).__name__, m.target_nodeid)
        for g in datagrams(CAPTURES[0])
        for m in [decode(g.payload)]
        if m.target_nodeid
    }
    # MCAST headers are zeroed; tokens, joins and merge-detects carry stack garbage
    assert "Mcast" not in {kind for kind, _ in targets}
    assert {"OrfToken", "MergeDetect"} <= {kind for kind, _ in targets}


def _data_streams(name: str) -> dict[int, list[bytes]]:
    """Each sender's totempg packets, in the order it sent them, duplicates
    (udpu sends one copy per member) and retransmissions removed."""
    streams: dict[int, list[bytes]] = defaultdict(list)
    seen: set[tuple[int, RingId, int]] = set()
    for gram in datagrams(name):
        message = decode(gram.payload)
        if isinstance(message, Mcast):
            key = (message.nodeid, message.ring_id, message.seq)
            if key not in seen:
                seen.add(key)
                assert message.encapsulated == 2
                streams[message.nodeid].append(message.payload)
    return streams


@pytest.mark.parametrize("name", CAPTURES)
def test_reassembled_messages_are_exec_or_sync(name: str) -> None:
    kinds: set[str] = set()
    for sender, packets in _data_streams(name).items():
        reassembler = Reassembler()
        for packet in packets:
            for message in reassembler.deliver(sender, packet):
                groups, payload = decode_group_message(message)
                if groups == (GROUP_EXEC,):
                    header = ExecHeader.decode(payload)
                    assert header.size == len(payload)
                    kinds.add(f"exec {header.service_id}.{header.fn_id}")
                else:
                    assert groups == (GROUP_SYNC,)
                    sync = decode_sync(payload)
                    assert ExecHeader.decode(payload).size == len(payload)
                    assert sync.encode() == payload  # pads and unused slots are zero
                    kinds.add(type(sync).__name__)
                    if isinstance(sync, SyncServiceBuild):
                        assert sync.service_list == (0, 2, 3, 5)
        assert reassembler.held_bytes(sender) == 0
    # cmap mcast, cpg downlist, votequorum nodeinfo, and both sync messages
    assert kinds == {"exec 0.0", "exec 2.5", "exec 5.0", "SyncBarrier", "SyncServiceBuild"}


@pytest.mark.parametrize("name", CAPTURES)
def test_packer_reproduces_captured_packets(name: str) -> None:
    """Re-pack every sender's messages: adding the messages that start in each
    captured packet, flushing (token arrival) only when the Packer has not cut
    that packet by itself, gives back the captured packets byte for byte."""
    cut_by_add = 0
    packed = 0
    for sender, packets in _data_streams(name).items():
        reassembler = Reassembler()
        messages: list[bytes] = []
        starting: list[int] = []
        for packet in packets:
            parsed = TotempgPacket.decode(packet)
            starting.append(len(parsed.messages) - (1 if parsed.continuation else 0))
            messages += reassembler.deliver(sender, packet)
        packer = Packer()
        pending = iter(messages)
        produced: list[bytes] = []
        for index, count in enumerate(starting):
            for _ in range(count):
                packer.add(next(pending))
            ready = packer.flush(include_staged=False)
            cut_by_add += len(ready)
            produced += ready
            if len(produced) < index + 1:
                produced += packer.flush()
            packed += len(TotempgPacket.decode(packets[index]).messages) > 1
        assert produced == packets
        assert packer.pending_count == 0
    # the downlist's two fragments leave without a flush; some packets hold several messages
    assert cut_by_add >= 4 and packed >= 4


def test_downlist_fragments_and_barrier_seen_on_the_wire() -> None:
    """ref 8: the 1573-byte downlist message = 1400 + 173, the barrier alone after it."""
    packets = _data_streams(CAPTURES[0])[1]
    first = packets.index(next(p for p in packets if len(p) == 1410))
    one, two, three = (TotempgPacket.decode(p) for p in packets[first : first + 3])
    assert (one.fragmented, one.continuation, [len(m) for m in one.messages]) == (1, 0, [1400])
    assert (two.fragmented, two.continuation, [len(m) for m in two.messages]) == (0, 1, [173])
    assert (three.fragmented, three.continuation) == (0, 0)
    groups, payload = decode_group_message(three.messages[0])
    assert groups == (GROUP_SYNC,) and isinstance(decode_sync(payload), SyncBarrier)
