"""Host names in ring addresses, resolved as corosync's ``totemip_parse`` resolves them.

The resolver is an argument: these tests use a table (exact, no DNS), except the last ones,
which ask the machine's resolver for names every machine has (``localhost``) or none can
have (``.invalid``, RFC 6761).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence

import pytest

from tests.config.conftext import conf, line_of, node
from totem.config import ConfigError, LocalNodeError, find_local_node, parse_text
from totem.config.resolve import (
    UnresolvedHost,
    resolve_address,
    system_lookup,
    system_reverse,
)

V4, V6, ANY = int(socket.AF_INET), int(socket.AF_INET6), int(socket.AF_UNSPEC)


class Table:
    """A resolver: ``host -> [(family, address)]`` in resolver order; records every question."""

    def __init__(self, answers: Mapping[str, Sequence[tuple[int, str]]]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, family: int) -> list[tuple[int, str]]:
        self.asked.append((host, family))
        if host not in self.answers:
            raise UnresolvedHost("Name or service not known")
        return [a for a in self.answers[host] if family in (ANY, a[0])]


HOSTS = Table(
    {
        "alpha": [(V6, "fd00::1"), (V4, "10.0.0.1"), (V4, "10.0.9.1")],
        "beta": [(V4, "10.0.0.2")],
        "gamma": [(V6, "fd00::3")],
        "localhost": [(V4, "127.0.0.1")],
    }
)


# --------------------------------------------------------------------------- totemip_parse


@pytest.mark.parametrize(
    ("ip_version", "asked", "address"),
    [
        ("ipv4", V4, "10.0.0.1"),  # first IPv4 answer
        ("ipv6", V6, "fd00::1"),
        ("ipv4-6", ANY, "10.0.0.1"),  # IPv4 preferred, first of it
        ("ipv6-4", ANY, "fd00::1"),  # IPv6 preferred
    ],
)
def test_first_address_of_the_family_ip_version_asks_for(
    ip_version: str, asked: int, address: str
) -> None:
    table = Table(HOSTS.answers)
    assert resolve_address("alpha", ip_version, table) == address  # type: ignore[arg-type]
    assert table.asked == [("alpha", asked)]


def test_the_other_family_when_the_preferred_one_is_missing() -> None:
    assert resolve_address("beta", "ipv6-4", HOSTS) == "10.0.0.2"
    assert resolve_address("gamma", "ipv4-6", HOSTS) == "fd00::3"


def test_no_address_of_an_allowed_family() -> None:
    with pytest.raises(UnresolvedHost) as info:
        resolve_address("gamma", "ipv4", HOSTS)
    assert str(info.value) == "the resolver has no address for it"
    with pytest.raises(UnresolvedHost) as info:
        resolve_address("nowhere", "ipv6-4", HOSTS)
    assert str(info.value) == "Name or service not known"


def test_literals_are_not_looked_up() -> None:
    table = Table({})
    assert resolve_address("10.0.0.7", "ipv6-4", table) == "10.0.0.7"
    assert resolve_address("FD00::0:7", "ipv6", table) == "fd00::7"
    assert table.asked == []
    with pytest.raises(UnresolvedHost) as info:
        resolve_address("fd00::7", "ipv4", table)
    assert str(info.value) == "an IPv6 address, but ip_version is ipv4"


# --------------------------------------------------------------------------- the loader


def test_udpu_prefers_ipv6_and_then_refuses_mixed_families_as_corosync() -> None:
    # udpu's default ip_version is ipv6-4: alpha is fd00::1, beta (IPv4 only) 10.0.0.2
    text = conf(nodes=[node("alpha", 1), node("beta", 2)])
    with pytest.raises(ConfigError) as info:
        parse_text(text, "corosync.conf", lookup=HOSTS)
    assert str(info.value) == (
        f"corosync.conf:{line_of(text, 'nodelist {')}: nodes for link 0 have different IP "
        "families (compared 10.0.0.2 with fd00::1)"
    )


def test_resolved_addresses_keep_what_was_written() -> None:
    text = conf("ip_version: ipv4", nodes=[node("alpha", 1), node("beta", 2)])
    config = parse_text(text, "corosync.conf", lookup=HOSTS)
    alpha, beta = config.nodes
    assert (alpha.ring0_addr, alpha.resolved, alpha.addresses) == (
        "alpha",
        ("10.0.0.1",),
        ("10.0.0.1",),
    )
    assert (beta.written, beta.addresses) == (("beta",), ("10.0.0.2",))
    # without a lookup nothing is resolved and the addresses are the written texts
    bare = parse_text(text, "corosync.conf")
    assert bare.nodes[0].resolved == () and bare.nodes[0].addresses == ("alpha",)


def test_a_name_that_does_not_resolve_is_named_at_its_line() -> None:
    text = conf(nodes=[node("10.0.0.1", 1), node("nowhere.example", 2)])
    with pytest.raises(ConfigError) as info:
        parse_text(text, "corosync.conf", lookup=HOSTS)
    assert str(info.value) == (
        f"corosync.conf:{line_of(text, 'nowhere.example')}: failed to parse node address "
        "'nowhere.example': Name or service not known"
    )


def test_a_name_without_an_address_of_the_ip_version() -> None:
    text = conf("ip_version: ipv4", nodes=[node("10.0.0.1", 1), node("gamma", 2)])
    with pytest.raises(ConfigError) as info:
        parse_text(text, "corosync.conf", lookup=HOSTS)
    assert str(info.value) == (
        f"corosync.conf:{line_of(text, 'gamma')}: failed to parse node address 'gamma': "
        "the resolver has no address for it"
    )


def test_nodeid_generated_from_the_first_ipv4_address_of_a_name() -> None:
    # corosync's generate_nodeid resolves ring0_addr IPv4-only, whatever ip_version says
    text = conf(nodes=[node("beta"), node("alpha")])
    with pytest.raises(ConfigError):  # alpha resolves to IPv6 under ipv6-4: mixed families
        parse_text(text, "corosync.conf", lookup=HOSTS)
    config = parse_text(
        conf("ip_version: ipv4-6", nodes=[node("beta"), node("alpha")]), lookup=HOSTS
    )
    assert [n.nodeid for n in config.nodes] == [0x0A000002, 0x0A000001]
    assert all(n.nodeid_autogenerated for n in config.nodes)
    text = conf(nodes=[node("10.0.0.1", 1), node("gamma")])
    with pytest.raises(ConfigError) as info:
        parse_text(text, "corosync.conf", lookup=HOSTS)
    assert str(info.value) == (
        f"corosync.conf:{line_of(text, 'gamma')}: failed to parse node address 'gamma' to "
        "generate its nodeid (an IPv4 address is needed): the resolver has no address for it"
    )


def test_the_same_address_under_two_spellings_is_a_duplicate() -> None:
    text = conf(nodes=[node("127.0.0.1", 1), node("localhost", 2)])
    with pytest.raises(ConfigError) as info:
        parse_text(text, "corosync.conf", lookup=HOSTS)
    assert str(info.value) == (
        f"corosync.conf:{line_of(text, 'nodeid: 2') - 1}: ring0_addr localhost (127.0.0.1) "
        f"appears twice in corosync.conf (first at line {line_of(text, 'nodeid: 1') - 1})"
    )


# --------------------------------------------------------------------------- the local node


LOCALHOST_RING = parse_text(
    conf(nodes=[node("localhost", 1, name="one"), node("127.0.0.2", 2, name="two")]),
    "corosync.conf",
    lookup=HOSTS,
)


def test_a_local_address_whose_name_is_in_the_nodelist() -> None:
    # corosync's getnameinfo() of each interface address: 127.0.0.1 is "localhost"
    def reverse(address: str) -> str | None:
        return {"127.0.0.1": "localhost.localdomain"}.get(address)

    me = find_local_node(LOCALHOST_RING, ["192.0.2.9", "127.0.0.1"], ["vm"], reverse=reverse)
    assert me.nodeid == 1


def test_a_local_address_a_ring_address_resolved_to() -> None:
    assert find_local_node(LOCALHOST_RING, ["127.0.0.1"], ["vm"]).nodeid == 1


def test_a_node_name_that_resolves_to_a_local_address() -> None:
    # the /etc/hosts alias case: name "alpha" is an alias of one of this machine's addresses
    config = parse_text(conf(nodes=[node("10.0.0.1", 1, name="alpha"), node("10.0.0.2", 2)]))
    assert find_local_node(config, ["fd00::1"], ["vm"], lookup=HOSTS).nodeid == 1
    with pytest.raises(LocalNodeError):
        find_local_node(config, ["fd00::1"], ["vm"])


# --------------------------------------------------------------------------- the machine's


def test_the_machine_resolves_localhost_and_not_invalid_names() -> None:
    assert (V4, "127.0.0.1") in system_lookup("localhost", ANY)
    with pytest.raises(UnresolvedHost):
        system_lookup("no-such-host.invalid", ANY)
    with pytest.raises(UnresolvedHost):
        system_lookup("a" * 64 + ".example", ANY)  # a label too long for DNS
    assert system_reverse("not an address") is None
