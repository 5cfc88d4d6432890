"""The corosync.conf editor's checks, ``config_version`` and diff; the join string."""

from __future__ import annotations

import base64
import json

import pytest

from pvecluster.web.editor import check_edit, digest_of
from pvecluster.web.joininfo import JoinInfo, join_string, parse_join_string

from .confs import NODE3, conf_text

CURRENT = conf_text()
TEXT = CURRENT.decode()


def edited(old: str, new: str, text: str = TEXT) -> str:
    assert old in text
    return text.replace(old, new, 1)


def test_an_edit_gets_the_next_config_version_and_a_diff() -> None:
    check = check_edit(
        CURRENT, edited("  cluster_name: demo\n", "  cluster_name: demo\n  token: 5000\n")
    )
    assert check.ok, check.errors
    assert check.version == 4 and check.current_version == 3 and check.raised
    assert check.notes == ["config_version raised from 3 to 4"]
    assert "  token: 5000\n  config_version: 4\n" in check.text
    assert check.diff == (
        "--- a/etc/pve/corosync.conf\n"
        "+++ b/etc/pve/corosync.conf\n"
        "@@ -30,7 +30,8 @@\n"
        " \n"
        " totem {\n"
        "   cluster_name: demo\n"
        "-  config_version: 3\n"
        "+  token: 5000\n"
        "+  config_version: 4\n"
        "   interface {\n"
        "     linknumber: 0\n"
        "   }\n"
    )
    # the engine's warnings about this file come with their line
    assert any(w.startswith("/etc/pve/corosync.conf:") for w in check.warnings)
    # saving the checked text needs no other raise
    again = check_edit(CURRENT, check.text)
    assert again.ok and again.text == check.text and not again.raised


def test_a_version_the_user_raised_is_kept() -> None:
    check = check_edit(CURRENT, edited("config_version: 3", "config_version: 9"))
    assert check.ok and check.version == 9 and not check.raised and check.notes == []


def test_a_missing_version_is_inserted() -> None:
    check = check_edit(CURRENT, edited("  config_version: 3\n", ""))
    assert check.ok, check.errors
    assert "totem {\n  config_version: 4\n  cluster_name: demo\n" in check.text


def test_grammar_and_value_errors_name_file_and_line() -> None:
    check = check_edit(CURRENT, edited("  secauth: on\n", "  secauth on\n"))
    assert check.errors == [
        "/etc/pve/corosync.conf:38: line is not opening or closing section or key value"
    ]
    assert check.diff == "" and not check.ok
    text = edited("  cluster_name: demo\n", "  cluster_name: demo\n  token: soon\n")
    assert check_edit(CURRENT, text).errors == [
        '/etc/pve/corosync.conf:33: value of key "totem.token" is expected to be integer in '
        'range (0..4294967295), but "soon" was given'
    ]


def test_no_change_is_refused() -> None:
    assert check_edit(CURRENT, TEXT).errors == ["no changes"]


def test_the_first_config_version_must_be_totems() -> None:
    check = check_edit(CURRENT, "# config_version: 1\n" + TEXT)
    assert check.errors == [
        "/etc/pve/corosync.conf: the first 'config_version:' of the file says 1, not the totem "
        "section's 4; pmxcfs reads the first one (remove the other)"
    ]


def test_proxmox_checks_apply() -> None:
    text = edited("  secauth: on\n", "  rrp_mode: passive\n  secauth: on\n")
    for n in (1, 2, 3):
        address = f"    ring0_addr: 127.0.0.{n}\n"
        text = edited(address, f"{address}    ring1_addr: 127.0.1.{n}\n", text)
    check = check_edit(CURRENT, text)
    assert check.errors == [
        f"node 'node{n}' has 'ring1_addr', but there is no interface number 1 configured"
        for n in (1, 2, 3)
    ]


def test_a_reload_the_nodes_would_refuse_is_an_error() -> None:
    check = check_edit(CURRENT, edited("ring0_addr: 127.0.0.2", "ring0_addr: 127.0.0.22"))
    assert check.errors == [
        "every node would refuse to reload this file: /etc/pve/corosync.conf:13: new config "
        "has different address for link 0 of node 2 (addr changed from 127.0.0.2 to "
        "127.0.0.22). To reconfigure an interface it must be deleted and recreated"
    ]


def test_keys_applied_only_at_restart_and_removed_nodes_are_warnings() -> None:
    text = edited("  cluster_name: demo\n", "  cluster_name: prod\n")
    check = check_edit(CURRENT, text)
    assert check.ok, check.errors
    assert (
        "Modified entry 'totem.cluster_name' in corosync.conf cannot be changed at run-time: it "
        "applies when each node's engine restarts"
    ) in check.warnings
    removed = edited(NODE3, "")
    check = check_edit(CURRENT, removed)
    assert check.ok, check.errors
    assert (
        "node3 is removed from the nodelist here; 'Remove' (pvecm delnode) also stops its engine"
    ) in check.warnings


def test_digest_is_proxmoxs_sha1() -> None:
    assert digest_of(b"abc") == "a9993e364706816aba3e25717850c26c9cd0d89d"
    assert digest_of(None) == ""


# ---------------------------------------------------------------------- join information
INFO = {
    "nodelist": [
        {"name": "node1", "nodeid": "1", "ring0_addr": "127.0.0.1", "pve_addr": "127.0.0.1",
         "pve_fp": "AB:" * 31 + "CD"},
        {"name": "node2", "nodeid": "2", "ring0_addr": "127.0.0.2", "pve_addr": "127.0.0.2"},
    ],
    "preferred_node": "node1",
    "totem": {"cluster_name": "demo", "config_version": "3"},
    "config_digest": "x",
}  # fmt: skip


def test_join_string_is_proxmoxs_base64_json() -> None:
    data = json.loads(base64.b64decode(join_string(INFO)))
    assert data == {
        "ipAddress": "127.0.0.1",
        "fingerprint": "AB:" * 31 + "CD",
        "peerLinks": {"0": "127.0.0.1"},
        "ring_addr": ["127.0.0.1"],
        "totem": {"cluster_name": "demo", "config_version": "3"},
    }
    assert parse_join_string(join_string(INFO)) == JoinInfo(
        "127.0.0.1", "AB:" * 31 + "CD", 8006, ((0, "127.0.0.1"),)
    )
    # pasted with line breaks, on another port
    pasted = join_string(INFO, port=8443)
    assert parse_join_string(pasted[:20] + "\n" + pasted[20:]).port == 8443


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the join information is empty: paste it from the cluster's panel"),
        ("not base64!", "this is not join information (base64 of a JSON object)"),
        (
            base64.b64encode(b"[1]").decode(),
            "this is not join information (base64 of a JSON object)",
        ),
        (
            base64.b64encode(b'{"fingerprint": "x"}').decode(),
            "the join information has no ipAddress",
        ),
        (
            base64.b64encode(b'{"ipAddress": "1.2.3.4", "fingerprint": "AB:CD"}').decode(),
            "the join information has no valid fingerprint",
        ),
    ],
)
def test_join_string_errors(text: str, message: str) -> None:
    with pytest.raises(
        ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"
    ):
        parse_join_string(text)
