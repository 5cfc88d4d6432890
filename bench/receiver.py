"""A receiving node's CPU per delivered message, replayed from a recording (deterministic work).

    python -m bench receiver        # record 10,000 messages, then the replay and its floor
    python -m bench receiver record FILE [--nodes 3] [--msgs 10000]
    python -m bench receiver replay FILE [--repeat 5]
    python -m bench receiver floor FILE [--repeat 5]            # bench/receiver_floor.py
    python -m bench receiver floor-daemon FILE [--rate N ...]   # the floor as a daemon
    valgrind --tool=cachegrind --cache-sim=no python -m bench receiver replay FILE --repeat 1
        [--setup-only]   # instructions: the full replay minus the setup-only one, per message

``record`` runs a ring of real node stacks, drivers and CPG control sockets in one process
(udpu configuration, an in-memory network that hands each node its datagrams in one batch
per loop turn, as uvloop reads a socket), with one client per node joined to a group, while
node 1 multicasts ``--msgs`` 100-byte messages in frames of 64; it stores every input of
node 2's driver -- datagrams, deferred passes, timers, pokes, hand-overs -- with its loop
time. ``replay`` feeds them to a fresh node 2 (the daemon's own driver, stack, services and
``CpgControl``, a client that only counts) on a clock that returns the recorded times: the
same work on every replay, sans-IO, so the CPU per message moves only with the machine, and
an instruction count (valgrind) not at all. The figure has no system calls: it is the
Python work of a receiver.
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from totem.config import CorosyncConfig, load
from totem.node.assemble import build_net, build_stack
from totem.node.control import ControlError
from totem.node.cpg_api import CpgControl, encode_mcast_frame
from totem.node.driver import NodeDriver
from totem.node.services import load_services
from totem.service import ServiceContext
from totem.services.cpg import CpgService
from totem.transport.base import new_event_loop

__all__ = ["main"]

GROUP = b"load"
_COUNT = struct.Struct("<I")
Input = tuple[str, float, tuple[Any, ...]]
"""(driver entry point, loop time, arguments)."""


def _config(nodes: int) -> CorosyncConfig:
    entries = "".join(
        f"    node {{\n        nodeid: {i}\n        ring0_addr: 127.0.0.{i}\n    }}\n"
        for i in range(1, nodes + 1)
    )
    text = (
        "totem {\n    version: 2\n    cluster_name: bench\n    transport: udpu\n}\n"
        f"nodelist {{\n{entries}}}\nquorum {{\n    provider: corosync_votequorum\n}}\n"
    )
    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as folder:
        path = Path(folder) / "corosync.conf"
        path.write_text(text)
        return load(path)


class _Writer:
    """What ``ControlConnection`` needs of a stream writer: nothing is written anywhere."""

    class transport:  # the attribute name of asyncio's StreamWriter
        @staticmethod
        def get_write_buffer_size() -> int:
            return 0

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class _Client:
    """A control-socket connection with binary deliveries, counting what it is sent."""

    def __init__(self) -> None:
        self.features = {"cpg-frames"}
        self.on_close: list[Callable[[Any], None]] = []
        self.closed = False
        self.writer = _Writer()
        self.delivered = 0

    def send(self, message: dict[str, Any]) -> None:
        pass

    def send_frame(self, kind: int, body: bytes) -> None:
        self.writer.write(body)
        self.delivered += _COUNT.unpack_from(body, 6 + len(GROUP))[0]


def _node(
    config: CorosyncConfig, nodeid: int, send: Callable[..., None], loop: Any
) -> tuple[NodeDriver, CpgControl, _Client, int]:
    local = config.node_by_id(nodeid)
    assert local is not None
    services = load_services(ServiceContext(config, local))
    net = build_net(config, local, salt_source=lambda n: bytes(n), epoch=1)
    stack = build_stack(config, local, services, net=net)
    driver = NodeDriver(stack, send, loop)
    cpg = next(s for s in services if isinstance(s, CpgService))
    control = CpgControl(cpg, driver.poke, loop.call_soon)
    driver.add_flusher(control.flush)
    client = _Client()
    handle = control._initialize(client, {})["handle"]  # type: ignore[arg-type]
    return driver, control, client, int(handle)


def record(path: Path, nodes: int, msgs: int) -> None:
    config = _config(nodes)
    inputs: list[Input] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        inbox: dict[int, list[bytes]] = {i: [] for i in range(1, nodes + 1)}
        drivers: dict[int, NodeDriver] = {}

        def sender(me: int) -> Callable[[int | None, bytes, int], None]:
            def send(dest: int | None, data: bytes, link: int = 0) -> None:
                mcast = data[3:4] == b"\x01"  # our own MCAST copy is never sent (udpu)
                for j in [dest] if dest is not None else list(inbox):
                    if dest is None and mcast and j == me:
                        continue
                    if not inbox[j]:
                        loop.call_soon(drain, j)
                    inbox[j].append(data)

            return send

        def drain(j: int) -> None:
            batch, inbox[j] = inbox[j], []
            for data in batch:
                drivers[j].datagram_received(data, 0, None)

        members = {i: _node(config, i, sender(i), loop) for i in inbox}
        for i, (driver, _control, _client, _handle) in members.items():
            drivers[i] = driver
        watched = drivers[2]
        for name in ("datagram_received", "_process_deferred", "_on_timer", "poke"):
            original = getattr(watched, name)

            def entry(*args: Any, original: Any = original, name: str = name) -> Any:
                inputs.append((name, loop.time(), args))
                return original(*args)

            setattr(watched, name, entry)
        inputs.append(("start", loop.time(), ()))
        for driver in drivers.values():
            driver.start()
        while not all(d.node.synced and len(d.node.members) == nodes for d in drivers.values()):  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)
        for i, (driver, control, client, handle) in members.items():
            if i == 2:
                inputs.append(("join", loop.time(), ()))
            control._join(client, {"handle": handle, "group": GROUP.decode(), "pid": 1})  # type: ignore[arg-type]
            driver.poke()
        await asyncio.sleep(0.3)
        inputs.append(("mark", loop.time(), ()))
        _driver, control, client, handle = members[1]
        pad = bytes(100 - 16)
        sent, request = 0, 1
        while sent < msgs:
            batch = [
                struct.pack("<IIII", sent + k, 0, 0, 0) + pad for k in range(min(64, msgs - sent))
            ]
            try:
                frame = encode_mcast_frame(request, handle, GROUP, batch)
                sent += control._mcast_frame(client, frame)[1]  # type: ignore[arg-type]
            except ControlError:
                pass  # flow control: try again on the next turn
            request += 1
            await asyncio.sleep(0)
        while min(m[2].delivered for m in members.values()) < msgs:
            await asyncio.sleep(0.001)

    new_event_loop().run_until_complete(run())
    path.write_bytes(pickle.dumps({"nodes": nodes, "msgs": msgs, "inputs": inputs}))
    print(f"recorded {len(inputs)} inputs of node 2 ({msgs} messages) in {path}")


class _Handle:
    def cancel(self) -> None:
        pass


class _Clock:
    """The loop as the driver and CpgControl use it, on the recorded clock; runs nothing."""

    now = 0.0

    def time(self) -> float:
        return self.now

    def call_soon(self, *args: Any) -> _Handle:
        return _Handle()

    def call_at(self, *args: Any) -> _Handle:
        return _Handle()

    def call_later(self, *args: Any) -> _Handle:
        return _Handle()


def replay(path: Path, setup_only: bool = False) -> tuple[float, int]:
    """Replay once: (CPU seconds after the mark, messages handed to the client)."""
    saved = pickle.loads(path.read_bytes())
    clock = _Clock()
    driver, control, client, handle = _node(_config(saved["nodes"]), 2, lambda *a: None, clock)
    entries: dict[str, Callable[..., Any]] = {
        "start": driver.start,
        "datagram_received": driver.datagram_received,
        "_process_deferred": driver._process_deferred,
        "_on_timer": driver._on_timer,
        "poke": driver.poke,
    }
    started, delivered = 0.0, 0
    for name, now, args in saved["inputs"]:
        clock.now = now
        if name == "mark":
            if setup_only:
                return 0.0, 0
            started, delivered = time.thread_time(), client.delivered
        elif name == "join":
            control._join(client, {"handle": handle, "group": GROUP.decode(), "pid": 1})  # type: ignore[arg-type]
        else:
            entries[name](*args)
    return time.thread_time() - started, client.delivered - delivered


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench receiver", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("file", type=Path)
    rec.add_argument("--nodes", type=int, default=3)
    rec.add_argument("--msgs", type=int, default=10_000)
    rep = sub.add_parser("replay")
    rep.add_argument("file", type=Path)
    rep.add_argument("--repeat", type=int, default=5)
    rep.add_argument("--setup-only", action="store_true", help="stop where the load starts")
    flo = sub.add_parser("floor", help="the same datagrams through the least work (and a replay)")
    flo.add_argument("file", type=Path)
    flo.add_argument("--repeat", type=int, default=5)
    dae = sub.add_parser("floor-daemon", help="the floor as a uvloop daemon on loopback")
    dae.add_argument("file", type=Path)
    dae.add_argument("--rate", type=float, action="append", help="messages/s (repeatable)")
    dae.add_argument("--repeat", type=int, default=3)
    if not (sys.argv[1:] if argv is None else argv):
        # ``python -m bench`` runs every benchmark with no arguments: record a ring of
        # 10,000 messages in a temporary folder, then the replay beside the floor
        with tempfile.TemporaryDirectory(prefix="bench-receiver-") as folder:
            path = Path(folder) / "recording.pkl"
            record(path, 3, 10_000)
            return _floor(path, 3)
    args = parser.parse_args(argv)
    if args.command == "floor-daemon":
        return _floor_daemon(args.file, args.rate or [30_000.0], args.repeat)
    if args.command == "record":
        record(args.file, args.nodes, args.msgs)
        return 0
    if args.command == "floor":
        return _floor(args.file, args.repeat)
    best = None
    for run in range(args.repeat):
        cpu, messages = replay(args.file, args.setup_only)
        if args.setup_only:
            return 0
        best = cpu if best is None else min(best, cpu)
        print(f"replay {run + 1}: {messages} messages, {1e6 * cpu / messages:.2f} us of CPU each")
    if best is not None:
        print(f"best: {1e6 * best / messages:.2f} us per message")
    return 0


def _floor(path: Path, repeat: int) -> int:
    """Floor and full replay alternated, best of ``repeat`` each, and their ratio."""
    from bench.receiver_floor import datagrams, floor_replay

    received = datagrams(path)
    floor_best = replay_best = None
    messages = 0
    for run in range(repeat):
        cpu, delivered, framed = floor_replay(received, GROUP)
        full, messages = replay(path)
        if delivered != messages:
            raise SystemExit(f"the floor delivered {delivered} messages, the replay {messages}")
        floor_best = cpu if floor_best is None else min(floor_best, cpu)
        replay_best = full if replay_best is None else min(replay_best, full)
        print(
            f"run {run + 1}: floor {1e6 * cpu / delivered:.2f} us, replay "
            f"{1e6 * full / messages:.2f} us per message ({delivered} messages, "
            f"{framed} bytes framed for the client)"
        )
    assert floor_best is not None and replay_best is not None
    print(
        f"best: floor {1e6 * floor_best / messages:.2f} us, replay "
        f"{1e6 * replay_best / messages:.2f} us per message: "
        f"the replay is {replay_best / floor_best:.2f}x the floor"
    )
    return 0


def _floor_daemon(path: Path, rates: list[float], repeat: int) -> int:
    """The floor daemon's CPU per message at each rate: every run, then the best."""
    from bench.receiver_floor import datagrams, floor_daemon

    received = datagrams(path)
    for rate in rates:
        runs = []
        for _ in range(repeat):
            user, system, delivered = floor_daemon(received, GROUP, rate)
            runs.append((user + system, user, system))
            print(
                f"{rate:,.0f} msg/s: {delivered} messages, {1e6 * (user + system) / delivered:.2f}"
                f" us of CPU each (user {1e6 * user / delivered:.2f}, system "
                f"{1e6 * system / delivered:.2f})"
            )
        total, user, system = min(runs)
        print(
            f"best at {rate:,.0f} msg/s: {1e6 * total / delivered:.2f} us (user "
            f"{1e6 * user / delivered:.2f}, system {1e6 * system / delivered:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
