"""totempg: packing messages into MCAST bodies and reassembling them, sans-IO
(ref totem-wire.md section 8; behaviour of ``exec/totempg.c`` at v3.1.7).

Sending (:class:`Packer`)
    corosync stages small messages in one buffer and multicasts it when the
    token arrives (``flush``), so a packet usually holds several messages. A
    message is handed over as *pieces* (the iovecs of its caller: the group
    length array, each group name, then the service's own iovecs) and each
    piece is placed by one rule:

    * If the whole piece plus what is staged is *less* than the room left
      after reserving one more length slot and two spare bytes, it is staged.
      Staging a whole piece also resets the fragment id counter to 1. (For a
      piece continued from the previous packet the test still uses the piece's
      full length.)
    * Otherwise as much of the piece as fits is staged and the packet is cut
      and queued at once: if anything of the message is still to come the
      packet's ``fragmented`` is a fresh fragment id (``next_fragment++``,
      skipping 0 when the u8 wraps) and the next packet's ``continuation``
      repeats it; if the piece just completed the message, the packet goes out
      complete, not waiting for the token. So the 1573-byte cpg downlist
      (group "a") leaves as a 1400-byte first fragment and a 173-byte
      continuation packet of its own, and the barrier after it travels alone
      (both seen on the wire).

    The room of a packet is ``max_payload`` (``TOTEMPG_PACKET_SIZE`` = netmtu
    1500 - 2 * 45 - 8 = 1402 by default) minus two bytes per length slot.

Receiving (:class:`Reassembler`)
    Per sender, an assembly buffer accumulates the unfinished message. A
    packet whose ``continuation`` differs from the sender's last fragment id
    switches that sender to throw-away mode: nothing of the packet is
    delivered; the mode ends at the next packet whose ``fragmented`` is 0 or 1,
    whose first piece is skipped (and, as in corosync, nothing else of that
    packet is delivered either). A packet with ``fragmented`` 0 releases the
    assembly. corosync keeps two sets of assemblies (regular and, while a
    transitional configuration is being delivered, transitional): use one
    :class:`Reassembler` per set and :meth:`Reassembler.forget` a node that
    left in both. corosync's buffer arithmetic is reproduced byte for byte,
    including its corner cases after throw-away mode (there the buffer can
    hold bytes that were never part of one message; ours holds zeros or this
    sender's older bytes where corosync's holds whatever its recycled buffer
    held).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from totem.wire.constants import FRAME_SIZE_MAX, MESSAGE_SIZE_MAX
from totem.wire.errors import WireError
from totem.wire.group import group_pieces
from totem.wire.totempg_packet import TOTEMPG_HEADER_SIZE, decode_fields

__all__ = [
    "ASSEMBLY_SIZE_MAX",
    "TOTEMPG_PACKET_SIZE",
    "Packer",
    "Reassembler",
]

TOTEMPG_PACKET_SIZE: Final = 1402
"""Room for lengths and data in a packet with the default netmtu of 1500
(``net_mtu`` adjusted to 1410 by ``totemsrp_net_mtu_adjust``, minus 8)."""

ASSEMBLY_SIZE_MAX: Final = MESSAGE_SIZE_MAX + FRAME_SIZE_MAX
"""Size of corosync's per-sender assembly buffer (it asserts on overflow)."""

_HEADER = struct.Struct("<hhBBH")


