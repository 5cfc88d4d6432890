"""Three real daemons, passive RRP over two bridges in network namespaces.

Cut one network: CPG traffic and membership go on (same ring id, every message
delivered once, in order), every node marks the ring FAULTY, ``cfgtool -s`` shows
it. Restore it: the ring recovers by itself, or with ``cfgtool -r`` when automatic
recovery is slow. Crypto (aes256 + sha256, key from ``pycorosync-keygen``) is on.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from tests.net.twobridge import TwoBridgeCluster, environment_problem
from totem.node.cpg_client import CpgClient, TryAgain
from totem.services.cpg import CpgConfigChange, CpgDeliver
from totem.tools import cfgtool, keygen

_PROBLEM = environment_problem()
pytestmark = [
    pytest.mark.sockets,
    pytest.mark.timeout(150),
    pytest.mark.skipif(_PROBLEM is not None, reason=f"two-bridge namespaces: {_PROBLEM}"),
]

IDS = (1, 2, 3)


def crypto_totem(tmp: Path, extra: str = "") -> str:
    key = tmp / "authkey"
    assert keygen.main(["-k", str(key)]) == 0
    return f"    crypto_cipher: aes256\n    crypto_hash: sha256\n    keyfile: {key}\n{extra}"


async def cpg_traffic(
    cluster: TwoBridgeCluster, cut: int, count: int = 400
) -> tuple[list[bytes], list[bytes], float]:
    """Node 1 multicasts ``count`` messages to group "rrp" while network ``cut`` is cut;
    returns (sent, what node 3 delivered, seconds until every node marked it FAULTY)."""
    sender = await CpgClient.connect(cluster.run_dir(1))
    receiver = await CpgClient.connect(cluster.run_dir(3))
    delivered: list[bytes] = []
    joined = asyncio.Event()

    async def collect() -> None:
        async for event in receiver.events():
            if isinstance(event, CpgConfigChange) and len(event.members) == 2:
                joined.set()
            elif isinstance(event, CpgDeliver):
                delivered.append(event.payload)

    task = asyncio.create_task(collect())
    try:
        await receiver.join("rrp")
        await sender.join("rrp")
        await asyncio.wait_for(joined.wait(), 10)
        sent = [f"message {n:04d}".encode() for n in range(count)]
        cluster.cut(cut)
        cut_at = time.monotonic()
        detected: float | None = None
        pending = list(sent)
        while pending or detected is None:
            if pending:
                try:
                    taken = await sender.mcast_many("rrp", pending[:10])
                    del pending[:taken]
                except TryAgain:
                    pass
            if detected is None and all(cut in cluster.faulty(i) for i in IDS):
                detected = time.monotonic() - cut_at
            if time.monotonic() - cut_at > 60:
                raise AssertionError(f"ring {cut} not FAULTY everywhere in 60 s")
            await asyncio.sleep(0.05)
        deadline = time.monotonic() + 20
        while len(delivered) < len(sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return sent, delivered, detected
    finally:
        task.cancel()
        await sender.close()
        await receiver.close()


@pytest.mark.parametrize("transport", ["udpu", "udp"])
def test_cut_a_network_traffic_goes_on_and_the_ring_recovers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], transport: str
) -> None:
    extra = crypto_totem(tmp_path)
    with TwoBridgeCluster(tmp_path, extra_totem=extra, transport=transport) as cluster:
        cluster.setup()
        cluster.start()
        cluster.wait(cluster.formed, 30)
        ring_id = cluster.node(1)["ring_id"]
        formed_logs = {i: len(cluster.log(i)) for i in IDS}

        sent, delivered, detected = asyncio.run(cpg_traffic(cluster, cut=0))
        assert delivered == sent  # every message, once, in order
        assert detected < 30
        for i in IDS:
            node = cluster.node(i)
            assert node["ring_id"] == ring_id and node["members"] == list(IDS)
            assert node["faulty_rings"] == [0]
            assert f"Marking ringid 0 interface 10.70.0.{i} FAULTY" in cluster.log(i)
            assert node["crypto"]["cipher"] == "aes256" and node["crypto"]["opened"] > 0

        capsys.readouterr()
        assert cfgtool.main(["--run-dir", cluster.run_dir(2), "-s"]) == 0
        text = capsys.readouterr().out.splitlines()
        assert text[:4] == [
            f"Local node ID 2, transport {transport}",
            "LINK ID 0 ",
            "\taddr\t= 10.70.0.2",
            "\tring\t= Marking ringid 0 interface 10.70.0.2 FAULTY",
        ]
        assert "\tring\t= ring 1 active with no faults" in text
        assert cfgtool.main(["--run-dir", cluster.run_dir(2), "-s", "--json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert status["rrp_mode"] == "passive" and status["faulty_rings"] == [0]
        assert [(link["faulty"], link["status"]) for link in status["links"]] == [
            (True, "FAULTY"),
            (False, "connected"),
        ]

        cluster.restore(0)
        took = cluster.wait(lambda: not any(cluster.faulty(i) for i in IDS), 15)
        assert took < 10  # one rrp_autorecovery_check_timeout, plus a rotation
        for i in IDS:
            assert "Automatically recovered ring 0" in cluster.log(i)
            assert cluster.node(i)["ring_id"] == ring_id
        # both rings carry traffic again
        before = [r["token_rx"] for r in cluster.node(1)["rings"]]
        time.sleep(1.5)
        after = [r["token_rx"] for r in cluster.node(1)["rings"]]
        assert after[0] > before[0] and after[1] > before[1]
        for i in IDS:  # no membership change since the ring formed
            assert "A new membership" not in cluster.log(i)[formed_logs[i] :]


def test_cfgtool_r_reenables_a_restored_ring(tmp_path: Path) -> None:
    slow = "    rrp_autorecovery_check_timeout: 120000\n"
    with TwoBridgeCluster(tmp_path, extra_totem=crypto_totem(tmp_path, slow)) as cluster:
        cluster.setup()
        cluster.start()
        cluster.wait(cluster.formed, 30)
        ring_id = cluster.node(1)["ring_id"]
        cluster.cut(1)
        cluster.wait(lambda: all(cluster.faulty(i) == [1] for i in IDS), 60)
        cluster.restore(1)
        time.sleep(2.0)
        assert all(cluster.faulty(i) == [1] for i in IDS)  # no automatic test for 2 minutes
        assert cfgtool.main(["--run-dir", cluster.run_dir(2), "-r"]) == 0
        cluster.wait(lambda: not any(cluster.faulty(i) for i in IDS), 10)
        for i in IDS:
            assert "Ring 1 re-enabled by administrator request" in cluster.log(i)
            assert cluster.node(i)["ring_id"] == ring_id
