"""``resources.*``: the keys of corosync 3.1.7's resource monitor (``exec/mon.c``) and
watchdog (``exec/wd.c``) engines, in a node that configures neither.

* The monitor keeps two resources, ``resources.system.memory_used.*`` (``current`` an i32,
  percent of memory in use) and ``resources.system.load_15min.*`` (``current`` a double):
  each has ``current`` 0, ``last_updated`` 0 (u64, ms), ``state`` ``stopped`` and
  ``poll_period`` (u64, ms, 3000; a ``poll_period`` the configuration gives as a number stays
  as the file has it). A monitor only starts running when its ``max`` key is set; pycorosync
  runs no monitor, so these keys keep their start-up values.
* The watchdog engine keeps ``resources.watchdog_timeout`` (u32, seconds, 2..120, default 6)
  even when no ``resources.watchdog_device`` is configured, which is the only case
  pycorosync serves (it never opens a watchdog device). A value out of range, in the file or
  set later through cmap, is replaced by the one in force, with corosync's warning.

Compare ``tests/fixtures/libqb/real-cmapctl.txt`` (a real node's listing).
"""

from __future__ import annotations

from collections.abc import Callable

from totem.services.cmap.store import TRACK_MODIFY, Icmap, Value, ValueType
from totem.srp.events import LogLevel

__all__ = [
    "MON_DEFAULT_PERIOD_MS",
    "WATCHDOG_TIMEOUT_KEY",
    "WD_DEFAULT_TIMEOUT",
    "Resources",
]

MON_DEFAULT_PERIOD_MS = 3000
WD_DEFAULT_TIMEOUT = 6
WD_MIN_TIMEOUT = 2
WD_MAX_TIMEOUT = 120
WATCHDOG_TIMEOUT_KEY = "resources.watchdog_timeout"
_MONITORS = (("memory_used", ValueType.INT32), ("load_15min", ValueType.DOUBLE))
_OUT_OF_RANGE = f"Set watchdog_timeout is out of range ({WD_MIN_TIMEOUT}..{WD_MAX_TIMEOUT})."

Log = Callable[[LogLevel, str, str], None]
"""``(level, subsystem, message)``."""


class Resources:
    """Puts the ``resources.*`` keys in ``icmap`` and keeps ``watchdog_timeout`` valid."""

    def __init__(self, icmap: Icmap, log: Log) -> None:
        self._icmap = icmap
        self._log = log
        for name, current_type in _MONITORS:
            prefix = f"resources.system.{name}."
            icmap.set_value(prefix + "current", current_type, 0)
            icmap.set_value(prefix + "last_updated", ValueType.UINT64, 0)
            icmap.set_value(prefix + "state", ValueType.STRING, "stopped")
            period = icmap.get_value(prefix + "poll_period")
            if not (isinstance(period, str) and period.isdigit()):
                icmap.set_value(prefix + "poll_period", ValueType.UINT64, MON_DEFAULT_PERIOD_MS)
        self.watchdog_timeout = WD_DEFAULT_TIMEOUT
        """Seconds; what ``resources.watchdog_timeout`` holds."""
        item = icmap.get(WATCHDOG_TIMEOUT_KEY)
        configured = _timeout(item)
        if configured is not None:
            self.watchdog_timeout = configured
        else:
            if item is not None:
                log(LogLevel.WARNING, "WD", _OUT_OF_RANGE)
                log(LogLevel.INFO, "WD", f"use default value {WD_DEFAULT_TIMEOUT} seconds.")
            icmap.set_value(WATCHDOG_TIMEOUT_KEY, ValueType.UINT32, WD_DEFAULT_TIMEOUT)
        icmap.track_add(WATCHDOG_TIMEOUT_KEY, TRACK_MODIFY, self._timeout_changed)

    def _timeout_changed(self, event: int, key: str, new: Value | None, old: Value | None) -> None:
        value = _timeout(new)
        if value is not None:
            self.watchdog_timeout = value
            return
        self._log(LogLevel.WARNING, "WD", _OUT_OF_RANGE)
        self._icmap.set_value(WATCHDOG_TIMEOUT_KEY, ValueType.UINT32, self.watchdog_timeout)


def _timeout(item: Value | None) -> int | None:
    """The u32 value of ``item`` when it is a valid watchdog timeout, else None."""
    if item is None or item[0] is not ValueType.UINT32:
        return None
    value = int.from_bytes(item[1], "little")
    return value if WD_MIN_TIMEOUT <= value <= WD_MAX_TIMEOUT else None
