"""The knet driver: one UDP socket per local link, as libknet's UDP transport
(ref knet/README.md 1.5, 2; ``transport_udp.c``, ``transport_common.c``).

knet binds one socket per local ``ringX_addr``:port (5405 + link by default), shared by
every peer of that link, and sends each packet from it to the peer's address on the same
port. The socket gets ``IP_MTU_DISCOVER = IP_PMTUDISC_PROBE`` (IPv6 likewise): the
kernel sets DF and never fragments, so an oversized PMTUd probe is lost on the path
(a black hole the core bisects around) or refused locally. 8 MiB buffers
(``KNET_RING_RCVBUFF``).

Filtering and decoding belong to the core (:class:`totem.knet.handle.KnetHandle`): the
socket hands every datagram up with its link and source address. Sending maps the core's
``Datagram(host, data, link)`` to that host's address on the link.

:func:`kernel_mtu` asks the kernel for its MTU towards a peer (``IP_MTU`` of a connected
socket): the size at which the core's probes would meet EMSGSIZE.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Callable, Mapping
from typing import Any

from totem.transport.base import DatagramEndpoint, TransportCounters, bind_socket, family_of

__all__ = ["KnetLinkSocket", "kernel_mtu"]

KNET_RING_RCVBUFF = 8 * 1024 * 1024
_IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)
_IP_PMTUDISC_PROBE = getattr(socket, "IP_PMTUDISC_PROBE", 3)
_IP_MTU = getattr(socket, "IP_MTU", 14)
_IPV6_MTU_DISCOVER = getattr(socket, "IPV6_MTU_DISCOVER", 23)
_IPV6_PMTUDISC_PROBE = getattr(socket, "IPV6_PMTUDISC_PROBE", 3)
_IPV6_MTU = getattr(socket, "IPV6_MTU", 24)

Deliver = Callable[[bytes, int, str], None]
"""``deliver(data, link, source_address)``."""


def _canonical(address: str) -> str:
    return str(ipaddress.ip_address(address))


def kernel_mtu(local: str, remote: str, port: int = 5405) -> int:
    """The kernel's MTU from ``local`` towards ``remote`` (0 when it cannot tell)."""
    family = family_of(remote)
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((local, 0))
            probe.connect((remote, port))
            if family == socket.AF_INET6:
                mtu: int = probe.getsockopt(socket.IPPROTO_IPV6, _IPV6_MTU)
            else:
                mtu = probe.getsockopt(socket.IPPROTO_IP, _IP_MTU)
            return mtu
    except OSError:
        return 0


class KnetLinkSocket:
    """The socket of one local link (the Transport contract of the daemon)."""

    def __init__(
        self,
        link: int,
        local_address: str,
        port: int,
        members: Mapping[int, str],
        deliver: Deliver,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.link = link
        self.local_address = _canonical(local_address)
        self.port = port
        self.members = {node: _canonical(addr) for node, addr in members.items()}
        self._deliver = deliver
        self.counters = TransportCounters()
        self._loop = loop
        self._endpoint: DatagramEndpoint | None = None
        self._sock: socket.socket | None = None
        self._destinations = {node: (addr, port) for node, addr in self.members.items()}

    def bind(self) -> None:
        """Bind ``ringX_addr``:port now, with knet's socket options (:class:`BindError`
        says why it cannot); :meth:`open` then serves the bound socket. A configuration
        reload binds the sockets of the links it adds before it changes anything."""
        if self._sock is not None:
            return
        sock = bind_socket(self.local_address, self.port, family_of(self.local_address))
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, KNET_RING_RCVBUFF)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, KNET_RING_RCVBUFF)
        with contextlib.suppress(OSError):
            if sock.family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_MTU_DISCOVER, _IPV6_PMTUDISC_PROBE)
            else:
                sock.setsockopt(socket.IPPROTO_IP, _IP_MTU_DISCOVER, _IP_PMTUDISC_PROBE)
        self._sock = sock

    async def open(self) -> None:
        """Serve the link's socket (bound first if :meth:`bind` was not called)."""
        loop = self._loop or asyncio.get_running_loop()
        self.bind()
        sock, self._sock = self._sock, None
        _transport, endpoint = await loop.create_datagram_endpoint(
            lambda: DatagramEndpoint(self._received, self.counters), sock=sock
        )
        self._endpoint = endpoint

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.counters.rx += 1
        source = addr[0]
        if source.startswith("::ffff:"):
            source = source[7:]
        self._deliver(data, self.link, source)

    def send(self, dest: int | None, data: bytes) -> None:
        """A knet packet to host ``dest`` (knet packets are always unicast)."""
        endpoint = self._endpoint
        destination = self._destinations.get(dest) if dest is not None else None
        if endpoint is None or destination is None:
            self.counters.tx_errors += 1
            return
        endpoint.sendto(data, destination)

    def set_members(self, members: Mapping[int, str]) -> None:
        """A reloaded nodelist."""
        self.members = {node: _canonical(addr) for node, addr in members.items()}
        self._destinations = {node: (addr, self.port) for node, addr in self.members.items()}

    def close(self) -> None:
        if self._endpoint is not None and self._endpoint.transport is not None:
            self._endpoint.transport.close()
        self._endpoint = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def status(self) -> dict[str, Any]:
        return {
            "transport": "knet",
            "link": self.link,
            "address": self.local_address,
            "port": self.port,
            "counters": self.counters.as_dict(),
        }
