"""Turn a ``record.sh`` run into ``tests/cpg/data/real_cpg_3.1.7.json`` (see README.md).

    python tests/cpg/realprobe/make_fixture.py OUTDIR > tests/cpg/data/real_cpg_3.1.7.json

Reads ``OUTDIR/cpg.pcap`` (decoded with ``../shared/tools/totemdump.py``'s pcap
reader), keeps one copy of every MCAST by (ring, seq), undoes totempg packing and
fragmentation per sender, and writes, in ring order and then sequence order:

* every CPG exec message (whole message, header included; trailing zero bytes
  are implied by ``length``; the 1 MB PARTIAL_MCAST fragments keep their
  200-byte header and name their slice of the probe payload instead);
* every sync message (SERVICE_BUILD, BARRIER) with its sender, which is all a
  replay needs to know when cpg's sync round starts and ends;
* the probes' pids and output lines, and which node each ran on.
"""

from __future__ import annotations

import json
import re
import struct
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "shared" / "tools"))
from totemdump import pcap_udp  # type: ignore[import-not-found]

PROBE_NODES = {"A": 1, "B": 2, "C": 3, "D": 3, "E": 2, "F": 1}


def payload(total: int) -> bytes:
    """The bytes cpgprobe sends in a message of ``total`` bytes."""
    return bytes((i * 7 + total) & 0xFF for i in range(total))


def stream(pcap: Path) -> list[dict[str, Any]]:
    packets: dict[tuple[int, int, int], bytes] = {}
    ring_order: list[tuple[int, int]] = []
    for _ts, _src, _sport, _dst, _dport, data in pcap_udp(str(pcap)):
        if len(data) < 45 or data[3] != 1:
            continue
        seq = struct.unpack_from("<I", data, 17)[0]
        rep, rseq = struct.unpack_from("<IQ", data, 25)
        packets.setdefault((rep, rseq, seq), data)
        if (rep, rseq) not in ring_order:
            ring_order.append((rep, rseq))
    out: list[dict[str, Any]] = []
    partial_offset: dict[int, int] = {}
    pending: dict[int, bytes] = {}
    for ring in ring_order:
        for key in sorted(k for k in packets if k[:2] == ring):
            data = packets[key]
            if data[4] == 1:  # ENCAPSULATED re-delivery of an old-ring message
                continue
            sender = struct.unpack_from("<I", data, 5)[0]
            packet = data[45:]
            fragmented, continuation = packet[4], packet[5]
            (count,) = struct.unpack_from("<H", packet, 6)
            lengths = struct.unpack_from(f"<{count}H", packet, 8)
            offset = 8 + 2 * count
            for index, length in enumerate(lengths):
                message = packet[offset : offset + length]
                offset += length
                if index == 0 and continuation:
                    message = pending.pop(sender, b"") + message
                if index == count - 1 and fragmented:
                    pending[sender] = message
                    continue
                (ngroups,) = struct.unpack_from("<H", message)
                glens = struct.unpack_from(f"<{ngroups}H", message, 2)
                start = 2 + 2 * ngroups
                group = message[start : start + sum(glens)]
                body = message[start + sum(glens) :]
                (msg_id,) = struct.unpack_from("<i", body)
                entry: dict[str, Any] = {
                    "ring": f"{ring[0]:x}.{ring[1]:x}",
                    "seq": key[2],
                    "sender": sender,
                }
                if group == b"sync":
                    entry["kind"] = {0: "barrier", 1: "service_build"}[msg_id]
                elif group == b"a" and msg_id >> 16 == 2:
                    entry["kind"] = "cpg"
                    entry["fn"] = msg_id & 0xFFFF
                    entry["length"] = len(body)
                    if entry["fn"] == 6:
                        msglen, fraglen = struct.unpack_from("<I4xI", body, 152)
                        done = partial_offset.get(sender, 0)
                        assert body[200:] == payload(msglen)[done : done + fraglen]
                        partial_offset[sender] = done + fraglen
                        entry["hex"] = body[:200].hex()
                        entry["payload_offset"] = done
                    else:
                        entry["hex"] = body.rstrip(b"\0").hex()
                else:
                    continue
                out.append(entry)
    return out


def main(outdir: str) -> None:
    root = Path(outdir)
    probes: dict[str, Any] = {}
    for name, node in PROBE_NODES.items():
        lines = (root / f"probe{name}.log").read_text().splitlines()
        pid = int(re.fullmatch(r"pid (\d+)", lines[0]).group(1))  # type: ignore[union-attr]
        probes[name] = {"node": node, "pid": pid, "lines": lines[1:]}
    fixture = {
        "about": (
            "Real corosync 3.1.7 (Debian 3.1.7-1+deb12u2), 3 nodes udpu, recorded by "
            "tests/cpg/realprobe/record.sh; CPG and sync messages in delivery order"
        ),
        "probes": probes,
        "stream": stream(root / "cpg.pcap"),
    }
    json.dump(fixture, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
