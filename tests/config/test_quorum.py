"""The quorum section: votequorum(5) keys, the qdevice block and votequorum's start-up checks."""

from __future__ import annotations

import pytest

from tests.config.conftext import conf, error, line_of, load_text, node
from totem.config import (
    QuorumConfig,
    QuorumDeviceConfig,
    QuorumDeviceHeuristicsConfig,
    QuorumDeviceNetConfig,
)

THREE = [node("10.0.0.1", 1), node("10.0.0.2", 2), node("10.0.0.3", 3)]


def quorum_of(body: str, nodes: list[str] | None = None) -> QuorumConfig:
    return load_text(conf(quorum=body, nodes=nodes)).quorum


def test_no_quorum_section() -> None:
    assert load_text(conf()).quorum == QuorumConfig()
    assert load_text(conf()).quorum.provider is None


def test_defaults() -> None:
    text = conf(quorum="provider: corosync_votequorum")
    quorum = load_text(text).quorum
    assert quorum == QuorumConfig(provider="corosync_votequorum", line=line_of(text, "quorum"))
    assert quorum.last_man_standing_window == 10000
    assert quorum.auto_tie_breaker_node == "lowest"
    assert quorum.wait_for_all is None
    assert quorum.wait_for_all_effective is False
    assert quorum.device is None


def test_all_keys() -> None:
    quorum = quorum_of(
        "provider: corosync_votequorum\nexpected_votes: 5\nvotes: 2\nwait_for_all: 1\n"
        "last_man_standing: 1\nlast_man_standing_window: 20000\nauto_tie_breaker: 1\n"
        "auto_tie_breaker_node: 3 1\nallow_downscale: 1\nexpected_votes_tracking: 1",
        THREE,
    )
    assert quorum.expected_votes == 5
    assert quorum.votes == 2
    assert quorum.wait_for_all is True
    assert quorum.last_man_standing is True
    assert quorum.last_man_standing_window == 20000
    assert quorum.auto_tie_breaker is True
    assert quorum.auto_tie_breaker_node == (3, 1)
    assert quorum.allow_downscale is True
    assert quorum.expected_votes_tracking is True


def test_two_node_implies_wait_for_all_unless_set() -> None:
    quorum = quorum_of("provider: corosync_votequorum\ntwo_node: 1")
    assert (quorum.two_node, quorum.wait_for_all, quorum.wait_for_all_effective) == (
        True,
        None,
        True,
    )
    quorum = quorum_of("provider: corosync_votequorum\ntwo_node: 1\nwait_for_all: 0")
    assert (quorum.wait_for_all, quorum.wait_for_all_effective) == (False, False)
    quorum = quorum_of("provider: corosync_votequorum\nwait_for_all: 1")
    assert (quorum.two_node, quorum.wait_for_all_effective) == (False, True)


def test_flags_are_u8_integers_not_words() -> None:
    text = conf(quorum="provider: corosync_votequorum\ntwo_node: yes")
    assert error(text) == (
        f'corosync.conf:{line_of(text, "two_node")}: value of key "quorum.two_node" is '
        'expected to be integer in range (0..255), but "yes" was given'
    )
    # Any non-zero u8 is true, as votequorum tests it.
    assert quorum_of("provider: corosync_votequorum\ntwo_node: 2").two_node is True


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("lowest", "lowest"), ("highest", "highest"), ("2", (2,)), ("3  1\t2", (3, 1, 2))],
)
def test_auto_tie_breaker_node(value: str, parsed: object) -> None:
    body = "provider: corosync_votequorum\nauto_tie_breaker: 1\nwait_for_all: 1\n"
    body += f"auto_tie_breaker_node: {value}"
    assert quorum_of(body, THREE).auto_tie_breaker_node == parsed


@pytest.mark.parametrize("value", ["low", "1 x", "0", "1 0 2", "-1"])
def test_bad_auto_tie_breaker_node(value: str) -> None:
    text = conf(quorum=f"provider: corosync_votequorum\nauto_tie_breaker_node: {value}")
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'auto_tie_breaker_node')}: auto_tie_breaker_node must "
        f"be 'lowest', 'highest' or a space-separated list of node IDs, not {value!r}"
    )


def test_provider_must_be_votequorum() -> None:
    text = conf(quorum="provider: corosync_ykd")
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'provider')}: invalid quorum provider 'corosync_ykd' "
        "(only corosync_votequorum is supported)"
    )


# --------------------------------------------------------------------------- device


DEVICE = "provider: corosync_votequorum\ndevice {\n    model: net\n    votes: 1\n"


def test_device_net_defaults() -> None:
    text = conf(quorum=DEVICE + "    net {\n        host: 10.99.0.9\n    }\n}")
    device = load_text(text).quorum.device
    assert device == QuorumDeviceConfig(
        model="net",
        votes=1,
        timeout=10000,
        sync_timeout=30000,
        master_wins=None,
        net=QuorumDeviceNetConfig(
            host="10.99.0.9",
            port=5403,
            algorithm="ffsplit",
            tie_breaker="lowest",
            tls="on",
            connect_timeout=8000,
            force_ip_version=0,
            keep_active_partition_tie_breaker=True,
            line=line_of(text, "net {"),
        ),
        heuristics=QuorumDeviceHeuristicsConfig(
            mode="off", timeout=5000, sync_timeout=15000, interval=30000, execs=(), raw={}
        ),
        line=line_of(text, "device {"),
    )


def test_device_net_settings() -> None:
    net_body = (
        "    timeout: 20000\n    sync_timeout: 40000\n    master_wins: 1\n    net {\n"
        "        host: qnetd.example\n        port: 5404\n        algorithm: lms\n"
        "        tie_breaker: 7\n        tls: Required\n        connect_timeout: 2500\n"
        "        force_ip_version: 6\n        keep_active_partition_tie_breaker: OFF\n"
        "    }\n    heuristics {\n        mode: sync\n        exec_ping: /bin/ping -c1 gw\n"
        "        exec_check: /bin/true\n        interval: 5000\n    }\n}"
    )
    device = quorum_of(DEVICE + net_body).device
    assert device is not None
    assert (device.timeout, device.sync_timeout, device.master_wins) == (20000, 40000, True)
    assert device.net == QuorumDeviceNetConfig(
        host="qnetd.example",
        port=5404,
        algorithm="lms",
        tie_breaker=7,
        tls="required",
        connect_timeout=2500,
        force_ip_version=6,
        keep_active_partition_tie_breaker=False,
        line=device.net.line if device.net else 0,
    )
    heuristics = device.heuristics
    assert heuristics.mode == "sync"
    assert heuristics.execs == (("check", "/bin/true"), ("ping", "/bin/ping -c1 gw"))
    assert (heuristics.timeout, heuristics.sync_timeout, heuristics.interval) == (
        10000,
        20000,
        5000,
    )


def test_connect_timeout_default_is_clamped() -> None:
    def connect(timeout: int) -> int:
        body = DEVICE + f"    timeout: {timeout}\n    net {{\n        host: h\n    }}\n}}"
        device = quorum_of(body).device
        assert device is not None and device.net is not None
        return device.net.connect_timeout

    assert connect(10000) == 8000
    assert connect(1000) == 1000  # 800 raised to the 1000 ms minimum
    assert connect(200000) == 120000  # 160000 lowered to the maximum


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("port: 0", "quorum.device.net.port must be a number in range 1..65535, not '0'"),
        ("tls: maybe", "quorum.device.net.tls value is not valid: 'maybe'"),
        ("algorithm: random", "unknown decision algorithm 'random'"),
        ("tie_breaker: 0", "quorum.device.net.tie_breaker must be lowest|highest|valid_node_id"),
        ("connect_timeout: 999", "quorum.device.net.connect_timeout must be a number in range"),
        ("force_ip_version: 5", "quorum.device.net.force_ip_version must be one of 0|4|6"),
    ],
)
def test_bad_device_net_values(setting: str, message: str) -> None:
    text = conf(quorum=DEVICE + f"    net {{\n        host: h\n        {setting}\n    }}\n}}")
    assert error(text).startswith(f"corosync.conf:{line_of(text, setting)}: {message}")


