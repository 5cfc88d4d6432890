"""The reference captures (``tests/fixtures/pcap``) as test data."""

from __future__ import annotations

import re
from functools import cache

from tests.fixtures import PCAP
from tests.pcap import UdpDatagram, read_udp

__all__ = [
    "CAPTURES",
    "DECODED_CAPTURES",
    "REF_PCAP",
    "datagrams",
    "decoded_lines",
]

REF_PCAP = PCAP
CAPTURES = (
    "udpu-3node-join-steady-fail",
    "udp-mcast-3node-join-steady-fail",
    "totem-wire-udpu-2real-1python",
)
"""All captures; the third has no ``.decoded.txt``."""
DECODED_CAPTURES = CAPTURES[:2]

_LINE = re.compile(
    r"^\s*(?P<ts>[\d.]+) (?P<src>[\d.]+):(?P<sport>\d+) > (?P<dst>[\d.]+):(?P<dport>\d+)"
    r"\s+(?P<size>\d+)B (?P<type>\w+) (?P<fields>.*)$"
)
_FIELD = re.compile(r"(\w+)=(\[[^\]]*\]|\S+)")


@cache
def datagrams(name: str) -> tuple[UdpDatagram, ...]:
    """Every UDP datagram of capture ``name``, in capture order."""
    return tuple(read_udp(REF_PCAP / f"{name}.pcap"))


@cache
def decoded_lines(name: str) -> tuple[dict[str, str], ...]:
    """The lines of ``name.decoded.txt`` (totemdump output), one dict per datagram:
    the line's address fields, ``type`` and every ``key=value`` field."""
    lines: list[dict[str, str]] = []
    for text in (REF_PCAP / f"{name}.decoded.txt").read_text().splitlines():
        if text.startswith("#"):
            continue
        match = _LINE.match(text)
        assert match is not None, text
        line = match.groupdict()
        fields = line.pop("fields")
        line.update(dict(_FIELD.findall(fields)))
        lines.append(line)
    return tuple(lines)
