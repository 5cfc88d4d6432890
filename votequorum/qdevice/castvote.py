"""The cast-vote timer: how a qnetd vote becomes votequorum polls (ref qnetd-protocol.md 8).

``qdevice-net-cast-vote-timer.c`` of corosync-qdevice 3.0.3, as a pure object:

============  =====================================================================
vote          effect
============  =====================================================================
ACK / NACK    the timer runs: poll at once (cast_vote = ACK) and then every interval
ASK_LATER     the timer stops: no polls (votequorum drops the device after its timeout)
WAIT_FOR_...  the timer stops
NO_CHANGE     nothing changes
============  =====================================================================

While *paused* (between a membership change and the end of that membership's heuristics)
the timer keeps running but does not poll. The initial state is stopped (ASK_LATER).
"""

from __future__ import annotations

from qnetd.protocol.constants import Vote

__all__ = ["CastVoteTimer"]


class CastVoteTimer:
    """Which vote to poll votequorum with, and when."""

    def __init__(self, interval_ms: int) -> None:
        self.interval = interval_ms / 1000.0
        self.vote = Vote.ASK_LATER
        self.paused = False
        self.deadline: float | None = None

    @property
    def running(self) -> bool:
        return self.deadline is not None

    @property
    def casting(self) -> bool:
        """The timer runs and votes ACK ("Poll timer running: Yes (cast vote)")."""
        return self.running and self.vote == Vote.ACK

    def update(self, vote: Vote, now: float) -> bool | None:
        """A new vote; return the cast_vote of a poll to make now, or None for no poll."""
        if vote in (Vote.NO_CHANGE, Vote.UNDEFINED):
            return None
        self.vote = vote
        if vote in (Vote.ACK, Vote.NACK):
            if self.deadline is None:
                self.deadline = now + self.interval
            return self._fire()
        self.deadline = None
        return None

    def stop(self) -> None:
        """The device goes away: no more polls."""
        self.deadline = None

    def set_paused(self, paused: bool) -> None:
        self.paused = paused

    def on_deadline(self, now: float) -> bool | None:
        """Time reached :attr:`deadline`: re-arm; return the poll to make, if any."""
        if self.deadline is None or now < self.deadline:
            return None
        self.deadline = now + self.interval
        return self._fire()

    def _fire(self) -> bool | None:
        if self.paused:
            return None
        return self.vote == Vote.ACK
