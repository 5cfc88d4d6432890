"""One knet link of one host: its configuration, heartbeat state and counters
(ref knet/README.md 2; ``links.c``, ``threads_heartbeat.c``, ``threads_rx.c`` case PONG).

A link is the path to a host over one of the local addresses (corosync: ``ringX_addr``
is link X). What decides its state, as libknet 1.25 does it:

* every heartbeat tick (200 ms) a PING goes out when ``ping_interval`` has passed since
  the previous one (so 912 ms becomes 1 s on the wire); it carries the sender's time;
* a PONG echoes that time: the round trip ``now - sent`` (µs) is dropped when above
  ``pong_timeout``, else averaged into ``latency`` over up to ``ping_precision``
  samples; while the link is down and the average is below ``pong_timeout_adj``,
  pongs are counted, and the pong after ``pong_count`` counted ones brings it **up**
  (corosync's pong_count 2: the third pong);
* once a pong has been seen, a tick finding no pong for ``pong_timeout_adj`` brings it
  **down**, resets the count and the back-off;
* ``pong_timeout_adj = pong_timeout * backoff + 2 * latency``; the back-off starts at
  10 and drops by one every second to 1 (``_adjust_pong_timeouts``), so a fresh link
  is judged leniently (3 nodes: 1825 ms, 18.25 s at first).

The MTU fields are PMTUd's (:mod:`.pmtud`); the counters are ``struct knet_link_stats``
as corosync shows them in ``stats.knet.nodeN.linkM.*``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from totem.knet.constants import (
    LINK_DEFAULT_PING_INTERVAL,
    LINK_DEFAULT_PING_PRECISION,
    LINK_DEFAULT_PING_TIMEOUT,
    LINK_DEFAULT_PONG_COUNT,
    LINK_PMTUD_CRYPTO_TIMEOUT_MULTIPLIER_MIN,
    LINK_PONG_TIMEOUT_BACKOFF,
    LINK_PONG_TIMEOUT_LAT_MUL,
)

__all__ = ["KnetLink", "LinkConfig", "LinkStats", "LinkStatus"]

_LATENCY_MIN_START = 0xFFFFFFFF
"""``latency_min`` before any sample: UINT32_MAX, as ``knet_host_add`` sets it."""


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """``knet_link_set_config`` plus the timers, count and priority corosync sets on it."""

    link_id: int
    local: str
    """Local address (this node's ``ringX_addr``)."""
    remote: str
    """The peer's address on this link."""
    port: int
    """UDP port, local and remote alike (``mcastport``, default 5405 + link)."""
    priority: int = 1
    ping_interval: int = LINK_DEFAULT_PING_INTERVAL
    """Milliseconds."""
    ping_timeout: int = LINK_DEFAULT_PING_TIMEOUT
    """Milliseconds."""
    ping_precision: int = LINK_DEFAULT_PING_PRECISION
    pong_count: int = LINK_DEFAULT_PONG_COUNT
    transport: str = "udp"
    ipv6: bool = False
    kernel_mtu: int = 0
    """The local kernel's MTU towards ``remote`` (0: unknown): a PMTUd probe larger than
    this is refused by the kernel (EMSGSIZE) and never reaches the wire."""


@dataclass(slots=True)
class LinkStats:
    """``struct knet_link_stats`` (the fields corosync exports to cmap)."""

    tx_data_packets: int = 0
    rx_data_packets: int = 0
    tx_data_bytes: int = 0
    rx_data_bytes: int = 0
    tx_ping_packets: int = 0
    rx_ping_packets: int = 0
    tx_ping_bytes: int = 0
    rx_ping_bytes: int = 0
    tx_pong_packets: int = 0
    rx_pong_packets: int = 0
    tx_pong_bytes: int = 0
    rx_pong_bytes: int = 0
    tx_pmtu_packets: int = 0
    rx_pmtu_packets: int = 0
    tx_pmtu_bytes: int = 0
    rx_pmtu_bytes: int = 0
    tx_pmtu_errors: int = 0
    tx_pmtu_retries: int = 0
    tx_ping_errors: int = 0
    tx_ping_retries: int = 0
    tx_pong_errors: int = 0
    tx_pong_retries: int = 0
    tx_data_errors: int = 0
    tx_data_retries: int = 0
    latency_min: int = _LATENCY_MIN_START
    latency_max: int = 0
    latency_ave: int = 0
    latency_samples: int = 0
    down_count: int = 0
    up_count: int = 0

    @property
    def tx_total_packets(self) -> int:
        return (
            self.tx_data_packets
            + self.tx_ping_packets
            + self.tx_pong_packets
            + (self.tx_pmtu_packets)
        )

    @property
    def rx_total_packets(self) -> int:
        return (
            self.rx_data_packets
            + self.rx_ping_packets
            + self.rx_pong_packets
            + (self.rx_pmtu_packets)
        )

    @property
    def tx_total_bytes(self) -> int:
        return self.tx_data_bytes + self.tx_ping_bytes + self.tx_pong_bytes + self.tx_pmtu_bytes

    @property
    def rx_total_bytes(self) -> int:
        return self.rx_data_bytes + self.rx_ping_bytes + self.rx_pong_bytes + self.rx_pmtu_bytes

    @property
    def tx_total_errors(self) -> int:
        return (
            self.tx_data_errors + self.tx_ping_errors + self.tx_pong_errors + (self.tx_pmtu_errors)
        )

    def as_dict(self) -> dict[str, int]:
        out = asdict(self)
        for name in (
            "tx_total_packets",
            "rx_total_packets",
            "tx_total_bytes",
            "rx_total_bytes",
            "tx_total_errors",
        ):
            out[name] = getattr(self, name)
        return out


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """``struct knet_link_status``: what cfgtool and cmap show of one link."""

    host: int
    link: int
    src_ipaddr: str
    src_port: int
    dst_ipaddr: str
    dst_port: int
    transport: str
    enabled: bool
    connected: bool
    dynconnected: bool
    mtu: int
    """The link's data MTU (what Totem data may carry per packet on it)."""
    proto_overhead: int
    latency: int
    """Average round trip, µs."""
    pong_last: float | None
    priority: int
    stats: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "link": self.link,
            "src_ipaddr": self.src_ipaddr,
            "src_port": self.src_port,
            "dst_ipaddr": self.dst_ipaddr,
            "dst_port": self.dst_port,
            "transport": self.transport,
            "enabled": self.enabled,
            "connected": self.connected,
            "dynconnected": self.dynconnected,
            "mtu": self.mtu,
            "proto_overhead": self.proto_overhead,
            "latency": self.latency,
            "priority": self.priority,
            "stats": dict(self.stats),
        }


