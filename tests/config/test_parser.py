"""The corosync.conf line grammar, rule by rule (ref totem-wire.md section 12)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from totem.config import ConfigError, parse_text
from totem.config.parser import Item, Section, parse


def error_of(text: str, path: str = "corosync.conf") -> str:
    with pytest.raises(ConfigError) as info:
        parse(text, path)
    return str(info.value)


def only_item(text: str) -> Item:
    root = parse(text, "c.conf")
    (section,) = root.sections
    (item,) = section.items
    return item


# --------------------------------------------------------------------------- structure


def test_tree_with_line_numbers() -> None:
    text = "# head\ntotem {\n    version: 2\n\n    interface {\n        ttl: 1\n    }\n}\n"
    root = parse(text, "c.conf")
    assert root == Section(
        name="",
        path="",
        line=0,
        end_line=8,
        entries=(
            Section(
                name="totem",
                path="totem",
                line=2,
                end_line=8,
                entries=(
                    Item("version", "2", 3),
                    Section(
                        name="interface",
                        path="totem.interface",
                        line=5,
                        end_line=7,
                        entries=(Item("ttl", "1", 6),),
                    ),
                ),
            ),
        ),
    )


def test_empty_file_is_an_empty_tree() -> None:
    assert parse("", "c.conf") == Section("", "", 0, 0, ())
    assert parse("\n\n   \n\t\n", "c.conf").entries == ()


def test_empty_file_has_no_totem_section() -> None:
    with pytest.raises(ConfigError) as info:
        parse_text("", "corosync.conf")
    assert str(info.value) == (
        "corosync.conf: no totem section (totem { version: 2 ... } is mandatory)"
    )


def test_entries_keep_file_order() -> None:
    root = parse("a {\n x: 1\n b {\n }\n y: 2\n}\n", "c.conf")
    (a,) = root.sections
    assert [type(e).__name__ for e in a.entries] == ["Item", "Section", "Item"]
    assert a.items == (Item("x", "1", 2), Item("y", "2", 5))


# --------------------------------------------------------------------------- key: value


def test_value_split_at_first_colon_keeps_ipv6() -> None:
    assert only_item("n {\n ring0_addr: fe80::1:2\n}\n") == Item("ring0_addr", "fe80::1:2", 2)


def test_key_and_value_trimmed_of_blanks_only() -> None:
    assert only_item("n {\n\t key \t:\t value with  spaces \t\n}\n") == Item(
        "key", "value with  spaces", 2
    )


def test_empty_value_is_allowed() -> None:
    assert only_item("n {\n key:\n}\n") == Item("key", "", 2)


def test_hash_inside_a_value_is_kept() -> None:
    assert only_item("n {\n cluster_name: a#b\n}\n").value == "a#b"
    assert only_item("n {\n transport: udpu   # not a comment\n}\n").value == (
        "udpu   # not a comment"
    )


def test_comment_lines_with_leading_blanks() -> None:
    root = parse("# c\n   # c\n\t#c {\nn {\n  # x: 1\n}\n", "c.conf")
    assert root.sections[0].entries == ()


def test_no_include_directive() -> None:
    assert only_item("n {\n include: /etc/other.conf\n}\n") == Item("include", "/etc/other.conf", 2)


def test_missing_key_name() -> None:
    assert error_of("n {\n : v\n}\n") == "corosync.conf:2: missing key name before ':'"


def test_key_names_follow_cmap_rules() -> None:
    assert error_of("n {\n to ken: 5\n}\n") == (
        "corosync.conf:2: invalid key name 'to ken' (allowed: letters, digits and '._-/:')"
    )
    # Only space and tab are blanks: a vertical tab is part of the key.
    assert "invalid key name" in error_of("n {\n\x0bkey: v\n}\n")


def test_key_path_length_limit() -> None:
    ok = "k" * (255 - len("nodelist.") - 1)
    parse(f"nodelist {{\n {ok}: v\n}}\n", "c.conf")
    assert error_of(f"nodelist {{\n {ok}x: v\n}}\n") == (
        "corosync.conf:2: new key makes total cmap path too long"
    )
    assert error_of(f"nodelist {{\n {ok}x {{\n}}\n}}\n") == (
        "corosync.conf:2: start of section makes total cmap path too long"
    )


# --------------------------------------------------------------------------- sections


@pytest.mark.parametrize("opening", ["totem {", "totem{", "totem:{", "totem: {", "\t totem \t{ \t"])
def test_section_opening_spellings(opening: str) -> None:
    root = parse(f"{opening}\n}}\n", "c.conf")
    assert root.sections[0].name == "totem"


def test_brace_test_runs_before_colon_test() -> None:
    # "key: value{" opens a section called "key: value" ...
    root = parse("n {\n key: value{\n }\n}\n", "c.conf")
    assert root.sections[0].sections[0].name == "key: value"
    # ... and a value with text after "{" is an error.
    assert error_of("n {\n cluster_name: a{b}\n}\n") == (
        "corosync.conf:2: extra characters after opening bracket '{'"
    )


def test_missing_section_name() -> None:
    assert error_of("{\n}\n") == (
        "corosync.conf:1: missing section name before opening bracket '{'"
    )


def test_unclosed_section_names_its_opening_line() -> None:
    text = "totem {\n version: 2\n}\n\nquorum {\n provider: x\n device {\n }\n"
    assert error_of(text) == "corosync.conf:5: missing closing brace"
    assert error_of("\n" * 11 + "totem {\n") == "corosync.conf:12: missing closing brace"


def test_extra_closing_brace_names_its_line() -> None:
    assert error_of("totem {\n}\n}\n") == "corosync.conf:3: unexpected closing brace"


def test_closing_brace_must_stand_alone() -> None:
    message = "corosync.conf:2: extra characters before or after closing bracket '}'"
    assert error_of("n {\n} x\n") == message
    assert error_of("n {\n}}\n") == message


def test_line_that_is_nothing() -> None:
    assert error_of("n {\n just words\n}\n") == (
        "corosync.conf:2: line is not opening or closing section or key value"
    )


# --------------------------------------------------------------------------- line handling


def test_line_length_limit_is_510_bytes() -> None:
    value = "v" * (510 - len("k: "))
    assert only_item(f"n {{\nk: {value}\n}}\n").value == value
    assert error_of(f"n {{\nk: {value}x\n}}\n") == "corosync.conf:2: line too long"
    # The limit counts the carriage return of a CRLF line ...
    assert only_item(f"n {{\nk: {value[:-1]}\r\n}}\n").value == value[:-1]
    assert error_of(f"n {{\nk: {value}\r\n}}\n") == "corosync.conf:2: line too long"
    # ... and bytes, not characters (é is two bytes in UTF-8).
    assert error_of(f"n {{\nk: {'é' * 254}\n}}\n") == "corosync.conf:2: line too long"
    # A last line without newline obeys the same limit.
    assert error_of(f"n {{\n}}\nk: {value}x") == "corosync.conf:3: line too long"


def test_crlf_file_parses_like_lf() -> None:
    text = "totem {\n    version: 2\n    interface {\n        ttl: 1\n    }\n}\n"
    assert parse(text.replace("\n", "\r\n"), "c.conf") == parse(text, "c.conf")


def test_only_one_trailing_carriage_return_is_dropped() -> None:
    assert only_item("n {\r\n k: v\r\r\n}\r\n").value == "v\r"


def test_lone_carriage_return_is_not_a_line_break() -> None:
    assert only_item("n {\n k: a\rb\n}\n").value == "a\rb"


def test_nul_is_refused() -> None:
    assert error_of("n {\n k: a\0b\n}\n") == "corosync.conf:2: line contains a NUL character"


def test_last_line_without_newline() -> None:
    root = parse("n {\n k: v\n}", "c.conf")
    assert root.end_line == 3
    assert root.sections[0].end_line == 3


def test_error_carries_path_and_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse("x\n", "/etc/corosync/corosync.conf")
    assert (info.value.path, info.value.line) == ("/etc/corosync/corosync.conf", 1)
    assert info.value.message == "line is not opening or closing section or key value"


# --------------------------------------------------------------------------- robustness

_TOKENS = [
    "totem", "nodelist", "node", "quorum", "device", "net", "heuristics", "interface",
    "logging", "logger_subsys", "system", "member", "version", "2", "0", "1", "-1",
    "4294967296", "cluster_name", "transport", "udp", "udpu", "knet", "ring0_addr",
    "ring1_addr", "ring9_addr", "nodeid", "127.0.0.1", "10.0.0.2", "::1", "fe80::1",
    "token", "consensus", "join", "hold", "rrp_mode", "passive", "active", "secauth", "on",
    "crypto_cipher", "crypto_hash", "aes256", "sha1", "linknumber", "ringnumber",
    "mcastaddr", "239.192.1.1", "broadcast", "yes", "no", "ttl", "two_node",
    "wait_for_all", "auto_tie_breaker", "auto_tie_breaker_node", "lowest", "model",
    "votes", "host", "tls", "algorithm", "ffsplit", "tie_breaker", "subsys", "debug",
    "trace", "provider", "corosync_votequorum", "expected_votes", "name", "a.b.c",
    "block_unlisted_ips", "token_coefficient", "config_version", "key", "keyfile",
    "{", "}", ":", " ", "\t", "\n", "\r", "#", "é", "\0",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_only_raises_config_error(text: str) -> None:
    try:
        parse_text(text, "fuzz.conf")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.conf")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=120).map("".join))
def test_config_like_text_only_raises_config_error(text: str) -> None:
    try:
        parse_text(text, "fuzz.conf")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.conf")


_LINES = st.sampled_from(
    [
        "totem {", "}", "version: 2", "transport: udpu", "transport: udp", "cluster_name: x",
        "interface {", "linknumber: 1", "mcastport: 5405", "broadcast: yes", "ttl: 2",
        "rrp_mode: passive", "nodelist {", "node {", "ring0_addr: 127.0.0.1",
        "ring0_addr: 127.0.0.2", "ring1_addr: 127.0.1.1", "nodeid: 1", "nodeid: 2",
        "quorum_votes: 3", "quorum {", "provider: corosync_votequorum", "two_node: 1",
        "device {", "model: net", "net {", "host: 10.0.0.9", "votes: 1", "tls: required",
        "auto_tie_breaker: 1", "last_man_standing: 1", "wait_for_all: 0",
        "expected_votes: 3", "logging {", "logger_subsys {", "subsys: QUORUM", "debug: on",
        "token: 5", "consensus: 20", "secauth: on", "crypto_cipher: aes256",
        "key: short", "mcastaddr: 10.0.0.1", "system {", "state_dir: /tmp",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINES, max_size=60).map("\n".join))
def test_line_soup_only_raises_config_error(text: str) -> None:
    try:
        parse_text(text, "fuzz.conf")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.conf")
