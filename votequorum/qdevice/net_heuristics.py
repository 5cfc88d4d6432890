"""The qdevice-net client's heuristics runs (ref qnetd-protocol.md 8; corosync-qdevice's
``qdevice-net-heuristics.c``).

The client asks its driver to run the ``exec_*`` commands (:class:`RunHeuristics`, with a
sequence number) for one of three purposes and hands each answer to that purpose's
notifier, in corosync-qdevice's order: *membership* (after votequorum's node list: the
MEMBERSHIP node list goes to qnetd with the result, and the first result lets the client
connect), *regular* (every ``heuristics.interval`` in ``mode: on``: a changed result is a
HEURISTICS_CHANGE) and *connect* (after INIT_REPLY: the connection completes with
SET_OPTION and the three node lists). With ``mode: off`` every run answers DISABLED at
once. :class:`NetHeuristics` is that part of
:class:`~votequorum.qdevice.net_client.QdeviceNetClient`; :class:`_Client` is what it
uses of the rest of the client.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Protocol

from qnetd.protocol.constants import (
    Heuristics,
    KeepActivePartitionTieBreaker,
    MsgType,
    Vote,
    heuristics_str,
)
from qnetd.protocol.messages import HeuristicsChange, SetOption
from totem.srp.events import LogLevel
from votequorum.qdevice.castvote import CastVoteTimer
from votequorum.qdevice.events import (
    ClientState,
    DisconnectReason,
    HeuristicsResult,
    Output,
    RunHeuristics,
)
from votequorum.qdevice.replies import ProtocolError
from votequorum.qdevice.settings import HeuristicsMode, QdeviceNetSettings

__all__ = ["CONNECT", "MEMBERSHIP", "REGULAR", "NetHeuristics"]

MEMBERSHIP = "membership"
"""Purposes of a heuristics run."""
REGULAR = "regular"
CONNECT = "connect"
_NOTIFIER_ORDER = (MEMBERSHIP, REGULAR, CONNECT)
"""Order of corosync-qdevice's heuristics result notifiers (votequorum's is added first)."""

_HEURISTICS_TLV = {
    HeuristicsResult.DISABLED: Heuristics.UNDEFINED,
    HeuristicsResult.PASS: Heuristics.PASS,
    HeuristicsResult.FAIL: Heuristics.FAIL,
}


class _Client(Protocol):
    """The qdevice-net client as its heuristics part uses it."""

    settings: QdeviceNetSettings
    state: ClientState
    cast_vote: CastVoteTimer
    counters: Counter[str]
    sync_in_progress: bool
    server_supports_heuristics: bool
    server_supports_kap: bool
    connected_since: float | None
    _outbox: list[Output]
    # the heuristics part's own state (NetHeuristics._init_heuristics)
    heuristics_mode: str
    latest_heuristics: Heuristics
    latest_regular_heuristics: Heuristics
    latest_vq_heuristics: Heuristics
    latest_connect_heuristics: Heuristics
    initial_heuristics_finished: bool
    _heuristics_seq: int
    _heuristics_waiting: set[str]
    _heuristics_deadline: float | None

    def heuristics_result(self, seq: int, result: HeuristicsResult, now: float) -> None: ...
    def _exec_heuristics(self, purpose: str, now: float) -> None: ...
    def _membership_heuristics_done(self, result: HeuristicsResult, now: float) -> None: ...
    def _connect_heuristics_done(self, result: HeuristicsResult, now: float) -> None: ...
    def _regular_heuristics_done(self, result: HeuristicsResult, now: float) -> None: ...
    def _schedule_regular_heuristics(self, now: float) -> None: ...
    def _maybe_begin(self, now: float) -> None: ...
    def _set_state(self, state: ClientState) -> None: ...
    def _next_seq(self) -> int: ...
    def _send(self, data: bytes, msg_type: MsgType) -> None: ...
    def _send_config_node_list(self, *, initial: bool) -> None: ...
    def _send_membership_node_list(self, heuristics: Heuristics) -> None: ...
    def _send_quorum_node_list(self) -> None: ...
    def _cast_vote_update(self, vote: Vote, now: float) -> None: ...
    def _guarded(self, action: Callable[[], None], now: float) -> bool: ...
    def _drop_connection(self, exc: ProtocolError, now: float) -> None: ...
    def _log(self, level: LogLevel, message: str) -> None: ...


class NetHeuristics:
    """The heuristics runs of :class:`~votequorum.qdevice.net_client.QdeviceNetClient`."""

    heuristics_mode: str
    """``quorum.device.heuristics.mode`` (:class:`HeuristicsMode`)."""
    latest_heuristics: Heuristics
    latest_regular_heuristics: Heuristics
    latest_vq_heuristics: Heuristics
    latest_connect_heuristics: Heuristics
    initial_heuristics_finished: bool
    """The first membership run answered: the client may connect."""
    _heuristics_seq: int
    _heuristics_waiting: set[str]
    """Purposes waiting for the answer to run ``_heuristics_seq``."""
    _heuristics_deadline: float | None
    """When the next regular run is due."""
    connected_since: float | None
    """Set by the connect notifier (the client's)."""

    def _init_heuristics(self: _Client, settings: QdeviceNetSettings) -> None:
        self.heuristics_mode = settings.heuristics.mode
        self.latest_heuristics = Heuristics.UNDEFINED
        self.latest_regular_heuristics = Heuristics.UNDEFINED
        self.latest_vq_heuristics = Heuristics.UNDEFINED
        self.latest_connect_heuristics = Heuristics.UNDEFINED
        self.initial_heuristics_finished = False
        self._heuristics_seq = 0
        self._heuristics_waiting = set()
        self._heuristics_deadline = None

    def heuristics_result(self: _Client, seq: int, result: HeuristicsResult, now: float) -> None:
        """The answer to :class:`RunHeuristics` ``seq`` (older answers are ignored)."""
        if seq != self._heuristics_seq or not self._heuristics_waiting:
            self.counters["heuristics_results_ignored"] += 1
            return
        waiting = self._heuristics_waiting
        self._heuristics_waiting = set()
        for purpose in _NOTIFIER_ORDER:
            if purpose in waiting:
                if purpose == MEMBERSHIP:
                    self._membership_heuristics_done(result, now)
                elif purpose == REGULAR:
                    self._regular_heuristics_done(result, now)
                else:
                    self._connect_heuristics_done(result, now)

    def _exec_heuristics(self: _Client, purpose: str, now: float) -> None:
        self._heuristics_seq = (self._heuristics_seq + 1) & 0xFFFFFFFF
        self._heuristics_waiting.add(purpose)
        if self.heuristics_mode == HeuristicsMode.OFF:
            self.heuristics_result(self._heuristics_seq, HeuristicsResult.DISABLED, now)
            return
        h = self.settings.heuristics
        timeout = h.sync_timeout_ms if self.sync_in_progress else h.timeout_ms
        self._outbox.append(RunHeuristics(self._heuristics_seq, timeout))

    def _membership_heuristics_done(self: _Client, result: HeuristicsResult, now: float) -> None:
        """``qdevice_model_net_votequorum_node_list_heuristics_notify``."""
        heuristics = _HEURISTICS_TLV[result]
        connected = self.state == ClientState.CONNECTED
        if connected:
            vote = Vote.WAIT_FOR_REPLY
            if not self._guarded(lambda: self._send_membership_node_list(heuristics), now):
                return
        else:
            vote = Vote.NACK if self.cast_vote.vote == Vote.ACK else Vote.NO_CHANGE
        self.cast_vote.set_paused(False)
        self._cast_vote_update(vote, now)
        self.latest_vq_heuristics = heuristics
        self.latest_heuristics = heuristics
        self._schedule_regular_heuristics(now)
        if not self.initial_heuristics_finished:
            self.initial_heuristics_finished = True
            self._maybe_begin(now)

    def _connect_heuristics_done(self: _Client, result: HeuristicsResult, now: float) -> None:
        """``qdevice_net_connect_heuristics_exec_result_callback``: the connection is complete."""
        if self.state != ClientState.WAITING_INIT_REPLY:
            return
        heuristics = _HEURISTICS_TLV[result]

        def send_all() -> None:
            if self.server_supports_kap:
                kap = (
                    KeepActivePartitionTieBreaker.ENABLED
                    if self.settings.keep_active_partition_tie_breaker
                    else KeepActivePartitionTieBreaker.DISABLED
                )
                self._send(SetOption(self._next_seq(), None, kap).encode(), MsgType.SET_OPTION)
            self._send_config_node_list(initial=True)
            self._send_membership_node_list(heuristics)
            self._send_quorum_node_list()

        if not self._guarded(send_all, now):
            return
        self._cast_vote_update(Vote.WAIT_FOR_REPLY, now)
        self._set_state(ClientState.CONNECTED)
        self.connected_since = now
        self.latest_connect_heuristics = heuristics
        self.latest_heuristics = heuristics
        self.counters["connections"] += 1
        self._log(LogLevel.NOTICE, f"Connected to qnetd {self.settings.host}:{self.settings.port}")

    def _regular_heuristics_done(self: _Client, result: HeuristicsResult, now: float) -> None:
        if result == HeuristicsResult.DISABLED:
            return
        heuristics = _HEURISTICS_TLV[result]
        if heuristics != self.latest_heuristics:
            self._log(
                LogLevel.NOTICE if heuristics == Heuristics.PASS else LogLevel.ERROR,
                f"Heuristics result changed from {heuristics_str(self.latest_heuristics)} to "
                f"{heuristics_str(heuristics)}",
            )
            if self.state == ClientState.CONNECTED:
                if not self.server_supports_heuristics:
                    self._drop_connection(
                        ProtocolError(
                            DisconnectReason.SERVER_DOESNT_SUPPORT_REQUIRED_OPT,
                            "Server doesn't support heuristics. Disconnecting.",
                        ),
                        now,
                    )
                    return
                msg = HeuristicsChange(self._next_seq(), heuristics).encode()
                if not self._guarded(lambda: self._send(msg, MsgType.HEURISTICS_CHANGE), now):
                    return
        self.latest_regular_heuristics = heuristics
        self.latest_heuristics = heuristics
        self._schedule_regular_heuristics(now)

    def _schedule_regular_heuristics(self: _Client, now: float) -> None:
        if self.heuristics_mode != HeuristicsMode.ON:
            self._heuristics_deadline = None
            return
        if self._heuristics_deadline is None:
            self._heuristics_deadline = now + self.settings.heuristics.interval_ms / 1000.0

    def _stop_regular_heuristics(self: _Client) -> None:
        # A regular run already under way still reports to its notifier, as in qdevice.
        self._heuristics_deadline = None

    def _regular_heuristics_timer(self: _Client, now: float) -> None:
        if self._heuristics_waiting:
            # another heuristics run is in progress: try again later
            self._schedule_regular_heuristics(now)
            return
        self._exec_heuristics(REGULAR, now)
