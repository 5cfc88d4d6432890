"""qnetd decision algorithms as pure modules (ref qnetd-protocol.md section 7).

``ALGORITHMS`` maps the DECISION_ALGORITHM wire value to the algorithm object the server
calls; the list mirrors ``qnetd_static_supported_decision_algorithms``.
"""

from __future__ import annotations

from qnetd.algorithms.base import (
    Algorithm,
    AlgorithmContext,
    AlgorithmResult,
    TimerResult,
)
from qnetd.algorithms.ffsplit import FfsplitAlgorithm
from qnetd.algorithms.lms import LmsAlgorithm
from qnetd.algorithms.test import TestAlgorithm
from qnetd.algorithms.twonodelms import TwoNodeLmsAlgorithm
from qnetd.protocol.constants import DecisionAlgorithm

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "AlgorithmContext",
    "AlgorithmResult",
    "FfsplitAlgorithm",
    "LmsAlgorithm",
    "TestAlgorithm",
    "TimerResult",
    "TwoNodeLmsAlgorithm",
]

ALGORITHMS: dict[int, Algorithm] = {
    DecisionAlgorithm.TEST: TestAlgorithm(),
    DecisionAlgorithm.FFSPLIT: FfsplitAlgorithm(),
    DecisionAlgorithm.TWO_NODE_LMS: TwoNodeLmsAlgorithm(),
    DecisionAlgorithm.LMS: LmsAlgorithm(),
}
