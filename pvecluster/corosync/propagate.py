"""How the replicated corosync.conf reaches the node's own file (ref cluster-manager.md 4.7).

:func:`plan_sync` is the decision of ``dcdb_sync_corosync_conf``, as a pure function of the
replicated content, the local file's content and whether this node originated the change:

1. an empty replicated file does nothing (a truncation alone);
2. no parsable ``config_version`` (or 0): ``unable to parse cluster config_version``;
3. identical content: nothing;
4. a lower version than the local file's: ``local corosync.conf is newer``, nothing written;
   equal versions with different content are written;
5. otherwise the local file is replaced (mode 0644) and ``wrote new corosync config '<path>'
   (version = N)`` logged; the originator alone then asks for one cluster-wide reload, and only
   if there was a local file before (version not 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from pvecluster.corosync.conf import config_version
from totem.srp.events import LogLevel

__all__ = ["ConfSync", "plan_sync"]


@dataclass(frozen=True, slots=True)
class ConfSync:
    write: bool
    reload: bool
    version: int
    level: LogLevel | None = None
    message: str | None = None


def plan_sync(new: bytes, old: bytes | None, notify: bool, path: str) -> ConfSync:
    """What to do with the local file at ``path`` (its content ``old``, None if missing)."""
    if not new:
        return ConfSync(False, False, 0)
    new_version = config_version(new)
    if not new_version:
        return ConfSync(False, False, 0, LogLevel.ERROR, "unable to parse cluster config_version")
    old_version = config_version(old) if old else 0
    if old is not None and old == new:
        return ConfSync(False, False, new_version)
    if new_version < old_version:
        return ConfSync(False, False, new_version, LogLevel.ERROR, "local corosync.conf is newer")
    return ConfSync(
        True,
        notify and old_version != 0,
        new_version,
        LogLevel.NOTICE,
        f"wrote new corosync config '{path}' (version = {new_version})",
    )
