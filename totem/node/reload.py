"""Configuration reload: what a new corosync.conf may change in a running node (cfg RELOAD_CONFIG).

``corosync-cfgtool -R`` (ours or a real node's) multicasts cfg RELOAD_CONFIG; every node
re-reads its corosync.conf when the message is delivered (``exec/cfg.c``
``message_handler_req_exec_cfg_reload_config``). This module is the decision, sans-IO:
:func:`plan_reload` compares the running configuration with the newly loaded one and
returns a :class:`ReloadPlan` -- the configuration to run with from now on and what
changed -- or raises :class:`ReloadRefused`; :func:`apply_to_stack` hands the plan to the
protocol stack. The daemon reads the file, applies the transport and logging parts and
answers the tool.

Applied at run time, as corosync 3.1.7 does:

* the nodelist: nodes added and removed on every link (``totemconfig_commit_new_params``
  -> ``totempg_member_add``/``member_remove``: udpu sends to the new list and
  ``block_unlisted_ips`` follows it), SRP's node-id filter (ours; a removed node that is
  still in the ring stays accepted until a ring forms without it);
* with knet, links too: a ``ringX_addr`` given to every node adds link X (its
  ``interface`` section read as at start-up: port, ``knet_transport``), one taken from every
  node removes it (:attr:`ReloadPlan.links_added`, :attr:`ReloadPlan.links_removed`;
  :mod:`totem.knet.reload` applies them to the knet handle, the daemon opens and closes
  the link's socket);
* the effective Totem timers and counts of ``totem_volatile_config_read`` -- token (with
  ``token_coefficient`` times the new node count), token_retransmit(s_before_loss_const),
  hold, join, send_join, consensus, merge, downcheck, token_warning, fail_recv_const,
  seqno_unchanged_const, miss_count_const, window_size, max_messages, max_network_delay,
  heartbeat_failures_allowed -- and ``block_unlisted_ips``,
  ``cancel_token_hold_on_retransmit``; each timer takes effect when next armed;
* ``totem.config_version`` (cmap tells the other nodes, reason NEW_CONFIG_VERSION);
* the ``quorum`` keys votequorum re-reads (``votequorum_refresh_config``): services that
  define ``config_reloaded(config)`` get the new configuration;
* ``logging``.

Kept at their start-up value, each logged as corosync logs it (``Modified entry '<key>' in
corosync.conf cannot be changed at run-time``), the keys of ``remove_ro_entries``:
``totem.{version,threads,ip_version,rrp_mode,netmtu,transport,cluster_name}``, the crypto
keys ``totem.{secauth,crypto_cipher,crypto_hash,keyfile,key}``, ``quorum.provider`` and
``system.*``; and, because pycorosync reads them only at start-up, ``totem.interface.*``
(corosync keeps link 0 of udp/udpu "static (apart from the nodelist)" too; with knet the
ping timers, pong count and priority of every link change, and the whole section of a
link added or removed by the reload), ``totem.link_mode`` (corosync 3.1.7 reads it once,
when its knet handle starts, and hands that policy to every host it ever adds),
``totem.rrp_*`` (corosync 2.x read them at start-up only), ``totem.nodeid`` and
``totem.clear_node_high_bit``.

Refused, the node keeps running with its old configuration (the tool gets
``CS_ERR_INVALID_PARAM`` and ``file:line: why``):

* a file that does not load (``file:line`` of the parser or of the timer checks);
* a node whose address on a link changed while its node id stayed (corosync:
  "To reconfigure an interface it must be deleted and recreated");
* (ours) a knet link whose socket cannot be bound on this node (the daemon binds the
  sockets of added links before it changes anything; corosync logs the failure of
  ``knet_link_set_config`` and goes on without the link);
* a nodelist without this node's id, or with this node's address under another id
  (a changed local node id; corosync cannot change it either);
* (ours) a node without the ring1 address the running ``rrp_mode: passive`` needs, or a
  ring address that is an unresolved host name (the daemon reloads with the machine's
  resolver, as it starts; the transports need IP addresses).

Where we differ from corosync on purpose: corosync applies deletions to cmap before it
notices a bad nodelist, and removes its own address from udpu when the local node is
deleted from the file; a refused reload here changes nothing at all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from totem.config import (
    ConfigError,
    CorosyncConfig,
    InterfaceConfig,
    NodeConfig,
    TimerError,
    compute_timers,
)
from totem.config.addresses import ip_literal
from totem.config.model import RUNTIME_TIMERS
from totem.node.assemble import settings_from_config
from totem.node.stack import NodeStack
from totem.services.cmap import CmapService
from totem.srp.events import LogLevel, LogRecord

__all__ = [
    "RUNTIME_TIMERS",
    "NodeChange",
    "ReloadPlan",
    "ReloadRefused",
    "ReloadableService",
    "TimerChange",
    "apply_to_stack",
    "plan_log",
    "plan_reload",
    "read_only_changes",
]

READ_ONLY_KEYS = frozenset(
    {
        # exec/cfg.c remove_ro_entries (3.1.7, without knet crypto reconfiguration)
        "totem.secauth",
        "totem.crypto_hash",
        "totem.crypto_cipher",
        "totem.keyfile",
        "totem.key",
        "totem.version",
        "totem.threads",
        "totem.ip_version",
        "totem.rrp_mode",
        "totem.netmtu",
        "totem.transport",
        "totem.cluster_name",
        "quorum.provider",
        # read at start-up only by pycorosync (the local node id and its derivation)
        "totem.nodeid",
        "totem.clear_node_high_bit",
    }
)
"""cmap keys whose new value is ignored (logged) by a reload."""
READ_ONLY_PREFIXES = ("system.", "totem.interface.", "totem.rrp_")
"""cmap key prefixes whose new values are ignored (logged) by a reload."""

_READ_ONLY_TOTEM_FIELDS = (
    "version",
    "cluster_name",
    "transport",
    "ip_version",
    "netmtu",
    "rrp_mode",
    "rrp_problem_count_timeout",
    "rrp_problem_count_threshold",
    "rrp_problem_count_mcast_threshold",
    "rrp_token_expired_timeout",
    "rrp_autorecovery_check_timeout",
    "clear_node_high_bit",
    "nodeid",
    "interfaces",
    "crypto_cipher",
    "crypto_hash",
    "secauth",
    "keyfile",
    "key",
)


_MODIFIED = "Modified entry '{}' in corosync.conf cannot be changed at run-time"


class ReloadRefused(ConfigError):
    """The new corosync.conf loads but cannot be applied to the running node."""


class ReloadableService(Protocol):
    """A service that re-reads its part of corosync.conf on reload (votequorum)."""

    def config_reloaded(self, config: CorosyncConfig) -> None: ...


@dataclass(frozen=True, slots=True)
class NodeChange:
    """A nodelist member added to or removed from one link (transport member list)."""

    node_id: int
    link: int
    address: str


@dataclass(frozen=True, slots=True)
class TimerChange:
    """An effective timer (or count) that changes, in milliseconds (or messages)."""

    name: str
    old: int
    new: int


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """What a reload does: the configuration to run with and how it differs."""

    config: CorosyncConfig
    """The new file, with every read-only key back at its running value."""
    local_node: NodeConfig
    """This node's entry in the new nodelist (same id and addresses, maybe a new name)."""
    ignored: tuple[str, ...]
    """Read-only cmap keys the new file changes (sorted): not applied."""
    added: tuple[NodeChange, ...]
    removed: tuple[NodeChange, ...]
    timers: tuple[TimerChange, ...]
    """Effective timers that change, in :data:`RUNTIME_TIMERS` order."""
    flags: tuple[tuple[str, bool, bool], ...] = ()
    """``(key, old, new)`` of the run-time yes/no keys that change (block_unlisted_ips...)."""
    config_version: tuple[int | None, int | None] | None = None
    """``(old, new)`` when ``totem.config_version`` changes."""
    links_added: tuple[int, ...] = ()
    """knet links (``ringX_addr``) the new nodelist adds, sorted."""
    links_removed: tuple[int, ...] = ()
    """knet links the new nodelist no longer has, sorted."""

    @property
    def notices(self) -> tuple[str, ...]:
        """corosync's log line for every ignored key."""
        return tuple(_MODIFIED.format(key) for key in self.ignored)

    @property
    def members_changed(self) -> bool:
        return bool(self.added or self.removed)

    def members(self, link: int) -> dict[int, str]:
        """The transport member list of ``link``: node id -> address."""
        return {
            node.nodeid: address
            for node in self.config.nodes
            if (address := node.address(link)) is not None
        }

    def summary(self) -> dict[str, object]:
        """A JSON-able account (``pycorosync-cfgtool -R --json``)."""
        return {
            "node_id": self.local_node.nodeid,
            "nodes": [node.nodeid for node in self.config.nodes],
            "added": sorted({c.node_id for c in self.added}),
            "removed": sorted({c.node_id for c in self.removed}),
            "timers": {c.name: {"old": c.old, "new": c.new} for c in self.timers},
            "flags": {key: {"old": old, "new": new} for key, old, new in self.flags},
            "ignored": list(self.ignored),
            "config_version": None if self.config_version is None else self.config_version[1],
            "links_added": list(self.links_added),
            "links_removed": list(self.links_removed),
        }


