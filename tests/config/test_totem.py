"""The totem section, the nodelist and the interfaces (ref totem-wire.md 12, 2)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.config.conftext import conf, error, line_of, load_text, node
from totem.config import InterfaceConfig, NodeConfig, TotemConfig

# --------------------------------------------------------------------------- defaults


def test_defaults_of_a_minimal_udpu_config() -> None:
    config = load_text(conf())
    assert config.totem == TotemConfig(
        version=2,
        cluster_name="testclu",
        transport="udpu",
        ip_version="ipv6-4",
        netmtu=1500,
        line=1,
    )
    assert config.nodes == (
        NodeConfig(nodeid=1, ring0_addr="10.0.0.1", position=0, line=7),
        NodeConfig(nodeid=2, ring0_addr="10.0.0.2", position=1, line=11),
    )
    assert config.totem.block_unlisted_ips is True
    assert config.totem.cancel_token_hold_on_retransmit is False
    assert config.totem.rrp_mode == "none"
    assert config.totem.config_version is None
    assert config.totem.keyfile_path == "/etc/corosync/authkey"
    assert not config.totem.crypto_enabled
    assert config.links == (0,)
    assert config.member_count == 2
    assert config.warnings == ()
    assert config.path == "corosync.conf"


def test_transport_defaults_to_knet_and_ip_version_follows_transport() -> None:
    text = conf().replace("    transport: udpu\n", "")
    assert load_text(text).totem.transport == "knet"
    assert load_text(text).totem.netmtu == 65536
    assert load_text(conf(transport="udp")).totem.ip_version == "ipv4"
    assert load_text(conf("ip_version: ipv4-6")).totem.ip_version == "ipv4-6"


def test_raw_map_and_lines_are_cmap_keys() -> None:
    text = conf("token: 5000\ninterface {\n    linknumber: 0\n    mcastport: 6000\n}")
    config = load_text(text)
    assert config.raw["totem.token"] == "5000"
    assert config.raw["totem.interface.0.mcastport"] == "6000"
    assert "totem.interface.0.linknumber" not in config.raw
    assert config.raw["nodelist.node.1.ring0_addr"] == "10.0.0.2"
    assert config.lines["totem.token"] == line_of(text, "token: 5000")
    assert config.lines["nodelist.node.1.nodeid"] == line_of(text, "nodeid: 2")


def test_every_timer_key_is_typed() -> None:
    keys = [
        "token", "token_coefficient", "token_retransmit", "hold",
        "token_retransmits_before_loss_const", "token_warning", "join", "send_join",
        "consensus", "merge", "downcheck", "fail_recv_const", "seqno_unchanged_const",
        "heartbeat_failures_allowed", "max_network_delay", "window_size", "max_messages",
        "miss_count_const", "rrp_problem_count_timeout", "rrp_problem_count_threshold",
        "rrp_problem_count_mcast_threshold", "rrp_token_expired_timeout",
        "rrp_autorecovery_check_timeout",
    ]  # fmt: skip
    text = conf("\n".join(f"{key}: {1000 + i}" for i, key in enumerate(keys)))
    totem = load_text(text.replace("token_warning: 1005", "token_warning: 80")).totem
    for i, key in enumerate(keys):
        expected = 80 if key == "token_warning" else 1000 + i
        assert getattr(totem, key) == expected, key


def test_misc_totem_keys() -> None:
    totem = load_text(
        conf(
            "config_version: 18446744073709551615\nblock_unlisted_ips: no\n"
            "cancel_token_hold_on_retransmit: yes\nclear_node_high_bit: yes\nnodeid: 7\n"
            "netmtu: 9000\nkeyfile: /etc/k\nrrp_mode: none"
        )
    ).totem
    assert totem.config_version == 2**64 - 1
    assert totem.block_unlisted_ips is False
    assert totem.cancel_token_hold_on_retransmit is True
    assert totem.clear_node_high_bit is True
    assert totem.nodeid == 7
    assert totem.netmtu == 9000
    assert totem.keyfile_path == "/etc/k"
    assert load_text(conf("netmtu: 0")).totem.netmtu == 1500


# --------------------------------------------------------------------------- errors


def test_version_must_be_2() -> None:
    text = conf().replace("version: 2", "version: 1")
    assert error(text) == (
        "corosync.conf:2: can only parse version 2 configurations (totem.version is 1)"
    )
    text = conf().replace("    version: 2\n", "")
    assert error(text) == (
        "corosync.conf:1: totem.version is missing: can only parse version 2 configurations"
    )


def test_bad_integer_values_name_their_line() -> None:
    text = conf("token: 3s")
    assert error(text) == (
        f'corosync.conf:{line_of(text, "token: 3s")}: value of key "totem.token" is '
        'expected to be integer in range (0..4294967295), but "3s" was given'
    )
    assert "range (0..65535)" in error(conf("interface {\n    mcastport: 65536\n}"))
    assert "range (0..255)" in error(conf("interface {\n    ttl: -1\n}"))
    assert "(0..18446744073709551615)" in error(conf("config_version: -1"))
    assert 'key "nodelist.node.1.nodeid"' in error(
        conf(nodes=[node("10.0.0.1", 1), node("10.0.0.2", "two")])  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("transport: tcp", "invalid transport type 'tcp' (should be udpu, udp or knet)"),
        ("ip_version: 4", "invalid value for totem.ip_version: '4'"),
        ("block_unlisted_ips: maybe", "totem.block_unlisted_ips must be 'yes' or 'no'"),
        ("clear_node_high_bit: on", "totem.clear_node_high_bit must be 'yes' or 'no'"),
        ("crypto_cipher: 3des", "invalid value for totem.crypto_cipher: '3des'"),
        ("crypto_hash: sha3", "invalid value for totem.crypto_hash: 'sha3'"),
        ("secauth: yes", "unknown value for totem.secauth: 'yes' (expected on or off)"),
        ("rrp_mode: active", "rrp_mode 'active' is not supported: only the passive"),
        ("rrp_mode: both", "invalid rrp_mode 'both' (must be none, active or passive)"),
    ],
)
def test_bad_totem_values(setting: str, message: str) -> None:
    text = conf(setting)
    assert error(text).startswith(f"corosync.conf:{line_of(text, setting)}: {message}")


def test_unknown_keys_and_sections_warn() -> None:
    text = conf("foo: 1\nbar {\n    x: y\n}", other="mystery {\n}\ntoplevel: 1")
    config = load_text(text)
    assert config.warnings == (
        f"corosync.conf:{line_of(text, 'foo: 1')}: unknown key 'totem.foo'",
        f"corosync.conf:{line_of(text, 'bar {')}: unknown section 'totem.bar'",
        f"corosync.conf:{line_of(text, 'mystery')}: unknown section 'mystery'",
        f"corosync.conf:{line_of(text, 'toplevel')}: unknown key 'toplevel'",
    )
    assert config.raw["totem.bar.x"] == "y"


def test_known_but_unmodelled_keys_do_not_warn() -> None:
    config = load_text(
        conf(
            "threads: 0\nlink_mode: passive\nknet_pmtud_interval: 30\n",
            other="resources {\n    watchdog_device: off\n    system {\n"
            "        memory_used {\n            poll_period: 1000\n        }\n    }\n}\n"
            "nozzle {\n    name: noz\n}",
        )
    )
    assert config.warnings == ()
    assert config.raw["resources.system.memory_used.poll_period"] == "1000"


def test_repeated_key_warns_and_last_wins() -> None:
    text = conf("token: 1000\ntoken: 2000")
    config = load_text(text)
    assert config.totem.token == 2000
    assert config.warnings == (
        f"corosync.conf:{line_of(text, 'token: 2000')}: key 'totem.token' set again "
        f"(overrides line {line_of(text, 'token: 1000')})",
    )


def test_repeated_totem_section_is_merged_with_a_warning() -> None:
    text = conf(other="totem {\n    token: 4000\n}")
    config = load_text(text)
    assert config.totem.token == 4000
    assert config.warnings == (
        f"corosync.conf:{line_of(text, 'token: 4000') - 1}: section 'totem' repeated "
        "(first at line 1); merged",
    )


# --------------------------------------------------------------------------- crypto


def test_secauth_on_means_aes256_sha256() -> None:
    text = conf("secauth: on")
    config = load_text(text)
    assert (config.totem.crypto_cipher, config.totem.crypto_hash) == ("aes256", "sha256")
    assert config.totem.secauth is True
    assert config.warnings == (
        f"corosync.conf:{line_of(text, 'secauth')}: crypto with transport udpu: real corosync "
        "3.1.7 nodes refuse this (crypto_cipher & crypto_hash are only valid for the Knet "
        "transport); only pycorosync nodes can share such a ring",
    )


def test_crypto_keys_override_secauth() -> None:
    totem = load_text(conf("secauth: on\ncrypto_hash: sha512")).totem
    assert (totem.crypto_cipher, totem.crypto_hash) == ("aes256", "sha512")
    totem = load_text(conf("secauth: off\ncrypto_cipher: aes128\ncrypto_hash: sha1")).totem
    assert (totem.crypto_cipher, totem.crypto_hash) == ("aes128", "sha1")
    totem = load_text(conf("secauth: on\ncrypto_cipher: none")).totem
    assert (totem.crypto_cipher, totem.crypto_hash) == ("none", "sha256")
    assert load_text(conf("crypto_cipher: none\ncrypto_hash: none")).warnings == ()


def test_cipher_needs_a_hash() -> None:
    text = conf("crypto_cipher: aes256")
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'crypto_cipher')}: crypto_cipher requires crypto_hash "
        "with value other than none"
    )


def test_inline_key_length() -> None:
    good = "k" * 127  # 128 bytes with the NUL corosync stores
    assert load_text(conf(f"secauth: on\nkey: {good}")).totem.key == good
    text = conf(f"secauth: on\nkey: {good[:-1]}")
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'key: ')}: key is too short (127 bytes with its NUL, "
        "at least 128)"
    )
    # Without crypto the key is not used, so not checked.
    assert load_text(conf("key: short")).totem.key == "short"


# --------------------------------------------------------------------------- interfaces


def test_interface_section() -> None:
    text = conf(
        "interface {\n    linknumber: 0\n    bindnetaddr: 10.0.0.0\n    mcastaddr: 239.1.1.1\n"
        "    mcastport: 5000\n    ttl: 4\n}",
        transport="udp",
    )
    config = load_text(text)
    assert config.totem.interfaces == (
        InterfaceConfig(
            linknumber=0,
            bindnetaddr="10.0.0.0",
            mcastaddr="239.1.1.1",
            mcastport=5000,
            ttl=4,
            line=line_of(text, "interface {"),
        ),
    )
    assert config.warnings == (
        f"corosync.conf:{line_of(text, 'bindnetaddr')}: interface section bindnetaddr is used "
        "together with nodelist; the nodelist address is used",
    )


def test_ringnumber_is_the_2x_linknumber() -> None:
    text = conf(
        "rrp_mode: passive\ninterface {\n    ringnumber: 1\n    mcastport: 6000\n}",
        nodes=[
            node("10.0.0.1", 1, ring1_addr="10.1.0.1"),
            node("10.0.0.2", 2, ring1_addr="10.1.0.2"),
        ],
    )
    config = load_text(text)
    assert config.totem.interface(1) == InterfaceConfig(
        linknumber=1, mcastport=6000, line=line_of(text, "interface {")
    )
    assert config.raw["totem.interface.1.mcastport"] == "6000"
    assert config.links == (0, 1)


def test_ttl_only_for_udp() -> None:
    text = conf("interface {\n    ttl: 2\n}")
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'ttl')}: can only set ttl on multicast transport types "
        "(interface 0)"
    )
    assert load_text(conf("interface {\n    ttl: 1\n}")).totem.interfaces[0].ttl == 1


def test_second_link_needs_rrp_passive() -> None:
    text = conf("interface {\n    linknumber: 1\n    mcastport: 6000\n}")
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'interface')}: interface for link 1 needs rrp_mode: "
        "passive in the totem section"
    )
    text = conf(
        "rrp_mode: passive\ninterface {\n    linknumber: 2\n    mcastport: 6000\n}",
        nodes=[node("10.0.0.1", 1, ring1_addr="10.1.0.1")],
    )
    assert "udp/udpu carry at most two rings" in error(text)
    text = conf("interface {\n    linknumber: 8\n    mcastport: 6000\n}", transport="knet")
    assert "interface ring number 8 is bigger than allowed maximum 7" in error(text)


def test_interface_with_only_a_link_number_is_ignored() -> None:
    # corosync stores no key for it, so the link is not configured.
    text = conf("interface {\n    linknumber: 1\n}")
    config = load_text(text)
    assert config.totem.interfaces == ()
    assert config.warnings == (
        f"corosync.conf:{line_of(text, 'interface')}: interface section for link 1 sets "
        "nothing; ignored",
    )


def test_udp_needs_a_multicast_address() -> None:
    text = conf(transport="udp").replace("    cluster_name: testclu\n", "")
    assert error(text) == (
        "corosync.conf:1: no multicast address specified for interface 0 (set mcastaddr, or "
        "cluster_name to derive one)"
    )
    text = conf("interface {\n    mcastaddr: 10.1.1.1\n}", transport="udp")
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'mcastaddr')}: mcastaddr is not a correct multicast "
        "address for interface 0"
    )
    text = conf("interface {\n    mcastaddr: ff15::1\n}", transport="udp")
    assert "multicast address family does not match bind address family" in error(text)
    # broadcast needs no group.
    text = conf("interface {\n    broadcast: yes\n}", transport="udp")
    assert load_text(text.replace("    cluster_name: testclu\n", "")).totem.interfaces[0].broadcast


def test_repeated_interface_for_a_link_warns() -> None:
    text = conf("interface {\n    mcastport: 1\n}\ninterface {\n    linknumber: 0\n}")
    config = load_text(text)
    assert config.totem.interfaces[0].mcastport == 1
    assert config.warnings[0].endswith("interface for link 0 defined again (first at line 5)")


# --------------------------------------------------------------------------- nodes


def test_node_fields() -> None:
    text = conf(nodes=[node("10.0.0.1", 5, name="alpha", quorum_votes=3)])
    assert load_text(text).nodes == (
        NodeConfig(
            nodeid=5, ring0_addr="10.0.0.1", name="alpha", quorum_votes=3, position=0, line=7
        ),
    )


def test_nodeid_autogeneration_from_ipv4_ring0() -> None:
    config = load_text(conf(nodes=[node("10.99.0.3", name="a"), node("192.168.1.1", name="b")]))
    assert [n.nodeid for n in config.nodes] == [0x0A630003, 0xC0A80101]
    assert config.nodes[0].nodeid == 174260227
    assert all(n.nodeid_autogenerated for n in config.nodes)
    config = load_text(
        conf("clear_node_high_bit: yes", nodes=[node("192.168.1.1"), node("10.0.0.1", 9)])
    )
    assert config.nodes[0].nodeid == 0xC0A80101 & 0x7FFFFFFF
    assert config.nodes[1].nodeid == 9
    # nodeid 0 means "generate one", as in corosync.
    assert load_text(conf(nodes=[node("10.0.0.7", 0)])).nodes[0].nodeid == 0x0A000007


def test_nodeid_autogeneration_limits() -> None:
    text = conf(nodes=[node("fe80::1")])
    assert error(text) == (
        "corosync.conf:7: an IPv6 network requires that a node ID be specified for address "
        "'fe80::1'"
    )
    assert error(conf(nodes=[node("alpha.example")])) == (
        "corosync.conf:7: nodeid is required for ring0_addr 'alpha.example': only an IPv4 "
        "address can generate one (the file was read without name resolution)"
    )
    assert error(conf(nodes=[node("10.0.0.1")], transport="knet")) == (
        "corosync.conf:7: knet requires an explicit nodeid to be specified for address '10.0.0.1'"
    )


def test_duplicate_nodeids_and_addresses() -> None:
    text = conf(nodes=[node("10.0.0.1", 1), node("10.0.0.2", 1)])
    assert error(text) == (
        "corosync.conf:11: nodeid 1 appears twice in corosync.conf (first at line 7)"
    )
    text = conf(nodes=[node("10.0.0.1", 167772162), node("10.0.0.2")])
    assert error(text) == (
        "corosync.conf:11: nodeid 167772162 (autogenerated from 10.0.0.2) appears twice in "
        "corosync.conf (first at line 7)"
    )
    text = conf(nodes=[node("10.0.0.1", 1), node("10.0.0.1", 2)])
    assert error(text) == (
        "corosync.conf:11: ring0_addr 10.0.0.1 appears twice in corosync.conf (first at line 7)"
    )
    text = conf(nodes=[node("fe80::1", 1), node("FE80:0::1", 2)])
    assert "ring0_addr FE80:0::1 appears twice" in error(text)


def test_node_needs_ring0_addr() -> None:
    text = conf(nodes=["    node {", "        nodeid: 1", "        name: x", "    }"])
    assert error(text) == "corosync.conf:7: node has no ring0_addr"


def test_empty_nodelist() -> None:
    assert error(conf(nodes=[])) == (
        "corosync.conf:6: no nodelist entries: corosync 3 needs a nodelist "
        "{ node { ring0_addr ... } }"
    )


def test_second_nodelist_is_refused() -> None:
    text = conf(other="nodelist {\n" + node("10.0.0.3", 3) + "\n}")
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'nodelist') + 10}: nodelist section repeated "
        "(first at line 6); put every node section in one nodelist"
    )


def test_address_families() -> None:
    text = conf(nodes=[node("10.0.0.1", 1), node("fe80::2", 2)])
    assert error(text) == (
        "corosync.conf:6: nodes for link 0 have different IP families (compared fe80::2 with "
        "10.0.0.1)"
    )
    text = conf("ip_version: ipv4", nodes=[node("fe80::2", 2)])
    assert error(text) == (
        "corosync.conf:10: failed to parse node address 'fe80::2' (ip_version is ipv4)"
    )


def test_ring_addresses_beyond_ring1() -> None:
    text = conf(nodes=[node("10.0.0.1", 1, ring2_addr="10.2.0.1")])
    assert error(text) == (
        "corosync.conf:10: ring2_addr: udp/udpu carry at most two rings (ring0_addr, ring1_addr)"
    )
    text = conf(nodes=[node("10.0.0.1", 1, ring9_addr="10.2.0.1")], transport="knet")
    assert "interface ring number 9 is bigger than allowed maximum 7" in error(text)


def test_rrp_passive_nodes() -> None:
    nodes = [
        node("10.0.0.1", 1, ring1_addr="10.1.0.1"),
        node("10.0.0.2", 2, ring1_addr="10.1.0.2"),
    ]
    config = load_text(conf("rrp_mode: passive", nodes=nodes))
    assert config.nodes[1].addresses == ("10.0.0.2", "10.1.0.2")
    assert config.links == (0, 1)
    text = conf(nodes=nodes)
    assert error(text) == (
        "corosync.conf:10: ring1_addr needs rrp_mode: passive in the totem section"
    )
    text = conf("rrp_mode: passive", nodes=[nodes[0], node("10.0.0.2", 2)])
    assert error(text) == ("corosync.conf:13: rrp_mode is passive but this node has no ring1_addr")


def test_rrp_mode_is_ignored_for_knet() -> None:
    text = conf("rrp_mode: active", transport="knet")
    config = load_text(text)
    assert config.totem.rrp_mode == "none"
    assert config.warnings == (
        f"corosync.conf:{line_of(text, 'rrp_mode')}: rrp_mode is ignored with transport knet "
        "(corosync 3 uses link_mode)",
    )


def test_unknown_node_key_warns() -> None:
    text = conf(nodes=[node("10.0.0.1", 1, colour="red")])
    assert load_text(text).warnings == (
        f"corosync.conf:{line_of(text, 'colour')}: unknown key 'nodelist.node.colour'",
    )


def test_models_are_frozen() -> None:
    config = load_text(conf())
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.totem.token = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.raw["x"] = "y"  # type: ignore[index]
