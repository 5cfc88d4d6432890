"""``pvecm add`` returns once the joiner is quorate and its first sync with the cluster is over.

Before the sync the joiner holds only the corosync.conf it imported; a tool run (or a stop)
right after ``waiting for quorum...OK`` must already see the cluster's tree.
"""

from __future__ import annotations

from typing import Any

import pytest

from pvecluster.pvecm.join import _joined


def _status(quorate: bool, synced: bool, members: int, mode: str = "SYNCED") -> dict[str, Any]:
    pairs = [[nodeid, 100 + nodeid] for nodeid in range(1, members + 1)]
    dfsm = {"mode": mode, "members": pairs, "synced": pairs if synced else []}
    return {"quorate": quorate, "synced": synced, "dfsm": dfsm}


@pytest.mark.parametrize(
    ("status", "joined"),
    [
        # the joiner alone in its group: synced with itself, not yet with the cluster
        (_status(quorate=False, synced=True, members=1), False),
        # quorum arrives while the sync with the cluster runs
        (_status(quorate=True, synced=False, members=3, mode="START_SYNC"), False),
        (_status(quorate=True, synced=False, members=3, mode="UPDATE"), False),
        # quorate but the group still shows only the joiner (the sync has not started)
        (_status(quorate=True, synced=True, members=1), False),
        (_status(quorate=True, synced=True, members=3), True),
        ({}, False),
    ],
)
def test_joined_needs_quorum_and_a_sync_with_the_cluster(
    status: dict[str, Any], joined: bool
) -> None:
    assert _joined(status) is joined
