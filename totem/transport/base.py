"""What the UDP and UDPU transports share: the socket endpoint and counters (ref 2).

A transport maps node ids to addresses, sends the core's datagrams (a
multicast to every nodelist member including ourselves; a unicast to one
node) and hands every received datagram to a callback. It filters nothing but
addresses: the protocol core drops and counts malformed datagrams itself.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol, cast

__all__ = [
    "UDP_RECEIVE_FRAME_SIZE_MAX",
    "BindError",
    "DatagramEndpoint",
    "Transport",
    "TransportCounters",
    "bind_socket",
    "family_of",
    "is_mcast",
    "new_event_loop",
    "send_unicast",
]

UDP_RECEIVE_FRAME_SIZE_MAX = 136192
"""Datagrams larger than this are dropped as truncated (``totem.h``)."""

Receiver = Callable[[bytes, tuple[str, int]], None]


class BindError(OSError):
    """A transport socket could not be bound: the address, the port and the kernel's reason.

    ``errno``/``strerror`` are those of ``bind(2)`` (asyncio's own endpoint creation loses
    them, which is why the transports bind their sockets themselves).
    """

    def __init__(self, address: str, port: int, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.address = address
        self.port = port

    def __str__(self) -> str:
        return f"cannot bind {self.address} port {self.port}: {self.strerror}"


def bind_socket(
    address: str, port: int, family: int, *, reuse_address: bool = False
) -> socket.socket:
    """A UDP socket bound to ``address:port``; :class:`BindError` (socket closed) otherwise."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
    except OSError as err:
        sock.close()
        raise BindError(address, port, err) from None
    return sock


@dataclass(slots=True)
class TransportCounters:
    """Per-transport datagram counters (exposed by ``pycorosync-cfgtool``)."""

    rx: int = 0
    tx: int = 0
    rx_unlisted: int = 0
    """Dropped: the source address is not in the nodelist (``block_unlisted_ips``)."""
    rx_oversized: int = 0
    rx_own_loop: int = 0
    tx_errors: int = 0
    rx_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Transport(Protocol):
    """The contract a node driver relies on."""

    counters: TransportCounters
    local_address: str

    async def open(self) -> None: ...

    def send(self, dest: int | None, data: bytes) -> None: ...

    def close(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


class DatagramEndpoint(asyncio.DatagramProtocol):
    """An asyncio datagram protocol that forwards to a receiver callback."""

    def __init__(self, receiver: Receiver, counters: TransportCounters) -> None:
        self._receiver = receiver
        self._counters = counters
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport implements DatagramTransport without subclassing it
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if len(data) > UDP_RECEIVE_FRAME_SIZE_MAX:
            self._counters.rx_oversized += 1
            return
        # asyncio and uvloop give (host str, port int, ...): no conversion per datagram
        self._receiver(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a node that is down: expected, counted, ignored.
        self._counters.rx_errors += 1

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is None:
            self._counters.tx_errors += 1
            return
        try:
            self.transport.sendto(data, addr)
            self._counters.tx += 1
        except OSError:
            self._counters.tx_errors += 1


def is_mcast(data: bytes) -> bool:
    """A Totem MCAST (type byte 1 at offset 3): its sender has stored it already (ref 6.1
    step 8), so a node never needs its own copy back; membership messages it does need."""
    return data[3:4] == b"\x01"


def send_unicast(
    endpoint: DatagramEndpoint,
    members: Mapping[int, str],
    dest: int,
    data: bytes,
    port: int,
    counters: TransportCounters,
) -> None:
    """Send ``data`` to node ``dest`` of the nodelist; a node not listed is an error
    (corosync cannot target a node missing from its nodelist either, ref 2.1)."""
    address = members.get(dest)
    if address is None:
        counters.tx_errors += 1
        return
    endpoint.sendto(data, (address, port))


def family_of(address: str) -> socket.AddressFamily:
    """AF_INET or AF_INET6 for a literal address."""
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop event loop when uvloop is importable (it is a dependency), else asyncio's.

    Stock asyncio reads one datagram per loop turn and caps near 45k datagrams/s;
    uvloop sustains over 400k/s (ref python-udp-ceiling.md).
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a hard dependency
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop
