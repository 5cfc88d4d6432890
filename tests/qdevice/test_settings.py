"""corosync.conf -> qdevice-net client settings (ref qnetd-protocol.md 8)."""

from __future__ import annotations

import pytest

from qnetd.protocol.constants import DecisionAlgorithm, TieBreakerMode, TlsSupported
from qnetd.protocol.tlv import NodeInfo, TieBreaker
from totem.config import parse_text
from votequorum.qdevice.settings import (
    CERT_DIR_ENV,
    DEFAULT_CERT_DIR,
    QdeviceSettingsError,
    settings_from_config,
)


def conf(device: str, nodes: str = "", totem: str = "", quorum: str = "") -> str:
    nodelist = nodes or (
        "    node {\n        nodeid: 1\n        ring0_addr: 10.0.0.1\n    }\n"
        "    node {\n        nodeid: 2\n        ring0_addr: 10.0.0.2\n    }\n"
    )
    return (
        f"totem {{\n    version: 2\n    cluster_name: mycluster\n    transport: udpu\n{totem}}}\n"
        f"nodelist {{\n{nodelist}}}\n"
        f"quorum {{\n    provider: corosync_votequorum\n{quorum}    device {{\n{device}    }}\n}}\n"
    )


NET = "        model: net\n        votes: 1\n        net {\n            host: qnetd.example\n"


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CERT_DIR_ENV, raising=False)
    s = settings_from_config(parse_text(conf(NET + "        }\n")), 2)
    assert (s.cluster_name, s.node_id, s.host, s.port) == ("mycluster", 2, "qnetd.example", 5403)
    assert s.algorithm == DecisionAlgorithm.FFSPLIT
    assert s.tie_breaker == TieBreaker(TieBreakerMode.LOWEST)
    assert s.tls == TlsSupported.SUPPORTED
    assert (s.timeout_ms, s.sync_timeout_ms) == (10000, 30000)
    assert (s.heartbeat_interval_ms, s.cast_vote_timer_interval_ms) == (8000, 5000)
    assert (s.sync_heartbeat_interval_ms, s.connect_timeout_ms) == (24000, 8000)
    assert s.keep_active_partition_tie_breaker
    assert s.config_nodes == (NodeInfo(1), NodeInfo(2))
    assert s.config_version is None
    assert s.heuristics.mode == "off"
    assert s.cert_dir == DEFAULT_CERT_DIR
    assert s.device_name == "Qdevice" and s.server_name == "Qnetd Server"


def test_everything_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CERT_DIR_ENV, "/srv/qdevice")
    nodes = (
        "    node {\n        nodeid: 1\n        ring0_addr: 10.0.0.1\n        datacenterid: 7\n"
        "    }\n    node {\n        nodeid: 3\n        ring0_addr: 10.0.0.3\n    }\n"
    )
    device = (
        "        model: net\n        votes: 1\n        timeout: 1000\n        sync_timeout: 2000\n"
        "        net {\n            host: 192.0.2.9\n            port: 5999\n"
        "            algorithm: lms\n            tie_breaker: 3\n            tls: required\n"
        "            connect_timeout: 2500\n            force_ip_version: 4\n"
        "            keep_active_partition_tie_breaker: off\n        }\n"
        "        heuristics {\n            mode: sync\n            exec_ping: /bin/true\n"
        "        }\n"
    )
    config = parse_text(
        conf(device, nodes, totem="    config_version: 42\n", quorum="    wait_for_all: 1\n")
    )
    s = settings_from_config(config, 1)
    assert (s.host, s.port, s.algorithm) == ("192.0.2.9", 5999, DecisionAlgorithm.LMS)
    assert s.tie_breaker == TieBreaker(TieBreakerMode.NODE_ID, 3)
    assert s.tls == TlsSupported.REQUIRED
    assert s.heartbeat_interval_ms == 1000  # 800 clamped up to the minimum
    assert s.cast_vote_timer_interval_ms == 500
    assert s.connect_timeout_ms == 2500 and s.force_ip_version == 4
    assert not s.keep_active_partition_tie_breaker
    assert s.config_nodes == (NodeInfo(1, 7), NodeInfo(3))
    assert s.config_version == 42 and s.wait_for_all
    assert s.heuristics.mode == "sync" and s.heuristics.execs == (("ping", "/bin/true"),)
    assert s.heuristics.timeout_ms == 500 and s.heuristics.sync_timeout_ms == 1000
    assert s.cert_dir == "/srv/qdevice"
    assert s.tls_files.ca_file == "/srv/qdevice/ca.crt"
    assert s.tls_files.cert_file == "/srv/qdevice/cluster.crt"
    assert s.tls_files.key_file == "/srv/qdevice/cluster.key"


def test_heuristics_without_commands_are_off() -> None:
    device = NET + "        }\n        heuristics {\n            mode: on\n        }\n"
    assert settings_from_config(parse_text(conf(device)), 1).heuristics.mode == "off"


@pytest.mark.parametrize(
    ("device", "nodes", "message"),
    [
        (
            "        model: net\n        net {\n            host: q\n        }\n",
            "",
            "quorum.device.votes configuration key is set to 1",
        ),
        (
            NET + "            algorithm: test\n        }\n",
            "",
            "Test algorithm is not enabled",
        ),
        (
            NET + "        }\n",
            "    node {\n        nodeid: 1\n        ring0_addr: 10.0.0.1\n"
            "        quorum_votes: 2\n    }\n"
            "    node {\n        nodeid: 2\n        ring0_addr: 10.0.0.2\n    }\n",
            "Node 1 has 2 votes",
        ),
    ],
)
def test_refusals(device: str, nodes: str, message: str) -> None:
    with pytest.raises(QdeviceSettingsError, match=message):
        settings_from_config(parse_text(conf(device, nodes)), 1)


def test_test_algorithm_when_enabled() -> None:
    config = parse_text(conf(NET + "            algorithm: test\n        }\n"))
    s = settings_from_config(config, 1, test_algorithm_enabled=True)
    assert s.algorithm == DecisionAlgorithm.TEST
