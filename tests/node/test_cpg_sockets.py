"""Process groups through real daemons: join, ordered delivery everywhere, membership events."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.node.cluster import LoopbackCluster
from totem.node.cpg_client import CpgClient, TryAgain
from totem.services.cpg import CpgConfigChange, CpgDeliver, CpgEvent

pytestmark = [pytest.mark.sockets, pytest.mark.timeout(120)]


async def _collect(
    client: CpgClient, count: int, out: list[CpgEvent], timeout: float = 20.0
) -> None:
    async def run() -> None:
        async for event in client.events():
            out.append(event)
            if sum(isinstance(e, CpgDeliver) for e in out) >= count:
                return

    await asyncio.wait_for(run(), timeout)


async def _mcast(client: CpgClient, group: str, data: bytes) -> None:
    for _ in range(200):
        try:
            await client.mcast(group, data)
            return
        except TryAgain:
            await asyncio.sleep(0.02)
    raise AssertionError("mcast kept returning TRY_AGAIN")


def test_group_messages_are_delivered_in_one_order_on_every_node(tmp_path: Path) -> None:
    with LoopbackCluster(tmp_path, 3) as cluster:
        cluster.start()
        cluster.wait_members([1, 2, 3], [1, 2, 3])

        async def scenario() -> dict[int, list[CpgEvent]]:
            clients = {
                i: await CpgClient.connect(cluster.run_dir(i), pid=1000 + i) for i in (1, 2, 3)
            }
            events: dict[int, list[CpgEvent]] = {i: [] for i in clients}
            for client in clients.values():
                await client.join("demo")
            # wait until each sees all three members
            collectors = [
                asyncio.ensure_future(_collect(c, 3 * 20, events[i])) for i, c in clients.items()
            ]
            await asyncio.sleep(0.5)
            for round_no in range(20):
                for i, client in clients.items():
                    await _mcast(client, "demo", f"{i}:{round_no}".encode())
            await asyncio.gather(*collectors)
            members = await clients[2].membership("demo")
            assert [(m.nodeid, m.pid) for m in members] == [(1, 1001), (2, 1002), (3, 1003)]
            for client in clients.values():
                await client.close()
            return events

        events = asyncio.run(scenario())
        orders = {
            i: [(e.nodeid, e.pid, e.payload) for e in evs if isinstance(e, CpgDeliver)]
            for i, evs in events.items()
        }
        assert len(orders[1]) == 60
        assert orders[1] == orders[2] == orders[3]
        for i in (1, 2, 3):
            mine = [p for n, _pid, p in orders[1] if n == i]
            assert mine == [f"{i}:{r}".encode() for r in range(20)]
        # every node saw group configuration changes that end with all three members
        for evs in events.values():
            changes = [e for e in evs if isinstance(e, CpgConfigChange)]
            assert changes
            assert sorted((m.nodeid, m.pid) for m in changes[-1].members) == [
                (1, 1001),
                (2, 1002),
                (3, 1003),
            ]


def test_a_dead_node_leaves_its_groups(tmp_path: Path) -> None:
    with LoopbackCluster(tmp_path, 3) as cluster:
        cluster.start()
        cluster.wait_members([1, 2, 3], [1, 2, 3])

        async def scenario() -> list[CpgEvent]:
            one = await CpgClient.connect(cluster.run_dir(1), pid=11)
            three = await CpgClient.connect(cluster.run_dir(3), pid=33)
            await one.join("g")
            await three.join("g")
            events: list[CpgEvent] = []

            async def until_left() -> None:
                async for event in one.events():
                    events.append(event)
                    if isinstance(event, CpgConfigChange) and event.left:
                        return

            waiter = asyncio.ensure_future(asyncio.wait_for(until_left(), 20))
            await asyncio.sleep(0.5)
            cluster.kill(3)
            await waiter
            await one.close()
            return events

        events = asyncio.run(scenario())
        left = [e for e in events if isinstance(e, CpgConfigChange) and e.left][-1]
        assert [(a.nodeid, a.pid, a.reason) for a in left.left] == [(3, 33, 3)]  # NODEDOWN


def test_binary_and_json_clients_see_the_same_order(tmp_path: Path) -> None:
    """A client on binary frames and one on JSON lines receive identical deliveries."""
    with LoopbackCluster(tmp_path, 2) as cluster:
        cluster.start()
        cluster.wait_members([1, 2], [1, 2])

        async def scenario() -> tuple[list[bytes], list[bytes]]:
            binary = await CpgClient.connect(cluster.run_dir(1), pid=1)
            json_client = await CpgClient.connect(cluster.run_dir(2), pid=2)
            await json_client._control.call("cpg.frames", enable=False)
            await binary.join("mix")
            await json_client.join("mix")
            await asyncio.sleep(0.3)
            got: dict[str, list[bytes]] = {"binary": [], "json": []}

            async def collect(name: str, client: CpgClient) -> None:
                async for event in client.events():
                    if isinstance(event, CpgDeliver):
                        got[name].append(event.payload)
                        if len(got[name]) == 300:
                            return

            tasks = [
                asyncio.ensure_future(asyncio.wait_for(collect("binary", binary), 30)),
                asyncio.ensure_future(asyncio.wait_for(collect("json", json_client), 30)),
            ]
            sent = 0
            while sent < 200:
                try:
                    batch = [b"b%d" % i for i in range(sent, min(200, sent + 50))]
                    sent += await binary.mcast_many("mix", batch)
                except TryAgain:
                    await asyncio.sleep(0.01)
            for i in range(100):
                await _mcast(json_client, "mix", b"j%d" % i)
            await asyncio.gather(*tasks)
            await binary.close()
            await json_client.close()
            return got["binary"], got["json"]

        via_frames, via_json = asyncio.run(scenario())
        assert via_frames == via_json
        assert sorted(via_frames) == sorted(
            [b"b%d" % i for i in range(200)] + [b"j%d" % i for i in range(100)]
        )