KNET_RUNTIME_KEYS = frozenset(
    {"totem.secauth", "totem.crypto_cipher", "totem.crypto_hash", "totem.keyfile", "totem.key"}
)
"""With knet, corosync 3.1.7 (built with knet crypto reconfiguration) changes crypto at run
time: these keys are not read-only then."""
KNET_RUNTIME_INTERFACE_KEYS = (
    "knet_link_priority",
    "knet_ping_interval",
    "knet_ping_timeout",
    "knet_ping_precision",
    "knet_pong_count",
)
"""``totem.interface.N.<key>`` a knet node applies at run time (``totemknet_refresh_config``)."""
KNET_READ_ONLY_KEYS = frozenset({"totem.link_mode"})
"""corosync 3.1.7 reads ``link_mode`` when its knet handle starts and gives that policy to
every host, those added by a later reload included: a new value changes nothing (it says
nothing either; pycorosync logs it as it logs the other keys it keeps)."""


def _is_read_only(key: str, knet: bool = False) -> bool:
    if knet:
        if key in KNET_RUNTIME_KEYS or key in ("totem.crypto_model",):
            return False
        if key.startswith("totem.interface.") and key.rsplit(".", 1)[-1] in (
            KNET_RUNTIME_INTERFACE_KEYS
        ):
            return False
        if key in KNET_READ_ONLY_KEYS:
            return True
    return key in READ_ONLY_KEYS or key.startswith(READ_ONLY_PREFIXES)


