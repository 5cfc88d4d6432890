"""The control socket's name and framing, shared by the daemon and its clients.

The protocol itself (newline-delimited JSON requests, replies and pushed events, with
binary frames between the lines) is described in ``totem.node.control``; this module holds
only its constants, so that a client needs neither asyncio nor the server to speak it.
"""

from __future__ import annotations

import struct

__all__ = ["FRAME", "MAX_LINE", "SOCKET_NAME"]

SOCKET_NAME = "pycorosync.sock"
"""The socket's file name in the daemon's run directory."""
MAX_LINE = 4 * 1024 * 1024
"""Longest request line (or binary frame body) accepted (a base64 payload of 3 MiB)."""
FRAME = struct.Struct("<xBI")
"""The binary frame header: NUL, kind, body length (little-endian)."""
