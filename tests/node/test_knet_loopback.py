"""Three pycorosync daemons over knet with aes256/sha256 on 127.0.0.1-3 (ours only):
the ring forms, knet shows its links, a killed node is dropped and rejoins, CPG-free
traffic is not needed: membership and the knet status are the point."""

from __future__ import annotations

import json
import time
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


def test_reload_changes_the_knet_key_and_timers_without_a_membership_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = tmp_path / "authkey", tmp_path / "authkey.new"
    old.write_bytes(AUTHKEY)
    new.write_bytes(bytes(range(256)))
    with LoopbackCluster(
        tmp_path, 3, transport="knet", extra_totem=f"    secauth: on\n    keyfile: {old}\n"
    ) as cluster:
        cluster.start()
        cluster.wait_members([1, 2, 3], [1, 2, 3], timeout=30)
        ring = cluster.status(1)["node"]["ring_id"]
        text = cluster.conf.read_text()
        cluster.conf.write_text(
            text.replace(f"keyfile: {old}", f"keyfile: {new}\n    crypto_cipher: aes128")
            .replace("linknumber: 0\n", "linknumber: 0\n        knet_link_priority: 7\n")
            .replace("secauth: on", "secauth: on\n    knet_pmtud_interval: 45")
        )
        assert cfgtool.main(["--run-dir", cluster.run_dir(2), "-R"]) == 0
        capsys.readouterr()

        def switched() -> bool:
            return all(
                cluster.status(i)["node"]["knet"]["crypto"]["cipher"] == "aes128" for i in (1, 2, 3)
            )

        deadline = time.monotonic() + 15
        while not switched():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        cluster.wait_members([1, 2, 3], [1, 2, 3], timeout=10)
        time.sleep(2)
        for i in (1, 2, 3):
            status = cluster.status(i)
            knet = status["node"]["knet"]
            assert status["node"]["ring_id"] == ring
            assert knet["pmtud"]["interval"] == 45
            peer = next(h for h in knet["hosts"] if h["host_id"] != i)
            assert peer["links"][0]["priority"] == 7
            # phase 2 cleared the old key: only the new one (slot 2) opens packets
            assert (knet["crypto"]["in_use"], knet["crypto_slots"]) == (2, [2])
            assert knet["rx_clear_traffic"] is False


def test_reload_adds_a_knet_link_and_removes_it_without_a_membership_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LoopbackCluster(tmp_path, 3, transport="knet") as cluster:
        cluster.start()
        cluster.wait_members([1, 2, 3], [1, 2, 3], timeout=30)
        ring = cluster.status(1)["node"]["ring_id"]
        one_link = cluster.conf.read_text()
        two_links = one_link
        for i in (1, 2, 3):
            two_links = two_links.replace(
                f"ring0_addr: 127.0.0.{i}\n",
                f"ring0_addr: 127.0.0.{i}\n        ring1_addr: 127.0.1.{i}\n",
            )
        two_links = two_links.replace(
            "    interface {\n",
            f"    interface {{\n        linknumber: 1\n        mcastport: {cluster.port - 1}\n"
            "    }\n    interface {\n",
            1,
        )

        def links_up(wanted: dict[int, bool]) -> bool:
            for i in (1, 2, 3):
                for host in cluster.status(i)["node"]["knet"]["hosts"]:
                    if host["host_id"] == i:
                        continue
                    shown = {link["link"]: link["connected"] for link in host["links"]}
                    if shown != wanted:
                        return False
            return True

        cluster.conf.write_text(two_links)
        assert cfgtool.main(["--run-dir", cluster.run_dir(3), "-R"]) == 0
        cluster.wait(lambda: links_up({0: True, 1: True}), timeout=20)
        assert [t["link"] for t in cluster.status(2)["links"]] == [0, 1]
        assert "[KNET  ] rx: host: 3 link: 1 is up" in cluster.log(1)

        cluster.conf.write_text(one_link)
        assert cfgtool.main(["--run-dir", cluster.run_dir(1), "-R"]) == 0
        cluster.wait(lambda: links_up({0: True}), timeout=20)
        assert [t["link"] for t in cluster.status(2)["links"]] == [0]
        capsys.readouterr()
        for i in (1, 2, 3):
            assert cluster.status(i)["node"]["ring_id"] == ring