class KnetLink:
    """``struct knet_link``: one host's link ``link_id`` (mutable state of the core)."""

    __slots__ = (
        "config",
        "connected",
        "enabled",
        "has_valid_mtu",
        "host_id",
        "kernel_mtu",
        "last_ping_size",
        "last_recv_mtu",
        "latency",
        "latency_samples",
        "link_id",
        "loopback",
        "mtu",
        "ping_interval",
        "ping_last",
        "pmtud_crypto_multiplier",
        "pmtud_last",
        "pong_count",
        "pong_last",
        "pong_timeout",
        "pong_timeout_adj",
        "pong_timeout_backoff",
        "precision",
        "priority",
        "received_pong",
        "stats",
    )

    def __init__(
        self, host_id: int, config: LinkConfig, mtu: int, *, loopback: bool = False
    ) -> None:
        self.host_id = host_id
        self.link_id = config.link_id
        self.config = config
        self.loopback = loopback
        self.enabled = False
        self.connected = False
        self.priority = config.priority
        # knet_link_set_config's defaults; corosync then sets its own timers and count
        self.ping_interval = LINK_DEFAULT_PING_INTERVAL * 1000
        """µs, as knet keeps it."""
        self.pong_timeout = LINK_DEFAULT_PING_TIMEOUT * 1000
        self.pong_timeout_backoff = LINK_PONG_TIMEOUT_BACKOFF
        self.pong_timeout_adj = self.pong_timeout * self.pong_timeout_backoff
        self.precision = LINK_DEFAULT_PING_PRECISION
        self.pong_count = LINK_DEFAULT_PONG_COUNT
        self.received_pong = 0
        self.latency = 0
        self.latency_samples = 0
        self.ping_last: float | None = None
        self.pong_last: float | None = None
        self.last_ping_size = 0
        self.mtu = mtu
        self.has_valid_mtu = True
        """A static link starts with the protocol's minimum MTU, valid (``links.c``)."""
        self.pmtud_last: float | None = None
        self.last_recv_mtu = 0
        self.pmtud_crypto_multiplier = LINK_PMTUD_CRYPTO_TIMEOUT_MULTIPLIER_MIN
        self.kernel_mtu = config.kernel_mtu
        self.stats = LinkStats()
        self.set_timers(config.ping_interval, config.ping_timeout, config.ping_precision)
        self.pong_count = config.pong_count

    def set_timers(self, interval_ms: int, timeout_ms: int, precision: int) -> None:
        """``knet_link_set_ping_timers``; the adjusted timeout follows at the next second."""
        self.ping_interval = interval_ms * 1000
        self.pong_timeout = timeout_ms * 1000
        self.precision = precision

    def adjust_pong_timeout(self) -> None:
        """``_adjust_pong_timeouts`` (once a second): back-off one step down, latency in."""
        if self.pong_timeout_backoff > 1:
            self.pong_timeout_backoff -= 1
        self.pong_timeout_adj = (
            self.pong_timeout * self.pong_timeout_backoff + self.latency * LINK_PONG_TIMEOUT_LAT_MUL
        )

    def ping_due(self, now: float) -> bool:
        """Has ``ping_interval`` passed since the last ping (or was none sent)?"""
        last = self.ping_last
        return last is None or (now - last) * 1_000_000 >= self.ping_interval - 0.5

    def pong_overdue(self, now: float) -> bool:
        """Has a pong been seen, and none for ``pong_timeout_adj`` since?"""
        last = self.pong_last
        return last is not None and (now - last) * 1_000_000 >= self.pong_timeout_adj - 0.5

    def take_pong(self, now: float, sent: float) -> str:
        """A PONG of a ping sent at ``sent`` arrived: update latency and the pong count.

        Returns ``"late"`` when the round trip exceeds ``pong_timeout`` (the pong is
        discarded), ``"up"`` when this pong brings the link up, ``"counted"`` when it
        was counted towards that, else ``""``. ``pong_last`` is always updated.
        """
        self.pong_last = now
        rtt = max(0, int((now - sent) * 1_000_000))
        if rtt > self.pong_timeout:
            return "late"
        self.latency_samples = min(self.latency_samples + 1, self.precision)
        samples = self.latency_samples
        self.latency = (self.latency * (samples - 1) + rtt) // samples
        outcome = ""
        if self.latency < self.pong_timeout_adj and not self.connected:
            if self.received_pong >= self.pong_count:
                outcome = "up"
            else:
                self.received_pong += 1
                outcome = "counted"
        stats = self.stats
        stats.latency_max = max(stats.latency_max, self.latency)
        stats.latency_min = min(stats.latency_min, self.latency)
        stats.latency_ave = self.latency
        stats.latency_samples = samples
        return outcome

    def reset_down(self) -> None:
        """``_link_down``'s resets (before the state change itself)."""
        self.pmtud_last = None
        self.received_pong = 0
        self.pong_last = None
        self.pong_timeout_backoff = LINK_PONG_TIMEOUT_BACKOFF

    def status(self, proto_overhead: int) -> LinkStatus:
        config = self.config
        return LinkStatus(
            host=self.host_id,
            link=self.link_id,
            src_ipaddr=config.local,
            src_port=config.port,
            dst_ipaddr=config.remote,
            dst_port=config.port,
            transport="loopback" if self.loopback else config.transport,
            enabled=self.enabled,
            connected=self.connected,
            dynconnected=False,
            mtu=self.mtu,
            proto_overhead=proto_overhead,
            latency=self.latency,
            pong_last=self.pong_last,
            priority=self.priority,
            stats=self.stats.as_dict(),
        )