def read_only_changes(
    current: Mapping[str, str],
    new: Mapping[str, str],
    *,
    knet: bool = False,
    fresh_links: Iterable[int] = (),
) -> tuple[str, ...]:
    """Read-only cmap keys added, changed or removed between two flat key maps (sorted).

    ``fresh_links``: knet links the reload adds or removes, whose ``totem.interface.N.*``
    keys take effect (added) or go (removed) with the link."""
    fresh = tuple(f"totem.interface.{link}." for link in fresh_links)
    keys = {
        k
        for k in (*current, *new)
        if _is_read_only(k, knet) and not (fresh and k.startswith(fresh))
    }
    return tuple(sorted(k for k in keys if current.get(k) != new.get(k)))


def _same_address(a: str, b: str) -> bool:
    la, lb = ip_literal(a), ip_literal(b)
    if la is not None and lb is not None:
        return la == lb
    return a == b


def _check_addresses(current: CorosyncConfig, new: CorosyncConfig, links: Iterable[int]) -> None:
    """Every node keeps its addresses (``check_things_have_not_changed``); all are IPs.

    ``links``: the links the node runs with after the reload (udp/udpu: the running ones;
    knet: the new file's, whose loader checked that every node has the same ones)."""
    path = new.path
    for node in new.nodes:
        for link in links:
            address = node.address(link)
            if address is None:
                raise ReloadRefused(
                    path,
                    node.line,
                    f"node {node.nodeid} has no ring{link}_addr, but this node runs "
                    "rrp_mode: passive (rrp_mode cannot be changed at run-time)",
                )
            if ip_literal(address) is None:
                raise ReloadRefused(
                    path,
                    node.line,
                    f"ring{link}_addr {address!r} of node {node.nodeid} is not an IP address "
                    "(pycorosync does not resolve host names)",
                )
            old = current.node_by_id(node.nodeid)
            old_address = old.address(link) if old is not None else None
            if old_address is None:
                continue
            if not _same_address(old_address, address):
                raise ReloadRefused(
                    path,
                    node.line,
                    f"new config has different address for link {link} of node "
                    f"{node.nodeid} (addr changed from {old_address} to {address}). "
                    "To reconfigure an interface it must be deleted and recreated",
                )


