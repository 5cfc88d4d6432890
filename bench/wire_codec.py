"""Micro-benchmark of the Totem wire codecs: struct fast path vs construct.

    python bench/wire_codec.py [--seconds 0.3]

Prints microseconds per operation for decode/encode of the hot messages (ORF
token, MCAST) through the precompiled ``struct`` path and the compiled
construct declaration, plus totempg reassembly and packing per message.
Not a test: numbers depend on the machine (ref python-udp-ceiling.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from totem.ringid import RingId
from totem.totempg import Packer, Reassembler
from totem.wire import (
    GROUP_EXEC,
    Mcast,
    OrfToken,
    RtrItem,
    decode,
    encode,
    encode_group_message,
    mcast,
    orf_token,
)


def _per_call(function: Callable[[], object], seconds: float) -> float:
    """Microseconds per call, best of 3 timed batches."""
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            function()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 10:
            break
        calls *= 4
    best = elapsed / calls
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.3, help="time budget per measurement")
    seconds = parser.parse_args(argv).seconds

    ring = RingId(1, 0x12)
    token = OrfToken(1, 0, 1000, 5000, 990, 2, ring, 3, 10, 0, [])
    token_rtr = OrfToken(1, 0, 1000, 5000, 990, 2, ring, 3, 10, 0, [RtrItem(ring, 991)] * 5)
    nodeinfo = encode_group_message(GROUP_EXEC, bytes(32))
    packer = Packer()
    for _ in range(10):
        packer.add(nodeinfo)
    (packet10,) = packer.flush()
    data_mcast = Mcast(1, 0, 2, 1, 1001, 77, ring, 0, 0, packet10)

    wire_token = encode(token)
    wire_token_rtr = encode(token_rtr)
    wire_mcast = encode(data_mcast)
    reassembler = Reassembler()

    def pack10() -> None:
        for _ in range(10):
            packer.add(nodeinfo)
        packer.flush()

    rows = [
        ("decode orf_token (struct)", lambda: decode(wire_token)),
        ("decode orf_token (construct)", lambda: orf_token.parse_construct(wire_token)),
        ("decode orf_token+5 rtr (struct)", lambda: decode(wire_token_rtr)),
        ("decode orf_token+5 rtr (construct)", lambda: orf_token.parse_construct(wire_token_rtr)),
        ("encode orf_token (struct)", lambda: encode(token)),
        ("encode orf_token (construct)", lambda: orf_token.build_construct(token)),
        ("decode mcast (struct)", lambda: decode(wire_mcast)),
        ("decode mcast (construct)", lambda: mcast.parse_construct(wire_mcast)),
        ("encode mcast (struct)", lambda: encode(data_mcast)),
        ("encode mcast (construct)", lambda: mcast.build_construct(data_mcast)),
        ("reassemble packet of 10 messages", lambda: reassembler.deliver(1, packet10)),
        ("pack 10 messages + flush", pack10),
    ]
    width = max(len(name) for name, _ in rows)
    for name, function in rows:
        print(f"{name:<{width}}  {_per_call(function, seconds):8.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
