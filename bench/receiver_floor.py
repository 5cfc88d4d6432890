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
from collections.abc import Generator
from pathlib import Path
from typing import Any

from totem.ipc.wire import RESPONSE_HEADER
from totem.services.cpg.lib import RES_DELIVER_CALLBACK

__all__ = ["datagrams", "floor_daemon", "floor_receiver", "floor_replay"]

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


def floor_receiver(
    group: bytes, frames: list[bytes], tokens: list[bytearray]
) -> Generator[None, bytes, None]:
    """The floor as a generator (its state stays in fast locals): send it each datagram;
    it appends a client frame per delivered message to ``frames`` and the token to forward
    to ``tokens``."""
    mcast = _MCAST.unpack_from
    token = _TOKEN.unpack_from
    token_pack = _TOKEN.pack_into
    totempg = _TOTEMPG.unpack_from
    exec_header = _EXEC.unpack_from
    cpg_mcast = _CPG_MCAST.unpack_from
    header = RESPONSE_HEADER.pack
    deliver = _DELIVER.pack
    out = frames.append
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
    while True:
        data = yield
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
                            out(
                                header(RES_DELIVER_CALLBACK, head_size + msglen, 0)
                                + name
                                + deliver(msglen, sender, pid)
                                + buf[at : at + msglen]
                            )
        elif kind == _TOKEN_TYPE and aru is not None:
            fields = token(data)
            aru_to = fields[8] if fields[8] < aru else aru
            while released < aru_to:
                released += 1
                queue.pop(released, None)
            forwarded = bytearray(data)
            token_pack(forwarded, 0, *fields[:7], fields[7] + 1, aru_to, *fields[9:])
            tokens.append(forwarded)


def floor_replay(received: list[bytes], group: bytes) -> tuple[float, int, int]:
    """(CPU seconds, messages delivered, bytes framed for the client) for ``received``, the
    frames handed over once per token (a loop turn of the recording, roughly)."""
    frames: list[bytes] = []
    tokens: list[bytearray] = []
    receiver = floor_receiver(group, frames, tokens)
    next(receiver)
    feed = receiver.send
    delivered = framed = 0
    began = time.thread_time()
    for data in received:
        feed(data)
        if tokens:
            tokens.clear()
            delivered += len(frames)
            framed += len(b"".join(frames))
            frames.clear()
    delivered += len(frames)
    framed += len(b"".join(frames))
    return time.thread_time() - began, delivered, framed


def floor_daemon(received: list[bytes], group: bytes, rate: float) -> tuple[float, float, int]:
    """The floor as a daemon: a uvloop datagram endpoint on loopback fed ``received`` by a
    child process at ``rate`` messages a second (in the recording's bursts: the packets
    between two tokens at once), forwarding each token to a socket a second
    child drains, and writing a loop turn's client frames to a Unix socket once (as our
    daemon does). Returns (user, system) CPU seconds of this process from the first datagram
    to the last delivery, and the messages delivered."""
    import asyncio
    import os
    import resource
    import select
    import socket

    import uvloop

    expected = floor_replay(received, group)[1]
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    rx.bind(("127.0.0.1", 0))
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    client, reader = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    children = []
    drainer = os.fork()
    if drainer == 0:  # reads the client's frames and the forwarded tokens
        client.close()
        rx.close()
        while True:
            ready, _, _ = select.select([reader, sink], [], [])
            for sock in ready:
                if sock is reader and not reader.recv(1 << 20):
                    os._exit(0)
                if sock is sink:
                    sink.recv(65536)
    children.append(drainer)
    reader.close()
    sink_address = sink.getsockname()
    sink.close()
    sender = os.fork()
    if sender == 0:
        # The ring's traffic in its recorded order and rhythm: a token visit of the
        # sender multicasts a burst of packets, then the token goes round; the bursts
        # are spaced so that the messages come at ``rate``.
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        out.bind(("127.0.0.2", 0))
        address = rx.getsockname()
        rotations = sum(1 for data in received if data[3] == _TOKEN_TYPE) or 1
        interval = expected / rate / rotations
        due = time.monotonic()
        for data in received:
            out.sendto(data, address)
            if data[3] == _TOKEN_TYPE:
                due += interval
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
        os._exit(0)
    children.append(sender)

    frames: list[bytes] = []
    tokens: list[bytearray] = []
    receiver = floor_receiver(group, frames, tokens)
    next(receiver)
    feed = receiver.send
    result: dict[str, Any] = {"delivered": 0}

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        scheduled = False

        def flush() -> None:
            nonlocal scheduled
            scheduled = False
            result["delivered"] += len(frames)
            client.sendall(b"".join(frames))
            frames.clear()
            if result["delivered"] >= expected and not done.done():
                done.set_result(resource.getrusage(resource.RUSAGE_SELF))

        class Endpoint(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                nonlocal scheduled
                if "first" not in result:
                    result["first"] = resource.getrusage(resource.RUSAGE_SELF)
                feed(data)
                if tokens:
                    transport.sendto(tokens[0], sink_address)
                    tokens.clear()
                if not scheduled:
                    scheduled = True
                    loop.call_soon(flush)

        transport, _ = await loop.create_datagram_endpoint(Endpoint, sock=rx)
        result["last"] = await asyncio.wait_for(done, 120)
        transport.close()

    try:
        uvloop.run(serve())
    finally:
        client.close()
        for pid in children:
            os.waitpid(pid, 0)
    first, last = result["first"], result["last"]
    return last.ru_utime - first.ru_utime, last.ru_stime - first.ru_stime, result["delivered"]
