"""Every scenario of the library runs with its expectations met and no invariant violated."""

from __future__ import annotations

import pytest

from simulations.library import SCENARIO_DIR, library_path, library_scenarios
from simulations.runner import run_scenario
from simulations.scenario import parse_scenario

SCENARIOS = library_scenarios()


def test_the_library_covers_the_failure_stories() -> None:
    names = {name for name, _ in SCENARIOS}
    assert {
        "token-loss",
        "retransmit-storm",
        "packets-behind-token",
        "oneway-link",
        "two-node-split",
        "pause-gc-stall",
        "mtu-black-hole",
    } <= names
    for _name, path in SCENARIOS:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# "), f"{path.name} must start with a one-line summary"


def test_library_lookup() -> None:
    assert library_path("token-loss") == SCENARIO_DIR / "token-loss.txt"
    assert library_path("token-loss.txt") == SCENARIO_DIR / "token-loss.txt"
    assert library_path("../pyproject") is None
    assert library_path("no-such-scenario") is None


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("name", "path"), SCENARIOS, ids=[name for name, _ in SCENARIOS])
def test_library_scenario(name: str, path: object) -> None:
    scenario = parse_scenario(path.read_text(), str(path))  # type: ignore[attr-defined]
    result = run_scenario(scenario)
    failed = [f"line {e.line}: {e.text}: {e.detail}" for e in result.expectations if not e.ok]
    violations = [str(r.violation) for r in result.violations]
    assert not failed and not violations, "\n".join(failed + violations)
    assert result.expectations, "a library scenario must check something"
