"""libknet 1.25 constants (ref knet/README.md 1, 2; ``libknet/onwire.h``, ``internals.h``,
``libknet.h``, ``links.h``, ``threads_common.h``, ``transport_*.h``).

Times are seconds (floats) as every sans-IO core of the project takes them; libknet's
own microsecond and millisecond values are converted where they are defined.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CBUFFER_SIZE",
    "DATA_HEADER_SIZE",
    "DEFRAG_BUFFERS",
    "HEADER_ALL_SIZE",
    "HEADER_SIZE",
    "HEADER_VERSION",
    "LINK_DEFAULT_PING_INTERVAL",
    "LINK_DEFAULT_PING_PRECISION",
    "LINK_DEFAULT_PING_TIMEOUT",
    "LINK_DEFAULT_PONG_COUNT",
    "LINK_PMTUD_CRYPTO_TIMEOUT_MULTIPLIER_MAX",
    "LINK_PMTUD_CRYPTO_TIMEOUT_MULTIPLIER_MIN",
    "LINK_PONG_TIMEOUT_BACKOFF",
    "LINK_PONG_TIMEOUT_LAT_MUL",
    "MAX_HOST",
    "MAX_LINK",
    "MAX_PACKET_SIZE",
    "PING_SIZE",
    "PMTUD_MIN_MTU_V4",
    "PMTUD_MIN_MTU_V6",
    "PMTUD_OVERHEAD_V4",
    "PMTUD_OVERHEAD_V6",
    "PMTUD_SCTP_OVERHEAD",
    "PMTUD_SIZE",
    "PMTUD_SIZE_V4",
    "PMTUD_UDP_OVERHEAD",
    "SEQ_MAX",
    "THREADS_TIMERES",
    "TYPE_DATA",
    "TYPE_PING",
    "TYPE_PMSK",
    "TYPE_PMTUD",
    "TYPE_PMTUD_REPLY",
    "TYPE_PONG",
    "UNTIMED_PING_EVERY",
]

HEADER_VERSION: Final = 0x01
"""``KNET_HEADER_VERSION``: a packet of any other version is dropped."""

TYPE_DATA: Final = 0x00
TYPE_PMSK: Final = 0x80
"""``KNET_HEADER_TYPE_PMSK``: the bit of the "service" packets (ping, pong, PMTUd)."""
TYPE_PING: Final = 0x81
TYPE_PONG: Final = 0x82
TYPE_PMTUD: Final = 0x83
TYPE_PMTUD_REPLY: Final = 0x84

HEADER_SIZE: Final = 6
"""``KNET_HEADER_SIZE``: version, type, node id (u16 big-endian), two pad bytes."""
DATA_HEADER_SIZE: Final = 14
"""``KNET_HEADER_DATA_SIZE``: the header plus ``knet_header_payload_data``."""
PING_SIZE: Final = 26
"""``KNET_HEADER_PING_SIZE``: the header plus ``knet_header_payload_ping`` (20)."""
PMTUD_SIZE: Final = 9
"""``KNET_HEADER_PMTUD_SIZE``: what a PMTUD_REPLY carries."""
HEADER_ALL_SIZE: Final = 26
"""``KNET_HEADER_ALL_SIZE``: the header plus the largest payload (ping): the MTU math's 26."""

MAX_HOST: Final = 65536
"""``KNET_MAX_HOST``: host ids are u16."""
MAX_LINK: Final = 8
"""``KNET_MAX_LINK``: links 0..7 per host (corosync's ``INTERFACE_MAX``)."""
MAX_PACKET_SIZE: Final = 65536
"""``KNET_MAX_PACKET_SIZE``: the largest application message (corosync's ``net_mtu``)."""

SEQ_MAX: Final = 0xFFFF
"""``SEQ_MAX``: data sequence numbers are u16."""
UNTIMED_PING_EVERY: Final = SEQ_MAX // 8
"""A forced (untimed) ping goes to every link each time ``tx_seq % 8191 == 0``."""
CBUFFER_SIZE: Final = 4096
"""``KNET_CBUFFER_SIZE``: the window of delivered sequence numbers per source host."""
DEFRAG_BUFFERS: Final = 32
"""``KNET_DEFRAG_BUFFERS``: messages being reassembled at once per source host."""

THREADS_TIMERES: Final = 0.2
"""``KNET_THREADS_TIMERES`` (200 ms): the heartbeat and PMTUd threads' tick."""

LINK_DEFAULT_PING_INTERVAL: Final = 1000
"""``KNET_LINK_DEFAULT_PING_INTERVAL`` (ms), until corosync sets its own."""
LINK_DEFAULT_PING_TIMEOUT: Final = 2000
"""``KNET_LINK_DEFAULT_PING_TIMEOUT`` (ms)."""
LINK_DEFAULT_PING_PRECISION: Final = 2048
"""``KNET_LINK_DEFAULT_PING_PRECISION``: latency samples averaged."""
LINK_DEFAULT_PONG_COUNT: Final = 5
"""``KNET_LINK_DEFAULT_PONG_COUNT`` (corosync configures 2)."""
LINK_PONG_TIMEOUT_BACKOFF: Final = 10
"""``KNET_LINK_PONG_TIMEOUT_BACKOFF``: a fresh link's pong timeout is 10 x the configured
one, shrinking by one x per second down to 1 x."""
LINK_PONG_TIMEOUT_LAT_MUL: Final = 2
"""``KNET_LINK_PONG_TIMEOUT_LAT_MUL``: the pong timeout also grows by 2 x the latency."""
LINK_PMTUD_CRYPTO_TIMEOUT_MULTIPLIER_MIN: Final = 2
LINK_PMTUD_CRYPTO_TIMEOUT_MULTIPLIER_MAX: Final = 128

PMTUD_SIZE_V4: Final = 65535
"""``KNET_PMTUD_SIZE_V4`` (and V6): where discovery starts."""
PMTUD_OVERHEAD_V4: Final = 20
PMTUD_OVERHEAD_V6: Final = 40
PMTUD_MIN_MTU_V4: Final = 576
PMTUD_MIN_MTU_V6: Final = 1280
PMTUD_UDP_OVERHEAD: Final = 8
PMTUD_SCTP_OVERHEAD: Final = 28
"""``KNET_PMTUD_SCTP_OVERHEAD``: part of ``calc_min_mtu`` even for UDP."""
