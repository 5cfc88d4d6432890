"""``NodeStack.events()`` returns what :data:`totem.node.events.NodeEvent` names: every event
of a run is one of its classes, or a plugged-in service's frozen dataclass (votequorum's, the
simulator's application service's)."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import pytest

from simulations.runner import run_scenario
from totem.node.events import NodeEvent, PluginEvent
from totem.node.stack import NodeStack
from totem.srp.events import Delivery

SCENARIOS = [
    """nodes 3 token=1000 rings=2 crypto=on
send 1,2,3 20/s
run 2s
partition {1}|{2,3} ring=1
run 3s
partition {1}|{2,3}
run 5s
heal
run 5s
""",
    """nodes 3 token=1000 transport=knet crypto=on
send 1 20/s
run 5s
crash 3
run 5s
restart 3
run 5s
""",
]


def _classes(alias: Any) -> set[type]:
    if isinstance(alias, types.UnionType) or typing.get_origin(alias) is typing.Union:
        return set().union(*(_classes(arg) for arg in typing.get_args(alias)))
    return {alias}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_event_of_a_run_is_a_node_event(
    monkeypatch: pytest.MonkeyPatch, scenario: str
) -> None:
    seen: list[object] = []
    drain = NodeStack.events

    def events(self: NodeStack) -> list[NodeEvent]:
        out = drain(self)
        seen.extend(out)
        return out

    monkeypatch.setattr(NodeStack, "events", events)
    assert run_scenario(scenario, 3).ok
    named = _classes(NodeEvent) - {PluginEvent}
    named.add(Delivery)  # the simulator's stack passes SRP's deliveries on to its checker
    kinds = {type(event) for event in seen}
    plugins = {kind for kind in kinds if kind not in named}
    assert len(kinds - plugins) >= 5
    for kind in plugins:
        assert dataclasses.is_dataclass(kind) and kind.__dataclass_params__.frozen, kind
        # votequorum's, and the simulator's application service
        assert kind.__module__.startswith(("votequorum.", "simulations.")), kind
