"""Process groups over the control socket: libcpg's calls as ``cpg.*`` operations.

A client opens a handle (``cpg.initialize``), joins a group with its pid,
multicasts, and receives its deliveries and configuration changes pushed on the
same connection, in agreed order. Deliveries are batched per loop turn:
``{"event": "CpgDeliverBatch", "handle", "group", "messages": [[nodeid, pid, data], ...]}``
(a configuration change is never overtaken: pending deliveries go out first). Handles
belong to their connection: when it closes, its processes leave their groups
(reason PROCDOWN), as when a libcpg client dies.

Operations (payloads are base64):

* ``cpg.initialize`` -> ``{"handle": H}``
* ``cpg.join`` ``{"handle", "group", "pid"}``; ``cpg.leave`` ``{"handle", "group"}``
* ``cpg.mcast`` ``{"handle", "group", "data", "guarantee": "agreed"|"safe"}``;
  ``cpg.mcast_many`` ``{"handle", "group", "messages": [data, ...]}`` -> how many were queued
* ``cpg.membership`` ``{"group"}``; ``cpg.iteration``; ``cpg.local_get``; ``cpg.finalize``

Bulk traffic can skip JSON and base64 (``totem.node.control`` binary frames):
``cpg.frames`` ``{"enable": true}`` makes deliveries arrive as ``FRAME_CPG_DELIVERIES``
frames, and ``FRAME_CPG_MCAST`` request frames queue messages like ``cpg.mcast_many``::

    FRAME_CPG_DELIVERIES  u32 handle, u16 group length, group, u32 count,
                          count x (u32 nodeid, u32 pid, u32 length, payload)
    FRAME_CPG_MCAST       u32 request id, u32 handle, u16 group length, group, u32 count,
                          count x (u32 length, payload)      -> reply: messages queued

Refusals carry libcpg's error name first (``CS_ERR_TRY_AGAIN: sync in progress``), so a
client can retry exactly where libcpg callers do.
"""

from __future__ import annotations

import base64
import itertools
import struct
from collections.abc import Callable
from typing import Any

from totem.node.control import ControlConnection, ControlError, ControlServer
from totem.services.cpg import (
    CpgConfigChange,
    CpgDeliver,
    CpgError,
    CpgGuarantee,
    CpgService,
    CpgTotemConfigChange,
)

__all__ = [
    "FRAME_CPG_DELIVERIES",
    "FRAME_CPG_MCAST",
    "CpgControl",
    "decode_deliveries",
    "encode_mcast_frame",
]

FRAME_CPG_DELIVERIES = 1
FRAME_CPG_MCAST = 2
_HANDLE_GROUP = struct.Struct("<IH")
_COUNT = struct.Struct("<I")
_DELIVERY = struct.Struct("<III")
_MCAST_HEAD = struct.Struct("<IIH")
_LENGTH = struct.Struct("<I")


def encode_mcast_frame(request_id: int, handle: int, group: bytes, messages: list[bytes]) -> bytes:
    """The body of a ``FRAME_CPG_MCAST`` request."""
    parts = [_MCAST_HEAD.pack(request_id, handle, len(group)), group, _COUNT.pack(len(messages))]
    for message in messages:
        parts.append(_LENGTH.pack(len(message)))
        parts.append(message)
    return b"".join(parts)


def decode_deliveries(body: bytes) -> tuple[int, bytes, list[tuple[int, int, bytes]]]:
    """``(handle, group, [(nodeid, pid, payload), ...])`` of a ``FRAME_CPG_DELIVERIES`` frame."""
    handle, group_length = _HANDLE_GROUP.unpack_from(body)
    offset = _HANDLE_GROUP.size
    group = body[offset : offset + group_length]
    offset += group_length
    (count,) = _COUNT.unpack_from(body, offset)
    offset += _COUNT.size
    out = []
    unpack = _DELIVERY.unpack_from
    for _ in range(count):
        nodeid, pid, length = unpack(body, offset)
        offset += _DELIVERY.size
        out.append((nodeid, pid, body[offset : offset + length]))
        offset += length
    return handle, group, out


