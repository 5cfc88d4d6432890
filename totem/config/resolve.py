"""Host names in corosync.conf, resolved as corosync 3.1.7 resolves them.

A ``ringX_addr`` (and a node's ``name`` when corosync looks for the local node) may be a host
name. corosync turns each into one address with ``totemip.c:totemip_parse``, under the rule of
``totem.ip_version`` (``totemconfig.c:totem_config_get_ip_version``):

* ``ipv4`` asks the resolver for IPv4 only, ``ipv6`` for IPv6 only, and takes its first answer;
* ``ipv4-6`` and ``ipv6-4`` ask for both families and take the first address of the preferred
  one, else the first of the other;
* the default is ``ipv4`` for ``transport: udp`` and ``ipv6-4`` otherwise (the loader fills
  :attr:`TotemConfig.ip_version <totem.config.model.TotemConfig.ip_version>` with it);
* a node id is generated from ``ring0_addr`` through an IPv4-only lookup
  (``totemconfig.c:generate_nodeid``), so a host name without ``nodeid`` gets the id of its
  first IPv4 address.

When a name does not resolve, corosync stops with ``failed to parse node address '<name>'``;
the loader reports the same words at ``file:line`` with the resolver's reason.

The lookups are arguments (:data:`AddressLookup`, :data:`NameLookup`), so the configuration
layer stays testable without DNS; :func:`system_lookup` and :func:`system_reverse` are the
resolver of the machine (``getaddrinfo``/``getnameinfo``, what corosync calls).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence

from totem.config.model import IpVersion

__all__ = [
    "AddressLookup",
    "NameLookup",
    "UnresolvedHost",
    "resolve_address",
    "resolve_ipv4",
    "system_lookup",
    "system_reverse",
]

AddressLookup = Callable[[str, int], Sequence[tuple[int, str]]]
"""``lookup(host, family)`` -> ``[(family, address), ...]`` in the resolver's order, as
``getaddrinfo(host, None, family, SOCK_DGRAM, IPPROTO_UDP)``; ``family`` is ``AF_INET``,
``AF_INET6`` or ``AF_UNSPEC``. Raises :class:`UnresolvedHost` with the resolver's reason."""

NameLookup = Callable[[str], str | None]
"""``reverse(address)`` -> the host name of an address (``getnameinfo``), None if it has none."""

_FAMILY_NAME: dict[int, str] = {socket.AF_INET: "IPv4", socket.AF_INET6: "IPv6"}


class UnresolvedHost(Exception):
    """A host name the resolver could not turn into an address of the wanted family."""


def system_lookup(host: str, family: int) -> list[tuple[int, str]]:
    """The machine's resolver (``/etc/hosts``, DNS...), as corosync asks it."""
    try:
        infos = socket.getaddrinfo(host, None, family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    except socket.gaierror as err:
        raise UnresolvedHost(err.strerror or str(err)) from None
    except UnicodeError as err:  # a label longer than 63 characters, an empty label
        raise UnresolvedHost(f"not a valid host name ({err})") from None
    found: list[tuple[int, str]] = []
    for info_family, _, _, _, sockaddr in infos:
        if info_family in _FAMILY_NAME:
            found.append((int(info_family), str(sockaddr[0])))
    return found


def system_reverse(address: str) -> str | None:
    """The name of ``address`` from the machine's resolver (``getnameinfo``), or None."""
    try:
        literal = ipaddress.ip_address(address)
    except ValueError:
        return None
    sockaddr: tuple[str, int] | tuple[str, int, int, int]
    sockaddr = (address, 0) if literal.version == 4 else (address, 0, 0, 0)
    try:
        name, _ = socket.getnameinfo(sockaddr, socket.NI_NAMEREQD)
    except (socket.gaierror, OSError):
        return None
    return name


_INET, _INET6, _UNSPEC = int(socket.AF_INET), int(socket.AF_INET6), int(socket.AF_UNSPEC)


def _families(ip_version: IpVersion) -> tuple[int, tuple[int, ...]]:
    """(the family to ask for, the families to take in order of preference)."""
    if ip_version == "ipv4":
        return _INET, (_INET,)
    if ip_version == "ipv6":
        return _INET6, (_INET6,)
    if ip_version == "ipv4-6":
        return _UNSPEC, (_INET, _INET6)
    return _UNSPEC, (_INET6, _INET)


def resolve_address(host: str, ip_version: IpVersion, lookup: AddressLookup) -> str:
    """The one address corosync uses for ``host`` under ``ip_version`` (``totemip_parse``).

    An IP literal is its own address when its family is allowed. Raises
    :class:`UnresolvedHost` saying why otherwise.
    """
    ask, preferred = _families(ip_version)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        family = _INET if literal.version == 4 else _INET6
        if family not in preferred:
            name = _FAMILY_NAME[family]
            raise UnresolvedHost(f"an {name} address, but ip_version is {ip_version}")
        return str(literal)
    answers = lookup(host, ask)
    for family in preferred:
        for answer_family, address in answers:
            if answer_family == family:
                return address
    if not answers:
        raise UnresolvedHost("the resolver has no address for it")
    wanted = " or ".join(_FAMILY_NAME[f] for f in preferred)
    raise UnresolvedHost(f"it has no {wanted} address (ip_version is {ip_version})")


def resolve_ipv4(host: str, lookup: AddressLookup) -> str:
    """The IPv4 address a node id is generated from (``generate_nodeid``)."""
    return resolve_address(host, "ipv4", lookup)
