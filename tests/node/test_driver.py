"""NodeDriver's loop turns: a token leaves at once, deliveries follow in the deferred pass of
the same turn, and what the turn batched (flushers) is handed on in that pass too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from totem.node.driver import NodeDriver
from totem.srp.state import Datagram


class _Handle:
    def cancel(self) -> None:
        pass


class _Loop:
    """The three calls the driver makes: time, call_soon, call_at (nothing runs by itself)."""

    def __init__(self) -> None:
        self.soon: list[Callable[[], None]] = []

    def time(self) -> float:
        return 1.0

    def call_soon(self, callback: Callable[[], None]) -> _Handle:
        self.soon.append(callback)
        return _Handle()

    def call_at(self, when: float, callback: Callable[[], None]) -> _Handle:
        return _Handle()


class _Node:
    """Forwards a token when it receives one; delivers when its deferred pass runs."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self._out: list[Datagram] = []
        self._events: list[Any] = []

    def start(self, now: float) -> None:
        pass

    def receive(
        self, data: bytes, now: float, link: int = 0, *, defer: bool = False, source: Any = None
    ) -> None:
        self._out.append(Datagram(2, b"token"))

    def process_deferred(self, now: float) -> None:
        self.log.append("deliver")
        self._events.append("delivered")

    def next_deadline(self) -> float | None:
        return None

    def on_deadline(self, now: float) -> None:
        pass

    def outbox(self) -> list[Datagram]:
        out, self._out = self._out, []
        return out

    def events(self) -> list[Any]:
        out, self._events = self._events, []
        return out

    def leave(self) -> None:
        pass


def test_a_turn_forwards_the_token_then_delivers_then_flushes() -> None:
    log: list[str] = []
    loop = _Loop()
    driver = NodeDriver(
        _Node(log),
        lambda dest, data, link: log.append(f"send {data.decode()} to {dest}"),
        loop,  # type: ignore[arg-type]
    )
    driver.add_listener(lambda event: log.append(f"listener {event}"))
    driver.add_flusher(lambda: log.append("flush"))
    driver.datagram_received(b"a token")
    driver.datagram_received(b"another datagram")
    assert log == ["send token to 2", "send token to 2"]  # at once, nothing delivered yet
    assert len(loop.soon) == 1  # one deferred pass for the whole batch
    loop.soon.pop()()
    assert log[2:] == ["deliver", "listener delivered", "flush"]
    assert loop.soon == []  # the flush took no further loop turn