CpgEventT = CpgDeliver | CpgConfigChange | CpgTotemConfigChange
_Delivery = tuple[bytes, int, int, bytes]
_Pending = _Delivery | CpgConfigChange | CpgTotemConfigChange | CpgDeliver


def _group(request: dict[str, Any]) -> bytes:
    group = request["group"]
    if not isinstance(group, str):
        raise ControlError('"group" must be a string')
    return group.encode()


class CpgControl:
    """Serves ``cpg.*`` for one ``CpgService`` and routes its events to handle owners."""

    def __init__(
        self,
        cpg: CpgService,
        poke: Callable[[], None],
        call_soon: Callable[[Callable[[], None]], object],
    ) -> None:
        self.cpg = cpg
        self._poke = poke
        self._call_soon = call_soon
        self._owners: dict[int, ControlConnection] = {}
        self._handles = itertools.count(1)
        self._batches: dict[int, list[_Pending]] = {}
        """Per handle, what this loop turn produced, in order: deliveries as
        ``(group, nodeid, pid, payload)`` tuples, and the other events."""
        self._flush_scheduled = False
        cpg.set_event_sink(self)

    def register(self, server: ControlServer) -> None:
        ops: dict[str, Callable[[ControlConnection, dict[str, Any]], Any]] = {
            "cpg.initialize": self._initialize,
            "cpg.finalize": self._finalize,
            "cpg.join": self._join,
            "cpg.leave": self._leave,
            "cpg.mcast": self._mcast,
            "cpg.mcast_many": self._mcast_many,
            "cpg.membership": self._membership,
            "cpg.iteration": self._iteration,
            "cpg.local_get": lambda _c, _r: self.cpg.local_get(),
            "cpg.frames": self._frames,
        }
        for op, handler in ops.items():
            server.register(op, self._calling(handler))
        server.register_frame(FRAME_CPG_MCAST, self._mcast_frame)

    def _calling(
        self, handler: Callable[[ControlConnection, dict[str, Any]], Any]
    ) -> Callable[[ControlConnection, dict[str, Any]], Any]:
        def run(connection: ControlConnection, request: dict[str, Any]) -> Any:
            try:
                return handler(connection, request)
            except CpgError as err:
                raise ControlError(str(err)) from None
            finally:
                self._poke()

        return run

    # ------------------------------------------------------------------------------------
    def _handle(self, connection: ControlConnection, request: dict[str, Any]) -> int:
        handle = request["handle"]
        if self._owners.get(handle) is not connection:
            raise ControlError(f"CS_ERR_BAD_HANDLE: no handle {handle} on this connection")
        return int(handle)

    def _initialize(self, connection: ControlConnection, _req: dict[str, Any]) -> dict[str, int]:
        handle = next(self._handles)
        self._owners[handle] = connection
        if self._connection_closed not in connection.on_close:
            connection.on_close.append(self._connection_closed)
        return {"handle": handle}

    def _connection_closed(self, connection: ControlConnection) -> None:
        for handle in [h for h, c in self._owners.items() if c is connection]:
            del self._owners[handle]
            self._batches.pop(handle, None)
            self.cpg.finalize(handle)
        self._poke()

    def _finalize(self, connection: ControlConnection, request: dict[str, Any]) -> str:
        handle = self._handle(connection, request)
        del self._owners[handle]
        self.cpg.finalize(handle)
        return "ok"

    def _join(self, connection: ControlConnection, request: dict[str, Any]) -> str:
        handle = self._handle(connection, request)
        pid = request.get("pid", 0)
        if not isinstance(pid, int) or not 0 <= pid <= 0xFFFFFFFF:
            raise ControlError('"pid" must be a 32-bit unsigned integer')
        self.cpg.join(handle, _group(request), pid)
        return "ok"

    def _leave(self, connection: ControlConnection, request: dict[str, Any]) -> str:
        self.cpg.leave(self._handle(connection, request), _group(request))
        return "ok"

    def _mcast(self, connection: ControlConnection, request: dict[str, Any]) -> str:
        handle = self._handle(connection, request)
        guarantee = CpgGuarantee.SAFE if request.get("guarantee") == "safe" else None
        data = base64.b64decode(request["data"], validate=True)
        if guarantee is None:
            self.cpg.mcast(handle, _group(request), data)
        else:
            self.cpg.mcast(handle, _group(request), data, guarantee)
        return "ok"

    def _mcast_many(self, connection: ControlConnection, request: dict[str, Any]) -> int:
        """Queue several messages; stop (without error) at the first TRY_AGAIN."""
        handle = self._handle(connection, request)
        group = _group(request)
        queued = 0
        for item in request["messages"]:
            try:
                self.cpg.mcast(handle, group, base64.b64decode(item, validate=True))
            except CpgError:
                if queued:
                    break
                raise
            queued += 1
        return queued

    def _frames(self, connection: ControlConnection, request: dict[str, Any]) -> bool:
        """Turn binary delivery frames on or off for this connection."""
        if request.get("enable", True):
            connection.features.add("cpg-frames")
        else:
            connection.features.discard("cpg-frames")
        return "cpg-frames" in connection.features

    def _mcast_frame(self, connection: ControlConnection, body: bytes) -> tuple[int, int]:
        """``FRAME_CPG_MCAST``: like ``cpg.mcast_many`` without JSON and base64.

        The whole frame is parsed first (a malformed one queues nothing), then the
        messages go to ``CpgService.mcast_many`` in one call.
        """
        request_id, handle, group_length = _MCAST_HEAD.unpack_from(body)
        offset = _MCAST_HEAD.size
        group = body[offset : offset + group_length]
        offset += group_length
        (count,) = _COUNT.unpack_from(body, offset)
        offset += _COUNT.size
        if self._owners.get(handle) is not connection:
            raise ControlError(f"CS_ERR_BAD_HANDLE: no handle {handle} on this connection")
        unpack = _LENGTH.unpack_from
        size = len(body)
        messages: list[bytes] = []
        for _ in range(count):
            (length,) = unpack(body, offset)
            offset += 4
            end = offset + length
            if end > size:
                raise struct.error("message runs past the frame")
            messages.append(body[offset:end])
            offset = end
        try:
            queued = self.cpg.mcast_many(handle, group, messages)
        except CpgError as err:
            raise ControlError(str(err)) from None
        finally:
            self._poke()
        return request_id, queued

    def _membership(self, _connection: ControlConnection, request: dict[str, Any]) -> Any:
        return [
            {"nodeid": a.nodeid, "pid": a.pid, "reason": a.reason}
            for a in self.cpg.membership(_group(request))
        ]

    def _iteration(self, _connection: ControlConnection, request: dict[str, Any]) -> Any:
        return [
            {"group": e.group.decode(errors="replace"), "nodeid": e.nodeid, "pid": e.pid}
            for e in self.cpg.iteration()
        ]

    # ------------------------------------------------------------------------------------
    def route(self, event: object) -> bool:
        """Send a CPG event to the connection owning its handle; False if not a CPG event.

        (The service hands its events to this object directly, ``deliver``/``event``;
        this is for events taken from ``CpgService.events()``.)
        """
        if not isinstance(event, (CpgDeliver, CpgConfigChange, CpgTotemConfigChange)):
            return False
        if isinstance(event, CpgDeliver):
            self.deliver(event.handle, event.group, event.nodeid, event.pid, event.payload)
        else:
            self.event(event)
        return True

    def deliver(self, handle: object, group: bytes, nodeid: int, pid: int, payload: bytes) -> None:
        """A message for ``handle`` (``CpgEventSink``): batched until the end of the loop turn.

        The hot path of every delivered message: one tuple appended; the frames are
        built once per turn by ``flush``.
        """
        batch = self._batches.get(handle)  # type: ignore[call-overload]
        if batch is None:
            batch = self._new_batch(handle)
            if batch is None:
                return
        batch.append((group, nodeid, pid, payload))

    def event(self, event: CpgEventT) -> None:
        """Any other CPG event (``CpgEventSink``): queued behind the pending deliveries, in
        order. Nothing is written from inside the service (a write can close a client that
        does not read, and closing finalizes its handles: never while the service iterates)."""
        handle = event.handle
        batch = self._batches.get(handle)  # type: ignore[call-overload]
        if batch is None:
            batch = self._new_batch(handle)
            if batch is None:
                return
        batch.append(event)

    def _new_batch(self, handle: object) -> list[_Pending] | None:
        if not isinstance(handle, int) or handle not in self._owners:
            return None
        batch: list[_Pending] = []
        self._batches[handle] = batch
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._call_soon(self.flush)
        return batch

    def flush(self) -> None:
        """Send everything pending, handle by handle, in order."""
        self._flush_scheduled = False
        for handle in list(self._batches):
            owner = self._owners.get(handle)
            if owner is None:
                self._batches.pop(handle, None)
            else:
                self._flush_handle(handle, owner)

    def _flush_handle(self, handle: int, owner: ControlConnection) -> None:
        batch = self._batches.pop(handle, None)
        if not batch:
            return
        frames = "cpg-frames" in owner.features
        run: list[_Delivery] = []
        for item in batch:
            if type(item) is tuple:
                run.append(item)
                continue
            if run:
                self._send_deliveries(handle, owner, run, frames)
                run = []
            owner.send(self.to_message(item))  # type: ignore[arg-type]
        if run:
            self._send_deliveries(handle, owner, run, frames)

    def _send_deliveries(
        self, handle: int, owner: ControlConnection, batch: list[_Delivery], frames: bool
    ) -> None:
        if frames:
            self._send_frames(handle, owner, batch)
            return
        b64 = base64.b64encode
        start = 0
        while start < len(batch):  # one message per group run, in order
            group = batch[start][0]
            end = start
            while end < len(batch) and batch[end][0] == group:
                end += 1
            owner.send(
                {
                    "event": "CpgDeliverBatch",
                    "handle": handle,
                    "group": group.decode(errors="replace"),
                    "messages": [
                        [nodeid, pid, b64(payload).decode()]
                        for _g, nodeid, pid, payload in batch[start:end]
                    ],
                }
            )
            start = end

    @staticmethod
    def _send_frames(handle: int, owner: ControlConnection, batch: list[_Delivery]) -> None:
        """One ``FRAME_CPG_DELIVERIES`` per run of one group (usually the whole batch)."""
        pack = _DELIVERY.pack
        parts: list[bytes] = []
        current: bytes | None = None
        count = 0
        for group, nodeid, pid, payload in batch:
            if group != current:
                if current is not None:
                    parts[2] = _COUNT.pack(count)
                    owner.send_frame(FRAME_CPG_DELIVERIES, b"".join(parts))
                current = group
                parts = [_HANDLE_GROUP.pack(handle, len(group)), group, b""]
                count = 0
            parts.append(pack(nodeid, pid, len(payload)))
            parts.append(payload)
            count += 1
        if current is not None:
            parts[2] = _COUNT.pack(count)
            owner.send_frame(FRAME_CPG_DELIVERIES, b"".join(parts))

    @staticmethod
    def to_message(event: CpgEventT) -> dict[str, Any]:
        if isinstance(event, CpgDeliver):
            return {
                "event": "CpgDeliver",
                "handle": event.handle,
                "group": event.group.decode(errors="replace"),
                "nodeid": event.nodeid,
                "pid": event.pid,
                "data": base64.b64encode(event.payload).decode(),
            }
        if isinstance(event, CpgConfigChange):

            def rows(addresses: Any) -> list[dict[str, int]]:
                return [{"nodeid": a.nodeid, "pid": a.pid, "reason": a.reason} for a in addresses]

            return {
                "event": "CpgConfigChange",
                "handle": event.handle,
                "group": event.group.decode(errors="replace"),
                "members": rows(event.members),
                "left": rows(event.left),
                "joined": rows(event.joined),
            }
        return {
            "event": "CpgTotemConfigChange",
            "handle": event.handle,
            "ring_id": str(event.ring_id),
            "members": list(event.members),
        }
