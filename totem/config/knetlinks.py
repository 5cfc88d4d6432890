"""Effective knet link parameters of a configuration (ref knet/README.md 2;
``totemconfig.c:calc_knet_ping_timers``, ``configure_link_params``).

Per configured link (``ringX_addr`` of the nodelist, plus its ``interface`` section if
any), corosync 3.1.7 hands knet:

* the UDP port: ``mcastport``, else 5405 + link (5405 + 2 x link after a ``broadcast``);
* ``knet_link_priority`` (default 1), ``knet_ping_precision`` (2048), ``knet_pong_count``
  (2), ``knet_transport`` (udp);
* ``knet_ping_timeout``: as set, else ``token / knet_pong_count`` and
  ``knet_ping_interval``: as set, else ``token / (knet_pong_count * 2)``, where ``token``
  is the *effective* token timeout (grown by ``token_coefficient`` per node above 2).
  3 nodes with default timers: 1825 ms and 912 ms (corosync's
  ``runtime.config.totem.interface.0.knet_ping_*``); 2 nodes: 1500 and 750.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from totem.config.addresses import effective_mcastport

if TYPE_CHECKING:
    from totem.config.model import CorosyncConfig

__all__ = [
    "KNET_PING_PRECISION",
    "KNET_PONG_COUNT",
    "KnetLinkConfig",
    "knet_links",
    "ping_timers",
]

KNET_PONG_COUNT = 2
KNET_PING_PRECISION = 2048


@dataclass(frozen=True, slots=True)
class KnetLinkConfig:
    """One link as corosync configures it in knet."""

    linknumber: int
    port: int
    priority: int
    ping_interval: int
    """ms."""
    ping_timeout: int
    """ms."""
    ping_precision: int
    pong_count: int
    transport: str = "udp"


def ping_timers(
    token: int, pong_count: int = 0, interval: int = 0, timeout: int = 0
) -> tuple[int, int, int]:
    """``(interval, timeout, pong_count)`` as ``calc_knet_ping_timers`` derives them from the
    effective ``token`` (0 means "not set" for each)."""
    pong_count = pong_count or KNET_PONG_COUNT
    timeout = timeout or token // pong_count
    interval = interval or token // (pong_count * 2)
    return interval, timeout, pong_count


def knet_links(config: CorosyncConfig) -> tuple[KnetLinkConfig, ...]:
    """Every link of ``config`` with its effective knet parameters."""
    totem = config.totem
    out = []
    for link in config.links:
        iface = totem.interface(link)
        interval, timeout, pong_count = ping_timers(
            config.timers.token,
            (iface.knet_pong_count or 0) if iface is not None else 0,
            (iface.knet_ping_interval or 0) if iface is not None else 0,
            (iface.knet_ping_timeout or 0) if iface is not None else 0,
        )
        priority = iface.knet_link_priority if iface is not None else None
        precision = iface.knet_ping_precision if iface is not None else None
        out.append(
            KnetLinkConfig(
                linknumber=link,
                port=effective_mcastport(totem, link),
                priority=1 if priority is None else priority,
                ping_interval=interval,
                ping_timeout=timeout,
                ping_precision=precision or KNET_PING_PRECISION,
                pong_count=pong_count,
                transport=(iface.knet_transport if iface is not None else None) or "udp",
            )
        )
    return tuple(out)
