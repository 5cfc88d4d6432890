"""The asyncio driver around a ``NodeStack`` (DESIGN.md: "a thin driver").

It runs the turn of :mod:`totem.node.contract` (the simulator runs the same one). Three
duties, and a watchdog on the loop itself:

* every received datagram goes to ``stack.receive(data, loop.time(), link)``;
* one ``loop.call_at`` timer follows ``stack.next_deadline()``;
* after each input, ``stack.outbox()`` goes to the transport and
  ``stack.events()`` to the listeners (logger, ring-id store, control socket);
  for a received datagram only the outbox goes at once (a token is forwarded
  before anything is delivered), and the events, with the timer, follow once
  per loop turn after the deferred delivery of every datagram read;
* after the events, the *flushers* (:meth:`NodeDriver.add_flusher`) hand on what the
  turn batched -- the control socket's CPG deliveries -- in the same loop turn, so a
  delivered message reaches its local client one loop turn after its datagram was read
  (the deferred delivery), never two.

Beside them, :meth:`NodeDriver.watch_scheduling` runs corosync's scheduling-miss timer
(:mod:`totem.node.schedmiss`): a stalled loop is logged and counted in ``stats.schedmiss.*``.

The timer is re-armed lazily: it is moved only when the stack wants an
*earlier* deadline. A later deadline (the token timeout moving forward on
every token) leaves the armed timer alone; when it fires early the stack has
nothing due, and the timer is re-armed to the new deadline. So a busy ring
costs one timer operation per deadline, not one per datagram.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from totem.node.contract import SansIoNode
from totem.node.events import NodeEvent
from totem.node.schedmiss import SchedMissMonitor

__all__ = ["NodeDriver", "SansIoNode"]


Send = Callable[[int | None, bytes, int], None]
"""(destination node id or None for all, data, link)."""
Listener = Callable[[NodeEvent], None]


class NodeDriver:
    """Drives one sans-IO node on an asyncio loop."""

    def __init__(self, node: SansIoNode, send: Send, loop: asyncio.AbstractEventLoop) -> None:
        self.node = node
        self._send = send
        self._loop = loop
        self._listeners: list[Listener] = []
        self._flushers: list[Callable[[], None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._deferred_scheduled = False
        self.loop_lag_max = 0.0
        """Largest delay seen between a timer's due time and its run (event-loop stalls)."""
        self.schedmiss = SchedMissMonitor()
        """corosync's scheduling-miss detector (``stats.schedmiss.*``)."""
        self._schedmiss_timer: asyncio.TimerHandle | None = None

    def add_listener(self, listener: Listener) -> None:
        """Receive every event the node emits, in order."""
        self._listeners.append(listener)

    def add_flusher(self, flusher: Callable[[], None]) -> None:
        """Call ``flusher()`` at the end of every flush of the node's output, after the
        listeners had the events: the moment to write out what this loop turn batched."""
        self._flushers.append(flusher)

    def remove_listener(self, listener: Listener) -> None:
        """Stop sending events to ``listener`` (a new list: a dispatch under way is not
        disturbed)."""
        self._listeners = [other for other in self._listeners if other is not listener]

    def start(self) -> None:
        """Bring the node up."""
        self.node.start(self._loop.time())
        self._flush()

    def watch_scheduling(
        self, token_ms: Callable[[], int], wall: Callable[[], float] = time.time
    ) -> None:
        """Start the scheduling-miss timer; ``token_ms`` is the token timeout in force (it
        follows reloads). A miss goes to the listeners as its log record."""
        if self._schedmiss_timer is None:
            self._schedmiss_tick(token_ms, wall)

    def _schedmiss_tick(self, token_ms: Callable[[], int], wall: Callable[[], float]) -> None:
        miss, delay = self.schedmiss.tick(self._loop.time(), wall(), token_ms())
        self._schedmiss_timer = self._loop.call_later(delay, self._schedmiss_tick, token_ms, wall)
        if miss is not None:
            record = miss.log_record()
            for listener in self._listeners:
                listener(record)

    def datagram_received(self, data: bytes, link: int = 0, source: str | None = None) -> None:
        """Transport callback: ``data`` arrived on ring (link) ``link`` from ``source``.

        The protocol work happens now (a token is forwarded at once); delivery to
        the services runs once per loop turn, after every datagram the socket had
        ready (``NodeStack.receive(defer=True)``).
        """
        node = self.node
        node.receive(data, self._loop.time(), link, defer=True, source=source)
        # Only the protocol output (a forwarded token, retransmissions) goes out now;
        # events and the timer wait for _process_deferred in this same loop turn, so
        # a burst of datagrams costs one event collection and one deadline check.
        send = self._send
        for datagram in node.outbox():
            send(datagram.dest, datagram.data, datagram.link)
        if not self._deferred_scheduled:
            self._deferred_scheduled = True
            self._loop.call_soon(self._process_deferred)

    def _process_deferred(self) -> None:
        self._deferred_scheduled = False
        self.node.process_deferred(self._loop.time())
        self._flush()

    def poke(self) -> None:
        """Something was asked of the node from outside (an API call): flush its output."""
        self._flush()

    def leave(self) -> None:
        """Graceful leave: send the LEAVE message and stop the timer."""
        self.node.leave()
        self._flush()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = None
        if self._schedmiss_timer is not None:
            self._schedmiss_timer.cancel()
            self._schedmiss_timer = None

    def _on_timer(self) -> None:
        due = self._timer_at
        self._timer = None
        self._timer_at = None
        now = self._loop.time()
        if due is not None and now - due > self.loop_lag_max:
            self.loop_lag_max = now - due
        self.node.on_deadline(now)
        self._flush()

    def _flush(self) -> None:
        node = self.node
        send = self._send
        for datagram in node.outbox():
            send(datagram.dest, datagram.data, datagram.link)
        events = node.events()
        if events:
            for event in events:
                for listener in self._listeners:
                    listener(event)
            # listeners may have asked the node for more (API calls): send it now
            for datagram in node.outbox():
                send(datagram.dest, datagram.data, datagram.link)
        for flusher in self._flushers:
            flusher()
        deadline = node.next_deadline()
        if deadline is None:
            return
        if self._timer_at is None or deadline < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = deadline
            self._timer = self._loop.call_at(deadline, self._on_timer)
