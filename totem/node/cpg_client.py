"""Process groups for Python programs, through a running node's control socket.

    async with await CpgClient.connect("/run/pycorosync") as cpg:
        await cpg.join("demo")
        await cpg.mcast("demo", b"hello")
        async for event in cpg.events():       # CpgDeliver / CpgConfigChange / CpgTotemConfigChange
            ...

Deliveries come in agreed order, the same order on every node of the ring,
interleaved with the group's configuration changes (virtual synchrony). The
events are the CPG service's own dataclasses. ``TryAgain`` is raised where
libcpg returns ``CS_ERR_TRY_AGAIN`` (sync in progress, queue full): retry later.
In-process programs use ``totem.services.cpg.CpgService`` directly instead.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from typing import Any

from totem.node.async_client import AsyncControlClient
from totem.node.client import RequestFailed
from totem.node.cpg_api import (
    FRAME_CPG_DELIVERIES,
    FRAME_CPG_MCAST,
    decode_deliveries,
    encode_mcast_frame,
)
from totem.ringid import RingId
from totem.services.cpg import (
    CpgAddress,
    CpgConfigChange,
    CpgDeliver,
    CpgEvent,
    CpgTotemConfigChange,
)

__all__ = ["CpgClient", "CpgRequestFailed", "TryAgain"]


class CpgRequestFailed(RequestFailed):
    """The node refused a CPG call; ``str()`` starts with libcpg's error name."""


class TryAgain(CpgRequestFailed):
    """``CS_ERR_TRY_AGAIN``: the node cannot take this now (sync, flow control)."""


# A frozen dataclass's generated __init__ sets each field through object.__setattr__;
# one CpgDeliver per delivered message is the client's hot path, so it is filled
# through the slot descriptors instead (the same object, a fraction of the cost).
_new = object.__new__
_SLOT_SETTERS = tuple(getattr(CpgDeliver, name).__set__ for name in CpgDeliver.__slots__)
_set_handle, _set_group, _set_nodeid, _set_pid, _set_payload = _SLOT_SETTERS


def _deliver(handle: int, group: bytes, nodeid: int, pid: int, payload: bytes) -> CpgDeliver:
    """``CpgDeliver(handle, group, nodeid, pid, payload)``, fast."""
    event: CpgDeliver = _new(CpgDeliver)
    _set_handle(event, handle)
    _set_group(event, group)
    _set_nodeid(event, nodeid)
    _set_pid(event, pid)
    _set_payload(event, payload)
    return event


def _addresses(rows: list[dict[str, int]]) -> tuple[CpgAddress, ...]:
    return tuple(CpgAddress(r["nodeid"], r["pid"], r["reason"]) for r in rows)


def events_from_message(message: dict[str, Any]) -> list[CpgEvent]:
    """Rebuild the CPG service's events from their control-socket form."""
    if message.get("event") == "CpgDeliverBatch":
        handle = message["handle"]
        group = str(message["group"]).encode()
        decode = base64.b64decode
        return [
            CpgDeliver(handle, group, nodeid, pid, decode(data))
            for nodeid, pid, data in message["messages"]
        ]
    event = event_from_message(message)
    return [] if event is None else [event]


def event_from_message(message: dict[str, Any]) -> CpgEvent | None:
    """Rebuild one CPG event (not a batch) from its control-socket form."""
    kind = message.get("event")
    group = str(message.get("group", "")).encode()
    if kind == "CpgDeliver":
        return CpgDeliver(
            message["handle"],
            group,
            message["nodeid"],
            message["pid"],
            base64.b64decode(message["data"]),
        )
    if kind == "CpgConfigChange":
        return CpgConfigChange(
            message["handle"],
            group,
            _addresses(message["members"]),
            _addresses(message["left"]),
            _addresses(message["joined"]),
        )
    if kind == "CpgTotemConfigChange":
        return CpgTotemConfigChange(
            message["handle"], RingId.parse(message["ring_id"]), tuple(message["members"])
        )
    return None


class CpgClient:
    """One CPG handle on one connection to the node."""

    def __init__(self, control: AsyncControlClient, handle: int, pid: int) -> None:
        self._control = control
        self.handle = handle
        self.pid = pid

    @classmethod
    async def connect(cls, run_dir: str | None = None, pid: int | None = None) -> CpgClient:
        """Open a handle on the node using ``run_dir``; ``pid`` defaults to ours."""
        control = await AsyncControlClient(run_dir).connect()
        result = await control.call("cpg.initialize")
        await control.call("cpg.frames", enable=True)  # deliveries as binary frames
        return cls(control, result["handle"], os.getpid() if pid is None else pid)

    async def _call(self, op: str, **args: Any) -> Any:
        try:
            return await self._control.call(op, handle=self.handle, **args)
        except RequestFailed as err:
            text = str(err)
            if text.startswith("CS_ERR_TRY_AGAIN"):
                raise TryAgain(text) from None
            raise CpgRequestFailed(text) from None

    async def join(self, group: str) -> None:
        await self._call("cpg.join", group=group, pid=self.pid)

    async def leave(self, group: str) -> None:
        await self._call("cpg.leave", group=group)

    async def mcast(self, group: str, data: bytes, *, safe: bool = False) -> None:
        """Multicast ``data`` to ``group`` (agreed order; ``safe`` waits for every member)."""
        await self._call(
            "cpg.mcast",
            group=group,
            data=base64.b64encode(data).decode(),
            guarantee="safe" if safe else "agreed",
        )

    async def mcast_many(self, group: str, messages: list[bytes]) -> int:
        """Queue several messages in one round trip (a binary frame); returns how many
        were taken (fewer than asked when the node's queue filled up)."""
        name = group.encode()
        try:
            queued: int = await self._control.call_frame(
                FRAME_CPG_MCAST,
                lambda request_id: encode_mcast_frame(request_id, self.handle, name, messages),
            )
        except RequestFailed as err:
            text = str(err)
            if text.startswith("CS_ERR_TRY_AGAIN"):
                raise TryAgain(text) from None
            raise CpgRequestFailed(text) from None
        return queued

    async def membership(self, group: str) -> tuple[CpgAddress, ...]:
        rows = await self._control.call("cpg.membership", group=group)
        return _addresses(rows)

    async def local_get(self) -> int:
        node_id: int = await self._control.call("cpg.local_get")
        return node_id

    async def events(self) -> AsyncIterator[CpgEvent]:
        """This handle's events, in order, until the connection closes."""
        async for message in self._control.events():
            if message.get("frame") == FRAME_CPG_DELIVERIES:
                handle, group, deliveries = decode_deliveries(message["body"])
                if handle == self.handle:
                    for nodeid, pid, payload in deliveries:
                        yield _deliver(handle, group, nodeid, pid, payload)
                continue
            if message.get("handle") != self.handle:
                continue
            for event in events_from_message(message):
                yield event

    async def close(self) -> None:
        try:
            await self._call("cpg.finalize")
        except (CpgRequestFailed, ConnectionError):
            pass
        await self._control.close()

    async def __aenter__(self) -> CpgClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
