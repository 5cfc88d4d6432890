"""Addresses derived from corosync.conf (ref totem-wire.md sections 2.1, 2.2, 12).

Pure functions:

* :func:`cluster_id` / :func:`default_mcastaddr` -- the multicast group corosync picks for
  ``transport: udp`` when no ``mcastaddr`` is set (``totemconfig.c:get_cluster_mcast_addr``):
  ``v = (v << 1) + c`` over the *signed* bytes of ``cluster_name``, ``(v & 0xFFFF) + link`` as
  u16, then ``239.192.<id >> 8>.<id % 0xFF>`` (modulo 255, not a mask) or ``ff15::<id hex>``.
* :func:`default_mcastport` -- 3.1.7: ``5405 + link``, or ``5405 + 2 * link`` once
  ``broadcast: yes`` has been seen (corosync 2.x used 5405 for every ring unless broadcast).
* :func:`autogenerate_nodeid` -- udp/udpu only: the IPv4 ``ring0_addr`` as a big-endian u32,
  optionally without its high bit (``clear_node_high_bit: yes``).
* :func:`find_local_node` -- which nodelist entry is this process, matching host names and
  local addresses against ``name``/``ring0_addr`` like ``totemconfig.c:find_local_node``
  (with the lookups of :mod:`totem.config.resolve`: the names of local addresses, and
  nodelist names resolved to local addresses).

And one impure helper, :func:`local_interface_addresses`, reading ``/proc/net`` (with an
``ioctl`` fallback) to list this machine's addresses.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING

from totem.config.errors import ConfigError
from totem.config.parser import c_bytes
from totem.config.resolve import AddressLookup, NameLookup, UnresolvedHost

if TYPE_CHECKING:
    from totem.config.model import CorosyncConfig, NodeConfig, TotemConfig

__all__ = [
    "BROADCAST_ADDR",
    "DEFAULT_PORT",
    "LocalNodeError",
    "autogenerate_nodeid",
    "cluster_id",
    "default_mcastaddr",
    "default_mcastport",
    "effective_mcastaddr",
    "effective_mcastport",
    "find_local_node",
    "ip_literal",
    "local_interface_addresses",
]

DEFAULT_PORT = 5405
BROADCAST_ADDR = "255.255.255.255"

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class LocalNodeError(ConfigError):
    """No nodelist entry, or more than one, matches this machine."""


def ip_literal(text: str) -> IpAddress | None:
    """``text`` as an IP address if it is a numeric IPv4/IPv6 literal, else None (a host name)."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def cluster_id(cluster_name: str) -> int:
    """``generate_cluster_id``: shift-and-add over the signed bytes of the name, low 16 bits."""
    value = 0
    for byte in c_bytes(cluster_name):
        signed = byte - 256 if byte >= 0x80 else byte
        value = ((value << 1) + signed) & 0xFFFF
    return value


def default_mcastaddr(cluster_name: str, linknumber: int = 0, *, ipv6: bool = False) -> str:
    """The multicast address corosync derives from ``cluster_name`` for ``linknumber``."""
    ident = (cluster_id(cluster_name) + linknumber) & 0xFFFF
    if ipv6:
        return f"ff15::{ident:x}"
    return f"239.192.{ident >> 8}.{ident % 0xFF}"


def default_mcastport(linknumber: int, *, broadcast: bool = False) -> int:
    """Port of a link without ``mcastport`` (3.1.7 ``get_interface_params``)."""
    return DEFAULT_PORT + (2 * linknumber if broadcast else linknumber)


def autogenerate_nodeid(ring0_addr: str, *, clear_node_high_bit: bool = False) -> int:
    """The node id corosync generates from an IPv4 ring0 address; ValueError otherwise."""
    address = ipaddress.IPv4Address(ring0_addr)
    nodeid = int(address)
    if clear_node_high_bit:
        nodeid &= 0x7FFF_FFFF
    return nodeid


def _broadcast_upto(totem: TotemConfig, linknumber: int) -> bool:
    """corosync's global ``broadcast_use`` as seen while reading ``linknumber``."""
    return any(i.broadcast for i in totem.interfaces if i.linknumber <= linknumber)


