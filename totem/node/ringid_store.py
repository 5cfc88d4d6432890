"""Persistence of the ring sequence: ``<state_dir>/ringid_<nodeid>`` (ref totem-wire.md 5.3, 6.6).

corosync stores the sequence of the last ring as 8 bytes, a native (little-
endian) u64. At start-up it reads it (0 if missing) and begins one above, so a
restarted node never reuses a ring id and its JOIN is not ignored as stale.
"""

from __future__ import annotations

import os
import struct

__all__ = ["load_ring_seq", "ring_id_path", "store_ring_seq"]

_U64 = struct.Struct("<Q")


def ring_id_path(state_dir: str, node_id: int) -> str:
    """The file corosync uses for ``node_id``."""
    return os.path.join(state_dir, f"ringid_{node_id}")


def load_ring_seq(state_dir: str, node_id: int) -> int:
    """The stored sequence, 0 if there is none or it is unreadable."""
    try:
        with open(ring_id_path(state_dir, node_id), "rb") as handle:
            data = handle.read(_U64.size)
    except OSError:
        return 0
    if len(data) != _U64.size:
        return 0
    seq: int = _U64.unpack(data)[0]
    return seq


def store_ring_seq(state_dir: str, node_id: int, seq: int) -> None:
    """Write the sequence atomically (write a temporary file, fsync, rename)."""
    path = ring_id_path(state_dir, node_id)
    temporary = f"{path}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(_U64.pack(seq & 0xFFFFFFFFFFFFFFFF))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
