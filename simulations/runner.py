"""Running a scenario: statements in order on a :class:`~simulations.cluster.Simulation`.

``run_scenario(scenario, seed)`` builds the cluster the ``nodes`` statement
describes, applies each statement at the current virtual instant, evaluates
the expectations, and runs the checker throughout. The result says whether
every expectation held and no invariant broke, how many virtual seconds were
simulated and how long it took (the only clock read, outside the simulation).

Expectations:

* without a modifier, the condition is checked at the current instant;
* ``within D``: the simulation runs until the condition holds (evaluated at
  every membership or quorum change and every 10 ms), at most ``D``;
* ``throughout D``: the simulation runs for ``D`` and the condition must hold
  at every such check. The run goes on for the whole ``D`` either way, so a
  failed expectation does not change what happens next.

A scenario with a ``qnetd`` statement runs its nodes with the qdevice-net
client and a qnetd host (:class:`~simulations.qdevice.QdeviceWorld`); the
checker's quorum-safety invariant applies in full (only ``two_node``, which
corosync refuses next to a device, lets two partitions be quorate).

A violation is reported with its trace excerpt and a reproduction: the seed
and the scenario cut after the statement during which it happened;
:func:`minimize` shrinks that further by dropping statements while the same
invariant still breaks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulations.cfsim import CfsLayer, uses_cfs
from simulations.checker import Checker
from simulations.cluster import BudgetExceeded, Simulation, ViolationReport
from simulations.config import cluster_config
from simulations.language import CONDITIONS, HANDLERS
from simulations.network import QNETD_ID
from simulations.nodes import NodeFactory, srp_factory
from simulations.qdevice import QdeviceWorld
from simulations.qnetdhost import QnetdHost
from simulations.scenario import (
    Expect,
    Nodes,
    Qnetd,
    Scenario,
    ScenarioError,
    Statement,
    parse_scenario,
)
from simulations.stacknode import stack_factory
from simulations.trace import TraceEntry, TraceRecorder
from totem.config import ConfigError, CorosyncConfig
from totem.node.assemble import settings_from_config
from votequorum.qdevice.settings import QdeviceSettingsError

__all__ = [
    "DEFAULT_SEED",
    "ExpectationResult",
    "RunResult",
    "build_factory",
    "build_world",
    "device_sections",
    "minimize",
    "run_scenario",
]

DEFAULT_SEED = 1
_PROBE = 0.010
"""Seconds between two evaluations of a waiting expectation when nothing else happens."""


@dataclass(frozen=True, slots=True)
class ExpectationResult:
    """The outcome of one ``expect`` line."""

    line: int
    text: str
    ok: bool
    at: float
    """Virtual time when it was satisfied, or when it failed."""
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "ok": self.ok, "text": self.text}
        out["at"] = round(self.at, 6)
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(slots=True)
class RunResult:
    """Everything a run produced."""

    path: str
    seed: int
    expectations: list[ExpectationResult]
    violations: list[ViolationReport]
    simulated_s: float
    wall_s: float
    trace_digest: str
    reproduction: str = ""
    """Scenario text (with its seed) that reproduces the first violation (or the stall)."""
    budget_exceeded: str = ""
    """Why the run was cut short (its event or wall-time budget ran out), "" if it was not.
    Such a run is a finding like a violation: a storm, or a simulator that cannot keep up."""
    stats: dict[str, Any] = field(default_factory=dict)
    trace: list[TraceEntry] = field(default_factory=list)
    """The full event trace (only with ``keep_trace``)."""

    @property
    def ok(self) -> bool:
        return (
            not self.violations
            and not self.budget_exceeded
            and all(e.ok for e in self.expectations)
        )

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` summary line."""
        return {
            "ok": self.ok,
            "violations": [
                {**report.violation.as_dict(), "trace": list(report.excerpt)}
                for report in self.violations
            ],
            "simulated_s": round(self.simulated_s, 6),
            "wall_s": round(self.wall_s, 3),
            "expectations": [e.as_dict() for e in self.expectations],
            "seed": self.seed,
            "scenario": self.path,
            "trace_digest": self.trace_digest,
            "reproduction": self.reproduction,
            "budget_exceeded": self.budget_exceeded,
            "stats": self.stats,
        }


