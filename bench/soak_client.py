"""The CPG client of ``python -m bench soak``: steady traffic, and a record of what it saw.

    python -m bench.soak_client --run-dir DIR --out PREFIX [--rate 200] [--size 100]

One process per node (and a new one after each restart of its node). It joins the group
``soak`` through the node's control socket and multicasts ``--rate`` messages a second, each
carrying ``(magic, node id, pid, seq)`` with ``seq`` counting from 1; it records every message
of the group it delivers, in delivery order, as ``(node id, pid, seq)`` triples of unsigned
32-bit integers appended to ``PREFIX.bin`` (flushed every second, so a client whose node is
killed leaves its record). ``PREFIX.ready`` appears once it is in the group.

It ends

* when its node goes away (the connection closes): ``ended = "connection_lost"``;
* on SIGUSR1 (the end of the soak): it stops sending, multicasts an END marker and keeps
  delivering until it has delivered the END marker of every process in the group, so that
  it saw everything every survivor sent: ``ended = "drained"`` (``"drain_timeout"`` after
  :data:`DRAIN_TIMEOUT` seconds).

Its summary goes to ``PREFIX.json``: ``attempted`` (the highest seq handed to the node,
acknowledged or not: a node killed while taking a batch may still have ordered it),
``acked`` (the highest seq the node took), ``delivered``, ``ended``.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import json
import os
import signal
import struct
import time
from dataclasses import dataclass, field

from totem.node.client import NodeUnavailable, RequestFailed
from totem.node.cpg_client import CpgClient, TryAgain
from totem.services.cpg import CpgConfigChange, CpgDeliver
from totem.transport.base import new_event_loop

__all__ = ["DATA_MAGIC", "END_MAGIC", "GROUP", "HEADER", "run_client"]

GROUP = "soak"
HEADER = struct.Struct("<IIII")  # magic, node id, pid, seq
DATA_MAGIC = 0x6B616F73  # "soak"
END_MAGIC = 0x646E6573  # "send"
TICK = 0.02
"""Seconds between two batches of the sender."""
MAX_BATCH = 512
DRAIN_TIMEOUT = 60.0
CONNECT_TIMEOUT = 60.0


@dataclass(slots=True)
class _Client:
    prefix: str
    nodeid: int = 0
    pid: int = 0
    attempted: int = 0
    acked: int = 0
    delivered: int = 0
    own_delivered: int = 0
    try_again: int = 0
    pending: array.array[int] = field(default_factory=lambda: array.array("I"))
    members: set[tuple[int, int]] = field(default_factory=set)
    ended_senders: set[tuple[int, int]] = field(default_factory=set)
    stopping: bool = False
    closed: bool = False
    progress: asyncio.Event = field(default_factory=asyncio.Event)

    def flush(self) -> None:
        if self.pending:
            with open(self.prefix + ".bin", "ab") as out:
                self.pending.tofile(out)
            self.pending = array.array("I")


async def _receive(cpg: CpgClient, state: _Client) -> None:
    group = GROUP.encode()
    unpack = HEADER.unpack_from
    try:
        async for event in cpg.events():
            if isinstance(event, CpgDeliver):
                if event.group != group or len(event.payload) < HEADER.size:
                    continue
                magic, nodeid, pid, seq = unpack(event.payload)
                if magic == DATA_MAGIC:
                    state.pending.extend((nodeid, pid, seq))
                    state.delivered += 1
                    if (nodeid, pid) == (state.nodeid, state.pid):
                        state.own_delivered += 1
                elif magic == END_MAGIC:
                    state.ended_senders.add((nodeid, pid))
                    state.progress.set()
            elif isinstance(event, CpgConfigChange) and event.group == group:
                state.members = {(m.nodeid, m.pid) for m in event.members}
                state.progress.set()
    finally:
        state.closed = True
        state.progress.set()


async def _send(cpg: CpgClient, state: _Client, rate: float, size: int) -> None:
    pad = bytes(max(0, size - HEADER.size))
    pack = HEADER.pack
    start = time.monotonic()
    while not state.stopping and not state.closed:
        due = min(int((time.monotonic() - start) * rate) - state.acked, MAX_BATCH)
        if due > 0:
            first = state.acked + 1
            batch = [
                pack(DATA_MAGIC, state.nodeid, state.pid, seq) + pad
                for seq in range(first, first + due)
            ]
            state.attempted = max(state.attempted, first + due - 1)
            try:
                taken = await cpg.mcast_many(GROUP, batch)
            except TryAgain:
                state.try_again += 1
                taken = 0
            state.acked += taken
        await asyncio.sleep(TICK)


async def _flusher(state: _Client) -> None:
    while True:
        await asyncio.sleep(1.0)
        state.flush()


async def _end(cpg: CpgClient, state: _Client) -> str:
    """Multicast the END marker, then deliver until every member's marker is in."""
    marker = HEADER.pack(END_MAGIC, state.nodeid, state.pid, state.acked)
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        try:
            if await cpg.mcast_many(GROUP, [marker]) == 1:
                break
        except TryAgain:
            pass
        if time.monotonic() > deadline:
            return "drain_timeout"
        await asyncio.sleep(0.05)
    while state.members - state.ended_senders:
        if state.closed:
            return "connection_lost"
        left = deadline - time.monotonic()
        if left <= 0:
            return "drain_timeout"
        state.progress.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.progress.wait(), min(left, 0.5))
    return "drained"


