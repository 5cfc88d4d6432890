"""From the parsed tree to cmap-style keys (ref totem-wire.md section 12; ``coroparse.c``).

corosync turns the tree into a flat map of dotted keys while reading the file:

* items become ``<section path>.<key>`` (``totem.token``, ``quorum.device.net.host``);
* the n-th ``nodelist { node { } }`` becomes ``nodelist.node.<n>.<key>``;
* ``totem { interface { } }`` becomes ``totem.interface.<linknumber>.<key>`` (``ringnumber`` is
  accepted as the 2.x spelling of ``linknumber``), and its ``member { memberaddr }``
  subsections ``totem.interface.<link>.member.<i>``;
* ``logging { logger_subsys { subsys: X } }`` becomes ``logging.logger_subsys.X.<key>``.

At the same time corosync checks the integer keys (u8/u16/u32/i32/u64) and a few enumerations,
refusing the file at the first bad value; this module does the same, in file order, and raises
:class:`ConfigError` at the value's line.  Keys and sections corosync does not know become
``file:line: unknown key 'totem.foo'`` / ``unknown section 'foo'`` warnings, never errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from totem.config.errors import ConfigError
from totem.config.parser import Item, Section
from totem.config.values import IntKind, parse_choice, parse_int

__all__ = ["ENUM_KEYS", "INT_KEYS", "Flat", "InterfaceSection", "flatten"]

T = TypeVar("T")

# Section paths corosync 3.1.7 (plus 2.x RRP) knows, with their known keys.
_U32_TOTEM = [
    "version",
    "nodeid",
    "threads",
    "token",
    "token_coefficient",
    "token_retransmit",
    "token_warning",
    "hold",
    "token_retransmits_before_loss_const",
    "join",
    "send_join",
    "consensus",
    "merge",
    "downcheck",
    "fail_recv_const",
    "seqno_unchanged_const",
    "rrp_token_expired_timeout",
    "rrp_problem_count_timeout",
    "rrp_problem_count_threshold",
    "rrp_problem_count_mcast_threshold",
    "rrp_autorecovery_check_timeout",
    "heartbeat_failures_allowed",
    "max_network_delay",
    "window_size",
    "max_messages",
    "miss_count_const",
    "knet_pmtud_interval",
    "knet_mtu",
    "knet_compression_threshold",
    "netmtu",
]
"""The totem keys typed u32 (corosync's ``totem.*`` timeouts and counts)."""

_TOTEM_KEYS = frozenset(
    [
        *_U32_TOTEM,
        "knet_compression_level",
        "knet_compression_model",
        "config_version",
        "ip_version",
        "crypto_model",
        "crypto_cipher",
        "crypto_hash",
        "secauth",
        "keyfile",
        "key",
        "cluster_name",
        "transport",
        "link_mode",
        "rrp_mode",
        "clear_node_high_bit",
        "block_unlisted_ips",
        "cancel_token_hold_on_retransmit",
    ]
)
_INTERFACE_KEYS = frozenset(
    [
        "linknumber",
        "ringnumber",
        "bindnetaddr",
        "mcastaddr",
        "broadcast",
        "mcastport",
        "ttl",
        "knet_link_priority",
        "knet_ping_interval",
        "knet_ping_timeout",
        "knet_ping_precision",
        "knet_pong_count",
        "knet_transport",
    ]
)
_LOG_TARGET_KEYS = frozenset(
    [
        "to_stderr",
        "to_logfile",
        "to_syslog",
        "to_file",
        "logfile",
        "logfile_priority",
        "syslog_facility",
        "syslog_priority",
        "syslog_level",
        "debug",
        "tags",
    ]
)
_LOGGING_KEYS = _LOG_TARGET_KEYS | frozenset(["timestamp", "fileline", "function_name", "blackbox"])
_QUORUM_KEYS = frozenset(
    [
        "provider",
        "expected_votes",
        "votes",
        "two_node",
        "wait_for_all",
        "last_man_standing",
        "last_man_standing_window",
        "auto_tie_breaker",
        "auto_tie_breaker_node",
        "allow_downscale",
        "expected_votes_tracking",
        "leaving_timeout",
    ]
)
_KNOWN_KEYS: dict[str, frozenset[str]] = {
    "totem": _TOTEM_KEYS,
    "totem.interface": _INTERFACE_KEYS,
    "totem.interface.member": frozenset({"memberaddr"}),
    "logging": _LOGGING_KEYS,
    "logging.logger_subsys": _LOG_TARGET_KEYS | frozenset({"subsys"}),
    "logging.logging_daemon": _LOG_TARGET_KEYS | frozenset({"subsys", "name"}),
    "quorum": _QUORUM_KEYS,
    "quorum.device": frozenset({"model", "votes", "timeout", "sync_timeout", "master_wins"}),
    "quorum.device.net": frozenset(
        [
            "host",
            "port",
            "algorithm",
            "tie_breaker",
            "tls",
            "connect_timeout",
            "force_ip_version",
            "keep_active_partition_tie_breaker",
        ]
    ),
    "nodelist": frozenset(),
    "nodelist.node": frozenset({"nodeid", "name", "quorum_votes"}),
    "system": frozenset(
        [
            "qb_ipc_type",
            "sched_rr",
            "priority",
            "move_to_root_cgroup",
            "allow_knet_handle_fallback",
            "state_dir",
            "metrics",
        ]
    ),
    "nozzle": frozenset({"name", "ipaddr", "ipprefix", "macaddr"}),
    "uidgid": frozenset({"uid", "gid"}),
}
_OPAQUE_SECTIONS = frozenset({"resources", "quorum.device.heuristics", "pload"})
"""Known sections whose content we keep raw without judging keys."""

_RING_ADDR = re.compile(r"ring([0-9]+)_addr")


INT_KEYS: dict[str, IntKind] = {
    **{f"totem.{k}": "u32" for k in _U32_TOTEM},
    "totem.knet_compression_level": "i32",
    "totem.config_version": "u64",
    "totem.interface.linknumber": "u8",
    "totem.interface.ringnumber": "u8",
    "totem.interface.mcastport": "u16",
    "totem.interface.ttl": "u8",
    "totem.interface.knet_link_priority": "u8",
    "totem.interface.knet_ping_interval": "u32",
    "totem.interface.knet_ping_timeout": "u32",
    "totem.interface.knet_ping_precision": "u32",
    "totem.interface.knet_pong_count": "u32",
    "quorum.expected_votes": "u32",
    "quorum.votes": "u32",
    "quorum.last_man_standing_window": "u32",
    "quorum.leaving_timeout": "u32",
    "quorum.two_node": "u8",
    "quorum.expected_votes_tracking": "u8",
    "quorum.allow_downscale": "u8",
    "quorum.wait_for_all": "u8",
    "quorum.auto_tie_breaker": "u8",
    "quorum.last_man_standing": "u8",
    "quorum.device.timeout": "u32",
    "quorum.device.sync_timeout": "u32",
    "quorum.device.votes": "u32",
    "quorum.device.master_wins": "u8",
    "nodelist.node.nodeid": "u32",
    "nodelist.node.quorum_votes": "u32",
    "resources.watchdog_timeout": "u32",
}
"""Keys corosync stores as integers while parsing (``main_config_parser_cb``)."""

ENUM_KEYS: dict[str, tuple[str, ...]] = {
    "totem.ip_version": ("ipv4", "ipv6", "ipv6-4", "ipv4-6"),
    "totem.crypto_cipher": ("none", "aes256", "aes192", "aes128"),
    "totem.crypto_hash": ("none", "md5", "sha1", "sha256", "sha384", "sha512"),
    "totem.crypto_model": ("nss", "openssl"),
    "totem.knet_compression_model": (
        "none",
        "zlib",
        "lz4",
        "lz4hc",
        "lzo2",
        "lzma",
        "bzip2",
        "zstd",
    ),
    "system.qb_ipc_type": ("native", "shm", "socket"),
    "system.sched_rr": ("yes", "no"),
    "system.move_to_root_cgroup": ("yes", "no", "auto"),
    "system.allow_knet_handle_fallback": ("yes", "no"),
}
"""Keys whose spelling corosync checks while parsing."""

_NAME = re.compile(r"[A-Za-z0-9._\-/:]+")


@dataclass(slots=True)
class InterfaceSection:
    """One ``interface { }`` block as written."""

    linknumber: int
    line: int
    values: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    members: list[tuple[str, int]] = field(default_factory=list)


@dataclass(slots=True)
class Flat:
    """The flat view of one file."""

    path: str
    raw: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    sections: dict[str, int] = field(default_factory=dict)
    """First line of each section, by path (``totem``, ``nodelist.node.0``, ``quorum.device``)."""
    interfaces: list[InterfaceSection] = field(default_factory=list)
    node_count: int = 0
    logger_subsys: list[str] = field(default_factory=list)
    """Subsystem names in file order."""

    def warn(self, line: int, message: str) -> None:
        self.warnings.append(f"{self.path}:{line}: {message}")

    def error(self, line: int | None, message: str) -> ConfigError:
        return ConfigError(self.path, line, message)

    def store(self, key: str, value: str, line: int) -> None:
        previous = self.lines.get(key)
        if previous is not None:
            self.warn(line, f"key {key!r} set again (overrides line {previous})")
        self.raw[key] = value
        self.lines[key] = line

    def check_value(self, schema_key: str, value: str, line: int, shown: str) -> None:
        """corosync's parse-time typing of ``schema_key`` (unindexed path)."""
        try:
            kind = INT_KEYS.get(schema_key)
            if kind is not None:
                parse_int(shown, value, kind)
            choices = ENUM_KEYS.get(schema_key)
            if choices is not None:
                parse_choice(shown, value, choices)
        except ValueError as exc:
            raise self.error(line, str(exc)) from None

    # --- typed reading, for the loaders ---
    def get(self, key: str) -> str | None:
        return self.raw.get(key)

    def line_of(self, key: str, section: str | None = None) -> int | None:
        """Line of ``key``, else of ``section`` (a path in :attr:`sections`), else None."""
        line = self.lines.get(key)
        if line is None and section is not None:
            line = self.sections.get(section)
        return line

    def get_int(self, key: str, kind: IntKind) -> int | None:
        value = self.raw.get(key)
        if value is None:
            return None
        try:
            return parse_int(key, value, kind)
        except ValueError as exc:
            raise self.error(self.lines.get(key), str(exc)) from None

    def get_typed(self, key: str, parse: Callable[[str, str], T]) -> T | None:
        """``parse(key, value)`` of ``key`` if present; its ValueError becomes a ConfigError."""
        value = self.raw.get(key)
        if value is None:
            return None
        try:
            return parse(key, value)
        except ValueError as exc:
            raise self.error(self.lines.get(key), str(exc)) from None

    def open_section(self, section: Section, path: str) -> None:
        first = self.sections.get(path)
        if first is None:
            self.sections[path] = section.line
        elif "." not in path or path in ("quorum.device", "quorum.device.net"):
            self.warn(section.line, f"section {path!r} repeated (first at line {first}); merged")


def flatten(root: Section, path: str) -> Flat:
    """The flat cmap-style view of ``root``; raises ConfigError on a bad typed value."""
    flat = Flat(path)
    for entry in root.entries:
        if isinstance(entry, Item):
            flat.warn(entry.line, f"unknown key {entry.key!r}")
            flat.store(entry.key, entry.value, entry.line)
        elif entry.path == "nodelist":
            _nodelist(flat, entry)
        elif entry.path in _KNOWN_KEYS or entry.path in _OPAQUE_SECTIONS:
            _section(flat, entry)
        else:
            flat.warn(entry.line, f"unknown section {entry.path!r}")
            _opaque(flat, entry, entry.path)
    return flat


def _opaque(flat: Flat, section: Section, prefix: str) -> None:
    """Store everything under ``prefix`` as written, judging nothing but integer keys."""
    for entry in section.entries:
        if isinstance(entry, Item):
            key = f"{prefix}.{entry.key}"
            flat.check_value(f"{section.path}.{entry.key}", entry.value, entry.line, key)
            flat.store(key, entry.value, entry.line)
        else:
            _opaque(flat, entry, f"{prefix}.{entry.name}")


def _section(flat: Flat, section: Section) -> None:
    """A known section whose items map to ``<path>.<key>``."""
    flat.open_section(section, section.path)
    known = _KNOWN_KEYS.get(section.path)
    for entry in section.entries:
        if isinstance(entry, Item):
            key = f"{section.path}.{entry.key}"
            if section.path == "uidgid" and entry.key not in ("uid", "gid"):
                raise flat.error(entry.line, "uidgid: only uid and gid are allowed items")
            if known is not None and entry.key not in known:
                flat.warn(entry.line, f"unknown key {key!r}")
            flat.check_value(key, entry.value, entry.line, key)
            flat.store(key, entry.value, entry.line)
        elif entry.path == "totem.interface":
            _interface(flat, entry)
        elif entry.path == "logging.logger_subsys":
            _logger_subsys(flat, entry)
        elif entry.path in _KNOWN_KEYS or entry.path in _OPAQUE_SECTIONS:
            _section(flat, entry)
        elif known is None:
            _opaque(flat, entry, entry.path)
        else:
            flat.warn(entry.line, f"unknown section {entry.path!r}")
            _opaque(flat, entry, entry.path)


def _interface(flat: Flat, section: Section) -> None:
    iface = InterfaceSection(linknumber=0, line=section.line)
    for entry in section.entries:
        if isinstance(entry, Item):
            schema = f"totem.interface.{entry.key}"
            if entry.key not in _INTERFACE_KEYS:
                flat.warn(entry.line, f"unknown key {schema!r}")
            flat.check_value(schema, entry.value, entry.line, schema)
            if entry.key in ("linknumber", "ringnumber"):
                iface.linknumber = parse_int(schema, entry.value, "u8")
            if entry.key in iface.lines:
                flat.warn(
                    entry.line,
                    f"key {schema!r} set again (overrides line {iface.lines[entry.key]})",
                )
            iface.values[entry.key] = entry.value
            iface.lines[entry.key] = entry.line
        elif entry.path == "totem.interface.member":
            for item in entry.entries:
                if not isinstance(item, Item) or item.key != "memberaddr":
                    line = item.line
                    raise flat.error(line, "only memberaddr is allowed in member section")
                iface.members.append((item.value, item.line))
        else:
            flat.warn(entry.line, f"unknown section {entry.path!r}")
            _opaque(flat, entry, entry.path)

    link = iface.linknumber
    prefix = f"totem.interface.{link}"
    if prefix in flat.sections:
        flat.warn(
            section.line,
            f"interface for link {link} defined again (first at line {flat.sections[prefix]})",
        )
    else:
        flat.sections[prefix] = section.line
    flat.interfaces.append(iface)
    for key, value in iface.values.items():
        if key not in ("linknumber", "ringnumber"):
            flat.store(f"{prefix}.{key}", value, iface.lines[key])
    for index, (value, line) in enumerate(iface.members):
        flat.store(f"{prefix}.member.{index}", value, line)


def _logger_subsys(flat: Flat, section: Section) -> None:
    known = _KNOWN_KEYS["logging.logger_subsys"]
    items: list[Item] = []
    subsys: Item | None = None
    for entry in section.entries:
        if isinstance(entry, Item):
            if entry.key not in known:
                flat.warn(entry.line, f"unknown key {'logging.logger_subsys.' + entry.key!r}")
            if entry.key == "subsys":
                subsys = entry
            items.append(entry)
        else:
            flat.warn(entry.line, f"unknown section {entry.path!r}")
    if subsys is None:
        raise flat.error(section.line, "no subsys key in logger_subsys directive")
    if _NAME.fullmatch(subsys.value) is None:
        raise flat.error(subsys.line, f"invalid subsys name {subsys.value!r}")
    prefix = f"logging.logger_subsys.{subsys.value}"
    if prefix in flat.sections:
        flat.warn(
            section.line,
            f"logger_subsys {subsys.value!r} repeated (first at line {flat.sections[prefix]})",
        )
    else:
        flat.sections[prefix] = section.line
        flat.logger_subsys.append(subsys.value)
    for item in items:
        flat.store(f"{prefix}.{item.key}", item.value, item.line)


def _nodelist(flat: Flat, section: Section) -> None:
    first = flat.sections.get("nodelist")
    if first is not None:
        raise flat.error(
            section.line,
            f"nodelist section repeated (first at line {first}); "
            "put every node section in one nodelist",
        )
    flat.sections["nodelist"] = section.line
    for entry in section.entries:
        if isinstance(entry, Item):
            key = f"nodelist.{entry.key}"
            flat.warn(entry.line, f"unknown key {key!r}")
            flat.store(key, entry.value, entry.line)
        elif entry.path == "nodelist.node":
            _node(flat, entry, flat.node_count)
            flat.node_count += 1
        else:
            flat.warn(entry.line, f"unknown section {entry.path!r}")
            _opaque(flat, entry, entry.path)


def _node(flat: Flat, section: Section, position: int) -> None:
    prefix = f"nodelist.node.{position}"
    flat.sections[prefix] = section.line
    known = _KNOWN_KEYS["nodelist.node"]
    for entry in section.entries:
        if isinstance(entry, Item):
            key = f"{prefix}.{entry.key}"
            if entry.key not in known and _RING_ADDR.fullmatch(entry.key) is None:
                flat.warn(entry.line, f"unknown key {'nodelist.node.' + entry.key!r}")
            flat.check_value(f"nodelist.node.{entry.key}", entry.value, entry.line, key)
            flat.store(key, entry.value, entry.line)
        else:
            flat.warn(entry.line, f"unknown section {entry.path!r}")
            _opaque(flat, entry, entry.path)
