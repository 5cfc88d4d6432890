"""Hypothesis-driven fault schedules for 2-16 nodes, each run through the checker.

Every example is a scenario written by :func:`simulations.faults.random_scenario`
from Hypothesis' draws (cluster size, timers, node kind, and a sequence of
partitions, one-way cuts, latency, loss, duplication, reordering, MTU limits,
pauses, crashes, restarts with or without persisted state, stops and traffic).
The checker must find no violation, and once the faults are healed the nodes
still running must form one ring again. A failure prints the scenario text
and seed: save it under ``simulations/scenarios/`` as a regression.

The examples are fixed (``derandomize``): every CI run checks the same schedules,
so a failure reproduces, and the bug hunt proper is the hand-run campaign
(``pycorosync-sim fuzz``, README "Safety campaign"). Schedules have up to 20
steps; one test forces two redundant rings, one adds the quorum device. Each
schedule runs within an event and a wall-time budget, so a storm fails its
example instead of hanging the suite.

Budget: ``PYCOROSYNC_SIM_EXAMPLES`` examples of the main test (default 250),
``..._QDEVICE_EXAMPLES`` (40), ``..._RINGS_EXAMPLES`` (30), ``..._KNET_EXAMPLES``
(15); set them higher for a longer hunt, e.g.
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

EXAMPLES = int(os.environ.get("PYCOROSYNC_SIM_EXAMPLES", "250"))
QDEVICE_EXAMPLES = int(os.environ.get("PYCOROSYNC_SIM_QDEVICE_EXAMPLES", "40"))
RINGS_EXAMPLES = int(os.environ.get("PYCOROSYNC_SIM_RINGS_EXAMPLES", "30"))
MAX_STEPS = 20
MAX_EVENTS = 2_000_000
"""A schedule's event budget: healthy ones take at most a few hundred thousand."""
MAX_WALL_S = 120.0


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
    result = run_scenario(
        parse_scenario(text, "<fault schedule>"),
        seed,
        max_events=MAX_EVENTS,
        max_wall_s=MAX_WALL_S,
    )
    violations = [str(report.violation) for report in result.violations]
    assert not violations, _report(text, seed, "\n".join(violations))
    assert not result.budget_exceeded, _report(text, seed, result.budget_exceeded)
    last = result.expectations[-1]
    assert last.ok, _report(text, seed, f"no single ring after healing: {last.detail}")


@pytest.mark.timeout(max(600, EXAMPLES * 3))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
    derandomize=True,
)
@given(st.data())
def test_random_fault_schedules_keep_every_invariant(data: st.DataObject) -> None:
    nodes = data.draw(st.integers(2, 16), label="nodes")
    steps = data.draw(st.integers(1, MAX_STEPS), label="steps")
    check_schedule(data, random_scenario(DrawChooser(data), nodes, steps))


@pytest.mark.timeout(max(600, RINGS_EXAMPLES * 10))
@settings(
    max_examples=RINGS_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
    derandomize=True,
)
@given(st.data())
def test_random_fault_schedules_on_two_redundant_rings(data: st.DataObject) -> None:
    """Passive redundant rings (udpu), faults on one ring or both, every other example
    with a quorum device (``PYCOROSYNC_SIM_RINGS_EXAMPLES``, default 30)."""
    nodes = data.draw(st.integers(2, 9), label="nodes")
    steps = data.draw(st.integers(1, MAX_STEPS), label="steps")
    device = data.draw(st.booleans(), label="qdevice")
    text = random_scenario(DrawChooser(data), nodes, steps, qdevice=device, rings=2)
    assert " rings=2" in text.splitlines()[1]
    check_schedule(data, text)


@pytest.mark.timeout(max(600, QDEVICE_EXAMPLES * 5))
@settings(
    max_examples=QDEVICE_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
    derandomize=True,
)
@given(st.data())
def test_random_fault_schedules_with_a_quorum_device(data: st.DataObject) -> None:
    """The same, with a qnetd host that is cut off, paused, crashed and restarted too: the
    checker's quorum safety judges the tie-breaks (``PYCOROSYNC_SIM_QDEVICE_EXAMPLES``,
    default 40: about 1 s each)."""
    nodes = data.draw(st.integers(2, 6), label="nodes")
    steps = data.draw(st.integers(1, MAX_STEPS), label="steps")
    check_schedule(data, random_scenario(DrawChooser(data), nodes, steps, qdevice=True))


KNET_EXAMPLES = int(os.environ.get("PYCOROSYNC_SIM_KNET_EXAMPLES", "15"))


@pytest.mark.timeout(max(600, KNET_EXAMPLES * 10))
@settings(
    max_examples=KNET_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
    derandomize=True,
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
        two = parse_scenario(random_scenario(rng, nodes, 12, rings=2), "<gen>")
        assert two.nodes.rings == 2 and two.nodes.stack == "full"
        one = parse_scenario(random_scenario(rng, nodes, 12, rings=1), "<gen>")
        assert one.nodes.rings == 1
        for _ in range(40):  # the qnetd steps are rarer: more draws
            with_device = parse_scenario(random_scenario(rng, nodes, 12, qdevice=True), "<gen>")
            assert with_device.qnetd is not None
            # the healing budget allows for votequorum's wait for the device (30 s)
            last = with_device.statements[-1].text
            assert int(last.rsplit(" ", 1)[1].rstrip("s")) >= 40


def test_two_rings_need_the_full_stack() -> None:
    import random

    with pytest.raises(ValueError, match="redundant rings need the full node stack"):
        random_scenario(random.Random(1), 3, 4, stack="srp", rings=2)
    with pytest.raises(ValueError, match="rings must be 1 or 2"):
        random_scenario(random.Random(1), 3, 4, rings=3)
