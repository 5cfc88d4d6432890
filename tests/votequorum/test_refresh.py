"""votequorum's configuration reload (``votequorum_refresh_config``) over the fake bus."""

from __future__ import annotations

import struct

from tests.sync.fakebus import FakeBus
from tests.votequorum.test_service import cluster, make_bus, vq
from totem.srp.events import LogLevel
from votequorum.calc import AtbMode, AutoTieBreaker
from votequorum.refresh import RuntimeConfig, read_only_changes, read_runtime_config
from votequorum.settings import NodelistEntry, QdeviceSettings, VotequorumSettings
from votequorum.wire import (
    QDEVICE_NODEID,
    NodeInfo,
    ReconfigParam,
    Reconfigure,
    decode_body,
)


def _sent(bus: FakeBus, node: int, since: int) -> list[object]:
    """The votequorum messages ``node`` sent after history entry ``since``."""
    out: list[object] = []
    for sent in bus.history[since:]:
        if sent.sender != node:
            continue
        service_fn, _size = struct.unpack_from("<II", sent.payload, 0)
        if service_fn >> 16 == 5:
            out.append(decode_body(service_fn & 0xFFFF, sent.payload[16:]))
    return out


def _refresh_all(bus: FakeBus, settings: VotequorumSettings) -> None:
    for nid in sorted(bus.nodes):
        vq(bus, nid).refresh_config(settings)
    bus.run()


def test_a_fourth_node_in_the_nodelist_raises_expected_votes_everywhere() -> None:
    bus = cluster(3)
    mark = len(bus.history)
    four = VotequorumSettings.from_nodes([1, 2, 3, 4])
    _refresh_all(bus, four)
    for nid in (1, 2, 3):
        snap = vq(bus, nid).snapshot()
        assert (snap.quorate, snap.expected_votes, snap.total_votes, snap.quorum) == (
            True,
            4,
            3,
            3,
        )
    # corosync's order: NODEINFO(us), NODEINFO(qdevice), RECONFIGURE(expected votes)
    flags = vq(bus, 1).snapshot().nodes[0]
    assert flags.node_id == 1
    sent = _sent(bus, 1, mark)
    assert sent[1:] == [
        NodeInfo(QDEVICE_NODEID, 0, 0, 0),
        Reconfigure(1, 4, ReconfigParam.EXPECTED_VOTES),
    ]
    assert isinstance(sent[0], NodeInfo) and (sent[0].nodeid, sent[0].votes) == (1, 1)
    assert sent[0].expected_votes == 4
    assert "Reading configuration (runtime: 1)" in bus.nodes[1].messages(LogLevel.DEBUG, "VOTEQ")
    # and back to three: expected votes may go down on a reload (allow_decrease)
    _refresh_all(bus, VotequorumSettings.from_nodes([1, 2, 3]))
    assert [vq(bus, n).snapshot().expected_votes for n in (1, 2, 3)] == [3, 3, 3]
    assert [vq(bus, n).snapshot().quorum for n in (1, 2, 3)] == [2, 2, 2]


def test_nothing_changed_sends_nodeinfo_only() -> None:
    bus = cluster(3)
    mark = len(bus.history)
    vq(bus, 2).refresh_config(VotequorumSettings.from_nodes([1, 2, 3]))
    bus.run()
    sent = _sent(bus, 2, mark)
    assert [type(m).__name__ for m in sent] == ["NodeInfo", "NodeInfo"]
    assert vq(bus, 2).snapshot().expected_votes == 3


def test_quorum_votes_of_this_node_go_out_as_reconfigure() -> None:
    bus = cluster(3)
    mark = len(bus.history)
    weighted = VotequorumSettings.from_nodes({1: 3, 2: 1, 3: 1})
    _refresh_all(bus, weighted)
    assert Reconfigure(1, 3, ReconfigParam.NODE_VOTES) in _sent(bus, 1, mark)
    assert Reconfigure(1, 5, ReconfigParam.EXPECTED_VOTES) in _sent(bus, 1, mark)
    for nid in (1, 2, 3):
        snap = vq(bus, nid).snapshot()
        assert (snap.expected_votes, snap.total_votes, snap.quorum) == (5, 5, 3)
        assert [n.votes for n in snap.nodes] == [3, 1, 1]


def test_expected_votes_key_wins_over_the_nodelist() -> None:
    bus = cluster(3)
    _refresh_all(bus, VotequorumSettings.from_nodes([1, 2, 3], expected_votes=7))
    for nid in (1, 2, 3):
        snap = vq(bus, nid).snapshot()
        assert (snap.expected_votes, snap.quorum, snap.quorate) == (7, 4, False)


def test_two_node_can_be_switched_on_and_implies_wait_for_all() -> None:
    bus = cluster(2)
    svc = vq(bus, 1)
    assert (svc.snapshot().quorum, svc.snapshot().flag_words) == (2, ("Quorate",))
    _refresh_all(bus, VotequorumSettings.from_nodes([1, 2], two_node=True))
    snap = svc.snapshot()
    assert "2Node" in snap.flag_words and "WaitForAll" in snap.flag_words
    assert (snap.quorate, snap.quorum) == (True, 1)
    # at run time wait_for_all status is not raised again (only at start-up)
    assert svc._wfa_status is False
    _refresh_all(bus, VotequorumSettings.from_nodes([1, 2]))
    snap = svc.snapshot()
    assert "2Node" not in snap.flag_words and "WaitForAll" not in snap.flag_words


