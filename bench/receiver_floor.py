"""The least Python a receiver can run per message: the floor under ``bench receiver``.

    python -m bench receiver floor FILE [--repeat 5]

It feeds the datagrams of a ``bench receiver`` recording (node 2 of a ring with one sender)
to one function that does only what any receiver of these bytes must do, with every field
at a fixed offset and nothing checked beyond what decides the outcome: per MCAST, unpack its
header, check the ring, store it by sequence number and advance the aru over what is
contiguous; per delivered packet, unpack totempg's message lengths; per message, check the
group framing, unpack the exec header and CPG's mcast header, and build the libqb
``res_lib_cpg_deliver_callback`` frame a client reads (``../shared/ref/libqb-ipc/README.md``);
per token, unpack it, release what every node has, and pack the token to forward. No
membership, no recovery, no flow control, no services beyond CPG, no counters, no
configuration changes: a receiver that could not run a real ring. What it costs per message
is what pure Python costs for these bytes on this machine before any design; the protocol
part of a daemon's CPU cannot go below it.
"""

from __future__ import annotations

import pickle
import struct
import time
from pathlib import Path

from totem.ipc.wire import RESPONSE_HEADER
from totem.services.cpg.lib import RES_DELIVER_CALLBACK

__all__ = ["floor_replay"]

_MCAST = struct.Struct("<HBBBIIIIiIQIi")
_TOKEN = struct.Struct("<HBBBIIIIIIIQIIii")
_TOTEMPG = struct.Struct("<hhBBH")
_EXEC = struct.Struct("<I4xi4x")
_CPG_MCAST = struct.Struct("<I4x128sI4xI4xI4xQ")
_DELIVER = struct.Struct("<I4xI4xI4x")
_NAME = struct.Struct("<I4x128s")
_GROUP_EXEC = struct.pack("<HH", 1, 1) + b"a"
_MCAST_TYPE, _TOKEN_TYPE = 1, 0


def datagrams(path: Path) -> list[bytes]:
    """The datagrams node 2 received after the recording's mark, in order."""
    saved = pickle.loads(path.read_bytes())
    inputs = saved["inputs"]
    mark = next(k for k, entry in enumerate(inputs) if entry[0] == "mark")
    return [args[0] for name, _, args in inputs[mark:] if name == "datagram_received"]


def floor_replay(received: list[bytes], group: bytes) -> tuple[float, int, int]:
    """(CPU seconds, messages delivered, bytes framed for the client) for ``received``."""
    mcast = _MCAST.unpack_from
    token = _TOKEN.unpack_from
    token_pack = _TOKEN.pack_into
    totempg = _TOTEMPG.unpack_from
    exec_header = _EXEC.unpack_from
    cpg_mcast = _CPG_MCAST.unpack_from
    header = RESPONSE_HEADER.pack
    deliver = _DELIVER.pack
    name = _NAME.pack(len(group), group)
    head_size = RESPONSE_HEADER.size + _NAME.size + _DELIVER.size
    lengths = {n: struct.Struct(f"<{n}H").unpack_from for n in range(1, 256)}
    frame = len(_GROUP_EXEC)
    body_at = frame + _EXEC.size
    payload_at = body_at + _CPG_MCAST.size
    start = _MCAST.size
    ring: tuple[int, int] | None = None
    queue: dict[int, bytes] = {}
    aru: int | None = None
    released = 0
    partial: bytes | None = None
    delivered = framed = 0
    out: list[bytes] = []
    began = time.thread_time()
    for data in received:
        kind = data[3]
        if kind == _MCAST_TYPE:
            fields = mcast(data)
            if ring is None:
                ring = (fields[9], fields[10])
            elif (fields[9], fields[10]) != ring:
                continue
            queue[fields[7]] = data
            if aru is None:
                aru = released = fields[7] - 1
            while aru + 1 in queue:
                aru += 1
                packet = queue[aru]
                sender = mcast(packet)[4]
                _version, _type, fragmented, continuation, count = totempg(packet, start)
                offset = start + 8 + 2 * count
                last = count - 1
                for k, length in enumerate(lengths[count](packet, start + 8)):
                    # a message split over packets: its first part waits for the rest
                    if k == 0 and continuation:
                        if partial is None:  # its start came before the recording
                            offset += length
                            continue
                        buf, at = partial + packet[offset : offset + length], 0
                        size = len(buf)
                        partial = None
                    else:
                        buf, at, size = packet, offset, length
                    offset += length
                    if k == last and fragmented:
                        partial = buf[at : at + size]
                        continue
                    if buf.startswith(_GROUP_EXEC, at):
                        declared = exec_header(buf, at + frame)[1]
                        glen, gname, msglen, pid, _nodeid, _conn = cpg_mcast(buf, at + body_at)
                        if gname[:glen] == group and declared == size - frame:
                            at += payload_at
                            out.append(
                                header(RES_DELIVER_CALLBACK, head_size + msglen, 0)
                                + name
                                + deliver(msglen, sender, pid)
                                + buf[at : at + msglen]
                            )
                            delivered += 1
        elif kind == _TOKEN_TYPE:
            fields = token(data)
            if aru is None:
                continue
            aru_to = fields[8] if fields[8] < aru else aru
            while released < aru_to:
                released += 1
                queue.pop(released, None)
            forwarded = bytearray(data)
            token_pack(forwarded, 0, *fields[:7], fields[7] + 1, aru_to, *fields[9:])
            if out:
                joined = b"".join(out)
                framed += len(joined)
                out.clear()
    if out:
        framed += len(b"".join(out))
    return time.thread_time() - began, delivered, framed