class Packer:
    """Packs outgoing messages into totempg packets exactly as corosync 3.1.7.

    ``add`` / ``add_pieces`` queue a message; packets that fill up are queued
    at once; ``flush`` (call it when the token arrives, as corosync does)
    returns them together with the packet of what is still staged.
    """

    def __init__(self, max_payload: int = TOTEMPG_PACKET_SIZE) -> None:
        if not 16 <= max_payload <= FRAME_SIZE_MAX:
            raise ValueError(f"max_payload {max_payload} outside 16..{FRAME_SIZE_MAX}")
        self._max_payload = max_payload
        self._staged = bytearray()
        self._lengths: list[int] = []
        self._continuation = 0
        self._next_fragment = 1
        self._ready: list[bytes] = []
        self._ready_bytes = 0

    @property
    def max_payload(self) -> int:
        """``TOTEMPG_PACKET_SIZE``: room for the lengths and data of one packet."""
        return self._max_payload

    @property
    def pending_count(self) -> int:
        """Packets ``flush()`` would return now (full ones plus the staged one)."""
        return len(self._ready) + (1 if self._lengths else 0)

    @property
    def pending_bytes(self) -> int:
        """Total size of the packets ``flush()`` would return now."""
        staged = 0
        if self._lengths:
            staged = TOTEMPG_HEADER_SIZE + 2 * len(self._lengths) + len(self._staged)
        return self._ready_bytes + staged

    def add(self, message: bytes) -> None:
        """Queue one group-framed message (``encode_group_message``). When it
        must be cut it is split into the pieces corosync's group layer produces
        for a single payload iovec (``group_pieces``)."""
        staged = len(self._staged)
        room = self._max_payload - 2 * (len(self._lengths) + 1)
        if message and staged + len(message) < room - 2:
            # every piece would be staged whole: stage the message as one
            self._staged += message
            self._lengths.append(len(message))
            self._next_fragment = 1
            return
        self.add_pieces(group_pieces(message))

    def add_pieces(self, pieces: Sequence[bytes]) -> None:
        """Queue one message given as the exact pieces (iovecs) corosync's caller
        would pass, group framing included; empty pieces are ignored."""
        room = self._max_payload - 2 * (len(self._lengths) + 1)
        staged = self._staged
        # Fast path (every small message): when the whole message fits, each piece
        # passes the "staged whole" test in turn, so stage them all at once.
        total = sum(map(len, pieces))
        if total and total + len(staged) < room - 2:
            staged += b"".join(pieces)
            self._lengths.append(total)
            self._next_fragment = 1
            return
        parts = [bytes(piece) for piece in pieces if piece]
        last = len(parts) - 1
        current = 0
        for index, piece in enumerate(parts):
            size = len(piece)
            done = 0
            while done < size:
                if size + len(staged) < room - 2:
                    staged += piece[done:] if done else piece
                    current += size - done
                    done = size
                    self._next_fragment = 1
                    continue
                take = min(size - done, room - len(staged))
                staged += piece[done : done + take]
                current += take
                done += take
                more = index < last or done < size
                fragment = self._fragment_id() if more else 0
                self._lengths.append(current)
                self._cut(fragment)
                self._continuation = fragment
                current = 0
                room = self._max_payload - 2
        if current:
            self._lengths.append(current)

    def add_each(self, head: Sequence[bytes], payloads: Iterable[bytes]) -> None:
        """``add_pieces((*head, payload))`` for each payload in turn: the bulk send path
        (``head`` is the group framing every message shares). A message that fits the
        room left is staged inline; one that must be cut goes through ``add_pieces``."""
        head_bytes = b"".join(head)
        head_size = len(head_bytes)
        lengths = self._lengths  # (cleared in place by _cut, never replaced)
        staged = self._staged
        limit = self._max_payload - 4  # room - 2 with one more length slot: minus 2 * len
        for payload in payloads:
            total = head_size + len(payload)
            if total and total + len(staged) < limit - 2 * len(lengths):
                staged += head_bytes
                staged += payload
                lengths.append(total)
                self._next_fragment = 1
            else:
                self.add_pieces((*head, payload))

    def flush(self, include_staged: bool = True) -> list[bytes]:
        """Return and forget the queued packets; with ``include_staged`` (the
        token-arrival flush) the staged messages go out as a final packet."""
        if include_staged and self._lengths:
            self._cut(0)
            self._continuation = 0
        ready = self._ready
        self._ready = []
        self._ready_bytes = 0
        return ready

    def _fragment_id(self) -> int:
        fragment = self._next_fragment or 1
        self._next_fragment = (fragment + 1) & 0xFF
        return fragment

    def _cut(self, fragmented: int) -> None:
        lengths = self._lengths
        packet = b"".join(
            (
                _HEADER.pack(0, 0, fragmented, self._continuation, len(lengths)),
                struct.pack(f"<{len(lengths)}H", *lengths),
                self._staged,
            )
        )
        self._ready.append(packet)
        self._ready_bytes += len(packet)
        self._staged.clear()
        lengths.clear()


