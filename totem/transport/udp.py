"""The ``udp`` transport: IP multicast (ref totem-wire.md 2.2).

Three sockets, as corosync's ``totemudp``:

* ``mcast_recv`` bound to ``mcastaddr:mcastport`` and joined to the group;
* ``token`` bound to ``<ring0_addr>:mcastport`` (unicast tokens arrive here);
* ``mcast_send`` bound to ``<ring0_addr>:mcastport-1``: every send leaves from
  it, multicasts to ``mcastaddr:mcastport`` and tokens to ``<peer>:mcastport``.

corosync turns ``IP_MULTICAST_LOOP`` off and hands its own multicasts to itself
over a socketpair. We keep the loop on, so that several nodes on one host (all
on ``lo``) hear each other, drop the kernel's copy of our own datagrams (their
source is our ``mcast_send`` address) and deliver our own multicasts in-process.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
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

__all__ = ["UdpTransport"]


def _membership_request(group: str, local: str) -> bytes:
    """``struct ip_mreqn`` for joining ``group`` on the interface that owns ``local``."""
    local_ip = ipaddress.ip_address(local)
    ifindex = socket.if_nametoindex("lo") if local_ip.is_loopback else 0
    interface = "0.0.0.0" if local_ip.is_loopback else local
    return struct.pack("=4s4si", socket.inet_aton(group), socket.inet_aton(interface), ifindex)


class UdpTransport:
    """UDP multicast for ``transport: udp`` (IPv4)."""

    def __init__(
        self,
        local_address: str,
        port: int,
        mcast_address: str,
        members: Mapping[int, str],
        deliver: Callable[[bytes], None],
        *,
        ttl: int = 1,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if family_of(local_address) != socket.AF_INET:
            raise ValueError("transport udp supports IPv4 ring addresses only")
        self.local_address = local_address
        self.port = port
        self.mcast_address = mcast_address
        self.members = dict(members)
        self.ttl = ttl
        self._deliver = deliver
        self._loop = loop
        self.counters = TransportCounters()
        self._send: DatagramEndpoint | None = None
        self._transports: list[asyncio.BaseTransport] = []

    async def open(self) -> None:
        """Create and bind the three sockets (:class:`~totem.transport.base.BindError` says
        which one cannot be bound, and why; none stays open then)."""
        loop = self._loop or asyncio.get_running_loop()
        local = self.local_address
        local_ip = ipaddress.ip_address(local)
        inet = socket.AF_INET
        opened: list[socket.socket] = []
        try:
            recv = bind_socket(self.mcast_address, self.port, inet, reuse_address=True)
            opened.append(recv)
            recv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            recv.setsockopt(
                socket.IPPROTO_IP,
                socket.IP_ADD_MEMBERSHIP,
                _membership_request(self.mcast_address, local),
            )
            send = bind_socket(local, self.port - 1, inet, reuse_address=True)
            opened.append(send)
            interface = "127.0.0.1" if local_ip.is_loopback else local
            send.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
            send.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            send.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, self.ttl)
            token = bind_socket(local, self.port, inet, reuse_address=True)
            opened.append(token)
            token.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        except OSError:
            for sock in opened:
                sock.close()
            raise

        mcast_transport, _ = await loop.create_datagram_endpoint(
            lambda: DatagramEndpoint(self._mcast_received, self.counters), sock=recv
        )
        token_transport, _ = await loop.create_datagram_endpoint(
            lambda: DatagramEndpoint(self._token_received, self.counters), sock=token
        )
        self._transports += [mcast_transport, token_transport]
        transport, endpoint = await loop.create_datagram_endpoint(
            lambda: DatagramEndpoint(self._token_received, self.counters), sock=send
        )
        self._transports.append(transport)
        self._send = endpoint
        self._own_source = (local, self.port - 1)

    def _mcast_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.counters.rx += 1
        own = self._own_source  # (IPv6 addresses come as 4-tuples: compare host and port)
        if addr[1] == own[1] and addr[0] == own[0]:
            self.counters.rx_own_loop += 1
            return
        self._deliver(data)

    def _token_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.counters.rx += 1
        self._deliver(data)

    def send(self, dest: int | None, data: bytes) -> None:
        """Multicast to the group (and to ourselves in-process), or unicast a token."""
        endpoint = self._send
        if endpoint is None:
            self.counters.tx_errors += 1
            return
        if dest is None:
            endpoint.sendto(data, (self.mcast_address, self.port))
            if not is_mcast(data):  # we never need our own MCAST back
                loop = self._loop or asyncio.get_running_loop()
                loop.call_soon(self._deliver, data)
            return
        send_unicast(endpoint, self.members, dest, data, self.port, self.counters)

    def set_members(self, members: Mapping[int, str]) -> None:
        """Apply a changed nodelist."""
        self.members = dict(members)

    def close(self) -> None:
        for transport in self._transports:
            transport.close()
        self._transports = []
        self._send = None

    def status(self) -> dict[str, Any]:
        return {
            "transport": "udp",
            "address": self.local_address,
            "port": self.port,
            "mcastaddr": self.mcast_address,
            "counters": self.counters.as_dict(),
        }
