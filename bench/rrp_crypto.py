"""Throughput with two rings vs one, and crypto on vs off.

    python bench/rrp_crypto.py micro   [--seconds 0.3]
    python bench/rrp_crypto.py sim     [--messages 10000] [--size 1000]
    python bench/rrp_crypto.py daemons [--seconds 5] [--size 1000] [--rate 4mbit]  # root
    python bench/rrp_crypto.py all     # the three, daemons only if root

* ``micro``: microseconds per datagram for seal/open of every cipher/hash pair and
  for the RRP layer's link choice and receive bookkeeping.
* ``sim``: three SRP nodes in one process (virtual network, no sockets) deliver
  ``--messages`` messages; wall-clock messages per second, so the figure is the
  CPU cost of the whole stack below totempg, one core for all three nodes.
* ``daemons``: three real ``pycorosync`` daemons in network namespaces on two
  bridges; nodes 1 and 3 multicast through CPG as fast as flow control allows,
  node 2 counts deliveries. Once without a bandwidth limit (CPU-bound) and once
  with every node's NIC shaped to ``--rate`` per network (network-bound: where
  passive RRP's second ring adds capacity).

Not a test: numbers depend on the machine. Each section prints its command.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from totem.net.crypto import DatagramCrypto
from totem.net.rrp import RedundantRing, RrpSettings
from totem.srp.state import Datagram

KEY = bytes(range(256))
SUITES = [
    ("none", "none"),
    ("none", "sha1"),
    ("none", "sha256"),
    ("aes128", "sha256"),
    ("aes256", "sha256"),
    ("aes256", "sha512"),
]
CONFIGS = [(1, "none"), (2, "none"), (1, "aes256"), (2, "aes256")]


def _per_call(function: Callable[[], object], seconds: float) -> float:
    """Microseconds per call, best of 3 timed batches."""
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            function()
        if time.perf_counter() - start > seconds / 10:
            break
        calls *= 2
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def micro(seconds: float) -> None:
    print(f"$ python bench/rrp_crypto.py micro --seconds {seconds}")
    print("crypto: microseconds per datagram (seal / open)")
    print(f"  {'cipher':<7} {'hash':<7} {'bytes+':>6}  {'100 B':>15}  {'1400 B':>15}")
    count = max(2000, int(seconds * 100_000))
    for cipher, hash_ in SUITES:
        cells = []
        for size in (100, 1400):
            data = os.urandom(size)
            best_seal = best_open = float("inf")
            for _ in range(3):
                sender = DatagramCrypto(cipher, hash_, KEY, node_id=1, epoch=1)
                receiver = DatagramCrypto(cipher, hash_, KEY, node_id=2, epoch=2)
                start = time.perf_counter()
                sealed = [sender.seal(data) for _ in range(count)]
                best_seal = min(best_seal, time.perf_counter() - start)
                opener = receiver.open
                start = time.perf_counter()
                for datagram in sealed:  # each one once, as a receiver sees them
                    opener(datagram, 0.0)
                best_open = min(best_open, time.perf_counter() - start)
            seal_us, open_us = best_seal / count * 1e6, best_open / count * 1e6
            cells.append(f"{seal_us:6.2f} / {open_us:6.2f}")
        print(f"  {cipher:<7} {hash_:<7} {sender.overhead:>6}  {cells[0]:>15}  {cells[1]:>15}")
    print("rrp: microseconds per datagram")
    token = bytes.fromhex("70c00300") + bytes(53)
    mcast = bytes.fromhex("70c00301") + bytes(1400)
    for mode, count in (("none", 1), ("passive", 2)):
        rrp = RedundantRing(1, RrpSettings(mode=mode, interface_count=count))
        out = [Datagram(None, mcast)]
        assign = _per_call(functools.partial(rrp.assign, out), seconds)

        def receive(r: RedundantRing = rrp, n: int = count, at: list[int] = [0]) -> None:  # noqa: B006
            at[0] = (at[0] + 1) % n
            r.receive(mcast, at[0], 0.0)
            r.receive(token, at[0], 0.0)

        both = _per_call(receive, seconds) / 2
        print(f"  {mode:<8} assign {assign:5.2f}   receive {both:5.2f}")


def sim(messages: int, size: int) -> None:
    from tests.net.netsim import RingNetwork

    print(f"$ python bench/rrp_crypto.py sim --messages {messages} --size {size}")
    print("3 SRP nodes in one process, virtual network: wall-clock delivered messages/s")
    base: float | None = None
    for rings, cipher in CONFIGS:
        hash_ = "none" if cipher == "none" else "sha256"
        rrp = RrpSettings(mode="passive" if rings == 2 else "none", interface_count=rings)
        latency = (0.0001, 0.0001)[:rings]
        net = RingNetwork([1, 2, 3], rrp=rrp, cipher=cipher, hash=hash_, latency=latency)
        net.start()
        net.run_until(functools.partial(net.operational, [1, 2, 3]))
        net.run_for(0.5)
        payload = b"x" * size
        target = len(net.logs[2].deliveries()) + messages
        start = time.perf_counter()
        sent = 0
        while len(net.logs[2].deliveries()) < target:
            for node_id in (1, 3):
                srp = net.nodes[node_id].srp
                while sent < messages and srp.avail() > 100:
                    srp.mcast(payload)
                    sent += 1
                srp.signal_new_message()
                net._pump(node_id)
            net.run_for(0.001)
        wall = time.perf_counter() - start
        rate = messages / wall
        base = base or rate
        print(
            f"  rings {rings}  crypto {cipher:<6}  {rate:9.0f} msg/s  "
            f"({rate * size / 1e6:6.2f} MB/s)  x{rate / base:4.2f}"
        )


async def _pump_cpg(run_dirs: list[str], receiver_dir: str, seconds: float, size: int) -> float:
    from totem.node.cpg_client import CpgClient, TryAgain
    from totem.services.cpg import CpgConfigChange, CpgDeliver

    receiver = await CpgClient.connect(receiver_dir)
    senders = [await CpgClient.connect(d) for d in run_dirs]
    ready = asyncio.Event()
    counted = [0, 0.0]  # deliveries, first delivery time
    measuring = [False]

    async def count() -> None:
        async for event in receiver.events():
            if isinstance(event, CpgConfigChange) and len(event.members) == 1 + len(senders):
                ready.set()
            elif isinstance(event, CpgDeliver) and measuring[0]:
                counted[0] += 1

    counter = asyncio.create_task(count())
    await receiver.join("bench")
    for sender in senders:
        await sender.join("bench")
    await asyncio.wait_for(ready.wait(), 10)
    stop = [False]
    batch = [b"x" * size] * 50

    async def send(client: CpgClient) -> None:
        while not stop[0]:
            try:
                if await client.mcast_many("bench", batch) == 0:
                    await asyncio.sleep(0.001)
            except TryAgain:
                await asyncio.sleep(0.001)

    pumps = [asyncio.create_task(send(s)) for s in senders]
    await asyncio.sleep(1.0)  # warm up: queues full, steady state
    measuring[0] = True
    start = time.monotonic()
    await asyncio.sleep(seconds)
    measuring[0] = False
    elapsed = time.monotonic() - start
    stop[0] = True
    await asyncio.gather(*pumps)
    counter.cancel()
    for client in (receiver, *senders):
        await client.close()
    return counted[0] / elapsed


def daemons(seconds: float, size: int, rate: str) -> None:
    from tests.net.twobridge import TwoBridgeCluster, environment_problem
    from totem.tools import keygen

    print(
        f"$ sudo python bench/rrp_crypto.py daemons --seconds {seconds} --size {size} --rate {rate}"
    )
    problem = environment_problem()
    if problem is not None:
        print(f"  skipped: {problem}")
        return
    print("3 daemons in namespaces, CPG from nodes 1 and 3, delivered at node 2")
    for limit in (None, rate):
        print(f"  NIC per network: {limit or 'unlimited'}")
        base: float | None = None
        for rings, cipher in CONFIGS:
            with tempfile.TemporaryDirectory(prefix="rrp7bench") as tmp_name:
                tmp = Path(tmp_name)
                extra = ""
                if cipher != "none":
                    keygen.main(["-k", str(tmp / "authkey")])
                    extra = (
                        f"    crypto_cipher: {cipher}\n    crypto_hash: sha256\n"
                        f"    keyfile: {tmp / 'authkey'}\n"
                    )
                with TwoBridgeCluster(tmp, extra_totem=extra, rings=rings) as cluster:
                    cluster.setup(rate=limit)
                    cluster.start()
                    cluster.wait(cluster.formed, 30)
                    dirs = [cluster.run_dir(1), cluster.run_dir(3)]
                    per_s = asyncio.run(_pump_cpg(dirs, cluster.run_dir(2), seconds, size))
            base = base or per_s
            print(
                f"    rings {rings}  crypto {cipher:<6}  {per_s:9.0f} msg/s  "
                f"({per_s * size / 1e6:6.2f} MB/s)  x{per_s / base:4.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "what", choices=["micro", "sim", "daemons", "all"], nargs="?", default="all"
    )
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--rate", default="4mbit")
    args = parser.parse_args()
    if args.what in ("micro", "all"):
        micro(args.seconds or 0.3)
    if args.what in ("sim", "all"):
        sim(args.messages, args.size)
    if args.what in ("daemons", "all"):
        daemons(args.seconds or 5.0, args.size, args.rate)


if __name__ == "__main__":
    main()
