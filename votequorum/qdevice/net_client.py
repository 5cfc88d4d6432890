"""The qdevice-net client, sans-IO (ref qnetd-protocol.md 3, 5.2, 5.3, 6 and 8).

:class:`QdeviceNetClient` is corosync-qdevice 3.0.3's net model (``qdevice-model-net.c``,
``qdevice-net-msg-received.c``, ``qdevice-net-send.c``, ``qdevice-net-heuristics.c``, the
echo and connect timers) as one object that never touches a socket or a clock::

    client.start(now)                             # after votequorum registration
    client.connected(now) / connect_failed(now)   # the TCP connection asked for by Connect
    client.receive(data, now)                     # bytes from qnetd (decrypted under TLS)
    client.connection_lost(now, error=False)      # EOF / socket or TLS error
    client.node_list_notify(ring_id, members, now)    # votequorum callbacks
    client.quorum_notify(quorate, nodes, now)
    client.expected_votes_notify(expected, now)
    client.heuristics_result(seq, result, now)    # answer to RunHeuristics
    client.next_deadline(); client.on_deadline(now)
    client.outbox() -> [Connect | Send | StartTls | Close | Poll | RunHeuristics]
    client.events() -> [StateChanged | VoteReceived | Disconnected | Stopped | LogRecord]

A connection goes WAITING_CONNECT -> (PREINIT) WAITING_PREINIT_REPLY -> (STARTTLS if the TLS
table says so, INIT) WAITING_INIT_REPLY -> (connect heuristics; SET_OPTION with the KAP flag,
the INITIAL_CONFIG, MEMBERSHIP and QUORUM node lists) CONNECTED. The whole handshake must
finish within ``connect_timeout``. Votes arriving in replies and VOTE_INFO drive the
:class:`~votequorum.qdevice.castvote.CastVoteTimer`, whose polls come out as :class:`Poll`.
Every heartbeat interval the client checks that its previous ECHO_REQUEST was answered and
sends the next one.
The heuristics runs (membership, regular, connect) are the client's part in
:mod:`votequorum.qdevice.net_heuristics`.

Disconnections are handled as ``qdevice_model_net_post_poll_loop`` does: the algorithm's
disconnect hook may change the vote (ffsplit: NACK), then the client reconnects after a random
0 .. 0.9 x cast-vote interval when the connection had got past TCP connect, at once after a
failed connect (whose timer already waited ``connect_timeout``). One deliberate difference:
where corosync-qdevice would exit (a server error, an incompatible setting, a message of an
unknown type...) this client, which lives inside the node daemon, stays down with an
exponential back-off (``connect_timeout`` doubling up to :data:`MAX_FATAL_BACKOFF`) and logs
each attempt at ERROR; only local reasons (shutdown, votequorum refusing polls) stop it.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence

from qnetd.certnames import PeerCertificate, describe, verify_cert_name
from qnetd.protocol.constants import (
    Heuristics,
    MsgType,
    ReplyErrorCode,
    Vote,
    vote_str,
)
from qnetd.protocol.decoder import DecodedMessage
from qnetd.protocol.messages import (
    EchoRequest,
    Init,
    Preinit,
    VoteInfoReply,
)
from qnetd.protocol.messages import StartTls as StartTlsMsg
from qnetd.protocol.tlv import NodeInfo, RingId
from totem.srp.events import LogLevel, LogRecord
from votequorum.qdevice.algorithms import client_algorithm
from votequorum.qdevice.castvote import CastVoteTimer
from votequorum.qdevice.events import (
    ClientState,
    Close,
    Connect,
    Disconnected,
    DisconnectReason,
    Event,
    Output,
    Poll,
    Send,
    StartTls,
    StateChanged,
    Stopped,
    VoteReceived,
)
from votequorum.qdevice.net_heuristics import CONNECT, MEMBERSHIP, NetHeuristics
from votequorum.qdevice.replies import (
    VOTE_MESSAGES,
    ProtocolError,
    VoteMessage,
    check_echo_reply,
    check_init_reply,
    check_preinit_reply,
    check_vote,
    decode,
    server_error,
    split_frames,
    unexpected,
)
from votequorum.qdevice.requests import (
    QuorumNode,
    config_node_list,
    membership_node_list,
    quorum_node_list,
)
from votequorum.qdevice.settings import (
    INITIAL_MSG_RECEIVE_SIZE,
    MIN_MSG_SEND_SIZE,
    HeuristicsMode,
    QdeviceNetSettings,
)

__all__ = ["MAX_FATAL_BACKOFF", "QdeviceNetClient"]

SUBSYS = "QDEVICE"
MAX_FATAL_BACKOFF = 300.0
"""Longest wait (seconds) before retrying after a reason corosync-qdevice would exit on."""


class QdeviceNetClient(NetHeuristics):
    """One qdevice-net client (see the module docstring)."""

    def __init__(self, settings: QdeviceNetSettings, rng: random.Random) -> None:
        self.settings = settings
        self.rng = rng
        """Draws the reconnect delay; the driver seeds it (the simulator from its seed)."""
        self.algorithm = client_algorithm(settings.algorithm, settings.wait_for_all)
        self.cast_vote = CastVoteTimer(settings.cast_vote_timer_interval_ms)
        self.state = ClientState.STOPPED
        self.counters: Counter[str] = Counter()
        # --- protocol state of the connection (qdevice_net_instance)
        self.last_msg_seq_num = 1
        self.echo_request_expected_seq = 1
        self.echo_reply_received_seq = 1
        self.last_sent_ring_id = RingId(0, 0)
        self.server_supports_heuristics = False
        self.server_supports_kap = False
        self.server_tls_client_cert_required = False
        self.using_tls = False
        self.tls_client_cert_sent = False
        self.tls_client_certificate: PeerCertificate | None = None
        """The names of the client certificate presented on this connection."""
        self._certificate_mismatch_told = False
        self.connect_failed_flag = False
        """The TCP connection attempt failed; waiting for the connect timer."""
        self.connected_since: float | None = None
        self.last_echo_reply_at: float | None = None
        self.disconnect_reason: DisconnectReason | None = None
        self.reconnect_at: float | None = None
        self._receive_limit = INITIAL_MSG_RECEIVE_SIZE
        self._send_limit = MIN_MSG_SEND_SIZE
        self._buffer = bytearray()
        self._fatal_streak = 0
        # --- what votequorum told us (qdevice_instance)
        self.config_nodes: tuple[NodeInfo, ...] = settings.config_nodes
        self.config_version: int | None = settings.config_version
        self.vq_node_list_ring_id: RingId | None = None
        self.vq_node_list: tuple[int, ...] = ()
        self.vq_poll_ring_id: RingId | None = None
        self.vq_quorum_quorate = False
        self.vq_quorum_nodes: tuple[QuorumNode, ...] = ()
        self.vq_expected_votes = 0
        self.sync_in_progress = False
        self.last_poll_at: float | None = None
        self.last_poll_cast_vote = False
        # --- heuristics
        self._init_heuristics(settings)
        # --- timers and lifecycle
        self._started = False
        self._generation = 0
        """Counts connections; input for an older connection is dropped."""
        self._connect_deadline: float | None = None
        self._echo_deadline: float | None = None
        self._outbox: list[Output] = []
        self._events: list[Event] = []

    # ================================================================== lifecycle

    def start(self, now: float) -> None:
        """votequorum accepted the device: connect as soon as the first ring id is known."""
        if self._started:
            return
        self._started = True
        self._maybe_begin(now)

    def stop(self, now: float) -> None:
        """Shut down (the local socket of corosync-qdevice closed): no more connections."""
        self._disconnect(DisconnectReason.LOCAL_SOCKET_CLOSED, now)
        self._started = False

    @property
    def started(self) -> bool:
        return self._started

    @property
    def connection_open(self) -> bool:
        """A connection (or connection attempt) exists that a :class:`Close` would end."""
        return self.state in (
            ClientState.WAITING_CONNECT,
            ClientState.WAITING_PREINIT_REPLY,
            ClientState.WAITING_INIT_REPLY,
            ClientState.CONNECTED,
        )

    def _maybe_begin(self, now: float) -> None:
        if (
            self._started
            and self.state == ClientState.STOPPED
            and self.vq_node_list_ring_id is not None
            and self.initial_heuristics_finished
        ):
            self._begin_connect(now)

    def _set_state(self, state: ClientState) -> None:
        if state != self.state:
            self.state = state
            self._events.append(StateChanged(state))

    def _begin_connect(self, now: float) -> None:
        """``qdevice_model_net_pre_poll_loop``."""
        s = self.settings
        self.reconnect_at = None
        self.connect_failed_flag = False
        self._buffer.clear()
        self._generation += 1
        self._set_state(ClientState.WAITING_CONNECT)
        self._connect_deadline = now + s.connect_timeout_ms / 1000.0
        self._log(
            LogLevel.DEBUG,
            f"Trying connect to qnetd server {s.host}:{s.port} "
            f"(timeout = {s.connect_timeout_ms}ms)",
        )
        self.counters["connect_attempts"] += 1
        self._outbox.append(Connect(s.host, s.port, s.force_ip_version))

    # ================================================================== transport inputs

    def connected(self, now: float) -> None:
        """The TCP connection is up: send PREINIT (with the current, not a new, seq number)."""
        if self.state != ClientState.WAITING_CONNECT or self.connect_failed_flag:
            return
        self._set_state(ClientState.WAITING_PREINIT_REPLY)
        self._log(LogLevel.DEBUG, "Sending preinit msg to qnetd")
        try:
            self._send(
                Preinit(self.settings.cluster_name_bytes, self.last_msg_seq_num).encode(),
                MsgType.PREINIT,
            )
        except ProtocolError as exc:
            self._drop_connection(exc, now)

    def connect_failed(self, now: float) -> None:
        """No address accepted the connection: wait for the connect timer, as qdevice does."""
        if self.state != ClientState.WAITING_CONNECT or self.connect_failed_flag:
            return
        self.connect_failed_flag = True
        self.counters["connect_failures"] += 1
        self._log(LogLevel.ERROR, "Can't connect to qnetd host.")

    def tls_established(
        self, now: float, client_cert_sent: bool, certificate: PeerCertificate | None = None
    ) -> None:
        """The TLS handshake asked for by :class:`StartTls` completed (``certificate``: the
        names of the client certificate we presented, if any)."""
        self.tls_client_cert_sent = client_cert_sent
        self.tls_client_certificate = certificate if client_cert_sent else None

    def tls_failed(self, now: float, message: str, *, local: bool = False) -> None:
        """TLS could not start (``local``: our certificates) or the handshake failed."""
        reason = DisconnectReason.CANT_START_TLS if local else DisconnectReason.CANT_READ_MESSAGE
        self._drop_connection(ProtocolError(reason, f"TLS: {message}"), now)

    def connection_lost(self, now: float, *, error: bool = False) -> None:
        """EOF (``error`` False) or a read/write error on the connection."""
        if self.state == ClientState.WAITING_CONNECT:
            self.connect_failed(now)
            return
        if error:
            exc = ProtocolError(
                DisconnectReason.CANT_READ_MESSAGE,
                "Unhandled error when reading from server. Disconnecting from server",
            )
        else:
            if self.state == ClientState.WAITING_INIT_REPLY:
                self._explain_closed_after_init()
            exc = ProtocolError(
                DisconnectReason.SERVER_CLOSED_CONNECTION,
                "Server closed connection",
                LogLevel.DEBUG,
            )
        self._drop_connection(exc, now)

    def _explain_closed_after_init(self) -> None:
        """qnetd drops, without a word, a client whose certificate is not issued to the cluster
        name of its PREINIT (``qnetd_client_msg_received_check_tls``); say so once, at NOTICE,
        with both names, until a connection succeeds."""
        cert = self.tls_client_certificate
        name = self.settings.cluster_name
        if cert is None or verify_cert_name(cert, name):
            return
        level = LogLevel.DEBUG if self._certificate_mismatch_told else LogLevel.NOTICE
        self._certificate_mismatch_told = True
        s = self.settings
        self._log(
            level,
            f"qnetd {s.host}:{s.port} closed the connection after INIT: this node sent "
            f"cluster name {name!r} and a client certificate issued to {describe(cert)} "
            f"({s.tls_files.cert_file}); qnetd accepts only a certificate issued to the "
            f"cluster name (pycorosync-qnetd-certutil --setup -n {name} makes one)",
        )

    def send_failed(self, now: float) -> None:
        """Writing failed or the send queue overflowed."""
        self._drop_connection(
            ProtocolError(
                DisconnectReason.CANT_SEND_MESSAGE, "Unhandled error when sending message"
            ),
            now,
        )

    def receive(self, data: bytes, now: float) -> None:
        """Bytes from qnetd (plaintext)."""
        if self.state not in (
            ClientState.WAITING_PREINIT_REPLY,
            ClientState.WAITING_INIT_REPLY,
            ClientState.CONNECTED,
        ):
            self.counters["bytes_ignored"] += len(data)
            return
        self._buffer += data
        generation = self._generation
        try:
            for frame in split_frames(self._buffer, self._receive_limit):
                self.counters["messages_received"] += 1
                self._message(frame, now)
                if self._generation != generation:
                    break  # the connection was dropped: the rest belongs to it
        except ProtocolError as exc:
            self._drop_connection(exc, now)

    def poll_failed(self, now: float, error: str) -> None:
        """votequorum refused a poll for a reason other than an old ring id."""
        self._log(LogLevel.ERROR, f"Can't call votequorum_qdevice_poll. Error {error}")
        self._drop_connection(
            ProtocolError(
                DisconnectReason.CANT_SCHEDULE_VOTING_TIMER, "votequorum refused the poll"
            ),
            now,
        )

    # ================================================================== votequorum inputs

    def node_list_notify(self, ring_id: RingId, members: Sequence[int], now: float) -> None:
        """votequorum's node list callback: a new ring (sent during its sync)."""
        self.sync_in_progress = True
        self.vq_poll_ring_id = ring_id
        self._stop_regular_heuristics()
        vote = Vote.NO_CHANGE
        if self.state != ClientState.CONNECTED and self.cast_vote.vote == Vote.ACK:
            vote = Vote.NACK
        self._cast_vote_update(vote, now)
        self.cast_vote.set_paused(True)
        self.vq_node_list_ring_id = ring_id
        self.vq_node_list = tuple(members)
        self._exec_heuristics(MEMBERSHIP, now)

    def quorum_notify(self, quorate: bool, nodes: Sequence[QuorumNode], now: float) -> None:
        """votequorum's quorum callback: quorate state and every known node with its state."""
        self.sync_in_progress = False
        connected = self.state == ClientState.CONNECTED
        vote = Vote.NO_CHANGE
        if not connected and self.cast_vote.vote == Vote.ACK:
            vote = Vote.NACK
        self.algorithm.quorum_notify(quorate)
        self._cast_vote_update(vote, now)
        self.vq_quorum_quorate = quorate
        self.vq_quorum_nodes = tuple(nodes)
        if connected:
            self._guarded(lambda: self._send_quorum_node_list(), now)

    def expected_votes_notify(
        self, expected_votes: int, now: float, vote_count_problem: str | None = None
    ) -> None:
        """votequorum's expected votes callback; ``vote_count_problem`` for ffsplit's check."""
        self.vq_expected_votes = expected_votes
        if self.algorithm.checks_vote_counts and vote_count_problem:
            self._log(LogLevel.ERROR, vote_count_problem)
            self._drop_connection(
                ProtocolError(
                    DisconnectReason.ALGO_VOTEQUORUM_EXPECTED_VOTES_NOTIFY_ERR,
                    "Algorithm returned error. Disconnecting.",
                ),
                now,
            )

    def config_node_list_changed(
        self,
        nodes: Sequence[NodeInfo],
        config_version: int | None,
        now: float,
        vote_count_problem: str | None = None,
    ) -> None:
        """corosync.conf was reloaded: send a CHANGED_CONFIG node list."""
        connected = self.state == ClientState.CONNECTED
        vote = Vote.NO_CHANGE
        if not connected and self.cast_vote.vote == Vote.ACK:
            vote = Vote.NACK
        if self.algorithm.checks_vote_counts and vote_count_problem:
            self._log(LogLevel.ERROR, vote_count_problem)
            self._drop_connection(
                ProtocolError(
                    DisconnectReason.ALGO_CONFIG_NODE_LIST_CHANGED_ERR,
                    "Algorithm returned error, Disconnecting",
                ),
                now,
            )
            return
        self._cast_vote_update(vote, now)
        self.config_nodes = tuple(nodes)
        self.config_version = config_version
        if connected:
            self._guarded(lambda: self._send_config_node_list(initial=False), now)

    # ================================================================== timers

    def next_deadline(self) -> float | None:
        best: float | None = None
        for deadline in (
            self._connect_deadline,
            self.reconnect_at,
            self._echo_deadline,
            self.cast_vote.deadline,
            self._heuristics_deadline,
        ):
            if deadline is not None and (best is None or deadline < best):
                best = deadline
        return best

    def on_deadline(self, now: float) -> None:
        if self._connect_deadline is not None and now >= self._connect_deadline:
            self._connect_deadline = None
            self._drop_connection(
                ProtocolError(DisconnectReason.CANT_CONNECT_TO_THE_SERVER, "Connect timeout"), now
            )
        if self.reconnect_at is not None and now >= self.reconnect_at:
            self.reconnect_at = None
            if self.state == ClientState.RECONNECT_DELAY:
                self._begin_connect(now)
        if self._echo_deadline is not None and now >= self._echo_deadline:
            self._echo_timer(now)
        deadline = self.cast_vote.deadline
        if deadline is not None and now >= deadline:
            cast = self.cast_vote.on_deadline(now)
            if cast is not None:
                self._poll(cast, now)
        if self._heuristics_deadline is not None and now >= self._heuristics_deadline:
            self._heuristics_deadline = None
            self._regular_heuristics_timer(now)

    # ================================================================== outputs

    def outbox(self) -> list[Output]:
        out, self._outbox = self._outbox, []
        return out

    def events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    # ================================================================== messages

    def _message(self, frame: bytes, now: float) -> None:
        try:
            msg = decode(frame)
        except ProtocolError:
            self.counters["decode_errors"] += 1
            raise
        t = msg.msg_type
        if t == MsgType.PREINIT_REPLY:
            if self.state != ClientState.WAITING_PREINIT_REPLY:
                raise unexpected(t)
            self.server_tls_client_cert_required = bool(msg.tls_client_cert_required)
            if check_preinit_reply(msg, self.last_msg_seq_num, self.settings.tls):
                self._send(StartTlsMsg(self._next_seq()).encode(), MsgType.STARTTLS)
                self._outbox.append(StartTls(self.settings.server_name))
                self.using_tls = True
            self._send_init()
        elif t == MsgType.INIT_REPLY:
            if self.state != ClientState.WAITING_INIT_REPLY:
                raise unexpected(t)
            self._on_init_reply(msg, now)
        elif t == MsgType.SERVER_ERROR:
            self.counters["server_errors"] += 1
            raise server_error(msg)
        elif t == MsgType.SET_OPTION_REPLY:
            if self.state != ClientState.CONNECTED:
                raise unexpected(t)
            if msg.heartbeat_interval is not None:
                self._schedule_echo(now)
        elif t == MsgType.ECHO_REPLY:
            self._on_echo_reply(check_echo_reply(msg), now)
        elif t in VOTE_MESSAGES:
            if self.state != ClientState.CONNECTED:
                raise unexpected(t)
            self._on_vote(check_vote(msg), now)
        else:
            raise unexpected(t)

    def _send_init(self) -> None:
        s = self.settings
        assert self.vq_node_list_ring_id is not None
        ring = self.vq_node_list_ring_id
        init = Init(
            s.node_id, s.algorithm, s.heartbeat_interval_ms, s.tie_breaker, ring, self._next_seq()
        )
        self._send(init.encode(), MsgType.INIT)
        self.last_sent_ring_id = ring
        self._set_state(ClientState.WAITING_INIT_REPLY)

    def _on_init_reply(self, msg: DecodedMessage, now: float) -> None:
        if msg.reply_error_code not in (None, ReplyErrorCode.NO_ERROR):
            self.counters["server_errors"] += 1
        info = check_init_reply(
            msg,
            self.last_msg_seq_num,
            self.settings.algorithm,
            self.heuristics_mode != HeuristicsMode.OFF,
        )
        self._receive_limit = info.max_reply_size
        self._send_limit = info.max_request_size
        self.server_supports_heuristics = info.supports_heuristics
        self.server_supports_kap = info.supports_kap
        self._connect_deadline = None
        self._certificate_mismatch_told = False
        self._schedule_echo(now)
        self._log(LogLevel.DEBUG, "Executing after-connect heuristics.")
        self._exec_heuristics(CONNECT, now)

    def _on_echo_reply(self, seq: int, now: float) -> None:
        expected = seq == self.echo_request_expected_seq
        if not expected:
            self._log(
                LogLevel.WARNING, "Received echo reply message seq_number is not expected one."
            )
        if not self.algorithm.echo_reply_received(expected):
            raise ProtocolError(
                DisconnectReason.ALGO_ECHO_REPLY_RECEIVED_ERR,
                "Algorithm returned error. Disconnecting",
                LogLevel.DEBUG,
            )
        self.echo_reply_received_seq = seq
        self.last_echo_reply_at = now

    def _on_vote(self, msg: VoteMessage, now: float) -> None:
        valid = msg.ring_id == self.last_sent_ring_id
        result = self.algorithm.vote_received(msg.vote, valid)
        self.counters["votes_received"] += 1
        self._log(
            LogLevel.DEBUG,
            f"Received {msg.msg_type.name.lower()}: seq {msg.seq_number}, vote "
            f"{vote_str(msg.vote)}, ring id ({msg.ring_id.rep:x}.{msg.ring_id.seq:x})"
            f"{'' if valid else ' (old ring id)'}",
        )
        self._events.append(VoteReceived(msg.msg_type, msg.vote, msg.ring_id, valid, result))
        if result in (Vote.ACK, Vote.NACK):
            self._fatal_streak = 0
        self._cast_vote_update(result, now)
        if msg.msg_type == MsgType.VOTE_INFO:
            self._send(VoteInfoReply(msg.seq_number).encode(), MsgType.VOTE_INFO_REPLY)

    # ================================================================== node lists

    def _next_seq(self) -> int:
        self.last_msg_seq_num = (self.last_msg_seq_num + 1) & 0xFFFFFFFF
        return self.last_msg_seq_num

    def _send_config_node_list(self, *, initial: bool) -> None:
        msg = config_node_list(
            self._next_seq(), self.config_nodes, self.config_version, initial=initial
        )
        self._send(msg.encode(), MsgType.NODE_LIST)

    def _send_membership_node_list(self, heuristics: Heuristics) -> None:
        ring = self.vq_node_list_ring_id
        assert ring is not None
        msg = membership_node_list(self._next_seq(), ring, self.vq_node_list, heuristics)
        self._send(msg.encode(), MsgType.NODE_LIST)
        self.last_sent_ring_id = ring

    def _send_quorum_node_list(self) -> None:
        msg = quorum_node_list(self._next_seq(), self.vq_quorum_quorate, self.vq_quorum_nodes)
        self._send(msg.encode(), MsgType.NODE_LIST)

    # ================================================================== echo and votes

    def _schedule_echo(self, now: float) -> None:
        self.echo_request_expected_seq = 0
        self.echo_reply_received_seq = 0
        self._echo_deadline = now + self.settings.heartbeat_interval_ms / 1000.0

    def _echo_timer(self, now: float) -> None:
        self._echo_deadline = now + self.settings.heartbeat_interval_ms / 1000.0
        if self.echo_reply_received_seq != self.echo_request_expected_seq:
            self._log(LogLevel.ERROR, "Server didn't send echo reply message on time")
            self.counters["echo_replies_missed"] += 1
            if not self.algorithm.echo_reply_not_received():
                self._echo_deadline = None
                self._drop_connection(
                    ProtocolError(
                        DisconnectReason.ALGO_ECHO_REPLY_NOT_RECEIVED_ERR,
                        "Algorithm decided to disconnect",
                        LogLevel.DEBUG,
                    ),
                    now,
                )
            return
        self.echo_request_expected_seq = (self.echo_request_expected_seq + 1) & 0xFFFFFFFF
        self._guarded(
            lambda: self._send(
                EchoRequest(self.echo_request_expected_seq).encode(), MsgType.ECHO_REQUEST
            ),
            now,
        )

    def _cast_vote_update(self, vote: Vote, now: float) -> None:
        cast = self.cast_vote.update(vote, now)
        if cast is not None:
            self._poll(cast, now)

    def _poll(self, cast_vote: bool, now: float) -> None:
        ring = self.vq_poll_ring_id
        if ring is None:
            return
        self.last_poll_at = now
        self.last_poll_cast_vote = cast_vote
        self.counters["polls"] += 1
        self._outbox.append(Poll(cast_vote, ring))

    # ================================================================== sending, dropping

    def _send(self, data: bytes, msg_type: MsgType) -> None:
        if len(data) > self._send_limit:
            raise ProtocolError(
                DisconnectReason.CANT_ALLOCATE_MSG_BUFFER,
                f"Can't allocate send buffer for {msg_type.name.lower()} msg "
                f"({len(data)} bytes, server accepts {self._send_limit})",
            )
        self.counters["messages_sent"] += 1
        self._outbox.append(Send(data, msg_type))

    def _guarded(self, action: Callable[[], None], now: float) -> bool:
        """Run ``action``; a :class:`ProtocolError` it raises drops the connection."""
        try:
            action()
        except ProtocolError as exc:
            self._drop_connection(exc, now)
            return False
        return True

    def _drop_connection(self, exc: ProtocolError, now: float) -> None:
        self._log(exc.level, exc.message)
        self._disconnect(exc.reason, now)

    def _disconnect(self, reason: DisconnectReason, now: float) -> None:
        """``qdevice_model_net_post_poll_loop`` followed by ``qdevice_net_instance_clean``."""
        if not self.connection_open:
            if reason.force_disconnect and self.state != ClientState.STOPPED:
                self.reconnect_at = None
                self.cast_vote.stop()
                self._heuristics_deadline = None
                self._set_state(ClientState.STOPPED)
                self._events.append(Stopped(reason))
            return
        was = self.state
        self._generation += 1
        self.disconnect_reason = reason
        self.counters["disconnect_" + reason.name.lower()] += 1
        self._connect_deadline = None
        self._echo_deadline = None
        self.cast_vote.set_paused(False)
        decision = self.algorithm.disconnected(reason.try_reconnect)
        self._log(LogLevel.DEBUG, f"Algorithm result vote is {vote_str(decision.vote)}")
        self._cast_vote_update(decision.vote, now)
        # What qdevice had queued but not written is lost with the socket.
        self._outbox = [o for o in self._outbox if not isinstance(o, Send | StartTls)]
        self._outbox.append(Close(reason))
        # qdevice_net_instance_clean
        self._buffer.clear()
        self.echo_request_expected_seq = self.echo_reply_received_seq
        self.using_tls = False
        self.tls_client_cert_sent = False
        self.tls_client_certificate = None
        self.connect_failed_flag = False
        self.connected_since = None
        self.last_echo_reply_at = None
        self.server_supports_heuristics = False
        self.server_supports_kap = False
        if reason.force_disconnect:
            self.cast_vote.stop()
            self._heuristics_deadline = None
            self._set_state(ClientState.STOPPED)
            self._events.append(Disconnected(reason, None))
            self._events.append(Stopped(reason))
            return
        if decision.try_reconnect:
            self._fatal_streak = 0
            if was != ClientState.WAITING_CONNECT:
                limit = int(self.settings.cast_vote_timer_interval_ms * 0.9)
                delay = (self.rng.randrange(limit) if limit > 0 else 0) / 1000.0
                self._log(LogLevel.DEBUG, f"Sleeping for {int(delay * 1000)} ms before reconnect")
            else:
                delay = 0.0
        else:
            delay = min(
                self.settings.connect_timeout_ms / 1000.0 * (2**self._fatal_streak),
                MAX_FATAL_BACKOFF,
            )
            self._fatal_streak = min(self._fatal_streak + 1, 16)
            self.counters["fatal_disconnects"] += 1
            self._log(
                LogLevel.ERROR,
                f"Disconnected from qnetd: {reason.value}; corosync-qdevice would exit here, "
                f"retrying in {delay:g} s",
            )
        self._set_state(ClientState.RECONNECT_DELAY)
        self.reconnect_at = now + delay
        self._events.append(Disconnected(reason, self.reconnect_at))
        if delay <= 0:
            self.reconnect_at = None
            self._begin_connect(now)

    def _log(self, level: LogLevel, message: str) -> None:
        self._events.append(LogRecord(level, SUBSYS, message))
