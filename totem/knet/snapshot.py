"""The JSON-able snapshot of a knet handle that ``pycorosync-cfgtool`` and cmap's
``stats.knet.*`` read (ref knet/README.md 2; corosync ``exec/stats.c``): its counters
(:class:`~totem.knet.status.HandleStats`), crypto, compression, PMTUd and every link's
status. No key material."""

from __future__ import annotations

from typing import Any

from totem.knet.handle import KnetHandle

__all__ = ["handle_status"]


def handle_status(handle: KnetHandle) -> dict[str, Any]:
    """A JSON-able snapshot of ``handle`` (no key material)."""
    crypto = handle.crypto
    sealer = crypto.sealer
    return {
        "host_id": handle.host_id,
        "data_mtu": handle.data_mtu,
        "tx_seq": handle.tx_seq,
        "crypto": (
            {
                "in_use": crypto.in_use,
                "cipher": sealer.config.cipher,
                "hash": sealer.config.hash,
                "model": sealer.config.model,
            }
            if sealer is not None
            else {"in_use": 0, "cipher": "none", "hash": "none"}
        ),
        "crypto_slots": sorted(crypto.slots),
        "rx_clear_traffic": crypto.rx_clear,
        "compress": {
            "model": handle.compress.model,
            "threshold": handle.compress.effective_threshold,
            "level": handle.compress.level,
        },
        "pmtud": {
            "interval": handle.pmtud.interval,
            "manual_mtu": handle.pmtud.manual_mtu,
            "running": handle.pmtud.running,
        },
        "stats": handle.stats.as_dict(),
        "dropped": dict(handle.drops),
        "hosts": [
            {
                "host_id": host.host_id,
                "reachable": host.reachable,
                "policy": host.policy,
                "active_links": list(host.active_links),
                "links": [
                    status.as_dict()
                    for link_id in sorted(host.links)
                    if (status := handle.link_status(host.host_id, link_id)) is not None
                ],
            }
            for host in sorted(handle.hosts.values(), key=lambda h: h.host_id)
        ],
    }
