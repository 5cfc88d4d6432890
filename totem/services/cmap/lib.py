"""cmap's library side: libcmap's requests and notifications (``exec/cmap.c``).

Layouts from ``ipc_cmap.h`` (``tests/fixtures/libqb/offsets.txt``); a key is a
``mar_name_t`` (``u16 length``, pad, ``value[256]``); ref libqb-ipc/README.md section 4.1.

====  ===============  =================================================  ===================
id    request          fields                                             response (id, size)
====  ===============  =================================================  ===================
0     SET              key@16, ``u64 value_len``@280, ``u8 type``@288,    0, 24
                       value@296
1     DELETE           key@16                                             1, 24
2     GET              key@16, ``u64 value_len``@280 (0: length only)      2, 40 + value_len
3     ADJUST_INT       key@16, ``i32 step``@280                           3, 24
4     ITER_INIT        prefix@16 (length 0: all keys)                     4, 32 (handle@24)
5     ITER_NEXT        ``u64 handle``@16                                  5, 304; end: 27
6     ITER_FINALIZE    ``u64 handle``@16                                  6, 24
7     TRACK_ADD        key@16, ``i32 type``@280, ``u64 inst``@288         7, 32 (handle@24)
8     TRACK_DELETE     ``u64 handle``@16                                  8, 32 (inst@24)
9     SET_CURRENT_MAP  ``i32 map``@16 (0 default, 1 stats)                10, 24
====  ===============  =================================================  ===================

A connection reads the default map until it switches (not while it holds iterators or
tracks: ``CS_ERR_BUSY``). Notifications are event 9: the track's instance handle@24,
key@32, ``i32 event``@296, types@304/@312, lengths@320/@328, new value@336 then old.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass, field
from typing import Any, Protocol

from totem.ipc.engine import LibConnection, LibHandler
from totem.ipc.wire import CsError, response_header
from totem.services.cmap.stats import StatsIter, StatsMap, StatsTrack
from totem.services.cmap.store import Icmap, IcmapIter, NotifyFn, Track, Value

__all__ = ["CmapLib", "decode_name", "encode_name"]

_NAME = struct.Struct("<H6x256s")
_U64 = struct.Struct("<Q")
_I32 = struct.Struct("<i")
_SET_TAIL = struct.Struct("<QB")
_ADJUST = struct.Struct("<i")
_TRACK_ADD = struct.Struct("<i4xQ")
_ITER_NEXT_TAIL = struct.Struct("<QB7x")
_NOTIFY = struct.Struct("<Q")
_NOTIFY_TAIL = struct.Struct("<i4xB7xB7xQQ")
_GET_TAIL = struct.Struct("<QB7x")

RES_SET, RES_DELETE, RES_GET, RES_ADJUST_INT = 0, 1, 2, 3
RES_ITER_INIT, RES_ITER_NEXT, RES_ITER_FINALIZE = 4, 5, 6
RES_TRACK_ADD, RES_TRACK_DELETE, RES_NOTIFY_CALLBACK, RES_SET_CURRENT_MAP = 7, 8, 9, 10
MAP_DEFAULT, MAP_STATS = 0, 1


def decode_name(data: bytes, offset: int) -> str:
    """A ``mar_name_t`` as a key (cut at ``length`` and at the first NUL)."""
    length, value = _NAME.unpack_from(data, offset)
    text: str = value[: min(length, 256)].split(b"\0", 1)[0].decode(errors="replace")
    return text


def encode_name(text: str) -> bytes:
    raw = text.encode()[:256]
    return _NAME.pack(len(raw), raw)


class _Map(Protocol):
    def get(self, key: str) -> Value | None: ...

    def set(self, key: str, vtype: int, raw: bytes) -> CsError: ...

    def delete(self, key: str) -> CsError: ...

    def adjust_int(self, key: str, step: int) -> CsError: ...

    def is_key_ro(self, key: str) -> bool: ...


@dataclass(slots=True)
class _ConnInfo:
    """``struct cmap_conn_info``: the map in use, its iterators and tracks."""

    map_id: int = MAP_DEFAULT
    iters: dict[int, IcmapIter | StatsIter] = field(default_factory=dict)
    tracks: dict[int, tuple[Track | StatsTrack, int]] = field(default_factory=dict)


class CmapLib:
    """The library handlers of one cmap service, over its two maps."""

    def __init__(
        self, icmap: Icmap, stats: StatsMap, refresh: Any = None, *, handle_salt: int = 0
    ) -> None:
        """``handle_salt`` (32 bits, random in the daemon) is the high half of every track
        handle, as corosync salts its handles, so a client never mistakes an old daemon's."""
        self.icmap = icmap
        self.stats = stats
        self._refresh = refresh
        salt = (handle_salt & 0xFFFFFFFF) << 32
        self._handles = (salt | i for i in itertools.count(1))

    def handlers(self) -> list[LibHandler]:
        return [
            LibHandler(self._set, 296),
            LibHandler(self._delete, 280),
            LibHandler(self._get, 288),
            LibHandler(self._adjust_int, 284),
            LibHandler(self._iter_init, 280),
            LibHandler(self._iter_next, 24),
            LibHandler(self._iter_finalize, 24),
            LibHandler(self._track_add, 296),
            LibHandler(self._track_delete, 24),
            LibHandler(self._set_current_map, 20),
        ]

    def lib_init(self, conn: LibConnection) -> None:
        conn.private = _ConnInfo()

    def lib_exit(self, conn: LibConnection) -> None:
        info: _ConnInfo = conn.private
        info.iters.clear()
        for track, _inst in info.tracks.values():
            self._map_tracks(info).track_delete(track)  # type: ignore[arg-type]
        info.tracks.clear()

    # ------------------------------------------------------------------------------------
    def _map(self, info: _ConnInfo) -> _Map:
        if info.map_id == MAP_STATS:
            return self.stats
        if self._refresh is not None:
            self._refresh()
        return self.icmap

    def _map_tracks(self, info: _ConnInfo) -> Icmap | StatsMap:
        return self.stats if info.map_id == MAP_STATS else self.icmap

    @staticmethod
    def _status(conn: LibConnection, res_id: int, error: CsError) -> None:
        conn.respond(response_header(res_id, 24, error))

    def _set(self, conn: LibConnection, data: bytes, now: float) -> None:
        info: _ConnInfo = conn.private
        key = decode_name(data, 16)
        value_len, vtype = _SET_TAIL.unpack_from(data, 280)
        target = self._map(info)
        if target.is_key_ro(key):
            error = CsError.ERR_ACCESS
        elif 296 + value_len > len(data):
            error = CsError.ERR_INVALID_PARAM
        else:
            error = target.set(key, vtype, data[296 : 296 + value_len])
        self._status(conn, RES_SET, error)

    def _delete(self, conn: LibConnection, data: bytes, now: float) -> None:
        info: _ConnInfo = conn.private
        key = decode_name(data, 16)
        target = self._map(info)
        error = CsError.ERR_ACCESS if target.is_key_ro(key) else target.delete(key)
        self._status(conn, RES_DELETE, error)

    def _get(self, conn: LibConnection, data: bytes, now: float) -> None:
        info: _ConnInfo = conn.private
        key = decode_name(data, 16)
        (value_len,) = _U64.unpack_from(data, 280)
        item = self._map(info).get(key)
        if item is None:
            error = CsError.ERR_NOT_EXIST
        elif value_len and value_len < len(item[1]):
            error = CsError.ERR_INVALID_PARAM
        elif value_len > 16 * 1024 * 1024:
            error = CsError.ERR_NO_MEMORY
        else:
            vtype, raw = item
            value = raw + bytes(value_len - len(raw)) if value_len else b""
            size = 40 + value_len
            conn.respond(response_header(RES_GET, size) + _GET_TAIL.pack(len(raw), vtype) + value)
            return
        conn.respond(response_header(RES_GET, 40, error) + bytes(16))

    def _adjust_int(self, conn: LibConnection, data: bytes, now: float) -> None:
        info: _ConnInfo = conn.private
        key = decode_name(data, 16)
        (step,) = _ADJUST.unpack_from(data, 280)
        target = self._map(info)
        error = CsError.ERR_ACCESS if target.is_key_ro(key) else target.adjust_int(key, step)
        self._status(conn, RES_ADJUST_INT, error)

    def _iter_init(self, conn: LibConnection, data: bytes, now: float) -> None:
        info: _ConnInfo = conn.private
        prefix = decode_name(data, 16)
        self._map(info)
        source = self.stats if info.map_id == MAP_STATS else self.icmap
        handle = next(self._handles)
        info.iters[handle] = source.iter_init(prefix)
        conn.respond(response_header(RES_ITER_INIT, 32) + _U64.pack(handle))

    def _iter_next(self, conn: LibConnection, data: bytes, now: float) -> None:
        info: _ConnInfo = conn.private
        (handle,) = _U64.unpack_from(data, 16)
        iterator = info.iters.get(handle)
        if iterator is None:
            conn.respond(response_header(RES_ITER_NEXT, 304, CsError.ERR_BAD_HANDLE) + bytes(280))
            return
        item = iterator.next()
        if item is None:
            conn.respond(response_header(RES_ITER_NEXT, 304, CsError.ERR_NO_SECTIONS) + bytes(280))
            return
        key, (vtype, raw) = item
        conn.respond(
            response_header(RES_ITER_NEXT, 304)
            + encode_name(key)
            + _ITER_NEXT_TAIL.pack(len(raw), vtype)
        )

    def _iter_finalize(self, conn: LibConnection, data: bytes, now: float) -> None:
        info: _ConnInfo = conn.private
        (handle,) = _U64.unpack_from(data, 16)
        error = CsError.OK if info.iters.pop(handle, None) is not None else CsError.ERR_BAD_HANDLE
        self._status(conn, RES_ITER_FINALIZE, error)

    def _track_add(self, conn: LibConnection, data: bytes, now: float) -> None:
        info: _ConnInfo = conn.private
        key = decode_name(data, 16)
        track_type, inst = _TRACK_ADD.unpack_from(data, 280)
        target = self._map_tracks(info)
        result = target.track_add(key, track_type, self._notifier(conn, inst))
        if isinstance(result, CsError):
            conn.respond(response_header(RES_TRACK_ADD, 32, result) + _U64.pack(0))
            return
        handle = next(self._handles)
        info.tracks[handle] = (result, inst)
        conn.respond(response_header(RES_TRACK_ADD, 32) + _U64.pack(handle))

    def _track_delete(self, conn: LibConnection, data: bytes, now: float) -> None:
        info: _ConnInfo = conn.private
        (handle,) = _U64.unpack_from(data, 16)
        entry = info.tracks.pop(handle, None)
        if entry is None:
            conn.respond(response_header(RES_TRACK_DELETE, 32, CsError.ERR_BAD_HANDLE) + bytes(8))
            return
        track, inst = entry
        error = self._map_tracks(info).track_delete(track)  # type: ignore[arg-type]
        conn.respond(response_header(RES_TRACK_DELETE, 32, error) + _U64.pack(inst))

    def _set_current_map(self, conn: LibConnection, data: bytes, now: float) -> None:
        info: _ConnInfo = conn.private
        (map_id,) = _I32.unpack_from(data, 16)
        if info.iters or info.tracks:
            error = CsError.ERR_BUSY
        elif map_id in (MAP_DEFAULT, MAP_STATS):
            info.map_id = map_id
            error = CsError.OK
        else:
            error = CsError.ERR_NOT_EXIST
        self._status(conn, RES_SET_CURRENT_MAP, error)

    @staticmethod
    def _notifier(conn: LibConnection, inst: int) -> NotifyFn:
        def notify(event: int, key: str, new: Value | None, old: Value | None) -> None:
            new_type, new_raw = new if new is not None else (0, b"")
            old_type, old_raw = old if old is not None else (0, b"")
            size = 336 + len(new_raw) + len(old_raw)
            conn.dispatch(
                response_header(RES_NOTIFY_CALLBACK, size)
                + _NOTIFY.pack(inst)
                + encode_name(key)
                + _NOTIFY_TAIL.pack(event, new_type, old_type, len(new_raw), len(old_raw))
                + new_raw
                + old_raw
            )

        return notify
