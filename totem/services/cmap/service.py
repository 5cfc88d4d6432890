"""The cmap service (id 0): the configuration map, its library, and its sync duty (ref 10.4).

The engine owns the node's map (:class:`~totem.services.cmap.store.Icmap`, filled by
:mod:`totem.services.cmap.keys`) and the statistics map, serves libcmap over IPC
(:mod:`totem.services.cmap.lib`), keeps ``runtime.members.*`` as configurations change
and lets other services write their runtime keys (``cmap_attach``: votequorum's
``runtime.votequorum.*``). A configuration reload rewrites the configuration keys that
changed (tracks see MODIFY/ADD/DELETE, as pmxcfs expects), framed by the keys ``cfg.c``
writes around it: ``config.totemconfig_reload_in_progress`` (u8) is 1 from the start,
``config.reload_in_progress`` (u8) 1 once the file has parsed; at the end
``config.reload_status`` (i32, a ``cs_error_t``) and both flags back to 0. A file that does
not parse ends the reload before ``reload_in_progress``: corosync 3.1.7 then leaves
``totemconfig_reload_in_progress`` at 1 and writes no status, and so do we. The
``resources.*`` keys come from :mod:`totem.services.cmap.resources`.

**Sync.**

In its sync round every corosync node multicasts ``req_exec_cmap_mcast`` (exec
fn 0) with one item, ``totem.config_version`` (a u64, 336 bytes in all), and
records every sender's value as ``runtime.members.<id>.config_version``. At
activation of the node's *first* sync that has a non-empty transitional list,
a node whose own config_version is not 0 compares it with the highest version
any *other* node reported; if they differ corosync logs
``Received config version (H) is different than my config version (M)! Exiting``
and shuts down.

We reproduce the check, the log line (ERROR, subsystem CMAP) and report it as a
:class:`ConfigVersionMismatch` event, but **do not exit by ourselves**: leaving
the cluster is the node stack's decision (it should stop, as corosync does).

Layout of the message body after the 16-byte exec header (all ``aligned(8)``):
``u8 reason``@0, ``u8 no_items``@8, two reserved u8 @16/@24 (32 bytes), then per
item, padded to a multiple of 8: ``mar_name_t key_name`` (``u16 length``, pad,
``value[256]``; 264 bytes), ``u8 value_type``@264, ``u64 value_len``@272, the
value @280.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from totem.ipc.engine import LibConnection, LibHandler
from totem.ipc.wire import CsError
from totem.ringid import RingId
from totem.service import Service
from totem.services.cmap import keys as cmap_keys
from totem.services.cmap.lib import CmapLib
from totem.services.cmap.resources import Resources
from totem.services.cmap.stats import StatsMap
from totem.services.cmap.store import Icmap, Value, ValueType
from totem.srp.events import ConfigurationChange, LogLevel

if TYPE_CHECKING:
    from totem.config import CorosyncConfig, NodeConfig
    from totem.service import ServiceHost

__all__ = [
    "CMAP_MCAST_REASON_NEW_CONFIG_VERSION",
    "CMAP_MCAST_REASON_SYNC",
    "CONFIG_VERSION_KEY",
    "CmapService",
    "ConfigVersionMismatch",
    "decode_config_version_mcast",
    "encode_config_version_mcast",
]

CMAP_SERVICE_ID = 0
CMAP_MCAST_REASON_SYNC = 0
CMAP_MCAST_REASON_NEW_CONFIG_VERSION = 1
CONFIG_VERSION_KEY = "totem.config_version"

_VALUETYPE_NOT_EXIST = 0
_VALUETYPE_UINT64 = 8
_MCAST_HEAD = struct.Struct("<B7xB7xB7xB7x")  # reason, no_items, reserved, reserved
_ITEM_HEAD = struct.Struct("<H6x256sB7xQ")  # mar_name_t, value_type, value_len
_MAX_ITEMS = 32


def _align8(n: int) -> int:
    return (n + 7) & ~7


def encode_config_version_mcast(reason: int, config_version: int | None) -> bytes:
    """The exec body (no header) carrying ``totem.config_version``; None = "does not exist"."""
    key = CONFIG_VERSION_KEY.encode()
    if config_version is None:
        item = _ITEM_HEAD.pack(len(key), key, _VALUETYPE_NOT_EXIST, 0)
    else:
        if not 0 <= config_version < 1 << 64:
            raise ValueError(f"config_version {config_version} is not a u64")
        item = _ITEM_HEAD.pack(len(key), key, _VALUETYPE_UINT64, 8) + struct.pack(
            "<Q", config_version
        )
    item += b"\0" * (_align8(len(item)) - len(item))
    return _MCAST_HEAD.pack(reason, 1, 0, 0) + item


def decode_config_version_mcast(body: bytes) -> tuple[int, int | None]:
    """Return (reason, config_version found or None); ValueError if the body is malformed.

    A missing item, or one of type "does not exist", reads as version 0, as in corosync.
    """
    if len(body) < _MCAST_HEAD.size:
        raise ValueError(f"cmap mcast body of {len(body)} bytes is too short")
    reason, no_items, _r1, _r2 = _MCAST_HEAD.unpack_from(body, 0)
    if no_items > _MAX_ITEMS:
        raise ValueError(f"cmap mcast with {no_items} items")
    offset = _MCAST_HEAD.size
    version: int | None = None
    for _ in range(no_items):
        if offset + _ITEM_HEAD.size > len(body):
            raise ValueError("cmap mcast item runs past the end of the message")
        name_len, name, value_type, value_len = _ITEM_HEAD.unpack_from(body, offset)
        if name_len > 255 or value_len > len(body):
            raise ValueError("cmap mcast item with an impossible length")
        value_at = offset + _ITEM_HEAD.size
        if value_at + value_len > len(body):
            raise ValueError("cmap mcast item value runs past the end of the message")
        key = name[:name_len]
        if version is None and key == CONFIG_VERSION_KEY.encode() and b"\0" not in key:
            if value_type == _VALUETYPE_UINT64:
                if value_len != 8:
                    raise ValueError(f"config_version item of {value_len} bytes")
                (version,) = struct.unpack_from("<Q", body, value_at)
            else:
                version = 0
        offset += _align8(_ITEM_HEAD.size + value_len)
    return reason, version


@dataclass(frozen=True, slots=True)
class ConfigVersionMismatch:
    """corosync would exit here: a peer runs a different ``totem.config_version``."""

    received: int
    """The highest config_version another node reported."""
    mine: int


class CmapService(Service):
    """cmap's sync duties: announce and check ``totem.config_version``.

    ``config_version`` is this node's ``totem.config_version`` (corosync defaults
    it to 0; None sends the item as "does not exist").
    """

    service_id = CMAP_SERVICE_ID
    name = "corosync configuration map access"
    sync_participant = True
    ipc_name = "cmap"

    def __init__(
        self,
        config_version: int | None = 0,
        config: CorosyncConfig | None = None,
        local_node: NodeConfig | None = None,
        *,
        handle_salt: int = 0,
    ) -> None:
        super().__init__()
        self._config_version = config_version
        self.icmap = Icmap()
        """The node's configuration map (``icmap_global_map``)."""
        self.stats = StatsMap()
        """The statistics map (``-m stats``): providers register in it."""
        self._config = config
        self._local = local_node
        self._config_keys: dict[str, Value] = {}
        self._runtime_counters: Callable[[], dict[tuple[int, int], tuple[int, int]]] | None = None
        cmap_keys.apply_read_only(self.icmap)
        for key, vtype, value in cmap_keys.static_runtime_keys():
            self.icmap.set_value(key, vtype, value)
        self._pending_log: list[tuple[LogLevel, str, str]] = []
        if config is not None and local_node is not None:
            self._load_config(config, local_node)
        self.resources = Resources(self.icmap, self._log_subsystem)
        self._reload_parsed = False
        self._lib = CmapLib(self.icmap, self.stats, self._refresh_runtime, handle_salt=handle_salt)
        self._my_version = 0
        self._highest_received = 0
        self._trans_entries = 0
        self._first_sync = True
        self._events: list[Any] = []
        self.member_config_versions: dict[int, int] = {}
        """``runtime.members.<id>.config_version`` as received."""
        self.counters: dict[str, int] = {"malformed": 0}

    @property
    def exec_function_count(self) -> int:
        return 1

    # --- the map ----------------------------------------------------------------------------
    def _load_config(
        self, config: CorosyncConfig, local: NodeConfig, *, startup: bool = True
    ) -> None:
        """Put corosync.conf's keys in the map (again, after a reload: only what changed)."""
        new = cmap_keys.config_keys(config, local, startup=startup)
        changed, removed = cmap_keys.diff(self._config_keys, new)
        for key in removed:
            self.icmap.delete(key)
        for key in changed:
            vtype, raw = new[key]
            self.icmap.set(key, vtype, raw)
        self._config_keys = new
        for key, vtype, value in cmap_keys.timer_keys(config):
            self.icmap.set_value(key, vtype, value)
        self._config = config
        self._local = local

    def bind(self, services: Sequence[Service]) -> None:
        """Let the other services write their runtime keys (``cmap_attach(icmap)``)."""
        for service in services:
            attach = getattr(service, "cmap_attach", None)
            if attach is not None and service is not self:
                attach(self.icmap)

    def config_reloaded(self, config: CorosyncConfig) -> None:
        """A configuration reload: rewrite the configuration keys that changed."""
        local = self._local
        if local is not None:
            local = config.node_by_id(local.nodeid) or local
            self._load_config(config, local, startup=False)

    def reload_begin(self) -> None:
        """A reload starts (``config.totemconfig_reload_in_progress`` = 1)."""
        self._reload_parsed = False
        self.icmap.set_value("config.totemconfig_reload_in_progress", ValueType.UINT8, 1)

    def reload_parsed(self) -> None:
        """The new file parsed: its keys are about to go live (``config.reload_in_progress``)."""
        self._reload_parsed = True
        self.icmap.set_value("config.reload_in_progress", ValueType.UINT8, 1)

    def reload_end(self, status: CsError) -> None:
        """The reload is over: its ``cs_error_t`` in ``config.reload_status`` and both flags
        back to 0 -- unless the file did not parse, where corosync stops short of this."""
        if not self._reload_parsed:
            return
        self._reload_parsed = False
        self.icmap.set_value("config.reload_status", ValueType.INT32, int(status))
        self.icmap.set_value("config.totemconfig_reload_in_progress", ValueType.UINT8, 0)
        self.icmap.set_value("config.reload_in_progress", ValueType.UINT8, 0)

    def set_runtime_counters(
        self, counters: Callable[[], dict[tuple[int, int], tuple[int, int]]]
    ) -> None:
        """Where ``runtime.services.<name>.<fn>.rx|tx`` come from: ``(service, fn) ->
        (rx, tx)`` (the node's exec dispatcher and stack); read when a client reads."""
        self._runtime_counters = counters

    def _refresh_runtime(self) -> None:
        counters = self._runtime_counters
        if counters is None:
            return
        names = cmap_keys.SERVICE_NAMES
        for (service_id, fn_id), (rx, tx) in counters().items():
            short = names.get(service_id, (None, f"service{service_id}"))[1]
            prefix = f"runtime.services.{short}"
            self.icmap.set_value(f"{prefix}.service_id", ValueType.UINT16, service_id)
            self.icmap.set_value(f"{prefix}.{fn_id}.rx", ValueType.UINT64, rx)
            self.icmap.set_value(f"{prefix}.{fn_id}.tx", ValueType.UINT64, tx)

    def confchg(self, change: ConfigurationChange, now: float) -> None:
        """``runtime.members.<id>.*``: joined nodes (``join_count``, ``ip``), left ones."""
        icmap = self.icmap
        for node in change.left:
            icmap.set_value(f"runtime.members.{node}.status", ValueType.STRING, "left")
        for node in change.joined:
            prefix = f"runtime.members.{node}"
            count = icmap.get_value(f"{prefix}.join_count")
            joins = count + 1 if isinstance(count, int) else 1
            if self._config is not None:
                icmap.set_value(
                    f"{prefix}.ip", ValueType.STRING, cmap_keys.member_ip(self._config, node)
                )
            icmap.set_value(f"{prefix}.join_count", ValueType.UINT32, joins)
            icmap.set_value(f"{prefix}.status", ValueType.STRING, "joined")

    # --- library (libcmap) ------------------------------------------------------------------
    def lib_handlers(self) -> Sequence[LibHandler]:
        return self._lib.handlers()

    def lib_init(self, conn: LibConnection) -> None:
        self._lib.lib_init(conn)

    def lib_exit(self, conn: LibConnection) -> None:
        self._lib.lib_exit(conn)

    @property
    def config_version(self) -> int | None:
        return self._config_version

    def set_config_version(self, config_version: int | None) -> None:
        """A reload changed ``totem.config_version``: tell everyone (reason NEW_CONFIG_VERSION)."""
        self._config_version = config_version
        self._mcast(CMAP_MCAST_REASON_NEW_CONFIG_VERSION)

    def exec_deliver(self, sender: int, fn_id: int, body: bytes, now: float) -> None:
        try:
            reason, version = decode_config_version_mcast(body)
        except ValueError as exc:
            self.counters["malformed"] += 1
            self._log(LogLevel.DEBUG, f"dropping malformed cmap message from {sender}: {exc}")
            return
        if reason not in (CMAP_MCAST_REASON_SYNC, CMAP_MCAST_REASON_NEW_CONFIG_VERSION):
            return
        value = 0 if version is None else version
        if self.host is not None and sender != self.host.node_id and value > self._highest_received:
            self._highest_received = value
        self.member_config_versions[sender] = value
        self.icmap.set_value(f"runtime.members.{sender}.config_version", ValueType.UINT64, value)

    def sync_init(
        self,
        trans_members: Sequence[int],
        members: Sequence[int],
        ring_id: RingId,
        now: float,
    ) -> None:
        self._trans_entries = len(trans_members)
        self._my_version = self._config_version or 0
        self._highest_received = self._my_version

    def sync_process(self, now: float) -> bool:
        self._mcast(CMAP_MCAST_REASON_SYNC)
        return True

    def sync_activate(self, now: float) -> None:
        if self._trans_entries == 0:
            self._log(LogLevel.DEBUG, "Single node sync -> no action")
            return
        if not self._first_sync:
            self._log(LogLevel.DEBUG, "Not first sync -> no action")
            return
        self._first_sync = False
        if self._my_version == 0:
            self._log(LogLevel.DEBUG, "My config version is 0 -> no action")
            return
        if self._highest_received != self._my_version:
            self._log(
                LogLevel.ERROR,
                f"Received config version ({self._highest_received}) is different than "
                f"my config version ({self._my_version})! Exiting",
            )
            self._events.append(ConfigVersionMismatch(self._highest_received, self._my_version))

    def events(self) -> list[Any]:
        events, self._events = self._events, []
        return events

    def status(self) -> dict[str, Any]:
        return {
            "config_version": self._config_version,
            "members": {str(k): v for k, v in sorted(self.member_config_versions.items())},
        }

    def _mcast(self, reason: int) -> None:
        if self.host is not None:
            body = encode_config_version_mcast(reason, self._config_version)
            self.host.mcast(self.service_id, 0, body)

    def _log(self, level: LogLevel, message: str) -> None:
        self._log_subsystem(level, "CMAP", message)

    def _log_subsystem(self, level: LogLevel, subsystem: str, message: str) -> None:
        """Log as ``subsystem``; what is logged before the node attaches waits for it."""
        if self.host is not None:
            self.host.log(level, subsystem, message)
        else:
            self._pending_log.append((level, subsystem, message))

    def attach(self, host: ServiceHost) -> None:
        super().attach(host)
        pending, self._pending_log = self._pending_log, []
        for level, subsystem, message in pending:
            host.log(level, subsystem, message)
