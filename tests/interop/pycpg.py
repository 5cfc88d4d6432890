"""``cpgload`` and ``cpglat`` for pycorosync nodes: the same protocol, through the control socket.

    python -m tests.interop.pycpg cpgload send|recv [-g G] [-n N] [-s SIZE] [-m M] [-S S]
        [-t IDLE] [--run-dir DIR]
    python -m tests.interop.pycpg cpglat send|recv [-g G] [-r RATE] [-n N] [-s SIZE] [-m M]
        [-t IDLE] [--run-dir DIR]

The libcpg tools (``tests.interop.cpgtools``) talk to real corosync; these talk to our daemon
(`totem.node.cpg_client.CpgClient`) and behave the same way, so that a mixed ring can carry
both at once and every process can be compared by its one-line report:

* messages carry the same little-endian header (cpgload: magic ``"cpgl"``, node id, pid, seq,
  total; cpglat: magic ``"clat"``, node id, pid, seq, total, pad, CLOCK_MONOTONIC stamp), so a
  real node's cpgload counts our senders' messages and vice versa;
* the order digest is the same FNV-1a hash over the delivered ``(node id, pid, seq)``
  (cpglat: ``(node id, seq)``) sequence: equal digests mean the same agreed order. cpgload
  hashes each delivery as it comes, at C speed; in Python that is about 11 us per message,
  taken from the very cores the daemons run on, so we record the sequence and hash it once
  the last message is in (same value, and outside the timed span);
* the report lines have the same fields (``tests.interop.cpgtools.parse_report``).

A sender hands messages to the node in binary frames (``cpg.mcast_many``: one round trip for
up to ``BATCH`` messages; cpglat's one message at a time) and, on ``TryAgain`` (flow
control), waits for a delivery, as cpgload dispatches and retries on ``CS_ERR_TRY_AGAIN``.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import os
import struct
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from totem.node.client import DEFAULT_RUN_DIR
from totem.node.cpg_client import CpgClient, TryAgain
from totem.services.cpg import CpgConfigChange, CpgDeliver
from totem.transport.base import new_event_loop

__all__ = ["LAT_HEADER", "LOAD_HEADER", "fnv_digest_bytes", "main"]

LOAD_MAGIC = 0x6370676C  # "cpgl"
LOAD_HEADER = struct.Struct("<IIIII")  # magic, nodeid, pid, seq, total
LAT_MAGIC = 0x74616C63  # "clat"
LAT_HEADER = struct.Struct("<IIIIIIQ")  # magic, nodeid, pid, seq, total, pad, stamp_ns
BATCH = 64
FNV_OFFSET = 1469598103934665603
FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1


def fnv_digest_bytes(digest: int, data: bytes) -> int:
    """FNV-1a over ``data`` (cpgload's ``fnv`` hashes the little-endian bytes of its values)."""
    for byte in data:
        digest = ((digest ^ byte) * FNV_PRIME) & _MASK
    return digest


@dataclass(slots=True)
class _State:
    """What the delivery side has seen so far."""

    group: bytes
    nodeid: int = 0
    pid: int = 0
    delivered: int = 0
    own_delivered: int = 0
    nbytes: int = 0
    misorder: int = 0
    senders_done: int = 0
    members: int = 0
    members_max: int = 0
    t_first: float = 0.0
    t_last: float = 0.0
    order: array.array[int] = field(default_factory=lambda: array.array("I"))
    """The delivered (node id, pid, seq) -- cpglat: (node id, seq) -- values, in order."""
    next_seq: dict[tuple[int, int], int] = field(default_factory=dict)
    latencies_ns: list[int] = field(default_factory=list)
    done: bool = False
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False


def _on_load(state: _State, event: CpgDeliver) -> None:
    data = event.payload
    if len(data) < LOAD_HEADER.size:
        return
    magic, _nodeid, _pid, seq, total = LOAD_HEADER.unpack_from(data)
    if magic != LOAD_MAGIC:
        return
    state.t_last = time.monotonic()
    if not state.delivered:
        state.t_first = state.t_last
    state.delivered += 1
    state.nbytes += len(data)
    state.order.extend((event.nodeid, event.pid, seq))
    if event.nodeid == state.nodeid and event.pid == state.pid:
        state.own_delivered += 1
    key = (event.nodeid, event.pid)
    if seq != state.next_seq.get(key, 0):
        state.misorder += 1
    state.next_seq[key] = seq + 1
    if seq + 1 == total:
        state.senders_done += 1


def _on_lat(state: _State, event: CpgDeliver) -> None:
    now = time.monotonic_ns()
    data = event.payload
    if len(data) < LAT_HEADER.size:
        return
    magic, _nodeid, _pid, seq, total, _pad, stamp = LAT_HEADER.unpack_from(data)
    if magic != LAT_MAGIC:
        return
    state.latencies_ns.append(max(now - stamp, 0))
    state.delivered += 1
    state.order.extend((event.nodeid, seq))
    if seq + 1 == total:
        state.done = True


def _digest(state: _State) -> int:
    """The order digest of everything delivered (little-endian, as cpgload hashes it)."""
    order = state.order
    if sys.byteorder != "little":
        order = array.array("I", order)
        order.byteswap()
    return fnv_digest_bytes(FNV_OFFSET, order.tobytes())


async def _consume(client: CpgClient, state: _State, lat: bool) -> None:
    on_deliver = _on_lat if lat else _on_load
    try:
        async for event in client.events():
            if isinstance(event, CpgDeliver):
                if event.group == state.group:
                    on_deliver(state, event)
                    state.progress.set()
            elif isinstance(event, CpgConfigChange) and event.group == state.group:
                state.members = len(event.members)
                state.members_max = max(state.members_max, state.members)
                state.progress.set()
    finally:
        state.closed = True
        state.progress.set()


async def _wait_progress(state: _State, timeout: float) -> bool:
    """Wait up to ``timeout`` s for a delivery or confchg; False on timeout."""
    state.progress.clear()
    try:
        await asyncio.wait_for(state.progress.wait(), timeout)
    except TimeoutError:
        return False
    return True


async def _wait_members(state: _State, want: int, idle: float) -> None:
    start = time.monotonic()
    while state.members < want:
        if state.closed or time.monotonic() - start > idle:
            raise SystemExit(f"pycpg: only {state.members}/{want} members after {idle:g} s")
        await _wait_progress(state, 0.1)


async def _drain(state: _State, finished: Callable[[], bool], idle: float) -> None:
    """Wait until ``finished()`` or ``idle`` seconds pass without a delivery."""
    last, seen = time.monotonic(), state.delivered
    while not finished() and not state.closed:
        await _wait_progress(state, 0.1)
        if state.delivered != seen:
            last, seen = time.monotonic(), state.delivered
        elif time.monotonic() - last > idle:
            break


async def _open(
    args: argparse.Namespace, lat: bool
) -> tuple[CpgClient, _State, asyncio.Task[None]]:
    client = await CpgClient.connect(args.run_dir)
    state = _State(args.group.encode(), pid=client.pid)
    state.nodeid = await client.local_get()
    reader = asyncio.get_running_loop().create_task(_consume(client, state, lat))
    while True:
        try:
            await client.join(args.group)
            break
        except TryAgain:
            await asyncio.sleep(0.1)
    return client, state, reader


async def _close(client: CpgClient, reader: asyncio.Task[None], group: str) -> None:
    try:
        await client.leave(group)
    except Exception:  # the report is already printed: leaving is best effort
        pass
    reader.cancel()
    await client.close()


async def cpgload(args: argparse.Namespace) -> int:
    client, state, reader = await _open(args, lat=False)
    send = args.role == "send"
    size = max(args.size, LOAD_HEADER.size)
    pad = bytes(size - LOAD_HEADER.size)
    tryagain = 0
    send_secs = 0.0
    if send:
        await _wait_members(state, args.members, args.idle)
        t0 = time.monotonic()
        i = 0
        while i < args.count:
            batch = [
                LOAD_HEADER.pack(LOAD_MAGIC, state.nodeid, state.pid, seq, args.count) + pad
                for seq in range(i, min(i + BATCH, args.count))
            ]
            try:
                i += await client.mcast_many(args.group, batch)
            except TryAgain:
                tryagain += 1
                await _wait_progress(state, 0.005)
        send_secs = time.monotonic() - t0
        await _drain(
            state,
            lambda: state.own_delivered >= args.count and state.senders_done >= args.senders,
            args.idle,
        )
    else:
        await _drain(state, lambda: state.senders_done >= args.senders, args.idle)
    secs = state.t_last - state.t_first
    rate = state.delivered / secs if secs > 0 else 0.0
    line = (
        f"cpgload role={args.role} node={state.nodeid} msgs={state.delivered} "
        f"bytes={state.nbytes} secs={secs:.3f} rate={rate:.0f}msg/s "
        f"mbps={state.nbytes * 8 / secs / 1e6 if secs > 0 else 0:.2f} misorder={state.misorder} "
        f"digest={_digest(state):016x} members={state.members_max}"
    )
    if send:
        line += (
            f" sent={args.count} size={size} send_secs={send_secs:.3f} tryagain={tryagain} "
            f"own_delivered={state.own_delivered}"
        )
    print(line, flush=True)
    await _close(client, reader, args.group)
    failed = (send and state.own_delivered < args.count) or state.senders_done < args.senders
    return 1 if failed else 0


async def cpglat(args: argparse.Namespace) -> int:
    client, state, reader = await _open(args, lat=True)
    send = args.role == "send"
    size = max(args.size, LAT_HEADER.size)
    pad = bytes(size - LAT_HEADER.size)
    late = 0
    if send:
        await _wait_members(state, args.members, args.idle)
        period = 1e9 / args.rate
        start = time.monotonic_ns()
        i = 0
        while i < args.count:
            now = time.monotonic_ns()
            due = start + int(i * period)
            if now < due:
                await asyncio.sleep((due - now) / 1e9)
                continue
            if now > due + 2_000_000:  # as cpglat: more than 2 ms behind the schedule
                late += 1
            stamp = time.monotonic_ns()
            message = LAT_HEADER.pack(LAT_MAGIC, state.nodeid, state.pid, i, args.count, 0, stamp)
            try:
                # one binary frame, as libcpg hands cpglat's message over without JSON
                i += await client.mcast_many(args.group, [message + pad])
            except TryAgain:
                await _wait_progress(state, 0.001)
    await _drain(state, lambda: state.done, args.idle)
    lat = sorted(state.latencies_ns)

    def pct(p: float) -> float:
        return lat[int(p * (len(lat) - 1) + 0.5)] / 1000 if lat else 0.0

    print(
        f"cpglat role={args.role} node={state.nodeid} msgs={len(lat)} p50_us={pct(0.5):.1f} "
        f"p90_us={pct(0.9):.1f} p99_us={pct(0.99):.1f} max_us={lat[-1] / 1000 if lat else 0:.1f} "
        f"digest={_digest(state):016x} late={late}",
        flush=True,
    )
    await _close(client, reader, args.group)
    return 0 if state.done else 1


def _parser(tool: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m tests.interop.pycpg {tool}")
    parser.add_argument("role", choices=["send", "recv"])
    parser.add_argument("-g", dest="group", default=tool)
    parser.add_argument("-n", dest="count", type=int, default=10000 if tool == "cpgload" else 5000)
    parser.add_argument("-s", dest="size", type=int, default=100)
    parser.add_argument("-m", dest="members", type=int, default=1)
    parser.add_argument("-S", dest="senders", type=int, default=1)
    parser.add_argument("-r", dest="rate", type=int, default=1000)
    parser.add_argument("-t", dest="idle", type=float, default=10.0)
    parser.add_argument("--run-dir", default=os.environ.get("PYCOROSYNC_RUN_DIR", DEFAULT_RUN_DIR))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if not args_in or args_in[0] not in ("cpgload", "cpglat"):
        print("usage: python -m tests.interop.pycpg cpgload|cpglat send|recv [options]")
        return 2
    tool = args_in[0]
    args = _parser(tool).parse_args(args_in[1:])
    loop = new_event_loop()
    try:
        return loop.run_until_complete(cpgload(args) if tool == "cpgload" else cpglat(args))
    finally:
        loop.close()


if __name__ == "__main__":
    sys.exit(main())
