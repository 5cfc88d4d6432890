"""From a parsed corosync.conf to the running parts: SRP settings, stack, transports.

Shared by the daemon and the simulator, so both run a node exactly as configured.

* ``transport: knet``, or no ``transport`` (corosync 3's default): a
  :class:`~totem.knet.layer.KnetLayer` in front of SRP (links, heartbeat, PMTUd,
  fragmentation, knet crypto with the key of ``keyfile``/``key``/``/etc/corosync/authkey``,
  compression) and one :class:`~totem.transport.knet.KnetLinkSocket` per link;
* ``udpu``/``udp``: one transport per ring (``rrp_mode: passive`` has two) and a
  :class:`~totem.net.layer.NetLayer` with the ``rrp_*`` tunables and our datagram crypto.

The knet modules and the multicast transport are imported by the functions that build
them: a node loads the code of the transport it runs and no other (a ``udpu`` node never
imports ``totem.knet``), which keeps its start-up time and resident memory down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

from totem.config import (
    ConfigError,
    CorosyncConfig,
    NodeConfig,
    check_authkey,
    effective_mcastaddr,
    effective_mcastport,
    read_authkey,
)
from totem.linklayer import LinkLayer
from totem.net.crypto import DatagramCrypto
from totem.net.layer import NetLayer
from totem.net.rrp import RedundantRing, RrpSettings
from totem.node.stack import NodeStack
from totem.service import Service
from totem.srp.settings import SrpSettings
from totem.transport.udpu import UdpuTransport

if TYPE_CHECKING:
    from totem.knet.crypto import SaltSource
    from totem.knet.handle import ClockNs
    from totem.knet.reload import KnetReload
    from totem.knet.setup import KernelMtu
    from totem.transport.knet import KnetLinkSocket
    from totem.transport.udp import UdpTransport

Transport: TypeAlias = "UdpuTransport | UdpTransport | KnetLinkSocket"
Deliver = Callable[[bytes, int, str | None], None]
"""``deliver(data, link, source_address)``."""

__all__ = [
    "SUPPORTED_TRANSPORTS",
    "Transport",
    "build_net",
    "build_rrp",
    "build_stack",
    "check_node",
    "check_transport",
    "kernel_mtu_lookup",
    "knet_members",
    "knet_reload_slot",
    "make_knet_socket",
    "make_transport",
    "make_transports",
    "rrp_settings_from_config",
    "settings_from_config",
]

SUPPORTED_TRANSPORTS = ("knet", "udpu", "udp")


def check_transport(config: CorosyncConfig) -> None:
    """Refuse a transport this node cannot run, at the line that chose it (ConfigError).

    pycorosync runs every transport corosync 3.1.7 has: knet (also when ``totem.transport``
    is not set, as corosync 3 defaults to it), udpu and udp. The configuration check
    (:mod:`totem.config.check`) and the transports below both call this, so the checker
    refuses exactly what the daemon refuses.
    """
    transport = config.totem.transport
    if transport in SUPPORTED_TRANSPORTS:
        return
    line = config.lines.get("totem.transport") or config.totem.line or None
    raise ConfigError(
        config.path,
        line,
        f"transport {transport!r} is not supported by pycorosync (use knet, udpu or udp)",
    )


def check_node(config: CorosyncConfig, local_node: NodeConfig) -> None:
    """What the node refuses before it opens a socket: the transport, the key
    (:func:`~totem.config.authkey.check_authkey`) and the crypto settings (:func:`build_net`
    builds the link layer with them). ConfigError names ``file:line`` or the key file."""
    check_transport(config)
    check_authkey(config)
    build_net(config, local_node, salt_source=bytes, epoch=0)  # a check: no randomness needed


def settings_from_config(config: CorosyncConfig) -> SrpSettings:
    """The SRP tunables of ``config`` (effective timers, ref 6.5)."""
    timers = config.timers
    return SrpSettings(
        token=timers.token,
        token_retransmit=timers.token_retransmit,
        hold=timers.hold,
        join=timers.join,
        send_join=timers.send_join,
        consensus=timers.consensus,
        merge=timers.merge,
        token_warning=timers.token_warning,
        fail_recv_const=timers.fail_recv_const,
        seqno_unchanged_const=timers.seqno_unchanged_const,
        miss_count_const=timers.miss_count_const,
        window_size=timers.window_size,
        max_messages=timers.max_messages,
        cancel_token_hold_on_retransmit=config.totem.cancel_token_hold_on_retransmit,
        net_mtu=config.totem.netmtu,
    )


def rrp_settings_from_config(config: CorosyncConfig) -> RrpSettings:
    """``rrp_mode``, the ring count and the effective ``rrp_*`` timers of ``config``."""
    timers = config.timers
    return RrpSettings(
        mode=config.totem.rrp_mode,
        interface_count=len(config.links),
        problem_count_threshold=timers.rrp_problem_count_threshold,
        problem_count_mcast_threshold=timers.rrp_problem_count_mcast_threshold,
        problem_count_timeout=timers.rrp_problem_count_timeout,
        token_expired_timeout=timers.rrp_token_expired_timeout,
        autorecovery_check_timeout=timers.rrp_autorecovery_check_timeout,
    )


def build_net(
    config: CorosyncConfig,
    local_node: NodeConfig,
    *,
    salt_source: SaltSource,
    epoch: int,
    kernel_mtu: KernelMtu | None = None,
    clock_ns: ClockNs | None = None,
) -> LinkLayer:
    """The link layer of ``local_node``: knet's, or redundant rings and crypto for
    udp/udpu; ConfigError if the key is unusable. The caller brings the randomness and
    time: ``salt_source`` gives knet's crypto salts (``os.urandom`` in the daemon),
    ``epoch`` is the udp/udpu crypto's boot epoch (:func:`~totem.net.crypto.boot_epoch` of
    the daemon's clock; a simulator derives both from its seed). ``clock_ns`` times knet's
    crypto and compression statistics (the daemon's monotonic clock; None: untimed)."""
    totem = config.totem
    if totem.transport == "knet":
        from totem.knet.setup import build_knet

        key = read_authkey(totem)
        try:
            return build_knet(
                config,
                local_node,
                key,
                salt_source=salt_source,
                kernel_mtu=kernel_mtu,
                clock_ns=clock_ns,
            )
        except ValueError as err:
            raise ConfigError(config.path, totem.line or None, str(err)) from None
    return build_rrp(config, local_node, epoch=epoch)


def build_rrp(config: CorosyncConfig, local_node: NodeConfig, *, epoch: int) -> NetLayer:
    """Redundant rings and crypto for ``local_node`` (udp/udpu), ``epoch`` its crypto's boot
    epoch."""
    links = config.links
    rings = RedundantRing(
        local_node.nodeid,
        rrp_settings_from_config(config),
        interfaces=[local_node.addresses[link] for link in links],
        nodelist_size=len(config.nodes),
    )
    totem = config.totem
    key = read_authkey(totem)
    try:
        crypto = DatagramCrypto(
            totem.crypto_cipher, totem.crypto_hash, key, node_id=local_node.nodeid, epoch=epoch
        )
    except ValueError as err:
        raise ConfigError(config.path, totem.line or None, str(err)) from None
    return NetLayer(rings, crypto)


def build_stack(
    config: CorosyncConfig,
    local_node: NodeConfig,
    services: Sequence[Service],
    stored_ring_seq: int = 0,
    *,
    net: LinkLayer,
) -> NodeStack:
    """The node stack for ``local_node`` of ``config`` over the link layer ``net``
    (:func:`build_net`)."""
    return NodeStack(
        local_node.nodeid,
        settings_from_config(config),
        services,
        stored_ring_seq=stored_ring_seq,
        nodelist=[node.nodeid for node in config.nodes],
        net=net,
    )


def make_transports(
    config: CorosyncConfig,
    local_node: NodeConfig,
    deliver: Deliver,
    loop: asyncio.AbstractEventLoop | None = None,
) -> dict[int, Transport]:
    """One transport (socket) per ring or link, by link number; ``deliver(data, link,
    source)`` gets what each receives."""
    if config.totem.transport == "knet":
        return {
            link: make_knet_socket(config, local_node, deliver, link, loop) for link in config.links
        }

    def on_link(link: int) -> Callable[[bytes], None]:
        return lambda data: deliver(data, link, None)

    return {
        link: make_transport(config, local_node, on_link(link), link, loop) for link in config.links
    }


def knet_members(config: CorosyncConfig, local_node: NodeConfig, link: int) -> dict[int, str]:
    """Every other node's address on knet ``link``."""
    members = {}
    for node in config.nodes:
        address = node.address(link)
        if node.nodeid != local_node.nodeid and address is not None:
            members[node.nodeid] = address
    return members


def make_knet_socket(
    config: CorosyncConfig,
    local_node: NodeConfig,
    deliver: Deliver,
    link: int,
    loop: asyncio.AbstractEventLoop | None = None,
) -> KnetLinkSocket:
    """The socket of knet ``link``: ``ringX_addr``:port, sending to every other node."""
    from totem.transport.knet import KnetLinkSocket

    local = local_node.address(link)
    if local is None:
        raise ConfigError(config.path, local_node.line, f"this node has no ring{link}_addr")
    return KnetLinkSocket(
        link,
        local,
        effective_mcastport(config.totem, link),
        knet_members(config, local_node, link),
        deliver,
        loop=loop,
    )


def make_transport(
    config: CorosyncConfig,
    local_node: NodeConfig,
    deliver: Callable[[bytes], None],
    link: int = 0,
    loop: asyncio.AbstractEventLoop | None = None,
) -> UdpuTransport | UdpTransport:
    """The transport of ``link`` (ring number) for ``local_node``."""
    check_transport(config)
    transport = config.totem.transport
    if transport not in ("udpu", "udp"):
        raise ValueError(
            f"{config.path}: transport {transport!r} has no single-ring transport "
            "(knet sockets come from make_knet_socket)"
        )
    local = local_node.addresses[link]
    members = {node.nodeid: node.addresses[link] for node in config.nodes}
    port = effective_mcastport(config.totem, link)
    if transport == "udpu":
        return UdpuTransport(
            local,
            port,
            members,
            deliver,
            block_unlisted_ips=config.totem.block_unlisted_ips,
            loop=loop,
        )
    from totem.transport.udp import UdpTransport

    interface = next((i for i in config.totem.interfaces if i.linknumber == link), None)
    mcast_address = effective_mcastaddr(config, link, local_node)
    if mcast_address is None:
        raise ValueError(
            f"{config.path}: transport udp needs totem.cluster_name or interface.mcastaddr"
        )
    return UdpTransport(
        local,
        port,
        mcast_address,
        members,
        deliver,
        ttl=interface.ttl if interface is not None else 1,
        loop=loop,
    )


def kernel_mtu_lookup(config: CorosyncConfig) -> KernelMtu | None:
    """The kernel's interface MTU lookup for knet's PMTUd; None for udp/udpu, whose node
    loads no knet code."""
    if config.totem.transport != "knet":
        return None
    from totem.transport.knet import kernel_mtu

    return kernel_mtu


def knet_reload_slot(net: object, config: CorosyncConfig) -> KnetReload | None:
    """knet: the crypto slot in use, for crypto changes by reload (None for udp/udpu)."""
    if config.totem.transport != "knet":
        return None
    from totem.knet.layer import KnetLayer
    from totem.knet.reload import KnetReload

    if not isinstance(net, KnetLayer):
        return None
    return KnetReload(net, enabled=config.totem.crypto_enabled)