def device_sections(qnetd: Qnetd) -> tuple[dict[str, str], dict[str, str]]:
    """The ``quorum.device`` keys and its ``net`` keys a ``qnetd`` statement stands for."""
    device: dict[str, str] = {}
    votes = qnetd.votes
    if votes is None and qnetd.algorithm == "ffsplit":
        votes = 1  # corosync-qdevice refuses ffsplit unless it is set to exactly 1
    if votes is not None:
        device["votes"] = str(votes)
    if qnetd.timeout_ms is not None:
        device["timeout"] = str(qnetd.timeout_ms)
    if qnetd.sync_timeout_ms is not None:
        device["sync_timeout"] = str(qnetd.sync_timeout_ms)
    net = {"algorithm": qnetd.algorithm, "tie_breaker": qnetd.tie_breaker}
    if qnetd.keep_active_partition is not None:
        net["keep_active_partition_tie_breaker"] = "on" if qnetd.keep_active_partition else "off"
    if qnetd.connect_timeout_ms is not None:
        net["connect_timeout"] = str(qnetd.connect_timeout_ms)
    return device, net


def _config(scenario: Scenario) -> CorosyncConfig:
    nodes = scenario.nodes
    device: dict[str, str] | None = None
    net: dict[str, str] | None = None
    if scenario.qnetd is not None:
        device, net = device_sections(scenario.qnetd)
    try:
        return cluster_config(
            nodes.count,
            dict(nodes.totem),
            dict(nodes.quorum),
            rings=nodes.rings,
            crypto=nodes.crypto,
            device=device,
            device_net=net,
            transport=nodes.transport,
        )
    except ConfigError as exc:
        line = nodes.line
        if scenario.qnetd is not None and exc.message.startswith("configuration error"):
            line = scenario.qnetd.line  # what corosync refuses next to a device
        raise ScenarioError(scenario.path, line, exc.message) from None


def build_factory(scenario: Scenario, seed: int) -> NodeFactory:
    """The node factory a scenario asks for, configured through a real corosync.conf.

    ``stack=full`` (the default): the daemon's ``NodeStack`` with its service
    engines; ``stack=srp``: bare Totem SRP cores. Either way the effective
    timers are those ``totem.config`` derives for the generated corosync.conf.
    A scenario with a quorum device gets its nodes from :func:`build_world`.
    """
    config = _config(scenario)
    if scenario.nodes.stack == "srp":
        return srp_factory(settings_from_config(config), seed, scenario.node_ids)
    return stack_factory(config, seed)


def build_world(scenario: Scenario, seed: int) -> QdeviceWorld | None:
    """The quorum device of a scenario with a ``qnetd`` statement (None without one);
    raises :class:`ScenarioError` where corosync or corosync-qdevice would refuse it."""
    qnetd = scenario.qnetd
    if qnetd is None:
        return None
    config = _config(scenario)
    try:
        return QdeviceWorld(config, seed, test_algorithm_enabled=qnetd.algorithm == "test")
    except QdeviceSettingsError as exc:
        raise ScenarioError(scenario.path, qnetd.line, str(exc)) from None


