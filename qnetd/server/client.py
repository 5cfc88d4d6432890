"""Per-connection protocol state machine of qnetd (``qnetd-client-msg-received.c``, ref 5.1).

A :class:`ClientConnection` turns the bytes of one TCP connection into frames
(:class:`~qnetd.protocol.header.FrameReader`), decodes them and applies the handling of the real
server, message by message:

- oversized or unknown-type messages are skipped and answered SERVER_ERROR 5 / 4 without a
  sequence number; undecodable ones get SERVER_ERROR 9 (with the sequence number if it was
  decoded before the bad option); the connection stays open;
- every complete message re-arms the dead-peer-detection timer;
- PREINIT and STARTTLS are always allowed; every other request first passes the TLS gate
  (TLS required but not started → error 3; client certificate missing or not issued for the
  cluster name → disconnect);
- INIT runs its checks in the real order, later checks overwriting earlier error codes;
- node lists, ASK_FOR_VOTE, VOTE_INFO_REPLY and HEURISTICS_CHANGE go to the client's decision
  algorithm *before* what they carry is stored;
- replies sent by a client (PREINIT_REPLY, VOTE_INFO, ...) get SERVER_ERROR 8.

Output goes through the owning server, seen through :class:`ConnectionHost`. Deliberate
deviations: a second INIT on an initialized connection is answered (with the error code the
real server computes, or UNEXPECTED_MESSAGE where it would corrupt its lists) but changes
nothing; a STARTTLS inside TLS disconnects.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from qnetd.algorithms.base import Algorithm, AlgorithmContext
from qnetd.certnames import PeerCertificate, verify_cert_name
from qnetd.model import ClusterList, NodeList, QnetdClient
from qnetd.protocol.constants import (
    ALL_MESSAGE_TYPES,
    ALL_OPTION_TYPES,
    SUPPORTED_DECISION_ALGORITHMS,
    Heuristics,
    KeepActivePartitionTieBreaker,
    MsgType,
    NodeListType,
    ReplyErrorCode,
    TlsSupported,
    Vote,
    heuristics_str,
    node_state_str,
    vote_str,
)
from qnetd.protocol.decoder import DecodedMessage, MessageDecodeError, decode_message
from qnetd.protocol.header import Frame, FrameReader, SkippedFrame
from qnetd.protocol.messages import (
    HeuristicsChangeReply,
    InitReply,
    PreinitReply,
    ServerError,
    SetOptionReply,
    echo_reply_for,
    encode_node_list_reply,
    encode_vote_frame,
)
from qnetd.protocol.tlv import RingId, TieBreaker
from qnetd.server.events import DisconnectReason
from qnetd.server.settings import ServerConfig

__all__ = ["ClientConnection", "ConnectionHost"]

log = logging.getLogger("qnetd")

E = ReplyErrorCode

_UNEXPECTED_NAMES = {
    MsgType.PREINIT_REPLY: "preinit reply",
    MsgType.INIT_REPLY: "init reply",
    MsgType.SERVER_ERROR: "server error",
    MsgType.SET_OPTION_REPLY: "set option reply",
    MsgType.ECHO_REPLY: "echo reply",
    MsgType.NODE_LIST_REPLY: "node list reply",
    MsgType.ASK_FOR_VOTE_REPLY: "ask for vote reply",
    MsgType.VOTE_INFO: "vote info",
    MsgType.HEURISTICS_CHANGE_REPLY: "heuristics change reply",
}

_CHECK_OK = 0
_CHECK_DISCONNECT = -1
_CHECK_ERROR_SENT = -2

TIMER_LIST_MAX_INTERVAL = 18_000_000
"""Longest timer qnetd's timer list accepts (ms); a DPD interval above it is error 13."""