def effective_mcastport(totem: TotemConfig, linknumber: int) -> int:
    """The UDP port of ``linknumber``: ``mcastport`` if set, else the default."""
    iface = totem.interface(linknumber)
    if iface is not None and iface.mcastport is not None:
        return iface.mcastport
    return default_mcastport(linknumber, broadcast=_broadcast_upto(totem, linknumber))


def effective_mcastaddr(
    config: CorosyncConfig, linknumber: int, local_node: NodeConfig | None = None
) -> str | None:
    """The multicast group of ``linknumber`` for ``transport: udp`` (None for udpu/knet).

    ``broadcast: yes`` anywhere gives 255.255.255.255; an explicit ``mcastaddr`` wins;
    otherwise the address derives from ``cluster_name``, in IPv6 form when link 0 binds to
    an IPv6 address (its ``bindnetaddr``, else the local node's ``ring0_addr``).  None when
    nothing applies (no cluster_name).
    """
    totem = config.totem
    if totem.transport != "udp":
        return None
    if any(i.broadcast for i in totem.interfaces):
        return BROADCAST_ADDR
    iface = totem.interface(linknumber)
    if iface is not None and iface.mcastaddr is not None:
        return iface.mcastaddr
    if totem.cluster_name is None:
        return None
    link0 = totem.interface(0)
    bind = link0.bindnetaddr if link0 is not None else None
    if bind is None and local_node is not None:
        bind = local_node.ring0_addr
    literal = ip_literal(bind) if bind is not None else None
    ipv6 = isinstance(literal, ipaddress.IPv6Address)
    return default_mcastaddr(totem.cluster_name, linknumber, ipv6=ipv6)


def _describe(node: NodeConfig) -> str:
    label = f"node {node.nodeid}"
    if node.name is not None:
        label += f" ({node.name}, {node.ring0_addr})"
    else:
        label += f" ({node.ring0_addr})"
    return label


def _unique(config: CorosyncConfig, matches: list[NodeConfig], how: str) -> NodeConfig | None:
    distinct: list[NodeConfig] = []
    for node in matches:
        if node not in distinct:
            distinct.append(node)
    if not distinct:
        return None
    if len(distinct) > 1:
        listed = ", ".join(_describe(node) for node in distinct)
        raise LocalNodeError(
            config.path,
            None,
            f"several nodelist entries match {how}: {listed}; "
            "choose one with a node id (--nodeid or totem.nodeid)",
        )
    return distinct[0]


def _names(node: NodeConfig) -> tuple[str, ...]:
    return (node.ring0_addr,) if node.name is None else (node.name, node.ring0_addr)


def _match_name(config: CorosyncConfig, wanted: str, *, strip_domain: bool) -> list[NodeConfig]:
    found = []
    for node in config.nodes:
        for name in _names(node):
            candidate = name
            if strip_domain and ip_literal(name) is None:
                candidate = name.split(".", 1)[0]
            if candidate == wanted:
                found.append(node)
    return found


