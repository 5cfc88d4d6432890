"""cfg's library side: libcfg's requests and the shutdown tracking (``exec/cfg.c``).

Requests (ref libqb-ipc/README.md section 4.4; layouts in ``ipc_cfg.h``) and their answers
-- the response ids are a different enum from the request ids:

====  =================  =====================================  ==========================
id    request            fields                                 response (id, size)
====  =================  =====================================  ==========================
0     RINGSTATUSGET      --                                     0, 10272
1     RINGREENABLE       --                                     1, 24
2     KILLNODE           ``u32 nodeid``@16, ``cs_name_t``@24     8, 24
3     TRYSHUTDOWN        ``u32 flags``@16                       9, 24 (deferred)
4     REPLYTOSHUTDOWN    ``u32 response``@16                    13, 24
5     GET_NODE_ADDRS     ``u32 nodeid``@16 (0: this node)       11, 32 + 16 per address
6     LOCAL_GET          --                                     12, 32
7     RELOAD_CONFIG      --                                     14, 24 (deferred)
8     REOPEN_LOG_FILES   --                                     15, 24
9     NODESTATUSGET      ``u32 nodeid``@16, ``u32 version``@24   16, 4200 (v1) or 32
10    TRACKSTART         ``u8 flags``@16                        2, 24
11    TRACKSTOP          --                                     3, 24
====  =================  =====================================  ==========================

**Shutdown tracking** (what Pacemaker's pacemakerd relies on). A client that called
TRACKSTART is asked about every shutdown: TRYSHUTDOWN with flags REQUEST (0) or REGARDLESS
(1) sends TESTSHUTDOWN (event 10: ``flags``@24) to every other tracker and waits for their
REPLYTOSHUTDOWN (1 yes, 0 no) up to ``cfg.shutdown_timeout`` ms (5000); a tracker that
leaves counts as yes. All yes (or REGARDLESS): the caller gets ``CS_OK`` and the node
announces its shutdown to the cluster (exec SHUTDOWN, after which it leaves); any no:
``CS_ERR_BUSY``; the timeout counts the undecided as no and tells the trackers
``CS_ERR_TIMEOUT``. IMMEDIATE (2) shuts down without asking. A second TRYSHUTDOWN while one
is running gets ``CS_ERR_EXIST``; a REPLYTOSHUTDOWN with none running ``CS_ERR_ACCESS``.

Facts about nodes and links come from the node (:class:`NodeInfo`): the addresses of a
node, and per node the status of each link -- a transport that knows more (knet) reports
more.
"""

from __future__ import annotations

import enum
import ipaddress
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from totem.ipc.engine import LibConnection, LibHandler
from totem.ipc.wire import CsError, response_header

__all__ = ["CfgLib", "LinkStatus", "NodeInfo", "NodeStatus", "encode_node_status"]

RES_RINGSTATUSGET, RES_RINGREENABLE, RES_STATETRACKSTART, RES_STATETRACKSTOP = 0, 1, 2, 3
RES_KILLNODE, RES_TRYSHUTDOWN, RES_TESTSHUTDOWN, RES_GET_NODE_ADDRS = 8, 9, 10, 11
RES_LOCAL_GET, RES_REPLYTOSHUTDOWN, RES_RELOAD_CONFIG, RES_REOPEN_LOG_FILES = 12, 13, 14, 15
RES_NODESTATUSGET = 16
SHUTDOWN_FLAG_REQUEST, SHUTDOWN_FLAG_REGARDLESS, SHUTDOWN_FLAG_IMMEDIATE = 0, 1, 2
DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000
NODE_STATUS_V1 = 1
MAX_LINKS = 8
MAX_INTERFACES = 16
_U32 = struct.Struct("<I")
_KILLNODE_REASON = struct.Struct("<H256s")
_STATUS_HEAD = struct.Struct("<IIBBBBBB2x")
_LINK = struct.Struct("<BBB1xI256s256s")
_ADDRS_HEAD = struct.Struct("<II")


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """``struct corosync_knet_link_status_v1`` of one link towards a node."""

    enabled: bool = False
    connected: bool = False
    dynconnected: bool = False
    mtu: int = 0
    src_ipaddr: str = ""
    dst_ipaddr: str = ""


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """``struct corosync_cfg_node_status_v1``."""

    nodeid: int
    reachable: bool = False
    remote: bool = False
    external: bool = False
    onwire_min: int = 0
    onwire_max: int = 0
    onwire_ver: int = 0
    links: tuple[LinkStatus, ...] = ()


