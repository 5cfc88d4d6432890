"""The cluster simulator: the real protocol cores on a virtual clock and network.

Modules, one concept each:

* :mod:`simulations.cluster` -- the deterministic event engine (:class:`Simulation`)
* :mod:`simulations.network`, :mod:`simulations.latency` -- links, faults, delay distributions
* :mod:`simulations.nodes`, :mod:`simulations.stacknode` -- the node objects it drives:
  bare SRP cores or the daemon's full ``NodeStack``
* :mod:`simulations.checker` -- the online safety checker (EVS, membership, quorum)
* :mod:`simulations.scenario`, :mod:`simulations.runner` -- the scenario language and its runs;
  :mod:`simulations.language` -- its statements, each keyword registered once with its
  dataclass (:mod:`simulations.statements`), parser and handler
* :mod:`simulations.faults` -- random fault schedules; :mod:`simulations.sweep` -- sweeps
* :mod:`simulations.vq` -- corosync-vqsim's commands; :mod:`simulations.cli` -- ``pycorosync-sim``
"""

from simulations.checker import Checker, Violation
from simulations.cluster import Simulation, Traffic
from simulations.runner import RunResult, minimize, run_scenario
from simulations.scenario import Scenario, ScenarioError, parse_scenario

__all__ = [
    "Checker",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "Traffic",
    "Violation",
    "minimize",
    "parse_scenario",
    "run_scenario",
]
