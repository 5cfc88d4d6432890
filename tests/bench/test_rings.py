"""bench.rings: the log lines both daemons print, read into timing events."""

from __future__ import annotations

from datetime import datetime

import pytest

from bench.rings import RingLogEvent, parse_ring_log

LOG = """\
Nov 25 12:34:30.001 [18120] ic1n1 corosync notice  [MAIN  ] Corosync Cluster Engine exiting normally
Nov 25 12:34:35.112 [18120] ic1n1 corosync notice  [TOTEM ] A processor failed, forming new \
configuration: token timed out (4950ms), waiting 5940ms for consensus.
Nov 25 12:34:35.112 [18120] ic1n1 corosync notice  [TOTEM ] Token has not been received in 3712 ms
Nov 25 12:34:41.204 [18120] ic1n1 corosync notice  [QUORUM] Sync members[4]: 1 2 3 4
Nov 25 12:34:41.230 [18120] ic1n1 corosync notice  [QUORUM] Members[4]: 1 2 3 4
Nov 25 12:34:41.231 [18121] ic1n1 pycorosync notice  [QUORUM] This node is within the \
primary component and will provide service.
Nov 25 12:34:41.232 [18121] ic1n1 pycorosync notice  [QUORUM] This node is within the \
non-primary component and will NOT provide any services.
"""


def _t(stamp: str) -> float:
    return datetime.strptime(f"2026 {stamp}", "%Y %b %d %H:%M:%S.%f").timestamp()


def test_membership_quorate_and_token_loss_lines() -> None:
    assert parse_ring_log(LOG, year=2026) == [
        RingLogEvent(_t("Nov 25 12:34:35.112"), 18120, token_lost=True),
        RingLogEvent(_t("Nov 25 12:34:41.230"), 18120, members=(1, 2, 3, 4)),
        RingLogEvent(_t("Nov 25 12:34:41.231"), 18121, quorate=True),
        RingLogEvent(_t("Nov 25 12:34:41.232"), 18121, quorate=False),
    ]


def test_millisecond_stamps() -> None:
    (event,) = parse_ring_log(
        "Jan  2 03:04:05.678 [1] h corosync notice  [QUORUM] Members[1]: 7\n", year=2026
    )
    assert event.time - _t("Jan 02 03:04:05.000") == pytest.approx(0.678)
    assert event.members == (7,)
