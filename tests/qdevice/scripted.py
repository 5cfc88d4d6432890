"""A client core driven by hand: the test plays qnetd, byte by byte."""

from __future__ import annotations

import random
from typing import Any

from qnetd.protocol import InitReply, PreinitReply, parse_message
from qnetd.protocol.constants import TlsSupported
from qnetd.protocol.tlv import RingId
from totem.srp.events import LogRecord
from votequorum.qdevice.events import Output, Send
from votequorum.qdevice.net_client import QdeviceNetClient
from votequorum.qdevice.requests import QuorumNode

from .world import settings

RING = RingId(1, 5)


class Scripted:
    """One client; ``feed`` server bytes; ``take`` outputs; ``sent`` decoded messages."""

    def __init__(self, node_id: int = 1, **kw: Any) -> None:
        self.now = 50.0
        self.client = QdeviceNetClient(settings(node_id, **kw), rng=random.Random(7))
        self.outputs: list[Output] = []
        self.events: list[Any] = []

    def drain(self) -> list[Output]:
        out = self.client.outbox()
        self.outputs += out
        self.events += self.client.events()
        return out

    def sent(self) -> list[Any]:
        return [parse_message(o.data) for o in self.outputs if isinstance(o, Send)]

    def logs(self) -> list[str]:
        return [e.message for e in self.events if isinstance(e, LogRecord)]

    def begin(self, ring: RingId = RING, members: tuple[int, ...] = (1,)) -> None:
        self.client.node_list_notify(ring, members, self.now)
        self.client.quorum_notify(False, [QuorumNode(m, 1) for m in members], self.now)
        self.client.start(self.now)
        self.client.connected(self.now)
        self.drain()

    def feed(self, data: bytes) -> list[Output]:
        self.client.receive(data, self.now)
        return self.drain()

    def advance(self, seconds: float) -> list[Output]:
        self.now += seconds
        deadline = self.client.next_deadline()
        while deadline is not None and deadline <= self.now:
            self.client.on_deadline(self.now)
            deadline = self.client.next_deadline()
        return self.drain()

    def preinit_reply(
        self, tls: TlsSupported = TlsSupported.UNSUPPORTED, seq: int | None = None
    ) -> list[Output]:
        seq = self.client.last_msg_seq_num if seq is None else seq
        return self.feed(PreinitReply(tls, True, seq).encode())

    def init_reply(self, **kw: Any) -> list[Output]:
        args: dict[str, Any] = {
            "reply_error_code": 0,
            "server_maximum_request_size": 32768,
            "server_maximum_reply_size": 32768,
            "seq_number": self.client.last_msg_seq_num,
        }
        args.update(kw)
        return self.feed(InitReply(**args).encode())

    def connect(self) -> None:
        """Through PREINIT and INIT to CONNECTED (plain)."""
        self.begin()
        self.preinit_reply()
        self.init_reply()