@dataclass(slots=True)
class _Assembly:
    """One sender's assembly buffer: ``data[:index]`` is the unfinished message."""

    data: bytearray = field(default_factory=bytearray)
    index: int = 0
    last_fragment: int = 0
    throw_away: bool = False


class Reassembler:
    """Rebuilds the messages of each sender's ordered totempg packets.

    ``deliver`` must see a sender's packets in delivery (seq) order. Malformed
    packets raise :class:`WireError` and leave the sender's state untouched
    (the caller drops and counts them), except ``oversized``, which also
    discards the sender's unfinished message.
    """

    def __init__(self, assembly_size: int = ASSEMBLY_SIZE_MAX) -> None:
        self._assembly_size = assembly_size
        self._assemblies: dict[int, _Assembly] = {}

    def deliver(self, sender: int, packet: bytes, byteswapped: bool = False) -> list[bytes]:
        """Feed one packet from ``sender``; return the messages it completes."""
        fragmented, continuation, pieces = decode_fields(packet, byteswapped)
        assembly = self._assemblies.get(sender)
        if assembly is None:
            if not fragmented and not continuation:
                return pieces  # the common case: whole messages only
            assembly = self._assemblies[sender] = _Assembly()
        count = len(pieces)
        if not count:
            if fragmented:
                raise WireError("bad_fragment", "fragmented totempg packet without messages")
            del self._assemblies[sender]
            return []
        if assembly.index + len(packet) >= self._assembly_size:
            del self._assemblies[sender]
            raise WireError(
                "oversized", f"message from node {sender} exceeds {self._assembly_size} bytes"
            )
        data = assembly.data
        base = assembly.index
        if not assembly.throw_away and continuation == assembly.last_fragment:
            # The common case (a sender's packets in order): only the first piece joins
            # the assembly and only the last one stays in it; the pieces between are whole
            # messages as they are. The same result as the general path below.
            assembly.last_fragment = fragmented
            first = pieces[0]
            data[base : base + len(first)] = first
            if not fragmented:
                del self._assemblies[sender]
                return [bytes(data[0 : base + len(first)]), *pieces[1:]]
            if count == 1:
                assembly.index = base + len(first)
                return []
            whole = [bytes(data[0 : base + len(first)]), *pieces[1 : count - 1]]
            last = pieces[-1]
            data[0 : len(last)] = last
            assembly.index = len(last)
            return whole
        body = b"".join(pieces)
        data[base : base + len(body)] = body
        delivered: list[bytes] = []
        if assembly.throw_away:
            if fragmented in (0, 1):
                assembly.throw_away = False
                assembly.index += len(pieces[0])
        elif continuation == assembly.last_fragment:
            assembly.last_fragment = fragmented
            complete = count - 1 if fragmented else count
            if complete:
                # The first message is the assembly so far plus the first piece (it
                # starts at 0); the other complete pieces are whole messages as they are.
                end = base + len(pieces[0])
                delivered.append(bytes(data[0:end]))
                delivered.extend(pieces[1:complete])
                assembly.index = end + sum(map(len, pieces[1:complete]))
        else:
            assembly.throw_away = True
        if not fragmented:
            del self._assemblies[sender]
            return delivered
        tail = len(pieces[-1])
        if count > 1:
            data[0:tail] = data[assembly.index : assembly.index + tail]
            assembly.index = 0
        assembly.index += tail
        if assembly.index > len(data):
            data.extend(bytes(assembly.index - len(data)))
        return delivered

    def forget(self, sender: int) -> None:
        """Drop the unfinished message of a node that left the configuration."""
        self._assemblies.pop(sender, None)

    def held_bytes(self, sender: int) -> int:
        """Bytes of ``sender``'s unfinished message held in its assembly."""
        assembly = self._assemblies.get(sender)
        return assembly.index if assembly is not None else 0

    def throwing_away(self, sender: int) -> bool:
        """Whether ``sender`` is in throw-away mode."""
        assembly = self._assemblies.get(sender)
        return assembly is not None and assembly.throw_away
