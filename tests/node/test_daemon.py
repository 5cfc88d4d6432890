"""Real daemons on 127.0.0.1-3: ring formation, failure, restart, tools, bad input."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
from pathlib import Path

import pytest

from tests.node.cluster import LoopbackCluster
from totem.node.client import ControlClient
from totem.tools import cfgtool
from votequorum import tool as quorumtool

pytestmark = [pytest.mark.sockets, pytest.mark.timeout(120)]

TOKEN_S = 0.5
CONSENSUS_S = 0.6


def test_three_daemons_form_a_ring_and_see_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LoopbackCluster(tmp_path, 3) as cluster:
        cluster.start()
        cluster.wait_members([1, 2, 3], [1, 2, 3])
        assert cfgtool.main(["--run-dir", cluster.run_dir(2), "-s", "--json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert status["node_id"] == 2
        assert status["members"] == [1, 2, 3]
        assert status["state"] == "OPERATIONAL"
        assert status["ring_id"].startswith("1.")
        assert status["links"] == [
            {
                "ring": 0,
                "address": "127.0.0.2",
                "status": "connected",
                "counters": status["links"][0]["counters"],
            }
        ]
        assert {"mcast_retx", "rx_msg_dropped", "avg_rotation_ms"} <= set(status["counters"])
        assert cfgtool.main(["--run-dir", cluster.run_dir(1), "-s"]) == 0
        text = capsys.readouterr().out
        assert text.splitlines() == [
            "Local node ID 1, transport udpu",
            "LINK ID 0 ",
            "\taddr\t= 127.0.0.1",
            "\tstatus:",
            "\t\tnodeid:           1:\tlocalhost",
            "\t\tnodeid:           2:\tconnected",
            "\t\tnodeid:           3:\tconnected",
        ]
        assert "A new membership (1." in cluster.log(1)


def test_sigkill_is_detected_within_token_plus_consensus_and_restart_rejoins(
    tmp_path: Path,
) -> None:
    with LoopbackCluster(tmp_path, 3) as cluster:
        cluster.start()
        cluster.wait_members([1, 2, 3], [1, 2, 3])
        first_ring = cluster.status(1)["node"]["ring_id"]
        cluster.kill(3)
        took = cluster.wait_members([1, 2], [1, 2], timeout=10)
        assert took <= TOKEN_S + CONSENSUS_S + 0.5
        cluster.start(3)
        cluster.wait_members([1, 2, 3], [1, 2, 3], timeout=10)
        ring = cluster.status(3)["node"]["ring_id"]
        assert ring != first_ring
        # the ring seq was persisted in the state dir
        assert (tmp_path / "state3" / "ringid_3").stat().st_size == 8


def test_sigterm_leaves_gracefully(tmp_path: Path) -> None:
    with LoopbackCluster(tmp_path, 3) as cluster:
        cluster.start()
        cluster.wait_members([1, 2, 3], [1, 2, 3])
        cluster.kill(2, signal.SIGTERM)
        took = cluster.wait_members([1, 3], [1, 3], timeout=10)
        assert took < TOKEN_S  # no token timeout: the LEAVE message re-forms at once
        assert "Failed to receive the leave message" not in cluster.log(1)


def test_quorum_three_nodes_then_last_man_and_expected_votes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LoopbackCluster(tmp_path, 3) as cluster:
        cluster.start()
        cluster.wait_members([1, 2, 3], [1, 2, 3])
        cluster.wait(lambda: cluster.call(1, "quorum.status")["quorate"])
        status = cluster.call(1, "quorum.status")
        assert (status["quorum"], status["total_votes"], status["expected_votes"]) == (2, 3, 3)
        assert quorumtool.main(["--run-dir", cluster.run_dir(1), "-s"]) == 0
        out = capsys.readouterr().out
        assert "Quorate:          Yes" in out and "node1 (local)" in out
        assert quorumtool.main(["--run-dir", cluster.run_dir(2), "-l", "--json"]) == 0
        listing = json.loads(capsys.readouterr().out)
        assert [m["node_id"] for m in listing["members"]] == [1, 2, 3]
        assert listing["quorum"] == 2 and listing["quorate"] is True
        assert quorumtool.main(["--run-dir", cluster.run_dir(1), "-v", "3", "-n", "2"]) == 0
        cluster.wait(lambda: cluster.call(3, "quorum.status")["total_votes"] == 5)
        assert quorumtool.main(["--run-dir", cluster.run_dir(1), "-v", "-1"]) == 1
        assert quorumtool.main(["--run-dir", cluster.run_dir(1), "-v", "1", "-n", "2"]) == 0
        cluster.wait(lambda: cluster.call(3, "quorum.status")["total_votes"] == 3)
        capsys.readouterr()
        cluster.kill(2)
        cluster.kill(3)
        cluster.wait_members([1], [1], timeout=10)
        cluster.wait(lambda: not cluster.call(1, "quorum.status")["quorate"])
        assert quorumtool.main(["--run-dir", cluster.run_dir(1), "-s"]) == 2
        capsys.readouterr()
        assert quorumtool.main(["--run-dir", cluster.run_dir(1), "-e", "0"]) == 1
        assert quorumtool.main(["--run-dir", cluster.run_dir(1), "-e", "1"]) == 0
        cluster.wait(lambda: cluster.call(1, "quorum.status")["quorate"])


def test_two_node_waits_for_all_at_start_up(tmp_path: Path) -> None:
    with LoopbackCluster(tmp_path, 2, quorum="    two_node: 1\n") as cluster:
        cluster.start(1)
        cluster.wait_members([1], [1])
        status = cluster.call(1, "quorum.status")
        assert not status["quorate"]  # wait_for_all: both nodes must have been seen
        assert "WaitForAll" in status["flags"] and "2Node" in status["flags"]
        cluster.start(2)
        cluster.wait_members([1, 2], [1, 2])
        cluster.wait(lambda: cluster.call(1, "quorum.status")["quorate"])
        cluster.kill(2)
        cluster.wait_members([1], [1])
        assert cluster.call(1, "quorum.status")["quorate"]  # two_node: quorum 1 after WFA


def test_last_man_standing_shrinks_expected_votes(tmp_path: Path) -> None:
    quorum = "    last_man_standing: 1\n    last_man_standing_window: 1000\n"
    with LoopbackCluster(tmp_path, 3, quorum=quorum) as cluster:
        cluster.start()
        cluster.wait_members([1, 2, 3], [1, 2, 3])
        cluster.wait(lambda: cluster.call(1, "quorum.status")["quorate"])
        cluster.kill(3)
        cluster.wait_members([1, 2], [1, 2])
        cluster.wait(lambda: cluster.call(1, "quorum.status")["expected_votes"] == 2, timeout=5)
        assert cluster.call(1, "quorum.status")["quorate"]


def test_random_and_mutated_datagrams_do_not_disturb_the_ring(tmp_path: Path) -> None:
    with LoopbackCluster(tmp_path, 3) as cluster:
        cluster.start()
        cluster.wait_members([1, 2, 3], [1, 2, 3])
        ring = cluster.status(1)["node"]["ring_id"]
        rng = random.Random(1)
        listed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        listed.bind(("127.0.0.3", 0))  # a nodelist address: reaches the protocol core
        unlisted = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        unlisted.bind(("127.0.0.9", 0))  # not in the nodelist: dropped by the transport
        header = bytes.fromhex("70c003")
        for _ in range(300):
            size = rng.randrange(0, 200)
            junk = bytes(rng.randrange(256) for _ in range(size))
            mutated = header + bytes([rng.randrange(8)]) + junk
            for data in (junk, mutated):
                listed.sendto(data, ("127.0.0.1", cluster.port))
                unlisted.sendto(data, ("127.0.0.1", cluster.port))
        listed.close()
        unlisted.close()
        status = cluster.wait(
            lambda: cluster.status(1)["links"][0]["counters"]["rx_unlisted"] >= 600
        )
        del status
        node = cluster.status(1)["node"]
        assert node["stats"]["rx_msg_dropped"] > 0
        assert node["ring_id"] == ring
        assert cluster.members(1) == [1, 2, 3]


def test_bad_control_client_is_disconnected_others_carry_on(tmp_path: Path) -> None:
    with LoopbackCluster(tmp_path, 1) as cluster:
        cluster.start()
        cluster.wait_members([1], [1])
        path = os.path.join(cluster.run_dir(1), "pycorosync.sock")
        with ControlClient(cluster.run_dir(1)) as good:
            bad = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            bad.connect(path)
            bad.sendall(b"this is not json\n")
            reply = bad.makefile("rb").readline()
            assert json.loads(reply)["ok"] is False
            assert bad.recv(1) == b""  # disconnected
            bad.close()
            assert good.call("status")["node_id"] == 1


def test_udp_multicast_transport_forms_a_ring(tmp_path: Path) -> None:
    name = f"pytest{random.randrange(10**6)}"  # a distinct multicast group per run
    with LoopbackCluster(tmp_path, 3, transport="udp", cluster_name=name) as cluster:
        cluster.start()
        cluster.wait_members([1, 2, 3], [1, 2, 3])
        status = cluster.status(2)
        link = status["links"][0]
        assert link["transport"] == "udp" and link["mcastaddr"].startswith("239.192.")
        assert link["counters"]["rx_own_loop"] > 0  # our own multicasts came back and were dropped
        cluster.kill(3)
        cluster.wait_members([1, 2], [1, 2], timeout=10)


def test_quorum_changes_are_pushed_to_subscribers(tmp_path: Path) -> None:
    with LoopbackCluster(tmp_path, 3) as cluster:
        cluster.start()
        cluster.wait_members([1, 2, 3], [1, 2, 3])
        cluster.wait(lambda: cluster.call(1, "quorum.status")["quorate"])
        with ControlClient(cluster.run_dir(1), timeout=15) as client:
            assert client.call("subscribe", topics=["QuorumChanged"]) == ["QuorumChanged"]
            cluster.kill(2)
            cluster.kill(3)
            for event in client.events():
                assert event["event"] == "QuorumChanged"
                if not event["quorate"]:
                    assert event["members"] == [1]
                    break
