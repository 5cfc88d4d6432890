"""A library connection that records what a service sends it (no sockets)."""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass, field
from typing import Any

from totem.ipc.dispatch import ConnectionStats

__all__ = ["FakeConn", "header"]

_ids = itertools.count(1)


def header(message: bytes) -> tuple[int, int, int]:
    """``(id, size, error)`` of a response or event."""
    message_id, size, error = struct.unpack_from("<i4xi4xi", message)
    return message_id, size, error


@dataclass(eq=False)
class FakeConn:
    """Implements ``LibConnection`` (and the dispatcher's ``stats``) for service tests."""

    pid: int = 4242
    uid: int = 0
    gid: int = 0
    id: int = field(default_factory=lambda: next(_ids))
    private: Any = None
    closed: bool = False
    responses: list[bytes] = field(default_factory=list)
    events: list[bytes] = field(default_factory=list)
    stats: ConnectionStats = field(default_factory=ConnectionStats)

    def respond(self, message: bytes) -> None:
        self.stats.responses += 1
        self.responses.append(message)

    def dispatch(self, message: bytes) -> None:
        self.events.append(message)

    def disconnect(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        """The only response sent since the last take."""
        assert len(self.responses) == 1, f"{len(self.responses)} responses"
        return self.responses.pop()

    def take_events(self) -> list[bytes]:
        out, self.events = self.events, []
        return out