def _local_node(new: CorosyncConfig, running: NodeConfig) -> NodeConfig:
    node = new.node_by_id(running.nodeid)
    if node is not None:
        return node
    for other in new.nodes:
        if _same_address(other.addresses[0], running.addresses[0]):
            raise ReloadRefused(
                new.path,
                other.line,
                f"this node's address {running.addresses[0]} now has node id {other.nodeid}, "
                f"but it runs as node {running.nodeid}: the local node id cannot be "
                "changed at run-time (restart the node)",
            )
    raise ReloadRefused(
        new.path,
        new.nodes[0].line if new.nodes else None,
        f"this node (node id {running.nodeid}, {running.addresses[0]}) is not in the new "
        "nodelist: remove a node from the file only once it is stopped",
    )


_KNET_RUNTIME_TOTEM_FIELDS = ("crypto_cipher", "crypto_hash", "secauth", "keyfile", "key")


def _merged(current: CorosyncConfig, new: CorosyncConfig, ignored: Iterable[str]) -> CorosyncConfig:
    """``new`` with every read-only setting at its running value."""
    knet = current.totem.transport == "knet"
    kept = [
        f
        for f in _READ_ONLY_TOTEM_FIELDS
        if not (knet and (f in _KNET_RUNTIME_TOTEM_FIELDS or f == "interfaces"))
    ]
    if knet:
        kept.append("link_mode")
    totem = dataclasses.replace(new.totem, **{f: getattr(current.totem, f) for f in kept})
    if knet:
        totem = dataclasses.replace(totem, interfaces=_knet_interfaces(current, new))
    try:
        timers = compute_timers(totem, new.member_count)
    except TimerError as err:
        raise ReloadRefused(new.path, new.lines.get(err.key), str(err)) from None
    # The redundant-ring timers stay as the running layer uses them.
    timers = dataclasses.replace(
        timers,
        **{
            f.name: getattr(current.timers, f.name)
            for f in dataclasses.fields(timers)
            if f.name.startswith("rrp_")
        },
    )
    raw = dict(new.raw)
    lines = dict(new.lines)
    for key in ignored:
        if key in current.raw:
            raw[key] = current.raw[key]
            lines[key] = current.lines.get(key, 0)
        else:
            raw.pop(key, None)
            lines.pop(key, None)
    return dataclasses.replace(
        new,
        totem=totem,
        quorum=dataclasses.replace(new.quorum, provider=current.quorum.provider),
        system=current.system,
        timers=timers,
        raw=MappingProxyType(raw),
        lines=MappingProxyType(lines),
    )


def _knet_interfaces(current: CorosyncConfig, new: CorosyncConfig) -> tuple[InterfaceConfig, ...]:
    """The new interface sections' knet timers and priority, everything else as running."""
    out = []
    links = {i.linknumber for i in (*current.totem.interfaces, *new.totem.interfaces)}
    changing = set(current.links) ^ set(new.links)
    for link in sorted(links):
        old = current.totem.interface(link)
        fresh = new.totem.interface(link)
        if link in changing:
            # a link this reload adds (its section is read whole, as at start-up) or removes
            if fresh is not None:
                out.append(fresh)
            continue
        base = old or InterfaceConfig(linknumber=link)
        if fresh is not None:
            base = dataclasses.replace(
                base, **{key: getattr(fresh, key) for key in KNET_RUNTIME_INTERFACE_KEYS}
            )
        elif old is not None:
            base = dataclasses.replace(
                base,
                knet_link_priority=None,
                knet_ping_interval=None,
                knet_ping_timeout=None,
                knet_ping_precision=None,
                knet_pong_count=None,
            )
        out.append(base)
    return tuple(out)