class _Runner:
    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        factory: NodeFactory,
        recorder: TraceRecorder,
        stop_after: int | None,
        world: QdeviceWorld | None = None,
        cfs: CfsLayer | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        quorum = dict(scenario.nodes.quorum)
        self.checker = Checker(
            allow_split_brain=quorum.get("two_node", "0") == "1",
            app_only=scenario.nodes.stack == "srp",
        )
        self.sim = Simulation(
            scenario.node_ids,
            factory,
            seed=seed,
            checker=self.checker,
            recorder=recorder,
            rings=scenario.nodes.rings,
            hosts=(QNETD_ID,) if world is not None else (),
            knet=scenario.nodes.transport == "knet",
        )
        self.world = world
        if world is not None:
            world.attach(self.sim)
        self.cfs = cfs
        if cfs is not None:
            cfs.attach(self.sim)
        self.expectations: list[ExpectationResult] = []
        self.spans: list[tuple[int, float, float]] = []
        """(line, start, end) of every statement, to place violations."""
        self.stop_after = stop_after
        self.current_line = 0
        """The line of the statement being applied."""

    def run(self) -> None:
        sim = self.sim
        nodes = self.scenario.nodes
        if nodes.autostart:
            sim.note("start all", nodes.line)
            for node_id in self.scenario.node_ids:
                sim.start(node_id)
        for statement in self.scenario.statements:
            if isinstance(statement, Nodes):
                continue
            start = sim.now
            self.current_line = statement.line
            self.apply(statement)
            self.spans.append((statement.line, start, sim.now))
            if self.stop_after is not None and statement.line >= self.stop_after:
                break

    # ------------------------------------------------------------------------------------
    def apply(self, statement: Statement) -> None:
        """Carry ``statement`` out with its verb's handler (:mod:`simulations.language`)."""
        verb = HANDLERS[type(statement)]
        if verb.noted:
            self.sim.note(statement.text, statement.line)
        if verb.apply is not None:
            verb.apply(self, statement)

    def qnetd_host(self) -> QnetdHost:
        if self.world is None:
            raise ScenarioError(self.scenario.path, 0, "this scenario has no qnetd")
        return self.world.qnetd

    # ------------------------------------------------------------------------------------
    def expect(self, statement: Expect) -> None:
        sim = self.sim
        check = CONDITIONS[statement.what].check
        detail: list[str] = []

        def holds() -> bool:
            detail.clear()
            result = check(self, statement, detail)
            return result != statement.negate

        line, text = statement.line, statement.text
        if statement.within is not None:
            probe = self._probe()
            ok = sim.run_for(statement.within, holds)
            probe[0] = False
            self._record(line, text, ok, sim.now, "" if ok else _why(detail, statement))
        elif statement.throughout is not None:
            end = sim.now + statement.throughout
            probe = self._probe()
            broke = sim.run_until(end, lambda: not holds())
            failed_at = sim.now
            failure = _why(detail, statement) if broke else ""
            if broke:
                sim.run_until(end)
            probe[0] = False
            self._record(line, text, not broke, failed_at if broke else sim.now, failure)
        else:
            ok = holds()
            self._record(line, text, ok, sim.now, "" if ok else _why(detail, statement))

    def _probe(self) -> list[bool]:
        """Wake the expectation up every few ms while it waits (counters change silently)."""
        active = [True]
        sim = self.sim

        def probe() -> None:
            if active[0]:
                sim.call_at(sim.now + _PROBE, probe)

        sim.call_at(sim.now + _PROBE, probe)
        return active

    def _record(self, line: int, text: str, ok: bool, at: float, detail: str) -> None:
        self.expectations.append(ExpectationResult(line, text, ok, at, detail))
        self.sim.note(f"expectation {'met' if ok else 'FAILED'}: {text}", line)


def _why(detail: list[str], statement: Expect) -> str:
    if statement.negate and not detail:
        return "the condition held"
    return "; ".join(detail)


