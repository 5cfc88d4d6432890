"""corosync's configuration map (``exec/icmap.c``): typed keys, read-only keys, tracking.

Keys are 3 to 255 characters of ``[a-zA-Z0-9._/:-]``; values are one of twelve types
(``icmap_value_types_t``; ref libqb-ipc/README.md section 4.1). Integers and floats have
their exact C size, a string is stored with its terminating NUL (its length counts it) and
a binary value is any bytes up to 16 KiB. Setting a key to the value it already has
changes nothing and notifies nobody.

*Tracks* (``icmap_track_add``) call back on ADD (4), DELETE (1) and MODIFY (2) of one key,
or of every key under a prefix with PREFIX (8); an empty key with PREFIX tracks everything.
A callback gets ``(event, key, new, old)``, each value ``(type, raw bytes)`` or None (no new
value on DELETE, no old one on ADD).

*Read-only* keys (``icmap_set_ro_access``: exact keys and prefixes) refuse a client's set
and delete with ``CS_ERR_ACCESS``; the node itself still writes them.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from totem.ipc.wire import CsError

__all__ = [
    "KEYNAME_MAXLEN",
    "KEYNAME_MINLEN",
    "MAX_VALUE_LEN",
    "TRACK_ADD",
    "TRACK_DELETE",
    "TRACK_MODIFY",
    "TRACK_PREFIX",
    "Icmap",
    "IcmapIter",
    "NotifyFn",
    "Track",
    "Value",
    "ValueType",
    "decode_value",
    "encode_value",
    "valid_key_name",
]

KEYNAME_MINLEN = 3
KEYNAME_MAXLEN = 255
MAX_VALUE_LEN = 16 * 1024
TRACK_DELETE = 1
TRACK_MODIFY = 2
TRACK_ADD = 4
TRACK_PREFIX = 8
_TRACK_ALL = TRACK_ADD | TRACK_DELETE | TRACK_MODIFY | TRACK_PREFIX
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:")


class ValueType(enum.IntEnum):
    """``cmap_value_types_t``."""

    INT8 = 1
    UINT8 = 2
    INT16 = 3
    UINT16 = 4
    INT32 = 5
    UINT32 = 6
    INT64 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    STRING = 11
    BINARY = 12


_FORMATS: dict[int, struct.Struct] = {
    ValueType.INT8: struct.Struct("<b"),
    ValueType.UINT8: struct.Struct("<B"),
    ValueType.INT16: struct.Struct("<h"),
    ValueType.UINT16: struct.Struct("<H"),
    ValueType.INT32: struct.Struct("<i"),
    ValueType.UINT32: struct.Struct("<I"),
    ValueType.INT64: struct.Struct("<q"),
    ValueType.UINT64: struct.Struct("<Q"),
    ValueType.FLOAT: struct.Struct("<f"),
    ValueType.DOUBLE: struct.Struct("<d"),
}

Value = tuple[ValueType, bytes]
"""A stored value: its type and its exact bytes (a string with its NUL)."""
NotifyFn = Callable[[int, str, Value | None, Value | None], None]


def encode_value(vtype: ValueType, value: int | float | str | bytes) -> bytes:
    """The stored bytes of a Python value (``ValueError`` if it does not fit the type)."""
    if vtype is ValueType.STRING:
        text = value.encode() if isinstance(value, str) else bytes(value)  # type: ignore[arg-type]
        return text.split(b"\0", 1)[0] + b"\0"
    if vtype is ValueType.BINARY:
        return value.encode() if isinstance(value, str) else bytes(value)  # type: ignore[arg-type]
    try:
        return _FORMATS[vtype].pack(value)
    except struct.error as err:
        raise ValueError(f"{value!r} is not a {vtype.name.lower()}: {err}") from None


def decode_value(vtype: ValueType, raw: bytes) -> int | float | str | bytes:
    """The Python value of stored bytes."""
    if vtype is ValueType.STRING:
        return raw.split(b"\0", 1)[0].decode(errors="replace")
    if vtype is ValueType.BINARY:
        return bytes(raw)
    return _FORMATS[vtype].unpack(raw)[0]  # type: ignore[no-any-return]


def valid_key_name(key: str) -> bool:
    """``icmap_check_key_name``."""
    return KEYNAME_MINLEN <= len(key) <= KEYNAME_MAXLEN and _NAME_CHARS.issuperset(key)


def _check_value(vtype: int, raw: bytes) -> bytes | None:
    """``icmap_check_value_len`` and the stored form (a string cut at its NUL); None: bad."""
    if len(raw) > MAX_VALUE_LEN:
        return None
    if vtype == ValueType.STRING:
        text, _nul, rest = raw.partition(b"\0")
        if rest:  # value_len longer than the string and its NUL
            return None
        return text + b"\0"
    if vtype == ValueType.BINARY:
        return bytes(raw)
    fmt = _FORMATS.get(vtype)
    if fmt is None or len(raw) != fmt.size:
        return None
    return bytes(raw)


@dataclass(eq=False, slots=True)
class Track:
    """One ``icmap_track_t``."""

    key: str
    track_type: int
    notify: NotifyFn

    def matches(self, key: str) -> bool:
        if self.track_type & TRACK_PREFIX:
            return key.startswith(self.key)
        return key == self.key


class IcmapIter:
    """A prefix iteration (``qb_map_pref_iter``): keys in sorted order, skipping any that
    were deleted since the iteration began."""

    def __init__(self, store: Icmap, prefix: str) -> None:
        self._store = store
        self._keys: Iterator[str] = iter(sorted(k for k in store.keys() if k.startswith(prefix)))  # noqa: SIM118

    def next(self) -> tuple[str, Value] | None:
        for key in self._keys:
            value = self._store.get(key)
            if value is not None:
                return key, value
        return None


class Icmap:
    """The global map (``icmap_global_map``)."""

    def __init__(self) -> None:
        self._items: dict[str, Value] = {}
        self._ro: list[tuple[str, bool]] = []
        self._tracks: list[Track] = []

    def keys(self) -> list[str]:
        return list(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> Value | None:
        return self._items.get(key)

    def get_value(self, key: str) -> int | float | str | bytes | None:
        item = self._items.get(key)
        return None if item is None else decode_value(item[0], item[1])

    def set(self, key: str, vtype: int, raw: bytes) -> CsError:
        """``icmap_set_r``: store ``raw`` (the client's bytes) as ``vtype``."""
        try:
            value_type = ValueType(vtype)
        except ValueError:
            return CsError.ERR_INVALID_PARAM
        stored = _check_value(value_type, raw)
        if stored is None:
            return CsError.ERR_INVALID_PARAM
        old = self._items.get(key)
        if old is not None:
            if old == (value_type, stored):
                return CsError.OK
        elif not valid_key_name(key):
            return CsError.ERR_NAME_TOO_LONG
        new: Value = (value_type, stored)
        self._items[key] = new
        self._notify(TRACK_MODIFY if old is not None else TRACK_ADD, key, new, old)
        return CsError.OK

    def set_value(self, key: str, vtype: ValueType, value: int | float | str | bytes) -> CsError:
        """Store a Python value (the node's own writes). Writing the value a key already
        holds changes nothing and notifies nobody (as ``set``), found here without the
        checks: the runtime keys are rewritten on every quorum calculation."""
        raw = encode_value(vtype, value)
        old = self._items.get(key)
        if old is not None and old[1] == raw and old[0] == vtype:
            return CsError.OK
        return self.set(key, vtype, raw)

    def delete(self, key: str) -> CsError:
        old = self._items.pop(key, None)
        if old is None:
            return CsError.ERR_NOT_EXIST
        self._notify(TRACK_DELETE, key, None, old)
        return CsError.OK

    def adjust_int(self, key: str, step: int) -> CsError:
        """``icmap_adjust_int``: add ``step`` to an integer key, wrapping at its size."""
        item = self._items.get(key)
        if item is None:
            return CsError.ERR_NOT_EXIST
        vtype, raw = item
        if vtype in (ValueType.FLOAT, ValueType.DOUBLE, ValueType.STRING, ValueType.BINARY):
            return CsError.ERR_INVALID_PARAM
        fmt = _FORMATS[vtype]
        bits = fmt.size * 8
        unsigned = int.from_bytes(raw, "little")
        return self.set(key, vtype, ((unsigned + step) % (1 << bits)).to_bytes(fmt.size, "little"))

    # --- read-only keys ---------------------------------------------------------------------
    def set_ro_access(self, key: str, prefix: bool) -> None:
        if (key, prefix) not in self._ro:
            self._ro.append((key, prefix))

    def is_key_ro(self, key: str) -> bool:
        return any(key.startswith(ro) if prefix else key == ro for ro, prefix in self._ro)

    # --- iteration and tracking -------------------------------------------------------------
    def iter_init(self, prefix: str) -> IcmapIter:
        return IcmapIter(self, prefix)

    def track_add(self, key: str, track_type: int, notify: NotifyFn) -> Track | CsError:
        if track_type & ~_TRACK_ALL:
            return CsError.ERR_INVALID_PARAM
        track = Track(key, track_type, notify)
        self._tracks.append(track)
        return track

    def track_delete(self, track: Track) -> CsError:
        try:
            self._tracks.remove(track)
        except ValueError:
            return CsError.ERR_NOT_EXIST
        return CsError.OK

    def _notify(self, event: int, key: str, new: Value | None, old: Value | None) -> None:
        if not self._tracks:
            return
        for track in list(self._tracks):
            if track.track_type & event and track.matches(key):
                track.notify(event, key, new, old)
