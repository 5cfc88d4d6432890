"""The cfg service engine (service id 1): kill and shutdown requests (ref totem-wire.md 9).

Exec functions, as corosync 3.1.7's ``exec/cfg.c`` (bodies after the 16-byte header,
``aligned(8)`` members):

====  =================  ==================================================================
fn    message            body
====  =================  ==================================================================
0     RINGREENABLE       ``mar_message_source_t`` (u32 nodeid, pad, u64 conn): 16 bytes
1     KILLNODE           u32 nodeid, pad(4), ``mar_name_t`` reason (u16 length, pad(6),
                         value[256]): 272 bytes -- 288 with the header
2     SHUTDOWN           nothing: "this node is shutting down" (``corosync-cfgtool -H``)
3     RELOAD_CONFIG      ``mar_message_source_t``
4     RECONFIG_CRYPTO    u32 phase, pad(4) (knet: 1 activate, 2 clean up; only the
                         sender acts on its own message)
====  =================  ==================================================================

A KILLNODE naming us makes the node exit at once, without a LEAVE (corosync's
``corosync_fatal_error``); a SHUTDOWN from us, once delivered, makes the node leave
gracefully. RINGREENABLE re-enables faulty redundant rings cluster-wide.

RECONFIG_CRYPTO carries a knet crypto change after a reload: each node multicasts phase 1;
when its own is delivered it emits :class:`CfgCryptoReconfig` (the daemon switches its
knet layer to the new key) and multicasts phase 2, whose delivery clears the old key.

RELOAD_CONFIG (``corosync-cfgtool -R`` on any node) makes every node re-read its
corosync.conf where the message is delivered in the agreed order (corosync sends it
``TOTEM_SAFE``; our exec messages all travel agreed, which gives the same order). The
service itself reads no file (it is sans-IO): it logs ``Config reload requested by node
N`` and emits :class:`CfgReloadRequested`; the daemon reloads (``totem.node.reload``) and,
when the request came from this node, answers the tool that asked, matching the ``conn``
of the message source as corosync answers the IPC connection.

The library side (libcfg: node and link status, kill, reload, shutdown tracking) is
:mod:`totem.services.cfg_lib`; this engine carries out what it asks on the cluster.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from totem.ipc.engine import LibConnection, LibHandler
from totem.ipc.wire import CsError
from totem.service import Service
from totem.services.cfg_lib import DEFAULT_SHUTDOWN_TIMEOUT_MS, CfgLib, NodeInfo
from totem.srp.events import ConfigurationChange, ConfigurationKind, LogLevel

__all__ = [
    "CFG_SERVICE_ID",
    "CfgCryptoReconfig",
    "CfgKilled",
    "CfgReloadRequested",
    "CfgRingReenable",
    "CfgService",
    "CfgShutdown",
    "decode_message_source",
    "encode_killnode",
    "encode_message_source",
]

CFG_SERVICE_ID = 1
IPC_RELOAD_CONN = 1 << 63
"""Marks a RELOAD_CONFIG asked by a libcfg client: ``conn`` is this bit | connection id."""
FN_RINGREENABLE, FN_KILLNODE, FN_SHUTDOWN, FN_RELOAD_CONFIG, FN_RECONFIG_CRYPTO = range(5)
_KILLNODE = struct.Struct("<I4xH6x256s")
_SOURCE = struct.Struct("<I4xQ")
_PHASE = struct.Struct("<I4x")


def encode_message_source(node_id: int, conn: int) -> bytes:
    """A ``mar_message_source_t`` (RINGREENABLE and RELOAD_CONFIG bodies): 16 bytes."""
    return _SOURCE.pack(node_id, conn)


def decode_message_source(body: bytes) -> tuple[int, int]:
    """``(nodeid, conn)`` of a ``mar_message_source_t``; ValueError if it is too short."""
    if len(body) < _SOURCE.size:
        raise ValueError(f"message source of {len(body)} bytes (want {_SOURCE.size})")
    node_id, conn = _SOURCE.unpack_from(body)
    return node_id, conn


def encode_killnode(node_id: int, reason: str) -> bytes:
    """The KILLNODE body (272 bytes)."""
    text = reason.encode()[:255]
    return _KILLNODE.pack(node_id, len(text) + 1, text)


@dataclass(frozen=True, slots=True)
class CfgKilled:
    """Another node asked this one to exit (``corosync-cfgtool -k``)."""

    by: int
    reason: str


@dataclass(frozen=True, slots=True)
class CfgShutdown:
    """A node announced its shutdown; ``node_id`` is ours when we must now leave."""

    node_id: int
    local: bool


@dataclass(frozen=True, slots=True)
class CfgReloadRequested:
    """A node asked the whole cluster to reload corosync.conf (cfg RELOAD_CONFIG).

    ``local`` is true when the request came from this node; ``conn`` then names the
    request the reply belongs to (the ``conn`` of the message source).
    """

    by: int
    conn: int
    local: bool


@dataclass(frozen=True, slots=True)
class CfgCryptoReconfig:
    """Our own RECONFIG_CRYPTO ``phase`` was delivered (1: use the new key, 2: drop the old)."""

    phase: int


@dataclass(frozen=True, slots=True)
class CfgRingReenable:
    """Re-enable faulty redundant rings (``corosync-cfgtool -r`` on any node)."""

    by: int


class CfgService(Service):
    """Service id 1; takes no part in sync."""

    service_id = CFG_SERVICE_ID
    name = "corosync_cfg"
    ipc_name = "cfg"

    def __init__(self) -> None:
        super().__init__()
        self._events: list[Any] = []
        self.counters = {"malformed": 0, "ignored": 0, "reload_requests": 0}
        self._members: frozenset[int] = frozenset()
        self._lib = CfgLib(self)
        self._reload_waiters: dict[int, LibConnection] = {}
        self.shutdown_timeout: Callable[[], int | None] = lambda: None
        """``cfg.shutdown_timeout`` (ms) as the node's map has it; None: the default."""
        self.rings_reenable: Callable[[], bool] = lambda: False
        """True if this node runs redundant rings that RINGREENABLE may re-enable."""
        self.reopen_logs: Callable[[], bool] = lambda: True

    # --- what the library asks of the engine (CfgActions) --------------------------------------
    def node_id(self) -> int:
        return self._node_id()

    def is_member(self, nodeid: int) -> bool:
        """``runtime.members.<id>.status`` is "joined": the node is in our membership."""
        return nodeid in self._members

    def send_killnode(self, nodeid: int, reason: str) -> None:
        assert self.host is not None
        self.host.mcast(CFG_SERVICE_ID, FN_KILLNODE, encode_killnode(nodeid, reason))

    def send_shutdown(self) -> None:
        assert self.host is not None
        self.host.mcast(CFG_SERVICE_ID, FN_SHUTDOWN, b"")

    def send_ring_reenable(self) -> bool:
        if not self.rings_reenable():
            return False
        self._ring_reenable({})
        return True

    def request_reload(self, conn: Any) -> None:
        """``corosync-cfgtool -R``: ask every node to reload corosync.conf.

        ``conn`` is a libcfg connection (answered when our own request is applied) or a
        u64 (not 0) that comes back in this node's :class:`CfgReloadRequested`, so that
        the caller can answer the request it belongs to.
        """
        if not isinstance(conn, int):
            self._reload_waiters[conn.id] = conn
            conn = IPC_RELOAD_CONN | conn.id
        if not 0 < conn < 1 << 64:
            raise ValueError(f"reload request id {conn} is not a non-zero u64")
        assert self.host is not None
        self.host.mcast(
            CFG_SERVICE_ID, FN_RELOAD_CONFIG, encode_message_source(self._node_id(), conn)
        )

    def reload_finished(self, conn: int, error: CsError) -> bool:
        """The node applied (or refused) a reload a libcfg client asked for; False if the
        request did not come from one."""
        if not conn & IPC_RELOAD_CONN:
            return False
        client = self._reload_waiters.pop(conn & ~IPC_RELOAD_CONN, None)
        if client is not None:
            self._lib.reload_done(client, error)
        return True

    def reopen_log_files(self) -> bool:
        return self.reopen_logs()

    def shutdown_timeout_ms(self) -> int:
        value = self.shutdown_timeout()
        return DEFAULT_SHUTDOWN_TIMEOUT_MS if value is None else value

    # --- library ------------------------------------------------------------------------------
    def set_node_info(self, info: NodeInfo) -> None:
        """Where node addresses and link status come from (the node's transports)."""
        self._lib.node_info = info

    def lib_handlers(self) -> Sequence[LibHandler]:
        return self._lib.handlers()

    def lib_init(self, conn: LibConnection) -> None:
        self._lib.lib_init(conn)

    def lib_exit(self, conn: LibConnection) -> None:
        self._lib.lib_exit(conn)
        self._reload_waiters.pop(conn.id, None)

    def next_deadline(self) -> float | None:
        return self._lib.next_deadline()

    def on_deadline(self, now: float) -> None:
        self._lib.on_deadline(now)

    def confchg(self, change: ConfigurationChange, now: float) -> None:
        if change.kind is ConfigurationKind.REGULAR:
            self._members = frozenset(change.members)

    @property
    def exec_function_count(self) -> int:
        return 5

    def _node_id(self) -> int:
        assert self.host is not None
        return self.host.node_id

    def exec_deliver(self, sender: int, fn_id: int, body: bytes, now: float) -> None:
        host = self.host
        assert host is not None
        if fn_id == FN_KILLNODE:
            if len(body) < _KILLNODE.size:
                self.counters["malformed"] += 1
                return
            node_id, length, value = _KILLNODE.unpack_from(body)
            reason = value[: max(0, min(length, 256) - 1)].split(b"\0", 1)[0]
            text = reason.decode(errors="replace")
            host.log(
                LogLevel.DEBUG, "CFG", f"request to kill node {node_id} (us={self._node_id()})"
            )
            if node_id == self._node_id():
                host.log(LogLevel.NOTICE, "CFG", f"Killed by node {sender} : {text}")
                self._events.append(CfgKilled(sender, text))
        elif fn_id == FN_SHUTDOWN:
            host.log(LogLevel.NOTICE, "CFG", f"Node {sender} was shut down by sysadmin")
            self._events.append(CfgShutdown(sender, sender == self._node_id()))
        elif fn_id == FN_RINGREENABLE:
            self._events.append(CfgRingReenable(sender))
        elif fn_id == FN_RECONFIG_CRYPTO:
            if len(body) < 4:
                self.counters["malformed"] += 1
                return
            if sender != self._node_id():
                return
            phase = int.from_bytes(body[:4], "little")
            host.log(LogLevel.DEBUG, "CFG", f"Crypto reconfiguration phase {phase}")
            self._events.append(CfgCryptoReconfig(phase))
            if phase < 2:
                self.request_crypto_phase(phase + 1)
        elif fn_id == FN_RELOAD_CONFIG:
            try:
                _source_node, conn = decode_message_source(body)
            except ValueError:
                self.counters["malformed"] += 1
                return
            host.log(LogLevel.NOTICE, "CFG", f"Config reload requested by node {sender}")
            self.counters["reload_requests"] += 1
            self._events.append(CfgReloadRequested(sender, conn, sender == self._node_id()))
        else:
            self.counters["ignored"] += 1

    def events(self) -> list[Any]:
        out, self._events = self._events, []
        return out

    def status(self) -> dict[str, Any]:
        return dict(self.counters)

    def control_ops(self) -> Mapping[str, Callable[[dict[str, Any]], Any]]:
        return {
            "cfg.kill_node": self._kill_node,
            "cfg.shutdown_cluster_notice": self._shutdown,
            "cfg.ring_reenable": self._ring_reenable,
        }

    def _kill_node(self, request: dict[str, Any]) -> str:
        node_id = request["node_id"]
        if not isinstance(node_id, int) or not 0 < node_id <= 0xFFFFFFFF:
            raise ValueError("node id must be a positive integer")
        reason = str(request.get("reason") or "Killed by corosync-cfgtool")
        assert self.host is not None
        self.host.mcast(CFG_SERVICE_ID, FN_KILLNODE, encode_killnode(node_id, reason))
        return f"kill request for node {node_id} sent"

    def _shutdown(self, _request: dict[str, Any]) -> str:
        assert self.host is not None
        self.host.mcast(CFG_SERVICE_ID, FN_SHUTDOWN, b"")
        return "shutdown announced"

    def _ring_reenable(self, _request: dict[str, Any]) -> str:
        assert self.host is not None
        self.host.mcast(CFG_SERVICE_ID, FN_RINGREENABLE, encode_message_source(self._node_id(), 0))
        return "re-enabling all the rings"

    def request_crypto_phase(self, phase: int) -> None:
        """Multicast RECONFIG_CRYPTO ``phase`` (corosync sends it TOTEM_SAFE; ours are
        agreed, and each node acts on its own message only)."""
        assert self.host is not None
        self.host.mcast(CFG_SERVICE_ID, FN_RECONFIG_CRYPTO, _PHASE.pack(phase))
