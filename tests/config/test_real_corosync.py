"""Cross-check with the real corosync 3.1.7: ``corosync -t`` tests a config and exits.

It starts nothing (no sockets, no cluster): it parses the file, reads the totem config
(resolving host names, finding the local node, reading the key) and validates it, then exits
-- 0 when the file is acceptable.  Each case asserts that our check (``pycorosync -t``,
:func:`totem.config.check.check_config`, on the same machine) accepts exactly the files
corosync accepts (and, for grammar errors, that the parser blames the same line), except for
the documented deliberate differences at the end.  Quorum checks are not part of ``-t``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.config.conftext import node
from totem.config import ConfigError, parse_text
from totem.config.check import check_config

COROSYNC = shutil.which("corosync") or "/usr/sbin/corosync"

pytestmark = [
    pytest.mark.skipif(
        not (os.access(COROSYNC, os.X_OK) and os.geteuid() == 0),
        reason="needs the corosync binary and root (it chdirs to state_dir, uses /dev/shm)",
    ),
    pytest.mark.timeout(120),
]

LOCAL_NODES = [node("127.0.0.1", 1), node("127.0.0.2", 2)]


def config(
    totem: str = "",
    *,
    transport: str = "udpu",
    nodes: list[str] | None = None,
    state_dir: Path,
    cluster_name: str | None = "testclu",
) -> str:
    lines = ["totem {", "    version: 2", f"    transport: {transport}"]
    if cluster_name is not None:
        lines.append(f"    cluster_name: {cluster_name}")
    lines += [f"    {line}" for line in totem.splitlines()]
    lines += ["}", "system {", f"    state_dir: {state_dir}", "}"]
    lines += ["logging {", "    to_syslog: no", "    to_stderr: yes", "}", "nodelist {"]
    lines += nodes if nodes is not None else LOCAL_NODES
    lines += ["}"]
    return "\n".join(lines) + "\n"


def corosync_test(text: str, directory: Path) -> tuple[bool, str]:
    """Run ``corosync -t`` on ``text``; (accepted, output)."""
    path = directory / "corosync.conf"
    path.write_text(text)
    process = subprocess.Popen(
        [COROSYNC, "-t", "-c", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=directory,
    )
    try:
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for leftover in Path("/dev/shm").glob(f"qb-corosync-{process.pid}-*"):
            leftover.unlink(missing_ok=True)
    return process.returncode == 0, output


def ours(text: str, directory: Path) -> tuple[bool, str]:
    path = directory / "ours.conf"
    path.write_text(text)
    try:
        check_config(path)
    except ConfigError as exc:
        return False, str(exc)
    return True, ""


AGREED: list[tuple[str, dict[str, object]]] = [
    ("plain", {}),
    ("token", {"totem": "token: 5000"}),
    ("three nodes", {"nodes": [*LOCAL_NODES, node("127.0.0.3", 3)]}),
    ("unknown key", {"totem": "foo: bar"}),
    ("booleans", {"totem": "block_unlisted_ips: no\ncancel_token_hold_on_retransmit: yes"}),
    ("udp derived group", {"transport": "udp"}),
    ("udp group and ttl", {"transport": "udp", "totem": "interface {\nmcastaddr: 239.9.9.9\n"
                                                      "ttl: 5\n}"}),
    ("udp broadcast", {"transport": "udp", "cluster_name": None,
                       "totem": "interface {\nbroadcast: yes\n}"}),
    ("generated ids", {"nodes": [node("127.0.0.1"), node("127.0.0.2")]}),
    ("high bit", {"totem": "clear_node_high_bit: yes", "nodes": [node("127.0.0.1")]}),
    ("hold floor", {"totem": "hold: 14"}),
    ("tiny token, ids generated", {
        "totem": "token: 20\ntoken_retransmit: 40\nhold: 30\nconsensus: 2000",
        "nodes": [node("127.0.0.1"), node("127.0.0.2")],
    }),
    ("zero means default", {"totem": "token: 0\njoin: 0\nconsensus: 0"}),
    # refused by both
    ("consensus below join", {"totem": "consensus: 40"}),
    ("derived consensus below join", {"totem": "join: 5000"}),
    ("explicit both", {"totem": "join: 100\nconsensus: 60"}),
    ("hold", {"totem": "hold: 13"}),
    ("token warning", {"totem": "token_warning: 101"}),
    ("merge", {"totem": "merge: 29"}),
    ("retransmit const", {"totem": "token_retransmits_before_loss_const: 200"}),
    ("tiny token, explicit ids", {
        "totem": "token: 20\ntoken_retransmit: 40\nhold: 30\nconsensus: 2000",
    }),
    ("not an integer", {"totem": "token: 3s"}),
    ("u16 overflow", {"totem": "interface {\nmcastport: 65536\n}"}),
    ("version", {"totem": "version: 1"}),
    ("transport", {"transport": "tcp"}),
    ("ip_version", {"totem": "ip_version: 4"}),
    ("cipher", {"totem": "crypto_cipher: 3des"}),
    ("cipher without hash", {"totem": "crypto_cipher: aes256"}),
    ("ttl with udpu", {"totem": "interface {\nttl: 2\n}"}),
    ("duplicate id", {"nodes": [node("127.0.0.1", 1), node("127.0.0.2", 1)]}),
    ("generated duplicate", {"nodes": [node("127.0.0.1", 2130706433), node("127.0.0.1")]}),
    ("ipv6 without id", {"nodes": [node("127.0.0.1", 1), node("::1")]}),
    ("udp without group", {"transport": "udp", "cluster_name": None}),
    ("udp unicast group", {"transport": "udp", "totem": "interface {\nmcastaddr: 10.1.1.1\n}"}),
    ("empty second link", {"totem": "interface {\nlinknumber: 1\n}"}),
    ("second link udpu", {"totem": "interface {\nlinknumber: 1\nmcastport: 5000\n}"}),
    ("ring1 without rrp", {"nodes": [node("127.0.0.1", 1, ring1_addr="127.0.1.1")]}),
    # host names: resolved (the first address of ip_version's family), the local node found
    ("host name", {"nodes": [node("localhost", 1), node("127.0.0.2", 2)]}),
    ("id from a host name", {"nodes": [node("localhost"), node("127.0.0.2", 2)]}),
    ("unresolvable", {"nodes": [node("127.0.0.1", 1), node("no-such-host.invalid", 2)]}),
    ("no local node", {"nodes": [node("198.51.100.1", 1), node("198.51.100.2", 2)]}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "settings"), AGREED, ids=[case for case, _ in AGREED])
def test_same_verdict_as_corosync(case: str, settings: dict[str, object], tmp_path: Path) -> None:
    text = config(state_dir=tmp_path, **settings)  # type: ignore[arg-type]
    theirs, output = corosync_test(text, tmp_path)
    mine, message = ours(text, tmp_path)
    assert mine == theirs, f"{case}: corosync says {output!r}, we say {message!r}"


GRAMMAR = [
    ("stray word", "totem {\n    version: 2\n    oops\n}\n"),
    ("extra brace", "totem {\n}\n}\n"),
    ("brace in value", "totem {\n    cluster_name: a{b}\n}\n"),
    ("no section name", "{\n}\n"),
    ("closing text", "totem {\n} x\n"),
    ("too long", "totem {\n    cluster_name: " + "x" * 500 + "\n}\n"),
    ("bad key", "totem {\n    to ken: 5\n}\n"),
    ("u8", "quorum {\n    two_node: yes\n}\n"),
    ("node id", "nodelist {\n    node {\n        nodeid: x\n    }\n}\n"),
]


@pytest.mark.parametrize(("case", "text"), GRAMMAR, ids=[case for case, _ in GRAMMAR])
def test_same_grammar_error_line_as_corosync(case: str, text: str, tmp_path: Path) -> None:
    theirs, output = corosync_test(text, tmp_path)
    assert not theirs
    match = re.search(r"parser error: .*corosync\.conf:(\d+): ", output)
    assert match is not None, output
    with pytest.raises(ConfigError) as info:
        parse_text(text, "corosync.conf")
    assert info.value.line == int(match.group(1)), (output, str(info.value))


def test_known_differences(tmp_path: Path) -> None:
    """Where we are deliberately stricter or more permissive than corosync -t."""
    stricter = [
        config("block_unlisted_ips: maybe", state_dir=tmp_path),  # corosync: default (yes)
        # the same address twice (localhost is 127.0.0.1): corosync does not check
        config(state_dir=tmp_path, nodes=[node("127.0.0.1", 1), node("localhost", 2)]),
    ]
    for text in stricter:
        assert corosync_test(text, tmp_path)[0] is True
        assert ours(text, tmp_path)[0] is False
    rrp = config(
        "rrp_mode: passive",
        state_dir=tmp_path,
        nodes=[
            node("127.0.0.1", 1, ring1_addr="127.0.1.1", name="a"),
            node("127.0.0.2", 2, ring1_addr="127.0.1.2", name="b"),
        ],
    )
    accepted, output = corosync_test(rrp, tmp_path)
    assert not accepted
    assert "too many configured interfaces for non-Knet transport" in output
    assert ours(rrp, tmp_path)[0] is True
    # An unclosed section: corosync blames the last line, we blame the opening one.
    text = "totem {\n    version: 2\n\n\n"
    output = corosync_test(text, tmp_path)[1]
    assert "corosync.conf:4: Missing closing brace" in output
    assert ours(text, tmp_path)[1] == f"{tmp_path}/ours.conf:1: missing closing brace"
