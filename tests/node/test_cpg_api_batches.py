"""CpgControl's per-turn batches: deliveries and other CPG events leave in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from totem.node.cpg_api import FRAME_CPG_DELIVERIES, CpgControl, decode_deliveries
from totem.ringid import RingId
from totem.services.cpg import CpgAddress, CpgConfigChange, CpgTotemConfigChange


class _Service:
    def __init__(self) -> None:
        self.sink: Any = None

    def set_event_sink(self, sink: Any) -> None:
        self.sink = sink

    def finalize(self, handle: int) -> None:
        pass


class _Connection:
    def __init__(self, frames: bool = True) -> None:
        self.features = {"cpg-frames"} if frames else set()
        self.on_close: list[Callable[[Any], None]] = []
        self.out: list[Any] = []

    def send(self, message: dict[str, Any]) -> None:
        self.out.append(message)

    def send_frame(self, kind: int, body: bytes) -> None:
        assert kind == FRAME_CPG_DELIVERIES
        self.out.append(decode_deliveries(body))


def _control() -> tuple[CpgControl, _Service, _Connection, list[Callable[[], None]]]:
    service = _Service()
    soon: list[Callable[[], None]] = []
    control = CpgControl(service, lambda: None, soon.append)  # type: ignore[arg-type]
    connection = _Connection()
    handle = control._initialize(connection, {})["handle"]  # type: ignore[arg-type]
    assert handle == 1
    return control, service, connection, soon


def test_events_wait_for_the_end_of_the_turn_behind_earlier_deliveries() -> None:
    _, service, connection, soon = _control()
    change = CpgConfigChange(1, b"g", (CpgAddress(1, 10),), (), ())
    service.sink.deliver(1, b"g", 1, 10, b"one")
    service.sink.event(change)
    service.sink.deliver(1, b"g", 2, 20, b"two")
    service.sink.deliver(1, b"g", 2, 20, b"three")
    service.sink.event(CpgTotemConfigChange(1, RingId(1, 8), (1, 2)))
    assert connection.out == []  # nothing is written from inside the service
    assert len(soon) == 1
    soon[0]()
    assert connection.out[0] == (1, b"g", [(1, 10, b"one")])
    assert connection.out[1]["event"] == "CpgConfigChange"
    assert connection.out[2] == (1, b"g", [(2, 20, b"two"), (2, 20, b"three")])
    assert connection.out[3]["event"] == "CpgTotemConfigChange"
    assert len(connection.out) == 4


def test_deliveries_for_unknown_handles_are_dropped() -> None:
    control, service, connection, soon = _control()
    service.sink.deliver(7, b"g", 1, 10, b"x")
    service.sink.event(CpgTotemConfigChange(7, RingId(1, 8), (1,)))
    assert soon == []
    control.flush()
    assert connection.out == []
