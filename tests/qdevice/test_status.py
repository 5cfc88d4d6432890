"""``pycorosync-qdevice-tool -s [-v]``: the real tool's layout, byte for byte (ref section 9)."""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator

import pytest

from qnetd.protocol import EchoReply, VoteInfo
from qnetd.protocol.constants import Vote
from qnetd.protocol.tlv import NodeInfo, RingId
from tests.fixtures import SAMPLES
from votequorum.qdevice.requests import QuorumNode
from votequorum.qdevice.status import render_status, snapshot, status_json

from .scripted import Scripted

SAMPLE = SAMPLES / "qdevice-2node-healthy.txt"
RING = RingId(1, 9)


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def sample_block() -> str:
    text = SAMPLE.read_text()
    start = text.index("corosync-qdevice-tool -sv\n") + len("corosync-qdevice-tool -sv\n")
    end = text.find("\n$ ", start)
    return text[start:] if end < 0 else text[start : end + 1]


def healthy_client() -> tuple[Scripted, float]:
    """The sample's node 1: connected at 05:09:35, echo at 05:09:43, ACK polled at 05:09:45."""
    s = Scripted(cluster_name="realcluster", host="10.99.0.3", nodes=(1, 2))
    s.client.node_list_notify(RING, (1, 2), s.now)
    s.client.quorum_notify(True, [QuorumNode(2, 1), QuorumNode(1, 1), QuorumNode(0, 1)], s.now)
    s.client.expected_votes_notify(3, s.now)
    s.client.start(s.now)
    s.client.connected(s.now)
    s.drain()
    t0 = s.now
    s.preinit_reply()
    s.init_reply()
    s.advance(8.0)
    s.feed(EchoReply(1).encode())
    s.advance(2.0)
    s.feed(VoteInfo(1, Vote.ACK, RING).encode())
    return s, t0


def test_verbose_status_is_the_real_tools_text(utc: None) -> None:
    s, t0 = healthy_client()
    base = calendar.timegm((2026, 11, 25, 5, 9, 35, 0, 0, 0))
    snap = snapshot(s.client, s.now, lambda t: base + (t - t0))
    assert render_status(snap, verbose=True) == sample_block()


def test_short_status(utc: None) -> None:
    s, _ = healthy_client()
    snap = snapshot(s.client, s.now, lambda t: t)
    assert render_status(snap) == (
        "Qdevice information\n"
        "-------------------\n"
        "Model:\t\t\tNet\n"
        "Node ID:\t\t1\n"
        "Configured node list:\n"
        "    0\tNode ID = 1\n"
        "    1\tNode ID = 2\n"
        "Membership node list:\t1, 2\n"
        "\n"
        "Qdevice-net information\n"
        "----------------------\n"
        "Cluster name:\t\trealcluster\n"
        "QNetd host:\t\t10.99.0.3:5403\n"
        "Algorithm:\t\tFifty-Fifty split\n"
        "Tie-breaker:\t\tNode with lowest node ID\n"
        "State:\t\t\tConnected\n"
    )


def test_disconnected_status_and_variants(utc: None) -> None:
    s = Scripted(
        nodes=(1, 2),
        config_nodes=(NodeInfo(1, 5), NodeInfo(2)),
        config_version=12,
        keep_active_partition_tie_breaker=False,
        force_ip_version=6,
    )
    s.client.node_list_notify(RING, (1, 2), s.now)
    snap = snapshot(s.client, s.now, lambda t: t)
    text = render_status(snap, verbose=True)
    assert "Configuration version:\t12\nConfigured node list:\n" in text
    assert "    0\tNode ID = 1, Data center ID = 5\n    1\tNode ID = 2\n" in text
    assert "Last poll call:\t\tNever\n" in text
    assert "Force IP version:\t6\n" in text
    assert "KAP Tie-breaker:\tDisabled\n" in text
    assert "Poll timer running:\tNo\n" in text
    assert text.endswith("State:\t\t\tDisconnected\n")  # not started: no TLS/time lines
    data = status_json(snap)
    assert data["net"]["state"] == "Disconnected"
    assert data["config_nodes"][0] == {"node_id": 1, "data_center_id": 5}
    assert data["ring_id"] == "1.9"


def test_state_words_while_connecting() -> None:
    s = Scripted()
    s.client.node_list_notify(RING, (1,), s.now)
    s.client.start(s.now)
    assert snapshot(s.client, s.now, lambda t: t).state == "Connecting"
    s.client.connect_failed(s.now)
    assert snapshot(s.client, s.now, lambda t: t).state == "Connect failed"
    s.client.connected(s.now)  # ignored after a failure: the connect timer decides
    assert snapshot(s.client, s.now, lambda t: t).state == "Connect failed"
