"""corosync.conf as Proxmox writes it, and the propagation rules (ref 1.1, 4.7)."""

from __future__ import annotations

import pytest

from pvecluster.corosync.conf import (
    ConfError,
    Link,
    config_version,
    create_conf,
    parse_conf,
    parse_link,
    write_conf,
)
from pvecluster.corosync.propagate import plan_sync

KNET = """\
logging {
  debug: off
  to_syslog: yes
}

nodelist {
  node {
    name: hp1
    nodeid: 1
    quorum_votes: 1
    ring0_addr: 192.168.15.91
  }
}

quorum {
  provider: corosync_votequorum
}

totem {
  cluster_name: demo
  config_version: 1
  interface {
    knet_link_priority: 5
    linknumber: 0
  }
  ip_version: ipv4-6
  link_mode: passive
  secauth: on
  token_coefficient: 125
  version: 2
}

"""


def test_create_conf_writes_proxmox_knet_file() -> None:
    conf = create_conf("hp1", "demo", {0: Link("192.168.15.91", 5)}, token_coefficient=125,
                       transport="knet")  # fmt: skip
    conf.totem["config_version"] = 1
    assert write_conf(conf) == KNET


def test_udpu_leaves_out_the_knet_keys() -> None:
    conf = create_conf("hp1", "demo", {0: Link("10.0.0.1", 5)}, transport="udpu")
    text = write_conf(conf)
    assert "  transport: udpu\n" in text
    assert "link_mode" not in text and "knet_link_priority" not in text


def test_parse_and_write_round_trip_sorts_nodes_by_name() -> None:
    conf = parse_conf(KNET)
    conf.nodelist["hp0"] = {"name": "hp0", "nodeid": 2, "quorum_votes": 1, "ring0_addr": "x"}
    text = write_conf(conf)
    assert text.index("name: hp0") < text.index("name: hp1")
    assert write_conf(parse_conf(text)) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "totem { a: 1 }\ntotem { b: 2 }",
            "section 'totem' already exists and not marked as array!",
        ),
        ("totem { a 1 }", "missing ':' after key 'a'"),
        ("}", "parse error - uncexpected '}'"),
        ("totem { a:", "parse error - no value for 'a'"),
    ],
)
def test_parse_errors_are_proxmox_messages(text: str, message: str) -> None:
    with pytest.raises(ConfError, match=message.replace("(", r"\(")):
        parse_conf(text)


def test_config_version_is_the_first_match_even_in_a_comment() -> None:
    assert config_version(b"# config_version: 7\ntotem {\n config_version: 9\n}") == 7
    assert config_version(b"totem {}") == 0


def test_link_property_strings() -> None:
    assert parse_link("10.0.0.1") == Link("10.0.0.1")
    assert parse_link("address=10.0.0.1,priority=20") == Link("10.0.0.1", 20)
    with pytest.raises(ValueError, match="priority"):
        parse_link("10.0.0.1,priority=300")


def test_propagation_rules() -> None:
    v2, v3 = b"config_version: 2\n", b"config_version: 3\n"
    assert not plan_sync(b"", v2, True, "f").write
    bad = plan_sync(b"totem {}", v2, True, "f")
    assert not bad.write and bad.message == "unable to parse cluster config_version"
    assert not plan_sync(v2, v2, True, "f").write
    older = plan_sync(v2, v3, True, "f")
    assert not older.write and older.message == "local corosync.conf is newer"
    newer = plan_sync(v3, v2, True, "f")
    assert newer.write and newer.reload
    assert newer.message == "wrote new corosync config 'f' (version = 3)"
    assert not plan_sync(v3, v2, False, "f").reload  # only the originator reloads
    assert not plan_sync(v3, None, True, "f").reload  # no local file before: no reload
    same_version = plan_sync(b"config_version: 2\n#x\n", v2, True, "f")
    assert same_version.write
