"""Two graceful leaves at once (SIGTERM to two nodes together), next to real corosync 3.1.7.

When two nodes leave together, the second one may read the first one's LEAVE before it
leaves itself, answer it with a JOIN, and leave only once the survivor has committed a ring
with it; its LEAVE then carries the old ring's seq. corosync 3.1.7's survivor drops that LEAVE
in COMMIT and re-forms only after token + consensus ("The token was lost in the COMMIT
state", then "Failed to receive the leave message"): in 13 runs of three real nodes with
corosync's default timers, 4 took 8.3 s instead of 0.3 s. Our survivor gathers again without
the leaver at once (``totem.srp.membership``; the exact sequence is replayed in
``tests/srp/test_membership.py`` and ``pycorosync-sim run double-leave``).

Here real corosync nodes do the leaving, with their own timing, around our node, which
represents the ring (lowest node id) and is the one that commits the ring.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.interop.conftest import MakeCluster
from tests.interop.mixed import MixedCluster

pytestmark = pytest.mark.interop

ROUNDS = 6
"""With real leavers the race comes about one round in three: six rounds meet it most times
(how many did is printed), and every round must be fast."""
LOST = ("Failed to receive the leave message", "The token was lost in the COMMIT state")
RACED = "entering GATHER state from join during commit state."
PAUSED = "Process pause detected"
"""A node starved of CPU for more than token/2 flushes the membership messages it then reads
(corosync's ``pause_flush``, ours too): a LEAVE among them is lost for a good reason, and
that round waits for consensus. On a loaded machine this happens; such a round is reported,
not judged, and at least two rounds must run unpaused."""


@pytest.mark.timeout(150)
def test_our_survivor_of_two_real_leavers_reforms_at_once(make_cluster: MakeCluster) -> None:
    c = make_cluster(3, "udpu", skip={1}, token=1000)
    m = MixedCluster(c, ours={1})
    m.start(1, "--debug")
    m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=15)
    timers = c.runtime_totem(2)
    token = timers["token"] / 1000
    raced = judged = 0
    for round_ in range(ROUNDS):
        before = m.log(1).count(RACED)
        paused_before = m.log(1).count(PAUSED)
        lost_before = [m.log(1).count(line) for line in LOST]
        leavers = [m.handle(2), m.handle(3)]
        t0 = time.monotonic()
        for handle in leavers:
            assert handle is not None and handle.signal(signal.SIGTERM)
        m.wait_agree([1], {1}, timeout=token + timers["consensus"] / 1000 + 5)
        elapsed = time.monotonic() - t0
        for handle in leavers:
            assert handle is not None and handle.wait(5.0) is not None
        log = m.log(1)
        raced += log.count(RACED) > before
        paused = log.count(PAUSED) > paused_before
        print(
            f"round {round_}: nodes 2 and 3 left together; node 1 alone after {elapsed:.3f} s"
            + (" (a LEAVE came in COMMIT)" if log.count(RACED) > before else "")
            + (" (a process pause was detected: not judged)" if paused else "")
        )
        if not paused:
            judged += 1
            assert elapsed < token, "a LEAVE was dropped: the survivor waited for a token timeout"
            assert [log.count(line) for line in LOST] == lost_before
        m.start(2)
        m.start(3)
        m.wait_agree([1, 2, 3], {1, 2, 3}, quorate=True, timeout=15)
    print(f"{raced} of {ROUNDS} rounds had a LEAVE reach the survivor in COMMIT")
    assert judged >= 2, f"only {judged} rounds ran without a process pause"
