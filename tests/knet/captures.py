"""The knet reference captures (copied from ``../shared/ref/knet/pcap`` into
``tests/fixtures/knet``): real corosync 3.1.7 / libknet 1.25 nodes, clear and
aes256/sha256, and the test authkey that decrypts them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from tests.pcap import UdpDatagram, read_udp

__all__ = ["AUTHKEY", "FIXTURES", "datagrams", "decoded_text"]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "knet"
AUTHKEY = (FIXTURES / "authkey.test").read_bytes()
"""The throwaway 256-byte key of the aes captures (not a secret)."""


@cache
def datagrams(name: str) -> tuple[UdpDatagram, ...]:
    """Every UDP datagram of ``<name>.pcap``, in capture order."""
    return tuple(read_udp(FIXTURES / f"{name}.pcap"))


def decoded_text(name: str) -> list[str]:
    """The lines of ``<name>.decoded.txt`` (the lab's decoder output)."""
    return (FIXTURES / f"{name}.decoded.txt").read_text().splitlines()
