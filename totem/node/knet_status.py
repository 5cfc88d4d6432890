"""The knet layer as corosync's client libraries see it (ref knet/README.md 2; corosync
``exec/totemknet.c:totemknet_nodestatus_get``, ``exec/stats.c``).

* :func:`knet_node_status`: ``corosync_cfg_node_status_get`` -- a node is *reachable* when
  knet has a usable link to it; each configured link reports ``enabled``, ``connected``,
  its data MTU and its two addresses (what ``corosync-cfgtool -s``/``-n`` print);
* :func:`knet_cmap_stats`: the ``stats.knet.*`` keys of ``corosync-cmapctl -m stats``:
  ``stats.knet.node<N>.link<L>.<field>`` for every link of every host (this node's loopback
  link included, as corosync registers it) with corosync's value types, and
  ``stats.knet.handle.<field>`` (``knet_handle_get_stats``). The timing fields
  (``*_time_min/max/ave``, nanoseconds as libknet's) come from the daemon's monotonic
  clock, which it hands the knet handle (``totem.knet.status.HandleStats``).
"""

from __future__ import annotations

from collections.abc import Iterator

from totem.knet.constants import MAX_LINK
from totem.knet.layer import KnetLayer
from totem.services.cfg_lib import LinkStatus, NodeStatus
from totem.services.cmap.stats import StatsEntry
from totem.services.cmap.store import ValueType

__all__ = ["knet_cmap_stats", "knet_node_status"]

_U8, _U32, _U64 = ValueType.UINT8, ValueType.UINT32, ValueType.UINT64
_LINK_STATS = (
    ("tx_data_packets", _U64),
    ("rx_data_packets", _U64),
    ("tx_data_bytes", _U64),
    ("rx_data_bytes", _U64),
    ("tx_ping_packets", _U64),
    ("rx_ping_packets", _U64),
    ("tx_ping_bytes", _U64),
    ("rx_ping_bytes", _U64),
    ("tx_pong_packets", _U64),
    ("rx_pong_packets", _U64),
    ("tx_pong_bytes", _U64),
    ("rx_pong_bytes", _U64),
    ("tx_pmtu_packets", _U64),
    ("rx_pmtu_packets", _U64),
    ("tx_pmtu_bytes", _U64),
    ("rx_pmtu_bytes", _U64),
    ("tx_total_packets", _U64),
    ("rx_total_packets", _U64),
    ("tx_total_bytes", _U64),
    ("rx_total_bytes", _U64),
    ("tx_total_errors", _U64),
    ("tx_pmtu_errors", _U32),
    ("tx_pmtu_retries", _U32),
    ("tx_ping_errors", _U32),
    ("tx_ping_retries", _U32),
    ("tx_pong_errors", _U32),
    ("tx_pong_retries", _U32),
    ("tx_data_errors", _U32),
    ("tx_data_retries", _U32),
    ("latency_min", _U32),
    ("latency_max", _U32),
    ("latency_ave", _U32),
    ("latency_samples", _U32),
    ("down_count", _U32),
    ("up_count", _U32),
)
"""``cs_knet_stats`` of ``exec/stats.c``, in its order (``rx_total_retries`` below)."""
_HANDLE_STATS = (
    "tx_uncompressed_packets",
    "tx_compressed_packets",
    "tx_compressed_original_bytes",
    "tx_compressed_size_bytes",
    "tx_compress_time_min",
    "tx_compress_time_max",
    "tx_compress_time_ave",
    "rx_compressed_packets",
    "rx_compressed_original_bytes",
    "rx_compressed_size_bytes",
    "rx_compress_time_min",
    "rx_compress_time_max",
    "rx_compress_time_ave",
    "tx_crypt_time_min",
    "tx_crypt_time_max",
    "tx_crypt_time_ave",
    "tx_crypt_byte_overhead",
    "tx_crypt_packets",
    "rx_crypt_time_min",
    "rx_crypt_time_max",
    "rx_crypt_time_ave",
    "rx_crypt_packets",
)


def knet_node_status(layer: KnetLayer, nodeid: int) -> NodeStatus:
    """``corosync_cfg_node_status_v1`` of ``nodeid`` from knet's host and link state."""
    handle = layer.handle
    links = []
    for link_id in range(MAX_LINK):
        status = layer.link_status(nodeid, link_id) if 0 <= nodeid <= 0xFFFF else None
        if status is None:
            links.append(LinkStatus())
            continue
        links.append(
            LinkStatus(
                enabled=status.enabled,
                connected=status.connected,
                dynconnected=status.dynconnected,
                mtu=status.mtu,
                src_ipaddr=status.src_ipaddr,
                dst_ipaddr=status.dst_ipaddr,
            )
        )
    while links and links[-1] == LinkStatus():
        links.pop()
    return NodeStatus(nodeid, reachable=handle.reachable(nodeid), links=tuple(links))


def knet_cmap_stats(layer: KnetLayer) -> Iterator[StatsEntry]:
    """Every ``stats.knet.*`` key with its value now."""
    handle = layer.handle
    for host_id in handle.host_ids():
        for link_id in handle.link_ids(host_id):
            status = layer.link_status(host_id, link_id)
            if status is None:
                continue
            prefix = f"stats.knet.node{host_id}.link{link_id}."
            yield prefix + "enabled", _U8, int(status.enabled)
            yield prefix + "connected", _U8, int(status.connected)
            yield prefix + "mtu", _U32, status.mtu
            for name, vtype in _LINK_STATS:
                yield prefix + name, vtype, int(status.stats.get(name, 0))
            yield prefix + "rx_total_retries", _U64, 0
    counters = layer.handle_stats()
    for name in _HANDLE_STATS:
        yield f"stats.knet.handle.{name}", _U64, int(counters.get(name, 0))