async def _connect(run_dir: str) -> CpgClient:
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while True:
        try:
            return await CpgClient.connect(run_dir)
        except (NodeUnavailable, RequestFailed, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _run(args: argparse.Namespace) -> str:
    loop = asyncio.get_running_loop()
    state = _Client(args.out)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    cpg = await _connect(args.run_dir)
    state.pid = cpg.pid
    state.nodeid = await cpg.local_get()
    receiver = loop.create_task(_receive(cpg, state))
    flusher = loop.create_task(_flusher(state))
    ended = "error"
    try:
        while True:
            try:
                await cpg.join(GROUP)
                break
            except TryAgain:
                await asyncio.sleep(0.1)
        with open(args.out + ".ready", "w") as ready:
            ready.write(f"{state.nodeid} {state.pid}\n")
        sender = loop.create_task(_send(cpg, state, args.rate, args.size))
        stopped = loop.create_task(stop.wait())
        await asyncio.wait({sender, stopped, receiver}, return_when=asyncio.FIRST_COMPLETED)
        state.stopping = True
        if receiver.done() or (sender.done() and sender.exception() is not None):
            ended = "connection_lost"
        else:
            with contextlib.suppress(Exception):
                await sender
            ended = await _end(cpg, state) if not state.closed else "connection_lost"
        stopped.cancel()
        sender.cancel()
    except (ConnectionError, NodeUnavailable, RequestFailed, OSError):
        ended = "connection_lost"
    finally:
        flusher.cancel()
        state.flush()
        summary = {
            "node": state.nodeid,
            "pid": state.pid,
            "attempted": state.attempted,
            "acked": state.acked,
            "delivered": state.delivered,
            "own_delivered": state.own_delivered,
            "try_again": state.try_again,
            "ended": ended,
        }
        tmp = args.out + ".json.tmp"
        with open(tmp, "w") as out:
            json.dump(summary, out)
        os.replace(tmp, args.out + ".json")
        receiver.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(cpg.close(), 2.0)
    return ended


def run_client(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak_client")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--out", required=True, help="prefix of the record files")
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--size", type=int, default=100, help="bytes per message")
    args = parser.parse_args(argv)
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        ended = loop.run_until_complete(_run(args))
    finally:
        loop.close()
    return 0 if ended in ("drained", "connection_lost") else 1


if __name__ == "__main__":
    raise SystemExit(run_client())