def run_scenario(
    scenario: Scenario | str,
    seed: int | None = None,
    *,
    factory: NodeFactory | None = None,
    keep_trace: bool = False,
    logs: bool = False,
    stop_after_line: int | None = None,
    wall_clock: Callable[[], float] = time.perf_counter,
    max_events: int | None = None,
    max_wall_s: float | None = None,
) -> RunResult:
    """Run a scenario (object or text) and check it; raises :class:`ScenarioError` if invalid.

    ``max_events`` (simulator events: datagrams, timers, actions) and ``max_wall_s``
    (seconds of ``wall_clock``) bound the run: once one is used up the run stops and the
    result says so in ``budget_exceeded``, with the scenario cut after the statement
    being run as its reproduction. The event budget is deterministic (the same seed
    stops at the same event); the wall-time one is the backstop of a campaign.
    """
    if isinstance(scenario, str):
        scenario = parse_scenario(scenario)
    if seed is None:
        seed = scenario.seed if scenario.seed is not None else DEFAULT_SEED
    world = build_world(scenario, seed)
    if factory is None:
        factory = world.factory if world is not None else build_factory(scenario, seed)
    cfs = CfsLayer() if uses_cfs(scenario.statements) else None
    if cfs is not None:
        factory = cfs.wrap(factory)
    recorder = TraceRecorder(keep_full=keep_trace, logs=logs)
    runner = _Runner(scenario, seed, factory, recorder, stop_after_line, world, cfs)
    sim = runner.sim
    started = wall_clock()
    sim.max_events = max_events
    if max_wall_s is not None:
        limit = max_wall_s

        def over_time() -> str | None:
            spent = wall_clock() - started
            return f"{spent:.1f} s of wall time (budget {limit:g} s)" if spent > limit else None

        sim.budget_check = over_time
    stalled = ""
    try:
        runner.run()
    except BudgetExceeded as exc:
        stalled = f"line {runner.current_line}: {exc.reason}"
    wall = wall_clock() - started
    result = RunResult(
        path=scenario.path,
        seed=seed,
        expectations=runner.expectations,
        violations=list(sim.reports),
        simulated_s=sim.now,
        wall_s=wall,
        trace_digest=recorder.digest(),
        stats=_stats(runner),
        trace=recorder.full,
    )
    if sim.reports:
        first = sim.reports[0].violation
        result.reproduction = reproduction(scenario, seed, _line_at(runner.spans, first.time))
    elif stalled:
        result.budget_exceeded = stalled
        result.reproduction = reproduction(
            scenario, seed, runner.current_line, "a run over its budget"
        )
    if stalled:
        result.budget_exceeded = stalled
    return result


def _stats(runner: _Runner) -> dict[str, Any]:
    sim = runner.sim
    checker = runner.checker
    stats: dict[str, Any] = {
        "events": sim.events_processed,
        "deliveries_checked": checker.deliveries,
        "configurations_checked": checker.configurations,
        "network": dict(sorted(sim.network.counters.items())),
        "app_sent": sum(slot.app_sent for slot in sim.slots.values()),
        "max_gather_rate": checker.max_gather_rate,
        "stale_quorum_views_excused": checker.stale_views_excused,
    }
    if runner.world is not None:
        stats["qnetd"] = dict(sorted(runner.world.qnetd.status().items()))
        stats["streams"] = dict(sorted(runner.world.streams.counters.items()))
    return stats


def _line_at(spans: list[tuple[int, float, float]], when: float) -> int:
    for line, start, end in spans:
        if start <= when <= end:
            return line
    return spans[-1][0] if spans else 0


def reproduction(scenario: Scenario, seed: int, last_line: int, what: str = "a violation") -> str:
    """Scenario text up to ``last_line``, with the seed, that reproduces a violation."""
    keep = [
        s.text
        for s in scenario.statements
        if s.line <= last_line
        and not (isinstance(s, Expect) and s.within is None and s.throughout is None)
    ]
    header = f"# reproduces {what} of {scenario.path}: run with --seed {seed}"
    return "\n".join([header, f"seed {seed}", *keep]) + "\n"


def minimize(
    scenario: Scenario,
    seed: int,
    invariant: str,
    *,
    factory_for: Callable[[Scenario], NodeFactory] | None = None,
    budget: int = 60,
) -> Scenario:
    """Drop statements one at a time while a violation of ``invariant`` remains (same seed).

    Returns the smallest scenario found within ``budget`` runs. The ``nodes``
    statement stays; a statement is kept whenever removing it makes the
    scenario invalid or the violation disappear.
    """
    current = scenario
    runs = 0
    changed = True
    while changed and runs < budget:
        changed = False
        for statement in current.statements:
            if isinstance(statement, Nodes) or runs >= budget:
                continue
            lines = current.text.splitlines()
            lines[statement.line - 1] = "# " + lines[statement.line - 1]
            text = "\n".join(lines) + "\n"
            try:
                candidate = parse_scenario(text, current.path)
            except ScenarioError:
                continue
            runs += 1
            factory = factory_for(candidate) if factory_for else None
            try:
                result = run_scenario(candidate, seed, factory=factory)
            except ScenarioError:
                continue
            if any(r.violation.invariant == invariant for r in result.violations):
                current = candidate
                changed = True
                break
    return current
