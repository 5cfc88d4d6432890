"""Three pycorosync daemons over knet with aes256/sha256 on 127.0.0.1-3 (ours only):
the ring forms, knet shows its links, a killed node is dropped and rejoins, CPG-free
traffic is not needed: membership and the knet status are the point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.knet.captures import AUTHKEY
from tests.node.cluster import LoopbackCluster
from totem.tools import cfgtool

pytestmark = [pytest.mark.sockets, pytest.mark.timeout(120)]


def test_knet_ring_with_crypto_on_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "authkey"
    key.write_bytes(AUTHKEY)
    key.chmod(0o400)
    with LoopbackCluster(
        tmp_path, 3, transport="knet", extra_totem=f"    secauth: on\n    keyfile: {key}\n"
    ) as cluster:
        cluster.start()
        cluster.wait_members([1, 2, 3], [1, 2, 3], timeout=30)
        assert cfgtool.main(["--run-dir", cluster.run_dir(1), "-s"]) == 0
        assert capsys.readouterr().out.splitlines() == [
            "Local node ID 1, transport knet",
            "LINK ID 0 udp",
            "\taddr\t= 127.0.0.1",
            "\tstatus:",
            "\t\tnodeid:           1:\tlocalhost",
            "\t\tnodeid:           2:\tconnected",
            "\t\tnodeid:           3:\tconnected",
        ]
        assert cfgtool.main(["--run-dir", cluster.run_dir(2), "-n", "--json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert status["knet"]["crypto"]["cipher"] == "aes256"
        assert {h["node_id"]: h["reachable"] for h in status["knet"]["hosts"]} == {
            1: True,
            2: True,
            3: True,
        }
        assert not status["knet"]["dropped"].get("crypto_bad_hash")
        cluster.kill(3)
        cluster.wait_members([1, 2], [1, 2], timeout=15)
        cluster.start(3)
        cluster.wait_members([1, 2, 3], [1, 2, 3], timeout=30)
        assert "[KNET  ] rx: host: 3 link: 0 is up" in cluster.log(1)
