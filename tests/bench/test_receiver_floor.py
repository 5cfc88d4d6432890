"""The receiver floor does the same delivery as the daemon's replay, on the same recording."""

from __future__ import annotations

from pathlib import Path

from bench.receiver import GROUP, record, replay
from bench.receiver_floor import datagrams, floor_daemon, floor_replay
from totem.services.cpg.lib import _DELIVER_HEAD_SIZE


def test_the_floor_delivers_every_message_the_daemon_delivers(tmp_path: Path) -> None:
    path = tmp_path / "recording.pkl"
    record(path, 3, 640)
    _cpu, messages = replay(path)
    _cpu, delivered, framed = floor_replay(datagrams(path), GROUP)
    assert delivered == messages == 640
    # each one a whole res_lib_cpg_deliver_callback frame of its 100-byte payload
    assert framed == delivered * (_DELIVER_HEAD_SIZE + 100)


def test_the_floor_daemon_delivers_every_message_over_loopback(tmp_path: Path) -> None:
    path = tmp_path / "recording.pkl"
    record(path, 3, 640)
    user, system, delivered = floor_daemon(datagrams(path), GROUP, 20_000.0)
    assert delivered == 640
    assert user >= 0 and system >= 0  # a short run can round to 0 (tick accounting)
