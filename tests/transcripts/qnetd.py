"""Transcripts of the qnetd arbiter (``testdata/qnetd``): what qdevice clients tell it and
how its decision algorithms (ffsplit, lms, 2nodelms) vote.

The sans-IO :class:`qnetd.server.instance.QnetdServer` (``-s off``: no TLS) is driven
through the harness of the qnetd tests (:class:`tests.qnetd.harness.Harness`), one
connection per node (connection id = node id), with an explicit clock. Every message in
either direction is printed once, decoded by :mod:`qnetd.protocol` from the exact bytes,
with its framed size; the server's events (a client initialized, disconnected) too. The
clients answer each VOTE_INFO at once with VOTE_INFO_REPLY, as corosync-qdevice does,
unless ``autoreply=off``. Commands::

    server [autoreply=off]                          a fresh qnetd
    connect NODE algorithm=ffsplit|lms|2nodelms [tie_breaker=lowest|highest|N] [kap=off]
            [ring=REP.SEQ] [cluster=NAME]           PREINIT, INIT, SET_OPTION (KAP)
    join 1 2 3 [nodes=(1,2,3)] [ring=REP.SEQ] ...   connect, config and membership for each
    config NODE nodes=(1,2,3)                       the INITIAL_CONFIG node list
    membership NODE ring=REP.SEQ nodes=(1,2) [heuristics=pass|fail]
    quorum NODE nodes=(1,2) [quorate=0]             the QUORUM node list votequorum reported
    ask NODE                                        ASK_FOR_VOTE
    reply NODE                                      VOTE_INFO_REPLY to the last VOTE_INFO
    disconnect NODE                                 the TCP connection drops
    advance ms=N                                    time passes (algorithm timers)
    status [verbose]                                corosync-qnetd-tool -l [-v]
"""

from __future__ import annotations

from dataclasses import fields
from enum import Enum

from qnetd.protocol import (
    AskForVote,
    Init,
    KeepActivePartitionTieBreaker,
    Message,
    NodeInfo,
    NodeList,
    NodeListType,
    NodeState,
    Preinit,
    Quorate,
    RingId,
    SetOption,
    TieBreaker,
    TieBreakerMode,
    VoteInfo,
    VoteInfoReply,
    parse_message,
)
from qnetd.protocol.constants import DecisionAlgorithm, Heuristics
from qnetd.server.events import (
    ClientDisconnected,
    ClientInitialized,
    Close,
    DisconnectReason,
    Send,
    VoteSent,
)
from qnetd.server.status import list_text
from tests.qnetd.harness import Harness
from tests.transcripts import printers
from tests.transcripts.datadriven import Case
from tests.transcripts.interp import Interpreter, ms

__all__ = ["QnetdInterpreter"]

_ALGORITHMS = {
    "ffsplit": DecisionAlgorithm.FFSPLIT,
    "lms": DecisionAlgorithm.LMS,
    "2nodelms": DecisionAlgorithm.TWO_NODE_LMS,
    "test": DecisionAlgorithm.TEST,
}
_SKIP = {"supported_messages", "supported_options", "supported_decision_algorithms"}


def _value(value: object) -> str:
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, RingId):
        return str(value)
    if isinstance(value, TieBreaker):
        mode = value.mode.name
        return f"{mode}:{value.node_id}" if value.mode is TieBreakerMode.NODE_ID else mode
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, tuple) and all(isinstance(v, NodeInfo) for v in value):
        return printers.ids(v.node_id for v in value)
    return str(value)


def describe(message: Message) -> str:
    """``TYPE field=value ...``: the fields the message carries (None = option absent)."""
    parts = [message.TYPE.name]
    for f in fields(message):
        value = getattr(message, f.name)
        if value is None or f.name in _SKIP:
            continue
        if f.name == "heuristics" and value == Heuristics.UNDEFINED:
            continue
        name = "seq" if f.name == "seq_number" else f.name
        parts.append(f"{name}={_value(value)}")
    return " ".join(parts)


def _ring(text: str) -> RingId:
    return RingId.parse(text)


