"""From corosync.conf to a configured knet layer, as ``totemknet_initialize`` and
``totemknet_member_add`` do it (ref knet/README.md 2-4; ``exec/totemknet.c``).

* the handle's host id is this node's nodeid; every nodelist node is a knet host with
  ``link_mode``'s policy; each configured link (``ringX_addr``) of every *other* node is a
  knet link from this node's ``ringX_addr`` to that node's, on the link's port, with the
  effective ping timers, pong count and priority (:mod:`totem.config.knetlinks`); this
  node gets one loopback link (link 0);
* crypto on: the key goes unmodified into configuration slot 1, which is then used, and
  clear packets are refused (``KNET_CRYPTO_RX_DISALLOW_CLEAR_TRAFFIC``);
* ``block_unlisted_ips`` turns the source-address checks on; ``knet_pmtud_interval``,
  ``knet_mtu`` and the compression keys go to the handle as they are.
"""

from __future__ import annotations

from collections.abc import Callable

from totem.config.knetlinks import KnetLinkConfig, knet_links, ping_timers
from totem.config.model import CorosyncConfig, NodeConfig
from totem.knet.compress import CompressConfig
from totem.knet.crypto import CryptoConfig, SaltSource
from totem.knet.handle import ClockNs, KnetHandle
from totem.knet.layer import KnetLayer
from totem.knet.link import LinkConfig

__all__ = [
    "KernelMtu",
    "build_knet",
    "compress_config",
    "corosync_link_config",
    "crypto_config",
    "link_config",
]

KernelMtu = Callable[[str, str], int]
"""``kernel_mtu(local_address, remote_address)``: the local kernel's MTU on that path
(0 when unknown); the daemon asks the kernel, the simulator knows its links."""


def _ipv6(address: str) -> bool:
    return ":" in address


def link_config(link: KnetLinkConfig, local: str, remote: str, kernel_mtu: int = 0) -> LinkConfig:
    """The knet link for ``link`` between ``local`` and ``remote``."""
    return LinkConfig(
        link_id=link.linknumber,
        local=local,
        remote=remote,
        port=link.port,
        priority=link.priority,
        ping_interval=link.ping_interval,
        ping_timeout=link.ping_timeout,
        ping_precision=link.ping_precision,
        pong_count=link.pong_count,
        transport=link.transport,
        ipv6=_ipv6(remote),
        kernel_mtu=kernel_mtu,
    )


def corosync_link_config(
    link_id: int, local: str, remote: str, port: int, *, token: int, kernel_mtu: int = 0
) -> LinkConfig:
    """A link with corosync's defaults for an effective ``token`` timeout."""
    interval, timeout, pong_count = ping_timers(token)
    return link_config(
        KnetLinkConfig(link_id, port, 1, interval, timeout, 2048, pong_count),
        local,
        remote,
        kernel_mtu,
    )


def crypto_config(config: CorosyncConfig, key: bytes | None) -> CryptoConfig | None:
    """The knet crypto of ``config`` (None when crypto is off)."""
    totem = config.totem
    if not totem.crypto_enabled:
        return None
    if key is None:
        raise ValueError("crypto is on but no key was read")
    return CryptoConfig(totem.crypto_cipher, totem.crypto_hash, key, totem.crypto_model)


def compress_config(config: CorosyncConfig) -> CompressConfig:
    totem = config.totem
    return CompressConfig(
        totem.knet_compression_model,
        totem.knet_compression_threshold,
        totem.knet_compression_level,
    )


def build_knet(
    config: CorosyncConfig,
    local_node: NodeConfig,
    key: bytes | None,
    *,
    salt_source: SaltSource,
    kernel_mtu: KernelMtu | None = None,
    clock_ns: ClockNs | None = None,
) -> KnetLayer:
    """The knet layer of ``local_node``; ValueError for a crypto setting knet refuses."""
    totem = config.totem
    handle = KnetHandle(
        local_node.nodeid,
        salt_source=salt_source,
        pmtud_interval=totem.knet_pmtud_interval,
        manual_mtu=totem.knet_mtu,
        access_lists=totem.block_unlisted_ips,
        clock_ns=clock_ns,
    )
    layer = KnetLayer(handle)
    crypto = crypto_config(config, key)
    if crypto is not None:
        handle.set_crypto(1, crypto)
        handle.use_crypto(1)
        handle.set_rx_clear(False)
    handle.set_compress(compress_config(config))
    links = knet_links(config)
    for node in config.nodes:
        add_node(handle, config, local_node, node, links, kernel_mtu)
    handle.events()  # the configuration's own chatter ("best link", "has no active links")
    return layer


def add_node(
    handle: KnetHandle,
    config: CorosyncConfig,
    local_node: NodeConfig,
    node: NodeConfig,
    links: tuple[KnetLinkConfig, ...],
    kernel_mtu: KernelMtu | None = None,
) -> None:
    """``totemknet_member_add`` for every link of ``node``."""
    handle.add_host(node.nodeid, config.totem.link_mode)
    if node.nodeid == local_node.nodeid:
        own = local_node.ring0_addr
        handle.set_link(node.nodeid, LinkConfig(0, own, own, links[0].port if links else 5405))
        return
    for link in links:
        local = local_node.address(link.linknumber)
        remote = node.address(link.linknumber)
        if local is None or remote is None:
            continue
        mtu = kernel_mtu(local, remote) if kernel_mtu is not None else 0
        handle.set_link(node.nodeid, link_config(link, local, remote, mtu))