class ConnectionHost(AlgorithmContext, Protocol):
    """What a :class:`ClientConnection` asks of the server that owns it (``qnetd_instance``).

    The server core (:class:`~qnetd.server.instance.QnetdServer`) implements it; a connection
    never sees the server's other clients' connections, its timers' heap or its outbox.
    """

    @property
    def config(self) -> ServerConfig:
        """The server's options (TLS mode, advanced settings)."""
        ...

    @property
    def clusters(self) -> ClusterList:
        """Every cluster with an initialized client."""
        ...

    @property
    def counters(self) -> Counter[str]:
        """Messages, malformed input and disconnections by kind, for ``status json``."""
        ...

    def algorithm_for(self, client: QnetdClient) -> Algorithm:
        """The decision algorithm the client asked for in INIT."""
        ...

    def send(self, conn: ClientConnection, data: bytes) -> None:
        """Queue one encoded message to the connection (dropped once it is being closed)."""
        ...

    def start_tls(self, conn: ClientConnection, pending: bytes) -> None:
        """STARTTLS accepted: the driver starts the handshake, fed ``pending`` first."""
        ...

    def schedule_disconnect(self, conn: ClientConnection, reason: DisconnectReason) -> None:
        """Close the connection at the end of the current call (``schedule_disconnect``)."""
        ...

    def reschedule_dpd(self, conn: ClientConnection, now: float) -> None:
        """A complete message arrived: the dead-peer-detection timer starts again."""
        ...

    def update_dpd_interval(self, conn: ClientConnection, now: float) -> None:
        """The heartbeat interval changed: new DPD interval, counted from ``now``."""
        ...

    def client_initialized(self, conn: ClientConnection) -> None:
        """INIT accepted and the client added to its cluster."""
        ...

    def vote_sent(self, client: QnetdClient, msg_type: MsgType, vote: Vote, ring: RingId) -> None:
        """A reply carrying ``vote`` was queued to ``client``."""
        ...


