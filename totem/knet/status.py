"""Status of a knet handle for people and programs: ``struct knet_handle_stats`` as far as a
sans-IO core counts it, and the JSON-able snapshot ``pycorosync-cfgtool`` and cmap's
``stats.knet.*`` read (ref knet/README.md 2; corosync ``exec/stats.c``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from totem.knet.handle import KnetHandle

__all__ = ["HandleStats", "handle_status"]


@dataclass(slots=True)
class HandleStats:
    """``struct knet_handle_stats`` as far as a sans-IO core can count it (no timings)."""

    tx_uncompressed_packets: int = 0
    tx_compressed_packets: int = 0
    tx_compressed_original_bytes: int = 0
    tx_compressed_size_bytes: int = 0
    rx_compressed_packets: int = 0
    rx_compressed_original_bytes: int = 0
    rx_compressed_size_bytes: int = 0
    tx_crypt_packets: int = 0
    tx_crypt_byte_overhead: int = 0
    rx_crypt_packets: int = 0
    tx_crypt_ping_packets: int = 0
    tx_crypt_pong_packets: int = 0
    tx_crypt_pmtu_packets: int = 0
    tx_crypt_pmtu_reply_packets: int = 0
    tx_messages: int = 0
    """Application messages handed to :meth:`KnetHandle.send`."""
    tx_no_destination: int = 0
    """Of those, how many found no reachable host (EHOSTDOWN)."""
    rx_messages: int = 0
    """Application messages delivered."""
    local_messages: int = 0
    """Messages to ourselves (loopback)."""

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


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
