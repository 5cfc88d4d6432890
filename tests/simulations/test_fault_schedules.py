"""Hypothesis-driven fault schedules for 2-16 nodes, each run through the checker.

Every example is a scenario written by :func:`simulations.faults.random_scenario`
from Hypothesis' draws (cluster size, timers, node kind, and a sequence of
partitions, one-way cuts, latency, loss, duplication, reordering, MTU limits,
pauses, crashes, restarts with or without persisted state, stops and traffic).
The checker must find no violation, and once the faults are healed the nodes
still running must form one ring again. A failure prints the scenario text
and seed: save it under ``simulations/scenarios/`` as a regression.

Budget: ``PYCOROSYNC_SIM_EXAMPLES`` examples (default 300: about 75 s on an
idle 2-core machine, 0.25 s per schedule); set it higher for a longer hunt, e.g.
``PYCOROSYNC_SIM_EXAMPLES=5000 pytest tests/simulations/test_fault_schedules.py``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulations.faults import random_scenario
from simulations.runner import run_scenario
from simulations.scenario import parse_scenario

EXAMPLES = int(os.environ.get("PYCOROSYNC_SIM_EXAMPLES", "300"))
QDEVICE_EXAMPLES = int(os.environ.get("PYCOROSYNC_SIM_QDEVICE_EXAMPLES", "40"))


class DrawChooser:
    """The fault generator's draws, made by Hypothesis (so failures shrink)."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def randint(self, a: int, b: int) -> int:
        return self.data.draw(st.integers(a, b))

    def random(self) -> float:
        return self.data.draw(st.floats(0.0, 1.0))


def _report(text: str, seed: int, result: object) -> str:
    return f"seed {seed}\n{text}\n{result}"


def check_schedule(data: st.DataObject, text: str) -> None:
    """Run ``text`` with a drawn seed: no violation, and one ring again after healing."""
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    result = run_scenario(parse_scenario(text, "<fault schedule>"), seed)
    violations = [str(report.violation) for report in result.violations]
    assert not violations, _report(text, seed, "\n".join(violations))
    last = result.expectations[-1]
    assert last.ok, _report(text, seed, f"no single ring after healing: {last.detail}")


@pytest.mark.timeout(max(600, EXAMPLES * 3))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(st.data())
def test_random_fault_schedules_keep_every_invariant(data: st.DataObject) -> None:
    nodes = data.draw(st.integers(2, 16), label="nodes")
    steps = data.draw(st.integers(1, 8), label="steps")
    check_schedule(data, random_scenario(DrawChooser(data), nodes, steps))


@pytest.mark.timeout(max(600, QDEVICE_EXAMPLES * 5))
@settings(
    max_examples=QDEVICE_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(st.data())
def test_random_fault_schedules_with_a_quorum_device(data: st.DataObject) -> None:
    """The same, with a qnetd host that is cut off, paused, crashed and restarted too: the
    checker's quorum safety judges the tie-breaks (``PYCOROSYNC_SIM_QDEVICE_EXAMPLES``,
    default 40: about 1 s each)."""
    nodes = data.draw(st.integers(2, 6), label="nodes")
    steps = data.draw(st.integers(1, 8), label="steps")
    check_schedule(data, random_scenario(DrawChooser(data), nodes, steps, qdevice=True))


KNET_EXAMPLES = int(os.environ.get("PYCOROSYNC_SIM_KNET_EXAMPLES", "15"))


@pytest.mark.timeout(max(600, KNET_EXAMPLES * 10))
@settings(
    max_examples=KNET_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(st.data())
def test_random_fault_schedules_over_knet(data: st.DataObject) -> None:
    """knet clusters (one or two links, crypto on or off): the faults cut, delay and drop
    knet links, the heartbeat and failover react, the checker judges
    (``PYCOROSYNC_SIM_KNET_EXAMPLES``, default 15)."""
    nodes = data.draw(st.integers(2, 5), label="nodes")
    steps = data.draw(st.integers(1, 8), label="steps")
    check_schedule(data, random_scenario(DrawChooser(data), nodes, steps, transport="knet"))


def test_the_generator_writes_valid_scenarios_for_every_size() -> None:
    import random

    rng = random.Random(5)
    for nodes in range(2, 17):
        for _ in range(5):
            scenario = parse_scenario(random_scenario(rng, nodes, 12), "<gen>")
            assert scenario.nodes.count == nodes
            assert scenario.statements[-1].text.startswith("expect members ")
        knet = parse_scenario(random_scenario(rng, nodes, 12, transport="knet"), "<gen>")
        assert knet.nodes.transport == "knet"
        for _ in range(40):  # the qnetd steps are rarer: more draws
            with_device = parse_scenario(random_scenario(rng, nodes, 12, qdevice=True), "<gen>")
            assert with_device.qnetd is not None
