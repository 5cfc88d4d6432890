"""The statistics map (``exec/stats.c``): what ``corosync-cmapctl -m stats`` lists.

Every value is read when it is asked for, from *providers*: each part of the node
registers one under a name and yields ``(key, type, value)`` for its own keys --

* ``totem`` -> ``stats.srp.*`` (the Totem SRP counters),
* ``pg``    -> ``stats.pg.*`` (the totempg queue),
* ``ipc``   -> ``stats.ipcs.global.*`` and ``stats.ipcs.service<id>.<pid>.<conn>.*``,
* a transport contributes its own (knet: ``stats.knet.*``, as ``knet``) the same way,

so a new contributor needs no change here. The map is read-only except for the
``stats.clear.*`` keys: setting ``stats.clear.<name>`` calls the clearer registered for
``<name>`` (``all`` calls every clearer). Tracks follow corosync: ADD/DELETE of keys under
a prefix (both flags required with PREFIX; never MODIFY), or ADD/DELETE/MODIFY of one key,
found by comparing the values each time :meth:`StatsMap.poll_tracks` runs; the
``stats.schedmiss.*`` keys are never announced as added or deleted (``stats_map_notify_fn``
skips them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from totem.ipc.wire import CsError
from totem.services.cmap.store import (
    TRACK_ADD,
    TRACK_DELETE,
    TRACK_MODIFY,
    TRACK_PREFIX,
    NotifyFn,
    Value,
    ValueType,
    encode_value,
)

__all__ = ["StatsEntry", "StatsIter", "StatsMap", "StatsProvider", "StatsTrack"]

StatsEntry = tuple[str, ValueType, int | float | str]
StatsProvider = Callable[[], Iterable[StatsEntry]]
_CLEAR = "stats.clear."
_SCHEDMISS = "stats.schedmiss"


@dataclass(eq=False, slots=True)
class StatsTrack:
    key: str
    track_type: int
    notify: NotifyFn
    last: dict[str, Value]


class StatsIter:
    """A prefix iteration over the values as they were when it began."""

    def __init__(self, items: dict[str, Value], prefix: str) -> None:
        self._items = iter(sorted((k, v) for k, v in items.items() if k.startswith(prefix)))

    def next(self) -> tuple[str, Value] | None:
        return next(self._items, None)


class StatsMap:
    """The ``stats`` map (see the module docstring)."""

    def __init__(self) -> None:
        self._providers: dict[str, StatsProvider] = {}
        self._clearers: dict[str, Callable[[], None]] = {}
        self._tracks: list[StatsTrack] = []

    def register(
        self, name: str, provider: StatsProvider, clear: Callable[[], None] | None = None
    ) -> None:
        """Add (or replace) the provider ``name`` and its ``stats.clear.<name>`` action."""
        self._providers[name] = provider
        if clear is not None:
            self._clearers[name] = clear

    def unregister(self, name: str) -> None:
        self._providers.pop(name, None)
        self._clearers.pop(name, None)

    def snapshot(self) -> dict[str, Value]:
        items: dict[str, Value] = {}
        for provider in list(self._providers.values()):
            for key, vtype, value in provider():
                try:
                    items[key] = (vtype, encode_value(vtype, value))
                except ValueError:
                    continue
        return items

    # --- the map API (same shape as Icmap) ----------------------------------------------------
    def get(self, key: str) -> Value | None:
        return self.snapshot().get(key)

    def set(self, key: str, vtype: int, raw: bytes) -> CsError:
        """Only ``stats.clear.<name>`` may be set: it resets ``<name>``'s counters."""
        if not key.startswith(_CLEAR):
            return CsError.ERR_NOT_SUPPORTED
        what = key[len(_CLEAR) :]
        if what == "all":
            for clear in list(self._clearers.values()):
                clear()
            return CsError.OK
        action = self._clearers.get(what)
        if action is None:
            return CsError.ERR_NOT_SUPPORTED
        action()
        return CsError.OK

    def delete(self, key: str) -> CsError:
        return CsError.ERR_NOT_SUPPORTED

    def adjust_int(self, key: str, step: int) -> CsError:
        return CsError.ERR_NOT_SUPPORTED

    def is_key_ro(self, key: str) -> bool:
        return not key.startswith(_CLEAR)

    def iter_init(self, prefix: str) -> StatsIter:
        return StatsIter(self.snapshot(), prefix)

    def track_add(self, key: str, track_type: int, notify: NotifyFn) -> StatsTrack | CsError:
        if track_type & TRACK_PREFIX and not (track_type & TRACK_ADD and track_type & TRACK_DELETE):
            return CsError.ERR_NOT_SUPPORTED
        snapshot = self.snapshot()
        last = {k: v for k, v in snapshot.items() if self._covers(key, track_type, k)}
        track = StatsTrack(key, track_type, notify, last)
        self._tracks.append(track)
        return track

    def track_delete(self, track: StatsTrack) -> CsError:
        try:
            self._tracks.remove(track)
        except ValueError:
            return CsError.ERR_NOT_EXIST
        return CsError.OK

    @property
    def tracking(self) -> bool:
        return bool(self._tracks)

    @staticmethod
    def _covers(key: str, track_type: int, candidate: str) -> bool:
        return candidate.startswith(key) if track_type & TRACK_PREFIX else candidate == key

    def poll_tracks(self) -> None:
        """Compare every tracked key with its last value; notify what changed."""
        if not self._tracks:
            return
        snapshot = self.snapshot()
        for track in list(self._tracks):
            now = {
                k: v for k, v in snapshot.items() if self._covers(track.key, track.track_type, k)
            }
            before = track.last
            track.last = now
            for key in sorted(now.keys() | before.keys()):
                old, new = before.get(key), now.get(key)
                if old == new:
                    continue
                if old is None:
                    event = TRACK_ADD
                elif new is None:
                    event = TRACK_DELETE
                else:
                    event = TRACK_MODIFY
                if event == TRACK_MODIFY and track.track_type & TRACK_PREFIX:
                    continue  # prefix tracks hear of keys coming and going only
                if event != TRACK_MODIFY and key.startswith(_SCHEDMISS):
                    continue  # the miss slots shift under their keys: never announced
                if track.track_type & event:
                    track.notify(event, key, new, old)
