"""From a parsed corosync.conf to the running parts: SRP settings, stack, transport.

Shared by the daemon and the simulator, so both run a node exactly as
configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from totem.config import CorosyncConfig, NodeConfig, effective_mcastaddr, effective_mcastport
from totem.node.stack import NodeStack
from totem.service import Service
from totem.srp.settings import SrpSettings
from totem.transport.udp import UdpTransport
from totem.transport.udpu import UdpuTransport

__all__ = ["SUPPORTED_TRANSPORTS", "build_stack", "make_transport", "settings_from_config"]

SUPPORTED_TRANSPORTS = ("udpu", "udp")


def settings_from_config(config: CorosyncConfig) -> SrpSettings:
    """The SRP tunables of ``config`` (effective timers, ref 6.5)."""
    timers = config.timers
    return SrpSettings(
        token=timers.token,
        token_retransmit=timers.token_retransmit,
        hold=timers.hold,
        join=timers.join,
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


def build_stack(
    config: CorosyncConfig,
    local_node: NodeConfig,
    services: Sequence[Service],
    stored_ring_seq: int = 0,
) -> NodeStack:
    """The node stack for ``local_node`` of ``config``."""
    return NodeStack(
        local_node.nodeid,
        settings_from_config(config),
        services,
        stored_ring_seq=stored_ring_seq,
        nodelist=[node.nodeid for node in config.nodes],
    )


def make_transport(
    config: CorosyncConfig,
    local_node: NodeConfig,
    deliver: Callable[[bytes], None],
    link: int = 0,
    loop: asyncio.AbstractEventLoop | None = None,
) -> UdpuTransport | UdpTransport:
    """The transport of ``link`` (ring number) for ``local_node``."""
    transport = config.totem.transport
    if transport not in SUPPORTED_TRANSPORTS:
        raise ValueError(
            f"{config.path}: transport {transport!r} is not supported by pycorosync "
            "(use udpu or udp; corosync 3 defaults to knet when transport is not set)"
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
