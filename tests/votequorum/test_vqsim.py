"""Our votequorum against results recorded from Debian's corosync-vqsim 3.1.7.

``vqsim_recorded.json`` was produced by ``python -m tests.votequorum.vqsim``
(the real vqsim, each scenario's conf written to a temp dir). The replay test
always runs; the live test re-runs the scenarios through vqsim when it is
installed (a representative subset unless ``PYCOROSYNC_VQSIM_ALL=1``).
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.votequorum.vqsim import SCENARIOS, Scenario, report_from_json, run_ours, run_vqsim

RECORDED = {
    name: report_from_json(data)
    for name, data in json.loads(
        (Path(__file__).parent / "vqsim_recorded.json").read_text()
    ).items()
}
LIVE_SUBSET = ("4n-atb-lowest", "4n-atb-list", "3n-weighted", "2n-two-node")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_replay_matches_recorded_vqsim(scenario: Scenario) -> None:
    assert run_ours(scenario) == RECORDED[scenario.name]


@pytest.mark.timeout(150)
@pytest.mark.skipif(shutil.which("corosync-vqsim") is None, reason="corosync-vqsim not installed")
def test_recorded_results_still_hold_on_live_vqsim() -> None:
    everything = os.environ.get("PYCOROSYNC_VQSIM_ALL") == "1"
    chosen = [s for s in SCENARIOS if everything or s.name in LIVE_SUBSET]
    with ThreadPoolExecutor(2) as pool:
        live = list(pool.map(run_vqsim, chosen))
    for scenario, result in zip(chosen, live, strict=True):
        assert result == RECORDED[scenario.name], scenario.name