def test_keys_read_at_start_up_only_are_logged_and_kept() -> None:
    bus = cluster(3)
    svc = vq(bus, 1)
    svc.refresh_config(
        VotequorumSettings.from_nodes([1, 2, 3], last_man_standing=True, wait_for_all=True)
    )
    bus.run()
    assert bus.nodes[1].messages(LogLevel.NOTICE, "VOTEQ") == [
        "Modified entry 'quorum.wait_for_all' in corosync.conf cannot be changed at run-time",
        "Modified entry 'quorum.last_man_standing' in corosync.conf cannot be changed at run-time",
    ]
    assert svc.snapshot().flag_words == ("Quorate",)


def test_no_nodelist_entry_and_no_expected_votes_keeps_the_runtime_data() -> None:
    bus = cluster(3)
    svc = vq(bus, 3)
    svc.refresh_config(VotequorumSettings.from_nodes([1, 2]))
    bus.run()
    assert bus.nodes[3].messages(LogLevel.ERROR, "VOTEQ") == [
        "configuration error: nodelist or quorum.expected_votes must be configured!",
        "will continue with current runtime data",
    ]
    assert svc.snapshot().expected_votes == 3


def test_a_quorum_device_next_to_two_node_is_disabled_when_not_registered() -> None:
    bus = make_bus(VotequorumSettings.from_nodes([1, 2], two_node=True))
    bus.start([1, 2])
    bus.run()
    bus.form_ring([1, 2])
    bus.run()
    svc = vq(bus, 1)
    svc.refresh_config(
        VotequorumSettings.from_nodes([1, 2], two_node=True, device=QdeviceSettings("net", 1))
    )
    bus.run()
    assert bus.nodes[1].messages(LogLevel.ERROR, "VOTEQ") == [
        "configuration error: two_node and quorum device cannot be configured at the same time!",
        "quorum device is not registered, allowing two_node",
    ]
    assert svc._qdevice_can_operate is False
    assert "2Node" in svc.snapshot().flag_words


def _read(settings: VotequorumSettings, **running: object) -> RuntimeConfig:
    args: dict[str, object] = {
        "node_id": 1,
        "startup": settings,
        "wait_for_all": False,
        "last_man_standing": False,
        "allow_downscale": False,
        "ev_tracking": False,
        "ev_tracking_barrier": 0,
        "qdevice_registered": False,
    }
    args.update(running)
    return read_runtime_config(settings, **args)  # type: ignore[arg-type]


def test_auto_tie_breaker_is_rechecked_against_the_new_node_count() -> None:
    even = VotequorumSettings.from_nodes([1, 2, 3, 4], auto_tie_breaker=True)
    read = _read(even)
    assert read.auto_tie_breaker == AutoTieBreaker(AtbMode.LOWEST)
    assert (read.votes, read.expected_votes, read.log[-1][0]) == (1, 4, "DEBUG")
    odd = VotequorumSettings.from_nodes([1, 2, 3], auto_tie_breaker=True)
    read = _read(odd, startup=even)
    assert read.auto_tie_breaker == AutoTieBreaker(AtbMode.NONE)
    assert [line for level, line in read.log if level == "CRIT"] == [
        "auto_tie_breaker is set and the cluster has an odd number of nodes.",
        "wait_for_all needs to be set for this configuration but it is missing",
        "Therefore auto_tie_breaker has been disabled. Please fix your corosync.conf",
    ]


def test_quorum_device_votes_are_computed_or_refused_as_at_start_up() -> None:
    device = QdeviceSettings("net", None, timeout_ms=20000, sync_timeout_ms=40000)
    read = _read(VotequorumSettings.from_nodes([1, 2, 3], device=device))
    assert (read.qdevice_votes, read.expected_votes, read.qdevice_can_operate) == (2, 5, True)
    assert (read.qdevice_timeout_ms, read.qdevice_sync_timeout_ms) == (20000, 40000)
    uneven = VotequorumSettings(
        nodelist=(NodelistEntry(1, 2), NodelistEntry(2, 1), NodelistEntry(3, 1)), device=device
    )
    read = _read(uneven)
    assert read.qdevice_can_operate is False and read.qdevice_votes is None
    assert [line for level, line in read.log if level == "CRIT"] == [
        "configuration error: quorum.device.votes must be specified when not all nodes votes 1",
        "disabling quorum device operations",
    ]
    gone = _read(VotequorumSettings.from_nodes([1, 2, 3]))
    assert (gone.qdevice_votes, gone.qdevice_can_operate) == (0, None)


def test_ev_tracking_keeps_expected_votes_at_the_barrier() -> None:
    read = _read(VotequorumSettings.from_nodes([1, 2, 3]), ev_tracking=True, ev_tracking_barrier=5)
    assert read.expected_votes == 5


def test_read_only_changes_names_the_keys() -> None:
    start = VotequorumSettings.from_nodes([1, 2])
    new = VotequorumSettings.from_nodes(
        [1, 2, 3], allow_downscale=True, last_man_standing_window_ms=20000
    )
    assert read_only_changes(start, new) == (
        "quorum.last_man_standing_window",
        "quorum.allow_downscale",
    )
    assert read_only_changes(start, VotequorumSettings.from_nodes([1, 2], two_node=True)) == ()
