"""CPG's library side: all of libcpg over IPC (``exec/cpg.c``; ref libqb-ipc/README.md 4.5).

One IPC connection is one libcpg handle (``struct cpg_pd``); the connection object itself is
the handle the service knows. Requests (``ipc_cpg.h``; group names are ``mar_cpg_name_t``:
``u32 length``, pad, ``char value[128]``):

====  ====================  ============================================  =================
id    request               fields                                        response
====  ====================  ============================================  =================
0     JOIN                  group@16, ``u32 pid``@152, ``u32 flags``@160  0, 24
1     LEAVE                 group@16, ``u32 pid``@152                     1, 24
2     MCAST                 (24-byte header) guarantee@24, msglen@32,      none
                            message@40
3     MEMBERSHIP            group@16                                      3, 9248
4     LOCAL_GET             --                                            7, 32
5     ITERATIONINITIALIZE   group@16, ``u32 type``@152                    9, 32
6     ITERATIONNEXT         ``u64 handle``@16                             10, 168; end 27
7     ITERATIONFINALIZE     ``u64 handle``@16                             11, 24
8     FINALIZE              --                                            12, 24
9     ZC_ALLOC              ``u64 map_size``@16, ``char path[128]``@24     bare header, 24
10    ZC_FREE               map_size@16, ``u64 server_address``@24        bare header, 24
11    ZC_EXECUTE            ``u64 server_address``@16                     2, 24
12    PARTIAL_MCAST         guarantee@24, msglen@32, fraglen@40,           18, 24
                            type@48, message@56
====  ====================  ============================================  =================

MCAST is asynchronous in libcpg: nothing answers it, not even a refusal. While the node
synchronises libcpg itself refuses it (the flow-control value 2); one that races past the
flag waits in the send queue for the end of the sync instead of being dropped.

Events: CONFCHG (4: group@24, member/joined/left counts @160/168/176, then the member,
left and joined ``mar_cpg_address`` lists from @184, 24 bytes each), DELIVER (5: group@24,
msglen@160, nodeid@168, pid@176, message@184), TOTEM_CONFCHG (13: ring id@24, count@40,
node ids@44; ``48 + 4n`` bytes). A message too large for one event (the client reads events
of at most 1 MiB) is handed over as PARTIAL_DELIVER events (17: group@24, msglen@160,
fraglen@168, nodeid@176, pid@184, type@192, fragment@200) that libcpg reassembles.

Zero-copy buffers (ZC_*): the client names a file it created under ``/dev/shm``; we map it
only if it is a regular file there owned by the client (corosync maps any path).
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import os
import struct
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from totem.ipc.engine import LibConnection, LibHandler
from totem.ipc.wire import CsError, response_header
from totem.services.cpg.events import (
    CpdState,
    CpgConfigChange,
    CpgDeliver,
    CpgError,
    CpgEvent,
    CpgGuarantee,
    CpgIterationEntry,
    CpgIterationType,
    CpgTotemConfigChange,
)
from totem.services.cpg.interfaces import CPG_MAX_ATOMIC_MSGSIZE, CpgEventSink
from totem.services.cpg.service import CpgService
from totem.services.cpg.wire import CPG_MAX_NAME_LENGTH, PartialType
from totem.srp.events import LogLevel

__all__ = ["CpgLib", "decode_cpg_name", "encode_cpg_name"]

RES_JOIN, RES_LEAVE, RES_MCAST, RES_MEMBERSHIP = 0, 1, 2, 3
RES_CONFCHG_CALLBACK, RES_DELIVER_CALLBACK, RES_LOCAL_GET = 4, 5, 7
RES_ITERINIT, RES_ITERNEXT, RES_ITERFINALIZE, RES_FINALIZE = 9, 10, 11, 12
RES_TOTEM_CONFCHG_CALLBACK, RES_PARTIAL_DELIVER_CALLBACK, RES_PARTIAL_SEND = 13, 17, 18
MODEL_V1_DELIVER_INITIAL_TOTEM_CONF = 1
MEMBERSHIP_MAX = 384
ZC_PATH_LEN = 128
ZC_HEADER = struct.Struct("<i4xQ")
"""``struct coroipcs_zc_header``: ``int map_size``, ``u64 server_address``."""
SHM_DIR = "/dev/shm"

_NAME = struct.Struct(f"<I4x{CPG_MAX_NAME_LENGTH}s")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_ADDRESS = struct.Struct("<I4xI4xI4x")
_MCAST = struct.Struct("<I4xI4x")
_PARTIAL = struct.Struct("<I4xI4xI4xI4x")
_CONFCHG_COUNTS = struct.Struct("<I4xI4xI4x")
_DELIVER = struct.Struct("<I4xI4xI4x")
_PARTIAL_DELIVER = struct.Struct("<I4xI4xI4xI4xI4x")
_RING = struct.Struct("<I4xQI")
_ITERNEXT = struct.Struct("<II")
_ZC_ALLOC = struct.Struct(f"<Q{ZC_PATH_LEN}s")
_DELIVER_HEAD_SIZE = 184


def decode_cpg_name(data: bytes, offset: int) -> bytes:
    """A ``mar_cpg_name_t`` (the value cut at ``length``); ValueError if ``length`` > 128."""
    length, value = _NAME.unpack_from(data, offset)
    if length > CPG_MAX_NAME_LENGTH:
        raise ValueError(f"group name length {length}")
    return bytes(value[:length])


def encode_cpg_name(group: bytes) -> bytes:
    return _NAME.pack(len(group), group)


def _address(nodeid: int, pid: int, reason: int) -> bytes:
    return _ADDRESS.pack(nodeid, pid, int(reason))


@dataclass(eq=False, slots=True)
class _ZcBuffer:
    mapping: mmap.mmap
    size: int


@dataclass(slots=True)
class _CpgPd:
    """A libcpg connection's own state besides what the service keeps for the handle."""

    iterations: dict[int, list[CpgIterationEntry]] = field(default_factory=dict)
    zc: dict[int, _ZcBuffer] = field(default_factory=dict)
    finalized: bool = False