def plan_reload(current: CorosyncConfig, new: CorosyncConfig, local_node: NodeConfig) -> ReloadPlan:
    """Decide what the newly loaded ``new`` changes in a node running ``current`` as
    ``local_node``; raises :class:`ReloadRefused` (``file:line: why``) if it cannot apply."""
    knet = current.totem.transport == "knet"
    links_added: tuple[int, ...] = ()
    links_removed: tuple[int, ...] = ()
    if knet:
        links_added = tuple(sorted(set(new.links) - set(current.links)))
        links_removed = tuple(sorted(set(current.links) - set(new.links)))
    ignored = read_only_changes(
        current.raw, new.raw, knet=knet, fresh_links=(*links_added, *links_removed)
    )
    _check_addresses(current, new, new.links if knet else current.links)
    me = _local_node(new, local_node)
    config = _merged(current, new, ignored)
    added: list[NodeChange] = []
    removed: list[NodeChange] = []
    for link in sorted({*current.links, *config.links}):
        old_members = {n.nodeid: a for n in current.nodes if (a := n.address(link)) is not None}
        new_members = {n.nodeid: a for n in config.nodes if (a := n.address(link)) is not None}
        removed += [
            NodeChange(node_id, link, address)
            for node_id, address in old_members.items()
            if node_id not in new_members
        ]
        added += [
            NodeChange(node_id, link, address)
            for node_id, address in new_members.items()
            if node_id not in old_members
        ]
    timers = tuple(
        TimerChange(name, getattr(current.timers, name), getattr(config.timers, name))
        for name in RUNTIME_TIMERS
        if getattr(current.timers, name) != getattr(config.timers, name)
    )
    flags = tuple(
        (f"totem.{name}", getattr(current.totem, name), getattr(config.totem, name))
        for name in ("block_unlisted_ips", "cancel_token_hold_on_retransmit")
        if getattr(current.totem, name) != getattr(config.totem, name)
    )
    versions = (current.totem.config_version, config.totem.config_version)
    return ReloadPlan(
        config=config,
        local_node=me,
        ignored=ignored,
        added=tuple(added),
        removed=tuple(removed),
        timers=timers,
        flags=flags,
        config_version=versions if versions[0] != versions[1] else None,
        links_added=links_added,
        links_removed=links_removed,
    )


def plan_log(plan: ReloadPlan) -> list[LogRecord]:
    """The log lines of an accepted plan, corosync's where it has them."""
    records = [LogRecord(LogLevel.NOTICE, "CFG", notice) for notice in plan.notices]
    for change in plan.removed:
        records.append(
            LogRecord(
                LogLevel.DEBUG,
                "TOTEM",
                f"removing dynamic member {change.address} for ring {change.link}",
            )
        )
    for change in plan.added:
        records.append(
            LogRecord(
                LogLevel.DEBUG,
                "TOTEM",
                f"adding dynamic member {change.address} for ring {change.link}",
            )
        )
    if plan.timers or plan.flags:
        changes = [f"{c.name} {c.old} -> {c.new}" for c in plan.timers]
        changes += [f"{key} {_yes(old)} -> {_yes(new)}" for key, old, new in plan.flags]
        records.append(
            LogRecord(LogLevel.INFO, "TOTEM", "Totem settings changed: " + ", ".join(changes))
        )
    timers = plan.config.timers
    records.append(
        LogRecord(
            LogLevel.DEBUG,
            "TOTEM",
            f"Token Timeout ({timers.token} ms) retransmit timeout ({timers.token_retransmit} ms)",
        )
    )
    records.append(
        LogRecord(
            LogLevel.DEBUG,
            "TOTEM",
            f"join ({timers.join} ms) send_join ({timers.send_join} ms) consensus "
            f"({timers.consensus} ms) merge ({timers.merge} ms)",
        )
    )
    return records


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def apply_to_stack(stack: NodeStack, plan: ReloadPlan) -> None:
    """Give the protocol stack its part of ``plan``, in corosync's order: Totem (timers,
    nodelist), then cmap's ``config_version`` announcement, then the services that re-read
    the file (votequorum's refresh, with its NODEINFO and RECONFIGURE messages)."""
    config = plan.config
    stack.reconfigure(settings_from_config(config), [node.nodeid for node in config.nodes])
    for service in stack.services:
        if isinstance(service, CmapService) and plan.config_version is not None:
            service.set_config_version(plan.config_version[1])
    for service in stack.services:
        hook = getattr(service, "config_reloaded", None)
        if hook is not None:
            hook(config)