def _c_string(text: str, size: int) -> bytes:
    raw = text.encode()[: size - 1]
    return raw + bytes(size - len(raw))


def encode_node_status(status: NodeStatus) -> bytes:
    """The 4176-byte ``corosync_cfg_node_status_v1``."""
    parts = [
        _STATUS_HEAD.pack(
            NODE_STATUS_V1,
            status.nodeid,
            int(status.reachable),
            int(status.remote),
            int(status.external),
            status.onwire_min,
            status.onwire_max,
            status.onwire_ver,
        )
    ]
    links = list(status.links[:MAX_LINKS]) + [LinkStatus()] * (MAX_LINKS - len(status.links))
    for link in links:
        parts.append(
            _LINK.pack(
                int(link.enabled),
                int(link.connected),
                int(link.dynconnected),
                link.mtu,
                _c_string(link.src_ipaddr, 256),
                _c_string(link.dst_ipaddr, 256),
            )
        )
    return b"".join(parts)


class NodeInfo(Protocol):
    """What cfg asks of the node about nodes and links (its transports know)."""

    def node_addresses(self, nodeid: int) -> Sequence[str] | None:
        """Each link's address of ``nodeid``; None if the node is unknown."""
        ...

    def node_status(self, nodeid: int) -> NodeStatus | None:
        """The status of ``nodeid`` and of each link to it; None: cannot tell."""
        ...

    def ring_status(self) -> Sequence[tuple[str, str]]:
        """``(name, status)`` of each local interface (``"0 10.0.0.1"``, ``"OK"``)."""
        ...


class _Reply(enum.Enum):
    UNKNOWN = 0
    YES = 1
    NO = 2


@dataclass(eq=False, slots=True)
class _CfgInfo:
    """``struct cfg_info``: a libcfg connection's tracking state."""

    tracking: bool = False
    reply: _Reply = _Reply.UNKNOWN


@dataclass(slots=True)
class _Shutdown:
    """A TRYSHUTDOWN waiting for the trackers' answers."""

    conn: LibConnection
    flags: int
    deadline: float
    expected: int = 0
    yes: int = 0
    no: int = 0
    asked: list[LibConnection] = field(default_factory=list)


class CfgActions(Protocol):
    """What the library asks the cfg engine to do on the cluster."""

    def node_id(self) -> int: ...

    def is_member(self, nodeid: int) -> bool: ...

    def send_killnode(self, nodeid: int, reason: str) -> None: ...

    def send_shutdown(self) -> None: ...

    def send_ring_reenable(self) -> bool: ...

    def request_reload(self, conn: LibConnection) -> None: ...

    def reopen_log_files(self) -> bool: ...

    def shutdown_timeout_ms(self) -> int: ...