class ClientConnection:
    """One accepted connection: framing, the TLS gate and the message handlers."""

    __slots__ = (
        "accept_seq",
        "algo_deadline",
        "algo_heap_time",
        "disconnect_reason",
        "dpd_deadline",
        "dpd_heap_time",
        "dpd_interval_ms",
        "peer_certificate",
        "reader",
        "record",
        "server",
        "tls_handshake_pending",
        "transport_closed",
    )

    def __init__(self, server: ConnectionHost, record: QnetdClient, max_receive_size: int) -> None:
        self.server = server
        self.record = record
        self.reader = FrameReader(max_receive_size)
        self.dpd_deadline: float | None = None
        self.dpd_heap_time: float | None = None
        self.dpd_interval_ms = 0
        self.algo_deadline: float | None = None
        self.algo_heap_time: float | None = None
        self.peer_certificate: PeerCertificate | None = None
        self.tls_handshake_pending = False
        self.transport_closed = False
        self.disconnect_reason: DisconnectReason | None = None
        self.accept_seq = 0
        """Position in the server's accept order (disconnections are processed in it)."""

    @property
    def conn_id(self) -> int:
        return self.record.conn_id

    # ------------------------------------------------------------------ input

    def data_received(self, data: bytes, now: float) -> None:
        """Bytes from the connection (plaintext, or decrypted once TLS is up)."""
        rec = self.record
        if rec.schedule_disconnect or self.tls_handshake_pending:
            return
        for frame in self.reader.feed(data, stop_after=MsgType.STARTTLS):
            if rec.schedule_disconnect:
                return
            if isinstance(frame, SkippedFrame):
                self._skipped(frame)
                continue
            self._message_received(frame, now)
            if self.tls_handshake_pending:
                self.server.start_tls(self, self.reader.take_unparsed())
                return

    def tls_established(self, peer_certificate: PeerCertificate | None) -> None:
        """The server side of the TLS handshake completed."""
        self.tls_handshake_pending = False
        self.peer_certificate = peer_certificate

    def _skipped(self, frame: SkippedFrame) -> None:
        self.server.counters["skipped_messages"] += 1
        if frame.length == 0:
            # Quirk of msgio_read: a body-less message completes in the same read as its
            # header, which overwrites the skip reason; qnetd then sends error code 0.
            self._send_err(None, E.NO_ERROR)
            return
        if frame.reason == E.UNSUPPORTED_MESSAGE:
            log.warning("Client sent unsupported msg type %d. Skipping message", frame.msg_type)
        else:
            log.warning(
                "Client wants to send too long message %d bytes. Skipping message", frame.length
            )
        self._send_err(None, frame.reason)

    def _message_received(self, frame: Frame, now: float) -> None:
        server = self.server
        server.counters["messages"] += 1
        server.reschedule_dpd(self, now)
        try:
            msg = decode_message(frame.raw)
        except MessageDecodeError as exc:
            server.counters["decode_errors"] += 1
            log.warning("%s", exc.kind.log_text)
            log.info("Sending back error message")
            self._send_err(exc.seq_number, E.ERROR_DECODING_MSG)
            return
        handler = _HANDLERS.get(msg.msg_type)
        if handler is not None:
            handler(self, msg, frame.raw, now)
        else:
            name = _UNEXPECTED_NAMES[MsgType(msg.msg_type)]
            log.error("Received %s message. Sending back error message", name)
            self._send_err(msg.seq_number, E.UNEXPECTED_MESSAGE)

    # ------------------------------------------------------------------ helpers

    def _send(self, data: bytes) -> None:
        self.server.send(self, data)

    def _send_err(self, seq: int | None, code: ReplyErrorCode) -> None:
        self.server.counters["server_errors_sent"] += 1
        self._send(ServerError(code, seq).encode())

    def _disconnect(self, reason: DisconnectReason) -> None:
        self.server.schedule_disconnect(self, reason)

    def _check_tls(self, msg: DecodedMessage) -> int:
        """``qnetd_client_msg_received_check_tls``."""
        rec = self.record
        cfg = self.server.config
        if cfg.tls_supported == TlsSupported.UNSUPPORTED:
            return _CHECK_OK
        if cfg.tls_supported == TlsSupported.SUPPORTED:
            tls_required = False
            check_certificate = (
                rec.tls_started
                and cfg.tls_client_cert_required
                and not rec.tls_peer_certificate_verified
            )
        else:
            tls_required = True
            check_certificate = (
                cfg.tls_client_cert_required and not rec.tls_peer_certificate_verified
            )
        if tls_required and not rec.tls_started:
            log.error("TLS is required but doesn't started yet. Sending back error message")
            self._send_err(msg.seq_number, E.TLS_REQUIRED)
            return _CHECK_ERROR_SENT
        if check_certificate:
            cert = self.peer_certificate
            if cert is None:
                log.error("Client doesn't sent valid certificate. Disconnecting client")
                self._disconnect(DisconnectReason.NO_CLIENT_CERTIFICATE)
                return _CHECK_DISCONNECT
            if not verify_cert_name(cert, rec.cluster_name_text):
                log.error("Client doesn't sent certificate with valid CN. Disconnecting client")
                self._disconnect(DisconnectReason.CERTIFICATE_NAME_MISMATCH)
                return _CHECK_DISCONNECT
            rec.tls_peer_certificate_verified = True
        return _CHECK_OK

    def _gate(self, msg: DecodedMessage, what: str) -> bool:
        """TLS gate then "init required": True when the request may be processed."""
        if self._check_tls(msg) != _CHECK_OK:
            return False
        if not self.record.init_received:
            log.error("Received %s before init message. Sending error reply.", what)
            self._send_err(msg.seq_number, E.INIT_REQUIRED)
            return False
        return True

    def _dpd_interval_ok(self, heartbeat_interval: int) -> bool:
        """``qnetd_client_dpd_timer_update_interval`` for a new heartbeat; False = error 13."""
        adv = self.server.config.advanced
        if not adv.dpd_enabled or self.dpd_deadline is None:
            return True
        interval = int(adv.dpd_interval_coefficient * heartbeat_interval)
        return 1 <= interval <= TIMER_LIST_MAX_INTERVAL

    # ------------------------------------------------------------------ handlers

    def _on_preinit(self, msg: DecodedMessage, raw: bytes, now: float) -> None:
        rec = self.record
        if msg.cluster_name is None:
            log.error("Received preinit message without cluster name. Sending error reply.")
            self._send_err(msg.seq_number, E.DOESNT_CONTAIN_REQUIRED_OPTION)
            return
        rec.cluster_name = msg.cluster_name
        rec.preinit_received = True
        cfg = self.server.config
        self._send(
            PreinitReply(cfg.tls_supported, cfg.tls_client_cert_required, msg.seq_number).encode()
        )

    def _on_starttls(self, msg: DecodedMessage, raw: bytes, now: float) -> None:
        rec = self.record
        if not rec.preinit_received:
            log.error("Received starttls before preinit message. Sending error reply.")
            self._send_err(msg.seq_number, E.PREINIT_REQUIRED)
            return
        if not self.server.config.tls_available or rec.tls_started:
            log.error("Can't start TLS. Disconnecting client.")
            self._disconnect(DisconnectReason.TLS_UNAVAILABLE)
            return
        rec.tls_started = True
        rec.tls_peer_certificate_verified = False
        self.tls_handshake_pending = True

    def _on_init(self, msg: DecodedMessage, raw: bytes, now: float) -> None:
        if self._check_tls(msg) != _CHECK_OK:
            return
        rec = self.record
        server = self.server
        adv = server.config.advanced
        first = not rec.init_received
        error = E.NO_ERROR

        if not rec.preinit_received:
            log.error("Received init before preinit message. Sending error reply.")
            error = E.PREINIT_REQUIRED

        if error == E.NO_ERROR and msg.node_id is None:
            log.error("Received init message without node id set. Sending error reply.")
            error = E.DOESNT_CONTAIN_REQUIRED_OPTION
        node_id = msg.node_id if msg.node_id is not None else 0

        if error == E.NO_ERROR and msg.ring_id is None:
            log.error("Received init message without ring id set. Sending error reply.")
            error = E.DOESNT_CONTAIN_REQUIRED_OPTION
        ring_id = msg.ring_id if msg.ring_id is not None else RingId(0, 0)

        if error == E.NO_ERROR and msg.heartbeat_interval is None:
            log.error("Received init message without heartbeat interval set. Sending error reply.")
            error = E.DOESNT_CONTAIN_REQUIRED_OPTION
        else:
            hb = msg.heartbeat_interval or 0
            if not adv.heartbeat_interval_min <= hb <= adv.heartbeat_interval_max:
                log.error(
                    "Client requested invalid heartbeat interval %d. Sending error reply.", hb
                )
                error = E.INVALID_HEARTBEAT_INTERVAL
            else:
                rec.heartbeat_interval = hb
                if self._dpd_interval_ok(hb):
                    server.update_dpd_interval(self, now)
                else:
                    error = E.INVALID_HEARTBEAT_INTERVAL

        if error == E.NO_ERROR and msg.tie_breaker is None:
            log.error("Received init message without tie-breaker set. Sending error reply.")
            error = E.DOESNT_CONTAIN_REQUIRED_OPTION
        tie_breaker = msg.tie_breaker if msg.tie_breaker is not None else rec.tie_breaker

        algorithm = msg.decision_algorithm if msg.decision_algorithm is not None else 0
        if error == E.NO_ERROR and msg.decision_algorithm is None:
            log.error("Received init message without decision algorithm. Sending error reply.")
            error = E.DOESNT_CONTAIN_REQUIRED_OPTION
        elif algorithm not in SUPPORTED_DECISION_ALGORITHMS:
            log.error(
                "Client requested unsupported decision algorithm %d. Sending error reply.",
                algorithm,
            )
            error = E.UNSUPPORTED_DECISION_ALGORITHM

        if first:
            # The real server stores these even when it answers with an error.
            rec.node_id = node_id
            rec.last_ring_id = ring_id
            rec.tie_breaker = tie_breaker
            rec.decision_algorithm = algorithm

        if error == E.NO_ERROR and first:
            rec.keep_active_partition_tie_breaker = adv.keep_active_partition_tie_breaker
        if error == E.NO_ERROR:
            error = self._check_new_client(node_id, tie_breaker, algorithm)
        if error == E.NO_ERROR and not first:
            error = E.UNEXPECTED_MESSAGE  # INIT again with another cluster name
        if error == E.NO_ERROR:
            server.clusters.add_client(rec)
            self._log_new_client()
            error = server.algorithm_for(rec).client_init(server, rec)
        if error == E.NO_ERROR:
            rec.init_received = True
            server.client_initialized(self)
        else:
            log.error("Algorithm returned error code. Sending error reply.")

        adv = server.config.advanced
        self._send(
            InitReply(
                error,
                adv.max_client_receive_size,
                adv.max_client_send_size,
                msg.seq_number,
                None if msg.supported_messages is None else ALL_MESSAGE_TYPES,
                None if msg.supported_options is None else ALL_OPTION_TYPES,
            ).encode()
        )

    def _check_new_client(self, node_id: int, tie_breaker: TieBreaker, algorithm: int) -> E:
        """Tie-breaker, algorithm and node id against the clients already in the cluster."""
        rec = self.record
        assert rec.cluster_name is not None
        cluster = self.server.clusters.find_by_name(rec.cluster_name)
        if cluster is None:
            return E.NO_ERROR
        for other in cluster.clients:
            if other is rec:
                other_tb, other_alg, other_node = tie_breaker, algorithm, node_id
            else:
                other_tb = other.tie_breaker
                other_alg = other.decision_algorithm
                other_node = other.node_id
            if tie_breaker != other_tb:
                log.error(
                    "Received init message contains tie-breaker which differs from rest of "
                    "cluster. Sending error reply"
                )
                return E.TIE_BREAKER_DIFFERS_FROM_OTHER_NODES
            if algorithm != other_alg:
                log.error(
                    "Received init message contains algorithm which differs from rest of "
                    "cluster. Sending error reply"
                )
                return E.ALGORITHM_DIFFERS_FROM_OTHER_NODES
            if node_id == other_node:
                log.error(
                    "Received init message contains node id which is duplicate of other node "
                    "in cluster. Sending error reply"
                )
                return E.DUPLICATE_NODE_ID
        return E.NO_ERROR

    def _log_new_client(self) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        rec = self.record
        log.debug("New client connected")
        log.debug("  cluster name = %s", rec.cluster_name_text)
        log.debug("  tls started = %d", int(rec.tls_started))
        log.debug("  tls peer certificate verified = %d", int(rec.tls_peer_certificate_verified))
        log.debug("  node_id = %d", rec.node_id)
        log.debug("  addr_str = %s", rec.addr_str)
        log.debug("  ring id = (%s)", rec.last_ring_id)
        if rec.cluster is not None:
            log.debug("  cluster dump:")
            for c in rec.cluster.clients:
                log.debug("    client = %s, node_id = %d", c.addr_str, c.node_id)

    def _on_set_option(self, msg: DecodedMessage, raw: bytes, now: float) -> None:
        if not self._gate(msg, "set option message"):
            return
        rec = self.record
        adv = self.server.config.advanced
        if msg.heartbeat_interval is not None:
            hb = msg.heartbeat_interval
            if not adv.heartbeat_interval_min <= hb <= adv.heartbeat_interval_max:
                log.error(
                    "Client requested invalid heartbeat interval %d. Sending error reply.", hb
                )
                self._send_err(msg.seq_number, E.INVALID_HEARTBEAT_INTERVAL)
                return
            if not self._dpd_interval_ok(hb):
                rec.heartbeat_interval = hb
                self._send_err(msg.seq_number, E.INVALID_HEARTBEAT_INTERVAL)
                return
            rec.heartbeat_interval = hb
            self.server.update_dpd_interval(self, now)
        kap = msg.keep_active_partition_tie_breaker
        if kap is not None:
            rec.keep_active_partition_tie_breaker = kap == KeepActivePartitionTieBreaker.ENABLED
        self._send(
            SetOptionReply(
                msg.seq_number,
                None if msg.heartbeat_interval is None else rec.heartbeat_interval,
                None
                if kap is None
                else KeepActivePartitionTieBreaker(int(rec.keep_active_partition_tie_breaker)),
            ).encode()
        )

    def _on_echo_request(self, msg: DecodedMessage, raw: bytes, now: float) -> None:
        if not self._gate(msg, "echo request"):
            return
        self._send(echo_reply_for(raw))

    def _on_node_list(self, msg: DecodedMessage, raw: bytes, now: float) -> None:
        if not self._gate(msg, "node list message"):
            return
        rec = self.record
        if msg.node_list_type is None:
            log.error("Received node list message without node list type set. Sending error reply.")
            self._send_err(msg.seq_number, E.DOESNT_CONTAIN_REQUIRED_OPTION)
            return
        seq = msg.seq_number
        if seq is None:
            log.error("Received node list message without seq number set. Sending error reply.")
            self._send_err(None, E.DOESNT_CONTAIN_REQUIRED_OPTION)
            return
        server = self.server
        algorithm = server.algorithm_for(rec)
        nodes = NodeList(msg.nodes)
        list_type = msg.node_list_type
        debug = log.isEnabledFor(logging.DEBUG)
        if list_type in (NodeListType.INITIAL_CONFIG, NodeListType.CHANGED_CONFIG):
            initial = list_type == NodeListType.INITIAL_CONFIG
            self._log_list("initial node list" if initial else "changed node list", seq, msg, nodes)
            result = algorithm.config_node_list_received(
                server, rec, seq, msg.config_version, nodes, initial
            )
        elif list_type == NodeListType.MEMBERSHIP:
            if msg.ring_id is None:
                log.error(
                    "Received node list message without ring id number set. Sending error reply."
                )
                self._send_err(seq, E.DOESNT_CONTAIN_REQUIRED_OPTION)
                return
            self._log_list("membership node list", seq, msg, nodes)
            result = algorithm.membership_node_list_received(
                server, rec, seq, msg.ring_id, nodes, msg.heuristics
            )
        else:
            if msg.quorate is None:
                log.error("Received quorum list message without quorate set. Sending error reply.")
                self._send_err(seq, E.DOESNT_CONTAIN_REQUIRED_OPTION)
                return
            self._log_list("quorum node list", seq, msg, nodes)
            result = algorithm.quorum_node_list_received(server, rec, seq, msg.quorate, nodes)

        if result.error != E.NO_ERROR:
            log.error("Algorithm returned error code. Sending error reply.")
            self._send_err(seq, result.error)
            return
        vote = result.vote
        if debug:
            log.debug("Algorithm result vote is %s", vote_str(vote))

        if list_type in (NodeListType.INITIAL_CONFIG, NodeListType.CHANGED_CONFIG):
            rec.configuration_node_list = nodes
            rec.config_version = msg.config_version
        elif list_type == NodeListType.MEMBERSHIP:
            assert msg.ring_id is not None
            rec.last_membership_node_list = nodes
            rec.last_ring_id = msg.ring_id
            rec.last_membership_heuristics = msg.heuristics
            rec.last_heuristics = msg.heuristics
        else:
            rec.last_quorum_node_list = nodes

        rec.record_sent_vote(vote)
        server.send(self, encode_node_list_reply(seq, list_type, rec.last_ring_id, vote))
        server.vote_sent(rec, MsgType.NODE_LIST_REPLY, vote, rec.last_ring_id)

    def _log_list(self, what: str, seq: int, msg: DecodedMessage, nodes: NodeList) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        rec = self.record
        log.debug(
            "Client %s (cluster %s, node_id %d) sent %s.",
            rec.addr_str,
            rec.cluster_name_text,
            rec.node_id,
            what,
        )
        log.debug("  msg seq num = %d", seq)
        if msg.node_list_type == NodeListType.MEMBERSHIP:
            log.debug("  ring id = (%s)", msg.ring_id)
            log.debug("  heuristics = %s ", heuristics_str(msg.heuristics))
        elif msg.node_list_type == NodeListType.QUORUM:
            log.debug("  quorate = %d", msg.quorate)
        elif msg.config_version is not None:
            log.debug("  config version = %d", msg.config_version)
        log.debug("  Node list:")
        for i, n in enumerate(nodes.nodes):
            log.debug(
                "    %d node_id = %d, data_center_id = %d, node_state = %s",
                i,
                n.node_id,
                n.data_center_id,
                node_state_str(n.node_state),
            )

    def _on_ask_for_vote(self, msg: DecodedMessage, raw: bytes, now: float) -> None:
        if not self._gate(msg, "ask for vote message"):
            return
        rec = self.record
        seq = msg.seq_number
        if seq is None:
            log.error("Received ask for vote message without seq number set. Sending error reply.")
            self._send_err(None, E.DOESNT_CONTAIN_REQUIRED_OPTION)
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "Client %s (cluster %s, node_id %d) asked for a vote",
                rec.addr_str,
                rec.cluster_name_text,
                rec.node_id,
            )
        server = self.server
        result = server.algorithm_for(rec).ask_for_vote_received(server, rec, seq)
        if result.error != E.NO_ERROR:
            log.error("Algorithm returned error code. Sending error reply.")
            self._send_err(seq, result.error)
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("Algorithm result vote is %s", vote_str(result.vote))
        rec.record_sent_vote(result.vote)
        self._send(
            encode_vote_frame(MsgType.ASK_FOR_VOTE_REPLY, seq, result.vote, rec.last_ring_id)
        )
        server.vote_sent(rec, MsgType.ASK_FOR_VOTE_REPLY, result.vote, rec.last_ring_id)

    def _on_vote_info_reply(self, msg: DecodedMessage, raw: bytes, now: float) -> None:
        if not self._gate(msg, "vote info reply"):
            return
        rec = self.record
        seq = msg.seq_number
        if seq is None:
            log.error(
                "Received vote info reply message without seq number set. Sending error reply."
            )
            self._send_err(None, E.DOESNT_CONTAIN_REQUIRED_OPTION)
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "Client %s (cluster %s, node_id %d) replied back to vote info message",
                rec.addr_str,
                rec.cluster_name_text,
                rec.node_id,
            )
        server = self.server
        error = server.algorithm_for(rec).vote_info_reply_received(server, rec, seq)
        if error != E.NO_ERROR:
            log.error("Algorithm returned error code. Sending error reply.")
            self._send_err(seq, error)

    def _on_heuristics_change(self, msg: DecodedMessage, raw: bytes, now: float) -> None:
        if not self._gate(msg, "heuristics change message"):
            return
        rec = self.record
        seq = msg.seq_number
        if seq is None or msg.heuristics == Heuristics.UNDEFINED:
            log.error(
                "Received heuristics change message without seq number set or with undefined "
                "heuristics. Sending error reply."
            )
            self._send_err(seq, E.DOESNT_CONTAIN_REQUIRED_OPTION)
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "Client %s (cluster %s, node_id %d) sent heuristics change",
                rec.addr_str,
                rec.cluster_name_text,
                rec.node_id,
            )
        server = self.server
        result = server.algorithm_for(rec).heuristics_change_received(
            server, rec, seq, msg.heuristics
        )
        if result.error != E.NO_ERROR:
            log.error("Algorithm returned error code. Sending error reply.")
            self._send_err(seq, result.error)
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("Algorithm result vote is %s", vote_str(result.vote))
        rec.record_sent_vote(result.vote)
        rec.last_regular_heuristics = msg.heuristics
        rec.last_heuristics = msg.heuristics
        self._send(
            HeuristicsChangeReply(seq, result.vote, rec.last_ring_id, msg.heuristics).encode()
        )
        server.vote_sent(rec, MsgType.HEURISTICS_CHANGE_REPLY, result.vote, rec.last_ring_id)


_Handler = Callable[[ClientConnection, DecodedMessage, bytes, float], None]

_HANDLERS: dict[int, _Handler] = {
    MsgType.PREINIT: ClientConnection._on_preinit,
    MsgType.STARTTLS: ClientConnection._on_starttls,
    MsgType.INIT: ClientConnection._on_init,
    MsgType.SET_OPTION: ClientConnection._on_set_option,
    MsgType.ECHO_REQUEST: ClientConnection._on_echo_request,
    MsgType.NODE_LIST: ClientConnection._on_node_list,
    MsgType.ASK_FOR_VOTE: ClientConnection._on_ask_for_vote,
    MsgType.VOTE_INFO_REPLY: ClientConnection._on_vote_info_reply,
    MsgType.HEURISTICS_CHANGE: ClientConnection._on_heuristics_change,
}
