"""One configuration check: ``python -m totem.config`` and ``pycorosync -t`` say the same thing.

Both run :func:`totem.config.check.check_config` -- what the daemon runs before it starts --
and print what ``corosync -t`` prints: warnings, then the refusal at ``file:line`` and
``Corosync Cluster Engine exiting with status 8.``, or ``Corosync Cluster Engine exiting
normally``. Files here bind the loopback address (local on every machine) or TEST-NET-2
addresses (local on none).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.config.conftext import conf, line_of, node
from totem.config import ConfigError
from totem.config.__main__ import main as check_main
from totem.config.check import EXIT_CONFIG, check_config
from totem.config.resolve import UnresolvedHost
from totem.node.assemble import make_transports
from totem.node.daemon import main as daemon_main

LOOPBACK = [node("127.0.0.1", 1), node("127.0.0.2", 2)]
EXITING_NORMALLY = "notice  [MAIN  ] Corosync Cluster Engine exiting normally"
EXITING_8 = "error   [MAIN  ] Corosync Cluster Engine exiting with status 8."
_STAMP = re.compile(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d\.\d{3} \[\d+\] \S+ pycorosync ")


def lines(stderr: str) -> list[str]:
    """Log lines without their time, pid and host."""
    out = []
    for line in stderr.splitlines():
        assert _STAMP.match(line), line
        out.append(_STAMP.sub("", line))
    return out


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "corosync.conf"
    path.write_text(text)
    return path


def no_names(host: str, family: int) -> list[tuple[int, str]]:
    raise UnresolvedHost("Name or service not known")


# --------------------------------------------------------------------------- the check


def test_host_name_resolved_and_the_local_node_found_by_it(tmp_path: Path) -> None:
    path = write(tmp_path, conf(nodes=[node("localhost", 1), node("127.0.0.2", 2)]))
    checked = check_config(path, nodeid=1)
    assert checked.local_node.nodeid == 1
    assert checked.local_node.ring0_addr == "localhost"
    assert checked.local_node.addresses == ("127.0.0.1",)
    # no --nodeid: the ring address resolves to a local address, as corosync finds it
    found = check_config(path, local_addresses=["127.0.0.1"], hostnames=["vm"])
    assert found.local_node.nodeid == 1


def test_a_name_that_does_not_resolve(tmp_path: Path) -> None:
    text = conf(nodes=[node("127.0.0.1", 1), node("nowhere.invalid", 2)])
    with pytest.raises(ConfigError) as info:
        check_config(write(tmp_path, text), nodeid=1, lookup=no_names)
    assert str(info.value) == (
        f"{tmp_path}/corosync.conf:{line_of(text, 'nowhere')}: failed to parse node address "
        "'nowhere.invalid': Name or service not known"
    )


@pytest.mark.parametrize("totem", ["transport: knet", ""], ids=["knet", "no transport"])
def test_knet_runs_with_or_without_a_transport_line(tmp_path: Path, totem: str) -> None:
    text = conf(totem, nodes=LOOPBACK).replace("    transport: udpu\n", "")
    path = write(tmp_path, text)
    checked = check_config(path, nodeid=1)
    assert checked.config.totem.transport == "knet"
    # the daemon builds knet's per-link sockets from the same configuration
    sockets = make_transports(checked.config, checked.local_node, lambda *_: None)
    assert [(s.link, s.local_address, s.port) for s in sockets.values()] == [(0, "127.0.0.1", 5405)]


def test_the_node_refuses_a_knet_key_it_cannot_read_and_so_does_the_check(
    tmp_path: Path,
) -> None:
    text = conf(f"secauth: on\nkeyfile: {tmp_path}/short", nodes=LOOPBACK, transport="knet")
    (tmp_path / "short").write_bytes(bytes(64))
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        check_config(path, nodeid=1)
    assert str(info.value) == (f"{tmp_path}/short: could only read 512 bits of minimum 1024 bits")


def test_no_nodelist_entry_for_this_machine(tmp_path: Path) -> None:
    text = conf(nodes=[node("198.51.100.1", 1), node("198.51.100.2", 2)])
    with pytest.raises(ConfigError) as info:
        check_config(write(tmp_path, text), local_addresses=["127.0.0.1"], hostnames=["vm"])
    assert "no nodelist entry matches this machine" in str(info.value)


def test_an_unreadable_key_is_refused(tmp_path: Path) -> None:
    crypto = f"crypto_cipher: aes256\ncrypto_hash: sha256\nkeyfile: {tmp_path}/none"
    with pytest.raises(ConfigError) as info:
        check_config(write(tmp_path, conf(crypto, nodes=LOOPBACK)), nodeid=1)
    assert str(info.value) == f"{tmp_path}/none: could not read key: No such file or directory"


# --------------------------------------------------------------------------- the two commands


CASES: dict[str, tuple[str, list[str], int]] = {
    "good": (
        conf("foo: 1", nodes=LOOPBACK),
        ["warning [MAIN  ] {path}:5: unknown key 'totem.foo'"],
        0,
    ),
    "host name": (conf(nodes=[node("localhost", 1), node("127.0.0.2", 2)]), [], 0),
    "knet": (conf("transport: knet", nodes=LOOPBACK).replace("    transport: udpu\n", ""), [], 0),
    "no transport": (conf(nodes=LOOPBACK).replace("    transport: udpu\n", ""), [], 0),
    "knet key too short": (
        conf("secauth: on\nkey: short", nodes=LOOPBACK, transport="knet"),
        ["error   [MAIN  ] {path}:6: key is too short (6 bytes with its NUL, at least 128)"],
        8,
    ),
    "unresolved": (
        conf(nodes=[node("127.0.0.1", 1), node("no-such-host.invalid", 2)]),
        ["error   [MAIN  ] {path}:13: failed to parse node address 'no-such-host.invalid': "],
        8,
    ),
    "grammar": ("totem {\n", ["error   [MAIN  ] {path}:1: missing closing brace"], 8),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_checker_and_daemon_test_mode_print_the_same(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, expected, status = CASES[case]
    path = write(tmp_path, text)
    assert check_main(["-c", str(path), "--nodeid", "1"]) == status
    checker = lines(capsys.readouterr().err)
    assert daemon_main(["-t", "-c", str(path), "--nodeid", "1"]) == status
    daemon = lines(capsys.readouterr().err)
    assert checker == daemon
    want = [line.format(path=path) for line in expected]
    want.append(EXITING_NORMALLY if status == 0 else EXITING_8)
    assert len(checker) == len(want), checker
    for got, prefix in zip(checker, want, strict=True):
        assert got.startswith(prefix), (got, prefix)
    assert status in (0, EXIT_CONFIG)


def test_json_output_has_the_local_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    path = write(tmp_path, conf(nodes=[node("localhost", 1), node("127.0.0.2", 2)]))
    assert check_main(["-c", str(path), "--nodeid", "1", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["local_node"]["nodeid"] == 1
    assert data["local_node"]["resolved"] == ["127.0.0.1"]
    assert data["nodes"][0]["ring0_addr"] == "localhost"
    assert data["timers"]["token"] == 3000
