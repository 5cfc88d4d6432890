"""The MTU arithmetic of libknet 1.25 (ref knet/README.md 1.5; ``onwire.c``, ``links.c``).

A knet packet on the wire is, without crypto, ``IP | UDP | knet header | data``; with
crypto ``IP | UDP | salt | E(knet header | data | pad) | hash``. The sizes that matter:

* ``data_outlen(inlen)`` (``calc_data_outlen``): the bytes crypto makes of ``inlen``
  bytes of clear packet (padding to the cipher block, plus salt and hash);
* ``max_data_outlen(outlen)`` (``calc_max_data_outlen``): the application bytes (the
  *data MTU*) that fit in ``outlen`` bytes after IP and UDP: minus the 26-byte
  ``KNET_HEADER_ALL_SIZE``, minus crypto with one byte kept for the padding knet
  always adds (a PKCS#7 pad is at least one byte);
* ``min_mtu()`` (``calc_min_mtu``): the data MTU before path MTU discovery has run,
  from the smallest IPv4 MTU with IPv6 and SCTP overheads.

With a 1500-byte interface: 1500 - 20 - 8 - 26 = **1446** clear and **1397** with
aes256/sha256 (both seen in real corosync's ``stats.knet.nodeN.link0.mtu``); before
discovery 482 clear, 421 with aes256/sha256. A statically configured IPv4 link starts
from the 576-byte IPv4 minimum instead: 522 clear, 469 with aes256/sha256.
"""

from __future__ import annotations

from dataclasses import dataclass

from totem.knet.constants import (
    HEADER_ALL_SIZE,
    PMTUD_MIN_MTU_V4,
    PMTUD_MIN_MTU_V6,
    PMTUD_OVERHEAD_V4,
    PMTUD_OVERHEAD_V6,
    PMTUD_SCTP_OVERHEAD,
    PMTUD_UDP_OVERHEAD,
)

__all__ = ["CryptoSizes", "ip_overhead", "static_link_mtu"]


@dataclass(frozen=True, slots=True)
class CryptoSizes:
    """``sec_block_size``, ``sec_salt_size``, ``sec_hash_size`` of the crypto in use
    (all 0 without crypto)."""

    block: int = 0
    salt: int = 0
    hash: int = 0

    def data_outlen(self, inlen: int) -> int:
        """``calc_data_outlen``: the sealed size of ``inlen`` bytes of clear packet."""
        outlen = inlen
        if self.block:
            outlen += self.block - outlen % self.block
        return outlen + self.salt + self.hash

    def max_data_outlen(self, outlen: int) -> int:
        """``calc_max_data_outlen``: the data MTU of ``outlen`` bytes after IP and UDP."""
        if self.block:
            outlen -= self.salt + self.hash
            outlen -= outlen % self.block + 1
            outlen += self.salt + self.hash
        return outlen - (HEADER_ALL_SIZE + self.salt + self.hash)

    def min_mtu(self) -> int:
        """``calc_min_mtu``: the safe data MTU used until PMTUd has run."""
        return self.max_data_outlen(PMTUD_MIN_MTU_V4 - (PMTUD_OVERHEAD_V6 + PMTUD_SCTP_OVERHEAD))


def ip_overhead(ipv6: bool) -> int:
    """IP and UDP header bytes: what PMTUd subtracts from an on-wire size."""
    return (PMTUD_OVERHEAD_V6 if ipv6 else PMTUD_OVERHEAD_V4) + PMTUD_UDP_OVERHEAD


def static_link_mtu(sizes: CryptoSizes, ipv6: bool) -> int:
    """The MTU a static link starts with (``knet_link_set_config``): the protocol's minimum
    IP MTU (576 IPv4, 1280 IPv6) less IP, UDP, knet and crypto overheads."""
    minimum = PMTUD_MIN_MTU_V6 if ipv6 else PMTUD_MIN_MTU_V4
    return sizes.max_data_outlen(minimum - ip_overhead(ipv6))