class CpgLib:
    """libcpg's handlers over a :class:`CpgService` (see the module docstring)."""

    def __init__(self, service: CpgService, shm_dir: str = SHM_DIR) -> None:
        self.service = service
        self.shm_dir = shm_dir
        self._conns: set[Hashable] = set()
        self._other: CpgEventSink | None = service.event_sink
        """Where events of handles that are not IPC connections go (the control socket's
        CPG API); None: the service's own event queue."""
        self._ids = itertools.count(1)
        service.set_event_sink(self)

    def handlers(self) -> list[LibHandler]:
        return [
            LibHandler(self._join, 164, flow_control=True),
            LibHandler(self._leave, 156, flow_control=True),
            LibHandler(self._mcast, 40, flow_control=True, responds=False),
            LibHandler(self._membership, 152),
            LibHandler(self._local_get, 16),
            LibHandler(self._iteration_initialize, 156),
            LibHandler(self._iteration_next, 24),
            LibHandler(self._iteration_finalize, 24),
            LibHandler(self._finalize, 16, flow_control=True),
            LibHandler(self._zc_alloc, 24 + ZC_PATH_LEN, flow_control=True),
            LibHandler(self._zc_free, 32, flow_control=True),
            LibHandler(self._zc_execute, 24, flow_control=True),
            LibHandler(self._partial_mcast, 56, flow_control=True),
        ]

    def lib_init(self, conn: LibConnection) -> None:
        conn.private = _CpgPd()
        self._conns.add(conn)

    def lib_exit(self, conn: LibConnection) -> None:
        """``cpg_lib_exit_fn``: a handle still in a group leaves it (PROCDOWN)."""
        self._conns.discard(conn)
        pd: _CpgPd = conn.private
        for buffer in pd.zc.values():
            with contextlib.suppress(BufferError):
                buffer.mapping.close()
        pd.zc.clear()
        if self.service.handle_group(conn) is not None:
            with contextlib.suppress(CpgError):
                self.service.finalize(conn)

    # --- requests -----------------------------------------------------------------------------
    @staticmethod
    def _answer(conn: LibConnection, res_id: int, error: int = CsError.OK) -> None:
        conn.respond(response_header(res_id, 24, error))

    def _join(self, conn: LibConnection, data: bytes, now: float) -> None:
        length = _U32.unpack_from(data, 16)[0]
        if length > CPG_MAX_NAME_LENGTH:
            self._answer(conn, RES_JOIN, CsError.ERR_NAME_TOO_LONG)
            return
        group = decode_cpg_name(data, 16)
        pid, flags = struct.unpack_from("<I4xI", data, 152)
        try:
            self.service.join(
                conn,
                group,
                pid,
                deliver_initial_totem_conf=bool(flags & MODEL_V1_DELIVER_INITIAL_TOTEM_CONF),
            )
        except CpgError as err:
            self._answer(conn, RES_JOIN, err.error)
            return
        self._answer(conn, RES_JOIN)

    def _leave(self, conn: LibConnection, data: bytes, now: float) -> None:
        try:
            group = decode_cpg_name(data, 16)
            self.service.leave(conn, group)
        except ValueError:
            self._answer(conn, RES_LEAVE, CsError.ERR_INVALID_PARAM)
            return
        except CpgError as err:
            self._answer(conn, RES_LEAVE, err.error)
            return
        self._answer(conn, RES_LEAVE)

    def _mcast(self, conn: LibConnection, data: bytes, now: float) -> None:
        guarantee, msglen = _MCAST.unpack_from(data, 24)
        payload = data[40:]
        if msglen != len(payload):
            return
        self._send(conn, payload, guarantee)

    def _send(self, conn: LibConnection, payload: bytes, guarantee: int) -> CsError:
        state = self.service.handle_group(conn)
        if state is None or state[1] in (CpdState.UNJOINED, CpdState.LEAVE_STARTED):
            group = b"" if state is None else state[0]
            self.service._log(
                LogLevel.ERROR,
                f"*** {conn.id:#x} can't mcast to group {group.decode(errors='replace')} "
                f"state:{0 if state is None else state[1].value}, error:{CsError.ERR_NOT_EXIST}",
            )
            return CsError.ERR_NOT_EXIST
        try:
            level = CpgGuarantee(guarantee)
        except ValueError:
            level = CpgGuarantee.AGREED
        try:
            self.service.mcast(conn, state[0], payload, level, during_sync=True)
        except CpgError as err:
            return err.error  # type: ignore[return-value]
        return CsError.OK

    def _partial_mcast(self, conn: LibConnection, data: bytes, now: float) -> None:
        _guarantee, msglen, fraglen, kind = _PARTIAL.unpack_from(data, 24)
        fragment = data[56:]
        if fraglen != len(fragment) or kind not in (1, 2, 3):
            self._answer(conn, RES_PARTIAL_SEND, CsError.ERR_INVALID_PARAM)
            return
        state = self.service.handle_group(conn)
        if state is None or state[1] in (CpdState.UNJOINED, CpdState.LEAVE_STARTED):
            self._answer(conn, RES_PARTIAL_SEND, CsError.ERR_NOT_EXIST)
            return
        try:
            self.service.mcast_fragment(
                conn, msglen, kind, fragment, first_counter=kind == PartialType.FIRST
            )
        except CpgError as err:
            self._answer(conn, RES_PARTIAL_SEND, err.error)
            return
        self._answer(conn, RES_PARTIAL_SEND)

    def _membership(self, conn: LibConnection, data: bytes, now: float) -> None:
        try:
            group = decode_cpg_name(data, 16)
        except ValueError:
            group = None
        members = list(self.service.membership(group))[:MEMBERSHIP_MAX] if group is not None else []
        body = b"".join(_address(a.nodeid, a.pid, 0) for a in members)
        body += bytes(_ADDRESS.size * (MEMBERSHIP_MAX - len(members)))
        conn.respond(
            response_header(RES_MEMBERSHIP, 9248) + _U32.pack(len(members)) + bytes(4) + body
        )

    def _local_get(self, conn: LibConnection, data: bytes, now: float) -> None:
        conn.respond(
            response_header(RES_LOCAL_GET, 32) + _U32.pack(self.service.local_get()) + bytes(4)
        )

    def _iteration_initialize(self, conn: LibConnection, data: bytes, now: float) -> None:
        pd: _CpgPd = conn.private
        (kind,) = _U32.unpack_from(data, 152)
        try:
            iteration = CpgIterationType(kind)
            group = decode_cpg_name(data, 16) if iteration is CpgIterationType.ONE_GROUP else None
            rows = self.service.iteration(iteration, group)
        except (ValueError, CpgError):
            rows = []
            iteration = CpgIterationType.ALL
            if kind not in (1, 2, 3):
                rows = self.service.iteration(CpgIterationType.ALL)
        handle = next(self._ids) | (conn.id << 32)
        pd.iterations[handle] = list(rows)
        conn.respond(response_header(RES_ITERINIT, 32) + _U64.pack(handle))

    def _iteration_next(self, conn: LibConnection, data: bytes, now: float) -> None:
        pd: _CpgPd = conn.private
        (handle,) = _U64.unpack_from(data, 16)
        rows = pd.iterations.get(handle)
        if rows is None:
            conn.respond(response_header(RES_ITERNEXT, 168, CsError.ERR_LIBRARY) + bytes(144))
            return
        if not rows:
            conn.respond(response_header(RES_ITERNEXT, 168, CsError.ERR_NO_SECTIONS) + bytes(144))
            return
        row = rows.pop(0)
        conn.respond(
            response_header(RES_ITERNEXT, 168)
            + encode_cpg_name(row.group)
            + _ITERNEXT.pack(row.nodeid, row.pid)
        )

    def _iteration_finalize(self, conn: LibConnection, data: bytes, now: float) -> None:
        pd: _CpgPd = conn.private
        (handle,) = _U64.unpack_from(data, 16)
        error = CsError.OK if pd.iterations.pop(handle, None) is not None else CsError.ERR_LIBRARY
        self._answer(conn, RES_ITERFINALIZE, error)

    def _finalize(self, conn: LibConnection, data: bytes, now: float) -> None:
        """The handle leaves its group now (PROCDOWN); the connection closes after."""
        pd: _CpgPd = conn.private
        pd.finalized = True
        if self.service.handle_group(conn) is not None:
            with contextlib.suppress(CpgError):
                self.service.finalize(conn)
        self._answer(conn, RES_FINALIZE)

    # --- zero-copy buffers ---------------------------------------------------------------------
    def _zc_alloc(self, conn: LibConnection, data: bytes, now: float) -> None:
        pd: _CpgPd = conn.private
        size, raw_path = _ZC_ALLOC.unpack_from(data, 16)
        path = raw_path.split(b"\0", 1)[0].decode(errors="replace")
        error = CsError.OK
        try:
            buffer = self._map_zc(conn, path, size)
        except (OSError, ValueError) as err:
            self.service._log(LogLevel.WARNING, f"zero-copy buffer {path!r} refused: {err}")
            error = CsError.ERR_ACCESS
        else:
            address = next(self._ids) | (conn.id << 32)
            pd.zc[address] = buffer
            ZC_HEADER.pack_into(buffer.mapping, 0, size, address)
        conn.respond(response_header(0, 24, error))

    def _map_zc(self, conn: LibConnection, path: str, size: int) -> _ZcBuffer:
        real = os.path.realpath(path)
        if os.path.dirname(real) != os.path.realpath(self.shm_dir):
            raise ValueError(f"not in {self.shm_dir}")
        fd = os.open(real, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            info = os.fstat(fd)
            if conn.uid != 0 and info.st_uid != conn.uid:
                raise ValueError("not owned by the client")
            if not ZC_HEADER.size + 40 <= size <= info.st_size:
                raise ValueError(f"size {size} does not fit the file ({info.st_size} bytes)")
            mapping = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        return _ZcBuffer(mapping, size)

    def _zc_free(self, conn: LibConnection, data: bytes, now: float) -> None:
        pd: _CpgPd = conn.private
        (address,) = _U64.unpack_from(data, 24)
        buffer = pd.zc.pop(address, None)
        if buffer is not None:
            with contextlib.suppress(BufferError):
                buffer.mapping.close()
        conn.respond(response_header(0, 24))

    def _zc_execute(self, conn: LibConnection, data: bytes, now: float) -> None:
        pd: _CpgPd = conn.private
        (address,) = _U64.unpack_from(data, 16)
        buffer = pd.zc.get(address)
        if buffer is None:
            self._answer(conn, RES_MCAST, CsError.ERR_INVALID_PARAM)
            return
        base = ZC_HEADER.size
        guarantee, msglen = _MCAST.unpack_from(buffer.mapping, base + 24)
        start = base + 40
        if start + msglen > buffer.size:
            self._answer(conn, RES_MCAST, CsError.ERR_INVALID_PARAM)
            return
        payload = bytes(buffer.mapping[start : start + msglen])
        self._answer(conn, RES_MCAST, self._send(conn, payload, guarantee))

    # --- events (CpgEventSink) -------------------------------------------------------------------
    def deliver(
        self, handle: Hashable, group: bytes, nodeid: int, pid: int, payload: bytes
    ) -> None:
        if handle not in self._conns:
            if self._other is not None:
                self._other.deliver(handle, group, nodeid, pid, payload)
            else:
                self.service.queue_event(CpgDeliver(handle, group, nodeid, pid, payload))
            return
        conn: Any = handle
        size = len(payload)
        if size <= CPG_MAX_ATOMIC_MSGSIZE:
            conn.dispatch(
                response_header(RES_DELIVER_CALLBACK, _DELIVER_HEAD_SIZE + size)
                + encode_cpg_name(group)
                + _DELIVER.pack(size, nodeid, pid)
                + payload
            )
            return
        name = encode_cpg_name(group)
        for offset in range(0, size, CPG_MAX_ATOMIC_MSGSIZE):
            fragment = payload[offset : offset + CPG_MAX_ATOMIC_MSGSIZE]
            if offset == 0:
                kind = PartialType.FIRST
            elif offset + len(fragment) == size:
                kind = PartialType.LAST
            else:
                kind = PartialType.CONTINUED
            conn.dispatch(
                response_header(RES_PARTIAL_DELIVER_CALLBACK, 200 + len(fragment))
                + name
                + _PARTIAL_DELIVER.pack(size, len(fragment), nodeid, pid, int(kind))
                + fragment
            )

    def event(self, event: CpgEvent) -> None:
        if event.handle not in self._conns:
            if self._other is not None:
                self._other.event(event)
            else:
                self.service.queue_event(event)
            return
        conn: Any = event.handle
        if isinstance(event, CpgConfigChange):
            lists = (event.members, event.left, event.joined)
            size = 184 + 24 * sum(len(items) for items in lists)
            conn.dispatch(
                response_header(RES_CONFCHG_CALLBACK, size)
                + encode_cpg_name(event.group)
                + _CONFCHG_COUNTS.pack(len(event.members), len(event.joined), len(event.left))
                + b"".join(_address(a.nodeid, a.pid, a.reason) for items in lists for a in items)
            )
        elif isinstance(event, CpgTotemConfigChange):
            members = event.members
            conn.dispatch(
                response_header(RES_TOTEM_CONFCHG_CALLBACK, 48 + 4 * len(members))
                + _RING.pack(event.ring_id.rep, event.ring_id.seq, len(members))
                + b"".join(_U32.pack(n) for n in members)
                + bytes(4)
            )
        elif isinstance(event, CpgDeliver):
            self.deliver(event.handle, event.group, event.nodeid, event.pid, event.payload)
