"""knet keys of corosync.conf (ref knet/README.md 2-4; totemconfig.c): links, ping timers,
link mode, crypto model, compression, and the key check of ``python -m totem.config``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.config.conftext import conf, error, line_of, load_text, node
from tests.config.test_samples import sample
from totem.config import ConfigError, check_authkey, load
from totem.config.__main__ import main
from totem.config.check import EXIT_CONFIG
from totem.config.knetlinks import KnetLinkConfig, knet_links

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "knet"


def three(**extra: object) -> list[str]:
    return [node(f"10.0.0.{i}", i, **extra) for i in (1, 2, 3)]


def test_no_transport_is_knet_with_corosyncs_knet_defaults() -> None:
    text = conf(transport="knet", nodes=three()).replace("    transport: knet\n", "")
    config = load_text(text)
    totem = config.totem
    assert totem.transport == "knet" and totem.netmtu == 65536
    assert (totem.link_mode, totem.crypto_model) == ("passive", "nss")
    assert (totem.knet_pmtud_interval, totem.knet_mtu) == (30, 0)
    assert totem.knet_compression_model == "none"
    assert knet_links(config) == (KnetLinkConfig(0, 5405, 1, 912, 1825, 2048, 2, "udp"),)


def test_ping_timers_follow_the_token_and_the_interface_section() -> None:
    two = conf(transport="knet")
    link = knet_links(load_text(two))[0]
    assert (link.ping_interval, link.ping_timeout) == (750, 1500)
    text = conf(
        "token: 10000\ninterface {\n    linknumber: 0\n    knet_pong_count: 4\n"
        "    knet_ping_interval: 300\n    knet_link_priority: 9\n    mcastport: 6000\n}",
        transport="knet",
        nodes=three(),
    )
    link = knet_links(load_text(text))[0]
    assert link == KnetLinkConfig(0, 6000, 9, 300, (10000 + 650) // 4, 2048, 4, "udp")


def test_links_0_to_7_with_names() -> None:
    nodes = [
        node(f"10.0.0.{i}", i, name=f"n{i}", ring1_addr=f"10.1.0.{i}", ring5_addr=f"10.5.0.{i}")
        for i in (1, 2)
    ]
    config = load_text(conf("link_mode: active", transport="knet", nodes=nodes))
    assert config.links == (0, 1, 5)
    assert config.nodes[1].address(5) == "10.5.0.2"
    assert [link.port for link in knet_links(config)] == [5405, 5406, 5410]
    assert config.totem.link_mode == "active"


def test_multi_link_needs_names_and_the_same_links() -> None:
    nodes = [node(f"10.0.0.{i}", i, ring1_addr=f"10.1.0.{i}") for i in (1, 2)]
    text = conf(transport="knet", nodes=nodes)
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'node {')}: for a multi-link configuration, all nodes "
        "must have a 'name' attribute"
    )
    nodes = [
        node("10.0.0.1", 1, name="a", ring1_addr="10.1.0.1"),
        node("10.0.0.2", 2, name="b"),
    ]
    text = conf(transport="knet", nodes=nodes)
    assert "Not all nodes have the same number of links" in error(text)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            "link_mode: fast",
            'The Knet link mode "fast" specified is invalid.  It must be active, passive or rr.',
        ),
        ("crypto_model: gnutls", "invalid value for totem.crypto_model"),
        ("knet_compression_model: lzo2", "knet_compression_model lzo2 is not available"),
        ("knet_compression_model: snappy", "invalid value for totem.knet_compression_model"),
        ("knet_compression_threshold: 70000", "compress threshold cannot be higher"),
        ("knet_mtu: 70000", "knet_mtu 70000 is out of range"),
        ("knet_pmtud_interval: 90000", "knet_pmtud_interval 90000 is out of range"),
    ],
)
def test_bad_knet_keys_name_their_line(key: str, message: str) -> None:
    text = conf(key, transport="knet")
    assert error(text).startswith(f"corosync.conf:{line_of(text, key.split(':')[0])}: ")
    assert message in error(text)


@pytest.mark.parametrize(("model", "package"), [("lz4hc", "lz4"), ("zstd", "zstandard")])
def test_a_compression_model_whose_package_is_missing_is_refused_at_load(
    model: str, package: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == package else real_find_spec(name)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    text = conf(f"knet_compression_model: {model}", transport="knet")
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'knet_compression_model')}: knet_compression_model "
        f"{model} is not available here: it needs the Python package {package}, which is not "
        "installed"
    )
    assert load_text(conf("knet_compression_model: zlib", transport="knet"))


def test_sctp_links_are_refused_with_their_line() -> None:
    text = conf("interface {\n    linknumber: 0\n    knet_transport: sctp\n}", transport="knet")
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'sctp')}: knet_transport sctp is not supported by "
        "pycorosync (interface 0): use udp, corosync's default"
    )


def test_compression_and_crypto_keys_are_typed() -> None:
    text = conf(
        "knet_compression_model: zstd\nknet_compression_level: -3\n"
        "knet_compression_threshold: 200\ncrypto_model: openssl\nsecauth: on",
        transport="knet",
    )
    totem = load_text(text).totem
    assert (totem.knet_compression_model, totem.knet_compression_level) == ("zstd", -3)
    assert totem.knet_compression_threshold == 200
    assert (totem.crypto_model, totem.crypto_cipher, totem.crypto_hash) == (
        "openssl",
        "aes256",
        "sha256",
    )


def test_knet_node_ids_stay_below_65536() -> None:
    text = conf(transport="knet", nodes=[node("10.0.0.1", 70000), node("10.0.0.2", 2)])
    assert "knet requires nodeid to be less than 65536" in error(text)


def test_the_key_check_reads_the_key_file(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_bytes(bytes(100))
    good = tmp_path / "authkey"
    good.write_bytes((FIXTURES / "authkey.test").read_bytes())
    for keyfile, outcome in (
        (good, f"{good}: 256 bytes"),
        (short, f"{short}: could only read 800 bits of minimum 1024 bits"),
        (tmp_path / "missing", f"{tmp_path / 'missing'}: could not read key"),
    ):
        path = tmp_path / "corosync.conf"
        path.write_text(conf(f"secauth: on\nkeyfile: {keyfile}", transport="knet"))
        config = load(path)
        checker = ["-c", str(path), "--nodeid", "1"]
        if keyfile == good:
            assert check_authkey(config) == outcome
            assert main(checker) == 0
        else:
            with pytest.raises(ConfigError) as info:
                check_authkey(config)
            assert str(info.value).startswith(outcome)
            assert main(checker) == EXIT_CONFIG
    assert check_authkey(load_text(conf(transport="knet"))) is None


@pytest.mark.parametrize("name", ["proxmox-before", "proxmox-after", "proxmox-rrp"])
def test_the_seed_examples_are_knet_clusters(name: str) -> None:
    config = load(sample(f"{name}.conf"))
    assert config.totem.transport == "knet"
    assert (config.totem.crypto_cipher, config.totem.crypto_hash) == ("aes256", "sha256")
    nodes = len(config.nodes)
    assert config.timers.token == 3000 + max(0, nodes - 2) * 650
    assert knet_links(config)[0].ping_interval == config.timers.token // 4
    if name == "proxmox-rrp":
        assert config.links == (0, 1)
        assert any("rrp_mode is ignored with transport knet" in w for w in config.warnings)
