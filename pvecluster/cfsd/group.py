"""The asyncio driver of a :class:`~pvecluster.cfs.node.CfsNode` on the engine (ref 4.1, 4.3).

It connects to the node's engine through its control socket as any client does: a CPG
handle joined to ``pve_dcdb_v1`` (deliveries and configuration changes feed the core, its
outbox is multicast in order, ``CS_ERR_TRY_AGAIN`` retried every 100 ms as pmxcfs does) and
a second connection that follows quorum (``quorum.status`` on every quorum event, and once a
second). The first connection to an engine that cfsd has just started is tried every
:data:`START_RETRY_INTERVAL` seconds (the engine's socket appears within a second or so);
when the engine goes away, or the DFSM leaves the group, the connection is closed
and retried every second; the core then starts a full resync (``dfsm_initialize``). A state
exchange that does not finish within :data:`SYNC_STALL_TIMEOUT` seconds is treated the same
way (ours: pmxcfs would wait for the next membership change).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable

from pvecluster.cfs.dcdb import CPG_GROUP
from pvecluster.cfs.dfsm import Mode
from pvecluster.cfs.node import CfsNode
from totem.node.async_client import AsyncControlClient
from totem.node.client import NodeUnavailable, RequestFailed
from totem.node.cpg_client import CpgClient, CpgRequestFailed, TryAgain
from totem.services.cpg import CpgConfigChange, CpgDeliver
from totem.srp.events import LogLevel, LogRecord

__all__ = ["GroupDriver"]

RETRY_INTERVAL = 1.0
START_RETRY_INTERVAL = 0.1
"""Seconds between the first attempts to reach a freshly started engine, for
:data:`START_RETRY_PERIOD` seconds. Polling once a second (pmxcfs's service loop) left the
filesystem without quorum for up to a second after the engine itself answered quorate, and a
``pvecm add`` sent in that window was refused with ``cluster not ready - no quorum?``."""
START_RETRY_PERIOD = 30.0
SYNC_STALL_TIMEOUT = 15.0
"""Seconds a state exchange may go without finishing before the node leaves the group and
joins again (a full resync). pmxcfs waits for ever; a message the engine lost (a node left
while large states were on their way) would stall the filesystem until the next membership
change, so cfsd starts over instead."""
TRY_AGAIN_INTERVAL = 0.1
QUORUM_POLL_INTERVAL = 1.0


class GroupDriver:
    """Keeps a CfsNode connected to the engine's process group and quorum."""

    def __init__(
        self,
        node: CfsNode,
        run_dir: str,
        after_input: Callable[[], None],
        log: Callable[[LogRecord], None],
        *,
        pid: int | None = None,
    ) -> None:
        self.node = node
        self.run_dir = run_dir
        self.after_input = after_input
        """Called after every input to the core (the daemon takes its events)."""
        self.log = log
        self.pid = pid if pid is not None else os.getpid()
        self.cpg: CpgClient | None = None
        self.quorum: AsyncControlClient | None = None
        self.connected = asyncio.Event()
        self._send_queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._leave_requested = False
        self.members: list[tuple[int, int]] = []
        self.counters = {"sent": 0, "delivered": 0, "confchg": 0, "try_again": 0}

    @property
    def send_queue_length(self) -> int:
        """Messages of the core waiting to be multicast."""
        return self._send_queue.qsize()

    def start(self) -> None:
        self._stopping = False
        self._tasks.append(asyncio.get_running_loop().create_task(self._run()))

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self._disconnect()

    # ------------------------------------------------------------------ connection
    async def _run(self) -> None:
        waiting_logged = False
        fast_until: float | None = time.monotonic() + START_RETRY_PERIOD
        while not self._stopping:
            try:
                await self._connect()
            except (NodeUnavailable, RequestFailed, OSError, ConnectionError) as err:
                if not waiting_logged:
                    self.log(LogRecord(LogLevel.NOTICE, "dcdb", f"waiting for the engine: {err}"))
                    waiting_logged = True
                await self._disconnect()
                fast = fast_until is not None and time.monotonic() < fast_until
                await asyncio.sleep(START_RETRY_INTERVAL if fast else RETRY_INTERVAL)
                continue
            waiting_logged = False
            fast_until = None
            await self._serve()
            await self._disconnect()
            if not self._stopping:
                if not self.node.dfsm.restartable:
                    self.log(
                        LogRecord(LogLevel.ERROR, "dcdb", "cluster connection not restartable")
                    )
                    return
                await asyncio.sleep(RETRY_INTERVAL)

    async def _connect(self) -> None:
        node = self.node
        quorum = await AsyncControlClient(self.run_dir).connect()
        self.quorum = quorum
        await quorum.call("subscribe", topics=["QuorumView", "QuorumChanged"])
        await self._refresh_quorum()
        cpg = await CpgClient.connect(self.run_dir, pid=self.pid)
        self.cpg = cpg
        nodeid = await cpg.local_get()
        node.dfsm.nodeid = nodeid
        node.nodeid = nodeid
        node.initialize()
        while True:
            try:
                await cpg.join(CPG_GROUP)
                break
            except TryAgain:
                await asyncio.sleep(TRY_AGAIN_INTERVAL)
        node.joined(time.time())
        self._leave_requested = False
        self.connected.set()
        self.log(LogRecord(LogLevel.NOTICE, "dcdb", f"joined process group {CPG_GROUP}"))

    async def _disconnect(self) -> None:
        self.connected.clear()
        node = self.node
        node.left_group()
        node.set_quorate(False)
        self.members = []
        self.after_input()
        while not self._send_queue.empty():
            self._send_queue.get_nowait()
        cpg, self.cpg = self.cpg, None
        if cpg is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(cpg.close(), 2.0)
        quorum, self.quorum = self.quorum, None
        if quorum is not None:
            with contextlib.suppress(Exception):
                await quorum.close()

    async def _serve(self) -> None:
        """Until the engine goes away or the DFSM leaves."""
        cpg = self.cpg
        assert cpg is not None
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(self._deliveries(cpg)),
            loop.create_task(self._sender(cpg)),
            loop.create_task(self._quorum_events()),
            loop.create_task(self._quorum_poll()),
            loop.create_task(self._timer()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _deliveries(self, cpg: CpgClient) -> None:
        node = self.node
        async for event in cpg.events():
            now = time.time()
            if isinstance(event, CpgDeliver):
                self.counters["delivered"] += 1
                node.group_deliver(event.nodeid, event.pid, event.payload, now)
            elif isinstance(event, CpgConfigChange):
                self.counters["confchg"] += 1
                members = [(m.nodeid, m.pid) for m in event.members]
                self.members = members
                node.group_confchg(
                    members,
                    [(m.nodeid, m.pid) for m in event.joined],
                    [(m.nodeid, m.pid) for m in event.left],
                    now,
                )
            else:
                continue
            self.flush()
            if node.dfsm.mode >= Mode.LEAVE:
                return  # leave the group: the connection is closed and retried

    def flush(self) -> None:
        """Queue the core's outbox for sending and hand its events to the daemon."""
        for payload in self.node.outbox():
            self._send_queue.put_nowait(payload)
        self.after_input()

    async def _sender(self, cpg: CpgClient) -> None:
        retries = 0
        while True:
            payload = await self._send_queue.get()
            while True:
                try:
                    await cpg.mcast(CPG_GROUP, payload)
                    self.counters["sent"] += 1
                    break
                except TryAgain:
                    retries += 1
                    self.counters["try_again"] += 1
                    if retries % 10 == 0:
                        self.log(
                            LogRecord(LogLevel.NOTICE, "dcdb", f"cpg_send_message retry {retries}")
                        )
                    await asyncio.sleep(TRY_AGAIN_INTERVAL)
                except CpgRequestFailed as err:
                    self.log(LogRecord(LogLevel.ERROR, "dcdb", f"cpg_send_message failed: {err}"))
                    return
            if retries:
                self.log(
                    LogRecord(LogLevel.NOTICE, "dcdb", f"cpg_send_message retried {retries} times")
                )
                retries = 0

    async def _refresh_quorum(self) -> None:
        quorum = self.quorum
        if quorum is None:
            return
        status = await quorum.call("quorum.status")
        quorate = bool(status.get("quorate"))
        if quorate != self.node.dcdb.quorate:
            self.log(
                LogRecord(
                    LogLevel.NOTICE,
                    "status",
                    "node has quorum" if quorate else "node lost quorum",
                )
            )
        self.node.set_quorate(quorate)

    async def _quorum_events(self) -> None:
        quorum = self.quorum
        assert quorum is not None
        async for _event in quorum.events():
            await self._refresh_quorum()

    async def _quorum_poll(self) -> None:
        while True:
            await asyncio.sleep(QUORUM_POLL_INTERVAL)
            await self._refresh_quorum()

    async def _timer(self) -> None:
        syncing_since: float | None = None
        while True:
            mode = self.node.dfsm.mode
            if mode in (Mode.START_SYNC, Mode.UPDATE):
                syncing_since = syncing_since or time.monotonic()
                if time.monotonic() - syncing_since > SYNC_STALL_TIMEOUT:
                    self.log(
                        LogRecord(
                            LogLevel.ERROR,
                            "dcdb",
                            f"data synchronisation stalled for {SYNC_STALL_TIMEOUT:g} s - "
                            "leaving the process group to start over",
                        )
                    )
                    return  # the connection is closed and retried: a full resync
            else:
                syncing_since = None
            deadline = self.node.next_deadline()
            delay = 1.0 if deadline is None else max(0.0, deadline - time.time())
            await asyncio.sleep(min(delay, 1.0))
            now = time.time()
            if deadline is not None and now >= deadline:
                self.node.on_deadline(now)
                self.flush()
