"""What the configuration map holds (corosync 3.1.7: ``coroparse.c``, ``totemconfig.c``,
``main.c``, ``service.c``; compare ``tests/fixtures/libqb/real-cmapctl.txt``).

* every key of corosync.conf, typed as ``coroparse`` types it (``INT_KEYS``: u8, u16,
  u32, i32, u64; everything else a string), plus what corosync derives: the bind address
  and port of each link of udp/udpu (``totem.interface.<link>.bindnetaddr|mcastport``, at
  start-up only: a reload removes them unless the file has them, as ``cfg.c``'s
  ``remove_deleted_entries`` does), ``nodelist.local_node_pos``, ``system.state_dir``,
  ``uidgid.config.uid.<uid>`` / ``gid.<gid>`` for ``uidgid { }``;
* ``internal_configuration.service.<id>.name|ver`` and ``runtime.services.<name>.*`` for
  each of corosync's eight engines (``service.c``: ``service_id`` and a zero ``rx``/``tx``
  pair per exec function; the node updates the counters of the engines it runs);
* ``runtime.config.totem.*``: the timers in effect, and -- whatever the transport, as
  ``totem_volatile_config_read`` writes them -- knet's ``knet_pmtud_interval``, ``knet_mtu``,
  ``knet_compression_*`` and each link's ``interface.<link>.knet_ping_interval|timeout``;
* ``runtime.members.<id>.*``: every node this one has seen (``ip``, ``join_count``,
  ``status`` joined/left, ``config_version``);
* ``runtime.blackbox.*``, ``runtime.force_gather``: the writable triggers, "no".

Read-only for clients (``icmap_set_ro_access`` in main.c and votequorum.c): the prefixes
``internal_configuration.``, ``runtime.services.``, ``runtime.config.``, ``runtime.totem.``,
``uidgid.config.``, ``system.``, ``nodelist.`` and the totem/quorum keys of :data:`RO_KEYS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from totem.config.flatten import INT_KEYS
from totem.config.knetlinks import knet_links
from totem.config.model import RUNTIME_TIMERS
from totem.services.cmap.store import Icmap, Value, ValueType, encode_value

if TYPE_CHECKING:
    from totem.config import CorosyncConfig, NodeConfig

__all__ = [
    "EXEC_FUNCTIONS",
    "RO_KEYS",
    "RO_PREFIXES",
    "SERVICE_NAMES",
    "apply_read_only",
    "config_keys",
    "member_ip",
    "schema_key",
    "timer_keys",
]

RO_PREFIXES = (
    "internal_configuration.",
    "runtime.services.",
    "runtime.config.",
    "runtime.totem.",
    "uidgid.config.",
    "system.",
    "nodelist.",
)
RO_KEYS = (
    "totem.crypto_cipher",
    "totem.crypto_hash",
    "totem.crypto_model",
    "totem.keyfile",
    "totem.key",
    "totem.secauth",
    "totem.ip_version",
    "totem.rrp_mode",
    "totem.transport",
    "totem.cluster_name",
    "totem.netmtu",
    "totem.threads",
    "totem.version",
    "totem.nodeid",
    "totem.clear_node_high_bit",
    "config.reload_in_progress",
    "config.totemconfig_reload_in_progress",
    "quorum.allow_downscale",
    "quorum.wait_for_all",
    "quorum.last_man_standing",
    "quorum.last_man_standing_window",
    "quorum.expected_votes_tracking",
    "quorum.auto_tie_breaker",
    "quorum.auto_tie_breaker_node",
)
SERVICE_NAMES = {
    0: ("corosync_cmap", "cmap"),
    1: ("corosync_cfg", "cfg"),
    2: ("corosync_cpg", "cpg"),
    3: ("corosync_quorum", "quorum"),
    4: ("corosync_pload", "pload"),
    5: ("corosync_votequorum", "votequorum"),
    6: ("corosync_mon", "mon"),
    7: ("corosync_wd", "wd"),
}
"""``internal_configuration.service.<id>.name`` and the ``runtime.services.<name>`` names."""
EXEC_FUNCTIONS = {0: 1, 1: 5, 2: 7, 3: 0, 4: 2, 5: 4, 6: 0, 7: 0}
"""How many exec functions (``exec_engine_count``) each engine has in corosync 3.1.7."""

_INDEX = re.compile(r"\.[0-9]+(?=\.|$)")
_INT_TYPES = {
    "u8": ValueType.UINT8,
    "u16": ValueType.UINT16,
    "u32": ValueType.UINT32,
    "i32": ValueType.INT32,
    "u64": ValueType.UINT64,
}


def schema_key(key: str) -> str:
    """``nodelist.node.3.nodeid`` -> ``nodelist.node.nodeid`` (the typing rule's name)."""
    return _INDEX.sub("", key)


def _typed(key: str, text: str) -> Value:
    kind = INT_KEYS.get(schema_key(key))
    if kind is not None:
        try:
            vtype = _INT_TYPES[kind]
            return vtype, encode_value(vtype, int(text, 10))
        except ValueError:
            pass
    return ValueType.STRING, encode_value(ValueType.STRING, text)


def config_keys(
    config: CorosyncConfig, local: NodeConfig, *, startup: bool = True
) -> dict[str, Value]:
    """The keys corosync.conf puts in the map, typed, with corosync's derived keys (those of
    the udp/udpu links only at ``startup``)."""
    out: dict[str, Value] = {}
    for key, text in config.raw.items():
        if key in ("uidgid.uid", "uidgid.gid"):
            out[f"uidgid.config.{key.rpartition('.')[2]}.{text}"] = (
                ValueType.UINT8,
                encode_value(ValueType.UINT8, 1),
            )
            continue
        out[key] = _typed(key, text)
    if startup and config.totem.transport in ("udp", "udpu"):
        for link in config.links:
            key = f"totem.interface.{link}.bindnetaddr"
            if key not in out and link < len(local.addresses):
                out[key] = (ValueType.STRING, encode_value(ValueType.STRING, local.addresses[link]))
            port_key = f"totem.interface.{link}.mcastport"
            if port_key not in out:
                out[port_key] = (ValueType.UINT16, encode_value(ValueType.UINT16, 5405 + 2 * link))
    position = next((i for i, node in enumerate(config.nodes) if node.nodeid == local.nodeid), None)
    if position is not None:
        out["nodelist.local_node_pos"] = (
            ValueType.UINT32,
            encode_value(ValueType.UINT32, position),
        )
    out.setdefault(
        "system.state_dir", (ValueType.STRING, encode_value(ValueType.STRING, "/var/lib/corosync"))
    )
    return out


def timer_keys(config: CorosyncConfig) -> Iterator[tuple[str, ValueType, int | str]]:
    """``runtime.config.totem.*``: the effective timers (after token_coefficient), knet's
    settings and each link's knet ping timers (written for every transport)."""

    timers = config.timers
    for name in RUNTIME_TIMERS:
        value = getattr(timers, name, None)
        if value is not None:
            yield f"runtime.config.totem.{name}", ValueType.UINT32, int(value)
    totem = config.totem
    yield (
        "runtime.config.totem.block_unlisted_ips",
        ValueType.UINT32,
        1 if getattr(totem, "block_unlisted_ips", True) else 0,
    )
    yield (
        "runtime.config.totem.cancel_token_hold_on_retransmit",
        ValueType.UINT32,
        1 if getattr(totem, "cancel_token_hold_on_retransmit", False) else 0,
    )
    prefix = "runtime.config.totem."
    yield f"{prefix}knet_pmtud_interval", ValueType.UINT32, totem.knet_pmtud_interval
    yield f"{prefix}knet_mtu", ValueType.UINT32, totem.knet_mtu
    yield f"{prefix}knet_compression_threshold", ValueType.UINT32, totem.knet_compression_threshold
    yield f"{prefix}knet_compression_level", ValueType.INT32, totem.knet_compression_level
    yield f"{prefix}knet_compression_model", ValueType.STRING, totem.knet_compression_model
    for link in knet_links(config):
        iface = f"{prefix}interface.{link.linknumber}"
        yield f"{iface}.knet_ping_timeout", ValueType.UINT32, link.ping_timeout
        yield f"{iface}.knet_ping_interval", ValueType.UINT32, link.ping_interval


def member_ip(config: CorosyncConfig, nodeid: int) -> str:
    """``runtime.members.<id>.ip``: ``r(0) ip(10.0.0.1) `` per ring, as corosync prints it."""
    node = config.node_by_id(nodeid)
    if node is None:
        return ""
    return "".join(f"r({ring}) ip({address}) " for ring, address in enumerate(node.addresses))


def apply_read_only(icmap: Icmap) -> None:
    for prefix in RO_PREFIXES:
        icmap.set_ro_access(prefix, prefix=True)
    for key in RO_KEYS:
        icmap.set_ro_access(key, prefix=False)


def static_runtime_keys() -> Iterator[tuple[str, ValueType, int | str]]:
    """Keys corosync sets once at start-up whatever the configuration."""
    for service_id, (name, _short) in SERVICE_NAMES.items():
        yield f"internal_configuration.service.{service_id}.name", ValueType.STRING, name
        yield f"internal_configuration.service.{service_id}.ver", ValueType.UINT32, 0
    for service_id, (_name, short) in SERVICE_NAMES.items():
        yield f"runtime.services.{short}.service_id", ValueType.UINT16, service_id
        for fn in range(EXEC_FUNCTIONS[service_id]):
            yield f"runtime.services.{short}.{fn}.tx", ValueType.UINT64, 0
            yield f"runtime.services.{short}.{fn}.rx", ValueType.UINT64, 0
    yield "runtime.blackbox.dump_flight_data", ValueType.STRING, "no"
    yield "runtime.blackbox.dump_state", ValueType.STRING, "no"
    yield "runtime.force_gather", ValueType.STRING, "no"


def diff(old: Mapping[str, Value], new: Mapping[str, Value]) -> tuple[list[str], list[str]]:
    """``(changed or added keys, removed keys)`` between two key maps, each sorted."""
    changed = sorted(k for k, v in new.items() if old.get(k) != v)
    removed = sorted(k for k in old if k not in new)
    return changed, removed