def test_net_model_needs_a_host() -> None:
    text = conf(quorum=DEVICE + "    net {\n        tls: off\n    }\n}")
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'net {')}: quorum.device.net.host is required with "
        "model net (the qnetd address)"
    )


def test_device_without_model_is_not_a_device() -> None:
    text = conf(quorum="provider: corosync_votequorum\ndevice {\n    votes: 1\n}")
    config = load_text(text)
    assert config.quorum.device is None
    assert config.warnings == (
        f"corosync.conf:{line_of(text, 'device')}: quorum.device has no model: no quorum "
        "device is configured",
    )


def test_test_algorithm_warns() -> None:
    text = conf(quorum=DEVICE + "    net {\n        host: h\n        algorithm: test\n    }\n}")
    assert load_text(text).warnings == (
        f"corosync.conf:{line_of(text, 'algorithm')}: algorithm 'test' is refused by "
        "corosync-qdevice unless started with -S net_test_algorithm_enabled=on",
    )


# --------------------------------------------------------------------------- votequorum checks


def test_two_node_and_device_are_exclusive() -> None:
    text = conf(quorum=DEVICE.replace("device", "two_node: 1\ndevice") + "    net {\n"
                "        host: h\n    }\n}")  # fmt: skip
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'two_node')}: configuration error: two_node and quorum "
        "device cannot be configured at the same time!"
    )


@pytest.mark.parametrize("flag", ["last_man_standing", "auto_tie_breaker", "allow_downscale"])
def test_device_excludes(flag: str) -> None:
    body = f"{flag}: 1\n" + DEVICE + "    net {\n        host: h\n    }\n}"
    text = conf(quorum=f"wait_for_all: 1\n{body}", nodes=THREE)
    assert error(text) == (
        f"corosync.conf:{line_of(text, flag)}: configuration error: quorum.device is not "
        f"compatible with {flag}"
    )


def test_device_votes_rules() -> None:
    net = "    net {\n        host: h\n    }\n}"
    no_votes = "provider: corosync_votequorum\ndevice {\n    model: net\n" + net
    # derivable: every node has one vote
    assert quorum_of(no_votes).device is not None
    text = conf(quorum="expected_votes: 3\n" + no_votes)
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'device')}: configuration error: quorum.device.votes "
        "must be specified when quorum.expected_votes is set"
    )
    text = conf(quorum=no_votes, nodes=[node("10.0.0.1", 1, quorum_votes=2), node("10.0.0.2", 2)])
    assert "quorum.device.votes must be specified when not all nodes votes 1" in error(text)
    text = conf(quorum="expected_votes: 3\n" + DEVICE.replace("votes: 1", "votes: 2") + net)
    assert "quorum.device.votes is too high or expected_votes is too low" in error(text)


def test_auto_tie_breaker_in_odd_cluster() -> None:
    base = "provider: corosync_votequorum\nauto_tie_breaker: 1\n"
    text = conf(quorum=base, nodes=THREE)
    assert load_text(text).warnings == (
        f"corosync.conf:{line_of(text, 'auto_tie_breaker')}: auto_tie_breaker is set and the "
        "cluster has an odd number of nodes but wait_for_all is not set; votequorum disables "
        "auto_tie_breaker",
    )
    text = conf(quorum=base + "last_man_standing: 1", nodes=THREE)
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'auto_tie_breaker')}: configuration error: "
        "auto_tie_breaker & last_man_standing not available in odd sized cluster"
    )
    assert load_text(conf(quorum=base + "wait_for_all: 1", nodes=THREE)).warnings == ()


def test_incompatible_but_repaired_combinations_warn() -> None:
    text = conf(quorum="provider: corosync_votequorum\ntwo_node: 1\nauto_tie_breaker: 1")
    assert load_text(text).warnings == (
        f"corosync.conf:{line_of(text, 'two_node')}: two_node and auto_tie_breaker are both "
        "specified but are not compatible; votequorum disables two_node",
    )
    text = conf(quorum="provider: corosync_votequorum\nauto_tie_breaker_node: highest")
    assert load_text(text).warnings == (
        f"corosync.conf:{line_of(text, 'auto_tie_breaker_node')}: auto_tie_breaker_node: is "
        "meaningless if auto_tie_breaker is set to 0",
    )