class QnetdInterpreter(Interpreter):
    """Commands of ``testdata/qnetd`` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.h = Harness.plain()
        self.h.now = 0.0
        self.autoreply = True
        self.last_vote_info: dict[int, int] = {}

    # -- the wire --------------------------------------------------------------------------
    def client_send(self, node: int, message: Message) -> None:
        data = message.encode()
        self.out(f"{ms(self.h.now)}  {node} -> qnetd  {describe(message)} ({len(data)}B)")
        self.h.server.receive(node, data, self.h.now)
        self.drain()

    def drain(self) -> None:
        server = self.h.server
        replies: list[tuple[int, int]] = []
        for output in server.outbox():
            if isinstance(output, Send):
                message = parse_message(output.data)
                self.out(
                    f"{ms(self.h.now)}  qnetd -> {output.conn_id}  {describe(message)} "
                    f"({len(output.data)}B)"
                )
                if isinstance(message, VoteInfo):
                    self.last_vote_info[output.conn_id] = message.seq_number
                    if self.autoreply:
                        replies.append((output.conn_id, message.seq_number))
            elif isinstance(output, Close):
                self.out(f"{ms(self.h.now)}  qnetd closes {output.conn_id}: {output.reason.name}")
            else:
                self.out(f"{ms(self.h.now)}  qnetd -> {output.conn_id}  STARTTLS")
        for event in server.events():
            if isinstance(event, ClientInitialized):
                self.out(
                    f"{ms(self.h.now)}  qnetd: node {event.node_id} joined cluster "
                    f"{event.cluster_name.decode()}"
                )
            elif isinstance(event, ClientDisconnected):
                self.out(
                    f"{ms(self.h.now)}  qnetd: node {event.node_id} disconnected "
                    f"({event.reason.name})"
                )
            else:
                assert isinstance(event, VoteSent)  # the message printed above
        for node, seq in replies:
            self.client_send(node, VoteInfoReply(seq))

    # -- commands --------------------------------------------------------------------------
    def cmd_server(self, case: Case) -> None:
        self.h = Harness.plain()
        self.h.now = 0.0
        self.autoreply = case.get("autoreply", "on") != "off"
        self.last_vote_info.clear()

    def _node(self, case: Case) -> int:
        return int(case.positional()[0])

    def cmd_connect(self, case: Case) -> None:
        self._connect(self._node(case), case)

    def cmd_join(self, case: Case) -> None:
        """``join 1 2 3 nodes=(1,2,3) ring=R``: connect, config and membership, node by node."""
        ring = case.get("ring", "1.8") or "1.8"
        nodes = tuple(self.ids_arg(case, "nodes")) or tuple(self.node_words(case))
        for node in self.node_words(case):
            self._connect(node, case)
            self.client_send(
                node,
                NodeList(
                    self.h.next_seq(node),
                    NodeListType.INITIAL_CONFIG,
                    tuple(NodeInfo(n) for n in nodes),
                ),
            )
            self.client_send(
                node,
                NodeList(
                    self.h.next_seq(node),
                    NodeListType.MEMBERSHIP,
                    tuple(NodeInfo(n) for n in nodes),
                    ring_id=_ring(ring),
                ),
            )

    def _connect(self, node: int, case: Case) -> None:
        h = self.h
        algorithm = _ALGORITHMS[case.get("algorithm", "ffsplit") or "ffsplit"]
        tb_text = case.get("tie_breaker", "lowest") or "lowest"
        if tb_text.isdigit():
            tie_breaker = TieBreaker(TieBreakerMode.NODE_ID, int(tb_text))
        else:
            tie_breaker = TieBreaker(TieBreakerMode[tb_text.upper()])
        ring = _ring(case.get("ring", "1.4") or "1.4")
        cluster = (case.get("cluster", "cluster") or "cluster").encode()
        assert h.connect(node)
        self.out(f"{ms(h.now)}  {node} connects")
        h.seqs[node] = 1
        self.client_send(node, Preinit(cluster, 1))
        self.client_send(
            node, Init(node, algorithm, 8000, tie_breaker, ring, h.next_seq(node), None, None)
        )
        if case.get("kap", "on") != "off":
            kap = KeepActivePartitionTieBreaker.ENABLED
            self.client_send(node, SetOption(h.next_seq(node), None, kap))

    def cmd_config(self, case: Case) -> None:
        node = self._node(case)
        nodes = tuple(NodeInfo(n) for n in self.ids_arg(case, "nodes"))
        message = NodeList(self.h.next_seq(node), NodeListType.INITIAL_CONFIG, nodes)
        self.client_send(node, message)

    def cmd_membership(self, case: Case) -> None:
        node = self._node(case)
        heuristics = Heuristics[(case.get("heuristics", "undefined") or "").upper()]
        message = NodeList(
            self.h.next_seq(node),
            NodeListType.MEMBERSHIP,
            tuple(NodeInfo(n) for n in self.ids_arg(case, "nodes")),
            ring_id=_ring(case.get("ring") or "1.4"),
            heuristics=heuristics,
        )
        self.client_send(node, message)

    def cmd_quorum(self, case: Case) -> None:
        node = self._node(case)
        message = NodeList(
            self.h.next_seq(node),
            NodeListType.QUORUM,
            tuple(NodeInfo(n, node_state=NodeState.MEMBER) for n in self.ids_arg(case, "nodes")),
            quorate=Quorate(int(case.get("quorate", "1") or "1")),
        )
        self.client_send(node, message)

    def cmd_ask(self, case: Case) -> None:
        node = self._node(case)
        self.client_send(node, AskForVote(self.h.next_seq(node)))

    def cmd_reply(self, case: Case) -> None:
        node = self._node(case)
        self.client_send(node, VoteInfoReply(self.last_vote_info[node]))

    def cmd_disconnect(self, case: Case) -> None:
        node = self._node(case)
        self.out(f"{ms(self.h.now)}  {node}: connection closed")
        self.h.server.disconnect(node, DisconnectReason.CLIENT_CLOSED, self.h.now)
        self.drain()

    def cmd_advance(self, case: Case) -> None:
        h = self.h
        end = h.now + self.int_arg(case, "ms") / 1000
        while (deadline := h.server.next_deadline()) is not None and deadline <= end:
            h.now = max(h.now, deadline)
            h.server.on_deadline(h.now)
            self.drain()
        h.now = end

    def cmd_status(self, case: Case) -> None:
        for line in list_text(self.h.server, verbose=case.has("verbose")).splitlines():
            self.out(line.replace("\t", "    "))