class CfgLib:
    """The library handlers of cfg (see the module docstring)."""

    def __init__(self, actions: CfgActions) -> None:
        self._actions = actions
        self.node_info: NodeInfo | None = None
        self._trackers: list[LibConnection] = []
        self._shutdown: _Shutdown | None = None

    def handlers(self) -> list[LibHandler]:
        return [
            LibHandler(self._ringstatusget, 16, flow_control=True),
            LibHandler(self._ringreenable, 16, flow_control=True),
            LibHandler(self._killnode, 282, flow_control=True),
            LibHandler(self._tryshutdown, 20, flow_control=True),
            LibHandler(self._replytoshutdown, 20, flow_control=True),
            LibHandler(self._get_node_addrs, 20),
            LibHandler(self._local_get, 16),
            LibHandler(self._reload_config, 16, flow_control=True),
            LibHandler(self._reopen_log_files, 16),
            LibHandler(self._nodestatusget, 28),
            LibHandler(self._trackstart, 17, flow_control=True),
            LibHandler(self._trackstop, 16, flow_control=True),
        ]

    def lib_init(self, conn: LibConnection) -> None:
        conn.private = _CfgInfo()

    def lib_exit(self, conn: LibConnection) -> None:
        self._remove_tracker(conn)
        if self._shutdown is not None and self._shutdown.conn is conn:
            self._shutdown = None  # the controlling client quit: cancel the session

    # --- timer (sans-IO) ----------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        return None if self._shutdown is None else self._shutdown.deadline

    def on_deadline(self, now: float) -> None:
        """``shutdown_timer_fn``: the undecided count as no; trackers hear CS_ERR_TIMEOUT."""
        session = self._shutdown
        if session is None or now < session.deadline:
            return
        session.no = session.expected
        self._check_shutdown()
        self._send_test_shutdown(None, None, CsError.ERR_TIMEOUT, session.flags)

    # --- handlers -----------------------------------------------------------------------------
    def _ringstatusget(self, conn: LibConnection, data: bytes, now: float) -> None:
        rings = list(self.node_info.ring_status()) if self.node_info is not None else []
        rings = rings[:MAX_INTERFACES]
        names = b"".join(_c_string(name, 128) for name, _ in rings)
        states = b"".join(_c_string(state, 512) for _, state in rings)
        names += bytes(128 * (MAX_INTERFACES - len(rings)))
        states += bytes(512 * (MAX_INTERFACES - len(rings)))
        conn.respond(
            response_header(RES_RINGSTATUSGET, 10272)
            + _U32.pack(len(rings))
            + bytes(4)
            + names
            + states
        )

    def _ringreenable(self, conn: LibConnection, data: bytes, now: float) -> None:
        ok = self._actions.send_ring_reenable()
        error = CsError.OK if ok else CsError.ERR_NOT_SUPPORTED
        conn.respond(response_header(RES_RINGREENABLE, 24, error))

    def _killnode(self, conn: LibConnection, data: bytes, now: float) -> None:
        (nodeid,) = _U32.unpack_from(data, 16)
        length, value = _KILLNODE_REASON.unpack_from(data, 24)
        reason = value[: min(length, 256)].split(b"\0", 1)[0].decode(errors="replace")
        if not self._actions.is_member(nodeid):
            error = CsError.ERR_NOT_EXIST
        else:
            self._actions.send_killnode(nodeid, reason)
            error = CsError.OK
        conn.respond(response_header(RES_KILLNODE, 24, error))

    def _tryshutdown(self, conn: LibConnection, data: bytes, now: float) -> None:
        (flags,) = _U32.unpack_from(data, 16)
        if flags == SHUTDOWN_FLAG_IMMEDIATE:
            self._actions.send_shutdown()
            conn.respond(response_header(RES_TRYSHUTDOWN, 24))
            return
        if self._shutdown is not None:
            conn.respond(response_header(RES_TRYSHUTDOWN, 24, CsError.ERR_EXIST))
            return
        asked = [tracker for tracker in self._trackers if tracker is not conn]
        for tracker in asked:
            tracker.private.reply = _Reply.UNKNOWN
        if not asked:
            conn.respond(response_header(RES_TRYSHUTDOWN, 24))
            self._actions.send_shutdown()
            return
        timeout = self._actions.shutdown_timeout_ms() / 1000.0
        self._shutdown = _Shutdown(conn, flags, now + timeout, expected=len(asked), asked=asked)
        self._send_test_shutdown(None, conn, CsError.OK, flags)
        # the caller's answer waits for the trackers' (check_shutdown_status)

    def _replytoshutdown(self, conn: LibConnection, data: bytes, now: float) -> None:
        (response,) = _U32.unpack_from(data, 16)
        session = self._shutdown
        if session is None:
            conn.respond(response_header(RES_REPLYTOSHUTDOWN, 24, CsError.ERR_ACCESS))
            return
        info: _CfgInfo = conn.private
        if response:
            session.yes += 1
            info.reply = _Reply.YES
        else:
            session.no += 1
            info.reply = _Reply.NO
        self._check_shutdown()
        conn.respond(response_header(RES_REPLYTOSHUTDOWN, 24))

    def _get_node_addrs(self, conn: LibConnection, data: bytes, now: float) -> None:
        (nodeid,) = _U32.unpack_from(data, 16)
        if nodeid == 0:
            nodeid = self._actions.node_id()
        addresses = self.node_info.node_addresses(nodeid) if self.node_info is not None else None
        packed: list[bytes] = []
        family = 0
        for text in addresses or ():
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                continue
            if not family:
                family = socket.AF_INET if address.version == 4 else socket.AF_INET6
            packed.append(address.packed + bytes(16 - len(address.packed)))
        error = CsError.OK if packed else CsError.ERR_NOT_EXIST
        conn.respond(
            response_header(RES_GET_NODE_ADDRS, 32 + 16 * len(packed), error)
            + _ADDRS_HEAD.pack(family, len(packed))
            + b"".join(packed)
        )

    def _local_get(self, conn: LibConnection, data: bytes, now: float) -> None:
        conn.respond(
            response_header(RES_LOCAL_GET, 32) + _U32.pack(self._actions.node_id()) + bytes(4)
        )

    def _reload_config(self, conn: LibConnection, data: bytes, now: float) -> None:
        """Answered when the node has applied its own RELOAD_CONFIG (``reload_done``)."""
        self._actions.request_reload(conn)

    def reload_done(self, conn: LibConnection, error: CsError) -> None:
        if not conn.closed:
            conn.respond(response_header(RES_RELOAD_CONFIG, 24, error))

    def _reopen_log_files(self, conn: LibConnection, data: bytes, now: float) -> None:
        error = CsError.OK if self._actions.reopen_log_files() else CsError.ERR_LIBRARY
        conn.respond(response_header(RES_REOPEN_LOG_FILES, 24, error))

    def _nodestatusget(self, conn: LibConnection, data: bytes, now: float) -> None:
        nodeid, version = struct.unpack_from("<I4xI", data, 16)
        status = self.node_info.node_status(nodeid) if self.node_info is not None else None
        if status is None:
            conn.respond(
                response_header(RES_NODESTATUSGET, 32, CsError.ERR_FAILED_OPERATION) + bytes(8)
            )
            return
        if version != NODE_STATUS_V1:
            conn.respond(
                response_header(RES_NODESTATUSGET, 32, CsError.ERR_NOT_SUPPORTED) + bytes(8)
            )
            return
        conn.respond(response_header(RES_NODESTATUSGET, 4200) + encode_node_status(status))

    def _trackstart(self, conn: LibConnection, data: bytes, now: float) -> None:
        info: _CfgInfo = conn.private
        if not info.tracking:
            info.tracking = True
            self._trackers.append(conn)
            session = self._shutdown
            if session is not None:  # a shutdown is being decided: ask the newcomer too
                info.reply = _Reply.UNKNOWN
                session.expected += 1
                session.asked.append(conn)
                self._send_test_shutdown(conn, None, CsError.OK, session.flags)
        conn.respond(response_header(RES_STATETRACKSTART, 24))

    def _trackstop(self, conn: LibConnection, data: bytes, now: float) -> None:
        self._remove_tracker(conn)
        conn.respond(response_header(RES_STATETRACKSTOP, 24))

    # --- shutdown decision ------------------------------------------------------------------
    def _remove_tracker(self, conn: LibConnection) -> None:
        """``remove_ci_from_shutdown``: a tracker leaving counts as a yes."""
        info: _CfgInfo | None = conn.private
        if info is None or not info.tracking:
            return
        info.tracking = False
        self._trackers.remove(conn)
        session = self._shutdown
        if session is not None:
            if info.reply is _Reply.YES:
                session.yes -= 1
            elif info.reply is _Reply.NO:
                session.no -= 1
            info.reply = _Reply.YES
            session.yes += 1
            self._check_shutdown()

    def _check_shutdown(self) -> None:
        session = self._shutdown
        if session is None or session.yes + session.no < session.expected:
            return
        self._shutdown = None
        if session.yes >= session.expected or session.flags == SHUTDOWN_FLAG_REGARDLESS:
            session.conn.respond(response_header(RES_TRYSHUTDOWN, 24))
            self._actions.send_shutdown()
        else:
            session.conn.respond(response_header(RES_TRYSHUTDOWN, 24, CsError.ERR_BUSY))

    def _send_test_shutdown(
        self,
        only: LibConnection | None,
        exclude: LibConnection | None,
        status: CsError,
        flags: int,
    ) -> None:
        message = response_header(RES_TESTSHUTDOWN, 32, status) + _U32.pack(flags) + bytes(4)
        targets = [only] if only is not None else [t for t in self._trackers if t is not exclude]
        for target in targets:
            target.dispatch(message)