def find_local_node(
    config: CorosyncConfig,
    local_addresses: Iterable[str],
    hostnames: Iterable[str],
    nodeid_override: int | None = None,
    *,
    reverse: NameLookup | None = None,
    lookup: AddressLookup | None = None,
) -> NodeConfig:
    """The nodelist entry of this process.

    With ``nodeid_override`` (a ``--nodeid`` option, or ``totem.nodeid``), the node with that
    id.  Otherwise, in corosync's order: for each host name, an exact match of
    ``name``/``ring0_addr``, then the name with its domain labels removed one by one, then the
    short name against the short nodelist names; then the names of the local addresses
    (``reverse``, corosync's ``getnameinfo``), whole and without their domain; then any local
    address equal to a ``name``/``ring0_addr`` (or to the address a ``ring0_addr`` resolved
    to); finally ``name``/``ring0_addr`` resolved through ``lookup`` to a local address (an
    alias in ``/etc/hosts``).  Several loopback nodes on one machine all match; the caller then
    passes an override.  Raises :class:`LocalNodeError` when nothing or more than one node
    matches.
    """
    if nodeid_override is not None:
        node = config.node_by_id(nodeid_override)
        if node is None:
            raise LocalNodeError(
                config.path, None, f"node id {nodeid_override} is not in the nodelist"
            )
        return node

    for hostname in hostnames:
        if not hostname:
            continue
        found = _unique(
            config, _match_name(config, hostname, strip_domain=False), f"host name {hostname!r}"
        )
        if found is not None:
            return found
        shorter = hostname
        while "." in shorter:
            shorter = shorter.rsplit(".", 1)[0]
            found = _unique(
                config,
                _match_name(config, shorter, strip_domain=False),
                f"host name {shorter!r}",
            )
            if found is not None:
                return found
        found = _unique(
            config, _match_name(config, shorter, strip_domain=True), f"short name {shorter!r}"
        )
        if found is not None:
            return found

    addresses = list(local_addresses)
    if reverse is not None:
        found = _by_reverse_name(config, addresses, reverse)
        if found is not None:
            return found

    local = {ip for ip in (ip_literal(a) for a in addresses) if ip is not None}
    by_address = [
        node
        for node in config.nodes
        for name in (*_names(node), *node.resolved[:1])
        if (ip := ip_literal(name)) is not None and ip in local
    ]
    found = _unique(config, by_address, "this machine's addresses")
    if found is not None:
        return found
    if lookup is not None:
        found = _unique(config, _by_resolved_name(config, local, lookup), "a resolved name")
        if found is not None:
            return found
    raise LocalNodeError(
        config.path,
        None,
        "no nodelist entry matches this machine (host names or local addresses); "
        "choose one with a node id (--nodeid or totem.nodeid)",
    )


def _by_reverse_name(
    config: CorosyncConfig, addresses: list[str], reverse: NameLookup
) -> NodeConfig | None:
    """Nodes named like a local address (``getnameinfo``), whole, then without its domain."""
    names = [name for name in (reverse(address) for address in addresses) if name]
    for candidates in (names, [name.split(".", 1)[0] for name in names]):
        matches = [
            node for name in candidates for node in _match_name(config, name, strip_domain=False)
        ]
        found = _unique(config, matches, "the name of a local address")
        if found is not None:
            return found
    return None


def _by_resolved_name(
    config: CorosyncConfig, local: set[IpAddress], lookup: AddressLookup
) -> list[NodeConfig]:
    """Nodes whose ``name`` or ``ring0_addr`` resolves to a local address."""
    found = []
    for node in config.nodes:
        for name in _names(node):
            if ip_literal(name) is not None:
                continue
            try:
                answers = lookup(name, socket.AF_UNSPEC)
            except UnresolvedHost:
                continue
            if any(ip_literal(address) in local for _, address in answers):
                found.append(node)
                break
    return found


def _addresses_from_proc() -> list[str]:
    found: list[str] = []
    with open("/proc/net/fib_trie", encoding="ascii", errors="replace") as trie:
        previous = ""
        for line in trie:
            stripped = line.strip()
            if stripped.startswith("/32 host LOCAL") and previous.startswith("|-- "):
                found.append(previous[4:].strip())
            previous = stripped
    with contextlib.suppress(OSError), open("/proc/net/if_inet6", encoding="ascii") as inet6:
        for line in inet6:
            fields = line.split()
            if fields and len(fields[0]) == 32:
                with contextlib.suppress(ValueError):
                    found.append(str(ipaddress.IPv6Address(int(fields[0], 16))))
    return found


def _addresses_from_ioctl() -> list[str]:
    import fcntl

    siocgifaddr = 0x8915
    found: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            with contextlib.suppress(OSError):
                reply = fcntl.ioctl(sock.fileno(), siocgifaddr, request)
                found.append(socket.inet_ntoa(reply[20:24]))
    return found


def local_interface_addresses() -> tuple[str, ...]:
    """Every IPv4 and IPv6 address configured on this machine (impure, no DNS)."""
    try:
        found = _addresses_from_proc()
    except OSError:
        try:
            found = _addresses_from_ioctl()
        except OSError:
            found = []
    unique: list[str] = []
    for address in found:
        if ip_literal(address) is not None and address not in unique:
            unique.append(address)
    return tuple(unique)
