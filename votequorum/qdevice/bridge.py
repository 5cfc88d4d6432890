"""qdevice <-> votequorum, in process and sans-IO (ref qnetd-protocol.md 7.5 and 8).

The real corosync-qdevice talks to votequorum through libvotequorum
(``qdevice-votequorum.c``): it registers the device ("Qdevice"), sets master_wins once
(off unless forced: the net model never asks for it), tracks the node list, quorum and
expected-votes callbacks, and polls with the cast vote of its
:class:`~votequorum.qdevice.castvote.CastVoteTimer` and the ring id of the last node list
callback. votequorum side (``votequorum.service``): a poll with another ring id is refused
(CS_ERR_MESSAGE_ERROR, only logged); while a registered, alive device has not polled for the
ring being synchronised, sync waits at most ``quorum.device.sync_timeout``; without a poll for
``quorum.device.timeout`` the device loses its ALIVE and CAST_VOTE flags, and with them its
votes.

:class:`VotequorumBridge` does the library's part between a
:class:`~votequorum.service.VotequorumService` and a
:class:`~votequorum.qdevice.net_client.QdeviceNetClient`:

* :meth:`start`: ``qdevice_register``; the client starts when the registration is delivered
  (:class:`~votequorum.events.QdeviceRegistration`), after ``qdevice_master_wins``;
* :meth:`on_event`: votequorum's events become the client's callbacks
  (:class:`~votequorum.events.NodeListNotification`, :class:`~votequorum.events.QuorumChanged`
  with every node's state, :class:`~votequorum.events.ExpectedVotesChanged`);
* :meth:`execute`: the client's :class:`~votequorum.qdevice.events.Poll` outputs become
  ``qdevice_poll`` calls; the rest is returned for the network driver;
* :meth:`stop`: the client stops and the device is unregistered.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any, Protocol

from totem.ringid import RingId
from totem.srp.events import LogLevel, LogRecord
from votequorum.events import (
    ExpectedVotesChanged,
    NodeListNotification,
    QdeviceRegistration,
    QuorumChanged,
    VotequorumError,
)
from votequorum.qdevice.events import Output, Poll
from votequorum.qdevice.net_client import QdeviceNetClient
from votequorum.qdevice.requests import QuorumNode
from votequorum.status import NodeStatus, VotequorumStatus

__all__ = ["VOTEQUORUM_EVENTS", "BridgeState", "VotequorumApi", "VotequorumBridge"]

_ZERO_RING = RingId(0, 0)
VOTEQUORUM_EVENTS = (QdeviceRegistration, NodeListNotification, QuorumChanged, ExpectedVotesChanged)
"""The node events a quorum device follows (libvotequorum's callbacks): the only ones
:meth:`VotequorumBridge.on_event` acts on."""


class VotequorumApi(Protocol):
    """The part of :class:`~votequorum.service.VotequorumService` a quorum device uses."""

    @property
    def quorate(self) -> bool: ...

    @property
    def expected_votes(self) -> int: ...

    def qdevice_register(self, name: str) -> None: ...

    def qdevice_unregister(self, name: str) -> None: ...

    def qdevice_poll(self, name: str, cast_vote: bool, ring_id: RingId, now: float) -> None: ...

    def qdevice_master_wins(self, name: str, allow: bool) -> None: ...

    def nodelist_notification(self) -> NodeListNotification: ...

    def getinfo(self, node_id: int) -> NodeStatus | None: ...

    def snapshot(self) -> VotequorumStatus: ...


class BridgeState(enum.Enum):
    IDLE = "idle"
    REGISTERING = "registering"
    REGISTERED = "registered"
    FAILED = "failed"
    STOPPED = "stopped"


class VotequorumBridge:
    """Connects one qdevice-net client to this node's votequorum (module docstring)."""

    def __init__(self, votequorum: VotequorumApi, client: QdeviceNetClient) -> None:
        self.votequorum = votequorum
        self.client = client
        self.name = client.settings.device_name
        self.state = BridgeState.IDLE
        self.error: str | None = None
        self.poll_errors: dict[str, int] = {}
        self._log_records: list[LogRecord] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self, now: float) -> None:
        """Register the device (``votequorum_qdevice_register``)."""
        if self.state != BridgeState.IDLE:
            return
        try:
            self.votequorum.qdevice_register(self.name)
        except VotequorumError as err:
            self._fail(f"Can't register votequorum device. Error {err.cs_error or err}")
            return
        self.state = BridgeState.REGISTERING
        # corosync-qdevice tracks votequorum from here on (votequorum_trackstart)
        initial = self.votequorum.nodelist_notification()
        if initial.ring_id != _ZERO_RING:
            self.client.node_list_notify(initial.ring_id, initial.members, now)
            self._quorum_notify(now)

    def stop(self, now: float) -> None:
        """Stop the client and unregister the device (corosync-qdevice's exit path)."""
        registered = self.state == BridgeState.REGISTERED
        self.state = BridgeState.STOPPED
        self.client.stop(now)
        if registered:
            try:
                self.votequorum.qdevice_unregister(self.name)
            except VotequorumError as err:
                self._log(LogLevel.WARNING, f"Unable to unregister votequorum device. Error {err}")

    def _fail(self, message: str) -> None:
        self.state = BridgeState.FAILED
        self.error = message
        self._log(LogLevel.ERROR, message)

    # ------------------------------------------------------------------ votequorum events

    def on_event(self, event: Any, now: float) -> None:
        """Feed one event of the node (others are ignored)."""
        if self.state in (BridgeState.IDLE, BridgeState.FAILED, BridgeState.STOPPED):
            return
        if isinstance(event, QdeviceRegistration):
            self._registered(event, now)
        elif isinstance(event, NodeListNotification):
            self.client.node_list_notify(event.ring_id, event.members, now)
        elif isinstance(event, QuorumChanged):
            self._quorum_notify(now)
        elif isinstance(event, ExpectedVotesChanged):
            self.client.expected_votes_notify(event.expected_votes, now, self.vote_count_problem())

    def _registered(self, event: QdeviceRegistration, now: float) -> None:
        if event.name != self.name or self.state != BridgeState.REGISTERING:
            return
        if event.error is not None:
            self._fail(f"Can't register votequorum device. Error {event.error}")
            return
        try:
            self.votequorum.qdevice_master_wins(self.name, self.client.settings.master_wins)
        except VotequorumError as err:
            self._fail(f"Can't set master wins. Error {err.cs_error or err}")
            return
        self.state = BridgeState.REGISTERED
        self.client.vq_expected_votes = self.votequorum.expected_votes
        problem = self.vote_count_problem()
        if problem is not None and self.client.algorithm.checks_vote_counts:
            self._fail(problem)
            return
        self.client.start(now)

    def _quorum_notify(self, now: float) -> None:
        snapshot = self.votequorum.snapshot()
        nodes = [QuorumNode(n.node_id, int(n.state)) for n in snapshot.nodes]
        if self.state == BridgeState.REGISTERED:
            # the qdevice pseudo-node (id 0) ends the list once registered; qdevice skips it
            nodes.append(QuorumNode(0, 1))
        self.client.quorum_notify(self.votequorum.quorate, nodes, now)

    def vote_count_problem(self) -> str | None:
        """ffsplit's ``check_vqinfo_validity``: every node and the device have one vote."""
        qdevice_votes = self.votequorum.snapshot().qdevice_votes
        for node in self.client.config_nodes:
            info = self.votequorum.getinfo(node.node_id)
            if info is None:
                continue
            if info.votes != 1:
                return (
                    "50:50 split algorithm works only if all nodes have exactly 1 vote. "
                    f"Node {node.node_id} has {info.votes} votes!"
                )
            if qdevice_votes != 1:
                return (
                    "50:50 split algorithm works only if qdevice has exactly 1 vote. "
                    f"Node {node.node_id} has {qdevice_votes} votes!"
                )
        return None

    # ------------------------------------------------------------------ client outputs

    def execute(self, outputs: Iterable[Output], now: float) -> list[Output]:
        """Carry out the :class:`Poll` outputs; return the others, in order."""
        rest: list[Output] = []
        for output in outputs:
            if isinstance(output, Poll):
                self._poll(output, now)
            else:
                rest.append(output)
        return rest

    def _poll(self, poll: Poll, now: float) -> None:
        if self.state != BridgeState.REGISTERED:
            return
        try:
            self.votequorum.qdevice_poll(self.name, poll.cast_vote, poll.ring_id, now)
        except VotequorumError as err:
            code = err.cs_error or "CS_ERR_INVALID_PARAM"
            self.poll_errors[code] = self.poll_errors.get(code, 0) + 1
            if code == "CS_ERR_MESSAGE_ERROR":
                self._log(LogLevel.INFO, "qdevice_votequorum_poll called with old ring id")
            elif code != "CS_ERR_TRY_AGAIN":
                self.client.poll_failed(now, code)

    # ------------------------------------------------------------------ logs

    def _log(self, level: LogLevel, message: str) -> None:
        self._log_records.append(LogRecord(level, "QDEVICE", message))

    def log_records(self) -> list[LogRecord]:
        out, self._log_records = self._log_records, []
        return out

    def status(self) -> dict[str, Any]:
        return {
            "votequorum": self.state.value,
            "error": self.error,
            "poll_errors": dict(self.poll_errors),
        }
