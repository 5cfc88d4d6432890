"""Exec message framing and dispatch to service engines (ref totem-wire.md section 9).

Every payload of totempg group ``"a"`` starts with a 16-byte
``qb_ipc_request_header``: ``i32 id`` (``service_id << 16 | fn_id``), 4 pad
bytes, ``i32 size`` (the whole message, header included), 4 pad bytes. The
receiver routes the body to the service's exec handler ``fn_id``, as
``deliver_fn`` in exec/main.c does.

Where corosync trusts its peers we count and drop instead (never raise):

* shorter than 16 bytes, or ``size`` different from the payload length: ``malformed``;
* a service that is not loaded here: ``unknown_service`` (corosync ignores it silently);
* ``fn_id`` at or above the service's ``exec_function_count``: ``unknown_function``,
  logged as corosync logs it (``discarded unknown message ...``).

Big-endian peers are not supported (their header ``id`` would be swapped).
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Callable, Iterable

from totem.service import Service
from totem.srp.events import LogLevel
from totem.wire import EXEC_HEADER_SIZE, GROUP_EXEC, ExecHeader

__all__ = ["EXEC_GROUP", "EXEC_HEADER_SIZE", "ExecDispatcher", "ExecHeader", "encode_exec"]

EXEC_GROUP = GROUP_EXEC
"""The totempg group of exec messages (``corosync_group`` in exec/main.c)."""

LogFn = Callable[[LogLevel, str, str], None]

_HEADER = struct.Struct("<I4xi4x")
"""``qb_ipc_request_header`` as the dispatcher reads it (the same layout as ``ExecHeader``)."""


def encode_exec(service_id: int, fn_id: int, body: bytes) -> bytes:
    """Prefix ``body`` with the exec header (``SERVICE_ID_MAKE(service_id, fn_id)``)."""
    if not 0 <= service_id <= 0xFFFF or not 0 <= fn_id <= 0xFFFF:
        raise ValueError(f"service id {service_id} / fn id {fn_id} out of range")
    return _HEADER.pack(service_id << 16 | fn_id, EXEC_HEADER_SIZE + len(body)) + body


class ExecDispatcher:
    """Route group ``"a"`` payloads to ``service.exec_deliver`` (``deliver_fn``)."""

    def __init__(self, services: Iterable[Service], log: LogFn | None = None) -> None:
        self._services: dict[int, Service] = {}
        for service in services:
            if service.service_id in self._services:
                raise ValueError(f"two services with id {service.service_id}")
            self._services[service.service_id] = service
        self._log = log
        self._function_counts = {sid: s.exec_function_count for sid, s in self._services.items()}
        """Each service's ``exec_function_count`` (constant), read once: not per message."""
        self._errors: dict[str, int] = {
            "malformed": 0,
            "unknown_service": 0,
            "unknown_function": 0,
        }
        self._rx_by_id: defaultdict[int, int] = defaultdict(int)
        """Delivered messages per header ``id`` (``service_id << 16 | fn_id``)."""

    @property
    def counters(self) -> dict[str, int]:
        """Messages delivered and dropped (by reason), as a fresh dict."""
        return {"delivered": sum(self._rx_by_id.values()), **self._errors}

    @property
    def rx(self) -> dict[tuple[int, int], int]:
        """Messages delivered per (service id, fn id): ``service_stats_rx``."""
        return {(i >> 16, i & 0xFFFF): n for i, n in self._rx_by_id.items()}

    def deliver(self, sender: int, payload: bytes, now: float) -> bool:
        """Deliver one exec message; return True if a service handled it."""
        return self.deliver_at(sender, payload, 0, now)

    def deliver_at(self, sender: int, data: bytes, offset: int, now: float) -> bool:
        """``deliver(sender, data[offset:], now)`` without copying the message first (the
        node passes a whole group-framed message and the length of its framing)."""
        # Hot path (every exec message): one struct unpack, one counter, no objects.
        length = len(data) - offset
        if length < EXEC_HEADER_SIZE:
            self._errors["malformed"] += 1
            return False
        message_id, size = _HEADER.unpack_from(data, offset)
        if size != length:
            self._errors["malformed"] += 1
            return False
        service_id, fn = message_id >> 16, message_id & 0xFFFF
        count = self._function_counts.get(service_id)
        if count is None:
            self._errors["unknown_service"] += 1
            return False
        if fn >= count:
            self._errors["unknown_function"] += 1
            if self._log is not None:
                self._log(
                    LogLevel.WARNING,
                    "MAIN",
                    f"discarded unknown message {fn} for service {service_id} (max id {count})",
                )
            return False
        self._rx_by_id[message_id] += 1
        body = data[offset + EXEC_HEADER_SIZE :]
        self._services[service_id].exec_deliver(sender, fn, body, now)
        return True
