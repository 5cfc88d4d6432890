"""The ``udpu`` transport: UDP unicast to every nodelist member (ref totem-wire.md 2.1).

One socket bound to ``<ring0_addr>:<mcastport>`` receives everything and sends
everything. A "multicast" is one unicast copy per nodelist member, ourselves
included, whether or not the member is in the current ring (as corosync
3.1.7). With ``block_unlisted_ips`` (the default) a datagram whose source
address is not a nodelist address is dropped and counted; only the address is
compared, never the port (real nodes send multicasts from ephemeral ports).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from totem.transport.base import (
    DatagramEndpoint,
    TransportCounters,
    bind_socket,
    family_of,
    is_mcast,
    send_unicast,
)

__all__ = ["UdpuTransport"]

SO_RCVBUF_BYTES = 4 * 1024 * 1024


def _canonical(address: str) -> str:
    return str(ipaddress.ip_address(address))


class UdpuTransport:
    """UDPU over one socket."""

    def __init__(
        self,
        local_address: str,
        port: int,
        members: Mapping[int, str],
        deliver: Callable[[bytes], None],
        *,
        block_unlisted_ips: bool = True,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.local_address = _canonical(local_address)
        self.port = port
        self.members = {node: _canonical(addr) for node, addr in members.items()}
        self._listed = frozenset(self.members.values())
        self._deliver = deliver
        self.block_unlisted_ips = block_unlisted_ips
        self.counters = TransportCounters()
        self._loop = loop
        self._endpoint: DatagramEndpoint | None = None
        self._destinations = [(addr, port) for addr in self.members.values()]
        self._peers = [d for d in self._destinations if d[0] != self.local_address]

    async def open(self) -> None:
        """Bind the socket (:class:`~totem.transport.base.BindError` says why it cannot)."""
        loop = self._loop or asyncio.get_running_loop()
        bound = bind_socket(self.local_address, self.port, family_of(self.local_address))
        _transport, endpoint = await loop.create_datagram_endpoint(
            lambda: DatagramEndpoint(self._received, self.counters), sock=bound
        )
        sock = _transport.get_extra_info("socket")
        if sock is not None:
            import socket

            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SO_RCVBUF_BYTES)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SO_RCVBUF_BYTES)
            except OSError:
                pass
        self._endpoint = endpoint

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.counters.rx += 1
        source = addr[0]
        if source.startswith("::ffff:"):
            source = source[7:]
        if self.block_unlisted_ips and source not in self._listed:
            self.counters.rx_unlisted += 1
            return
        self._deliver(data)

    def send(self, dest: int | None, data: bytes) -> None:
        """Multicast (``dest is None``) to every member, or unicast to one node id."""
        endpoint = self._endpoint
        if endpoint is None:
            self.counters.tx_errors += 1
            return
        if dest is None:
            # corosync sends us our own MCAST copy and discards it on arrival: skip it.
            for destination in self._peers if is_mcast(data) else self._destinations:
                endpoint.sendto(data, destination)
            return
        send_unicast(endpoint, self.members, dest, data, self.port, self.counters)

    def set_members(self, members: Mapping[int, str]) -> None:
        """Apply a changed nodelist (``corosync-cfgtool -R``)."""
        self.members = {node: _canonical(addr) for node, addr in members.items()}
        self._listed = frozenset(self.members.values())
        self._destinations = [(addr, self.port) for addr in self.members.values()]
        self._peers = [d for d in self._destinations if d[0] != self.local_address]

    def close(self) -> None:
        if self._endpoint is not None and self._endpoint.transport is not None:
            self._endpoint.transport.close()
        self._endpoint = None

    def status(self) -> dict[str, Any]:
        return {
            "transport": "udpu",
            "address": self.local_address,
            "port": self.port,
            "counters": self.counters.as_dict(),
        }
