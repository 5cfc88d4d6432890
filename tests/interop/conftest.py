"""Fixtures for interop tests against real corosync 3.1.7 in network namespaces.

Tests that need real clusters (those marked ``interop``, and every test using the
``make_cluster`` fixture, which gets the marker automatically) are skipped with the reason when
this machine cannot run them: not root, ``ip``/``unshare``/``nsenter``/... missing, or corosync
not installed (``.ci/run`` installs it when it can).  Pure tests in this directory (parsers,
configuration text, pcap reading) always run.  Select or deselect with ``-m interop``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.harness import Cluster, environment_problem

_HERE = Path(__file__).resolve().parent
_PROBLEM = environment_problem()

MakeCluster = Callable[..., Cluster]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents and "make_cluster" in getattr(
            item, "fixturenames", ()
        ):
            item.add_marker(pytest.mark.interop)


@pytest.fixture(autouse=True)
def _interop_requirements(request: pytest.FixtureRequest) -> None:
    if _PROBLEM is not None and request.node.get_closest_marker("interop") is not None:
        pytest.skip(f"real-corosync interop unavailable: {_PROBLEM}")


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[MakeCluster]:
    """``make_cluster(n, transport, **kw)`` -> a set-up `Cluster`, torn down after the test.

    Each cluster's logs and configs are copied to ``tmp_path/cluster<k>`` at teardown.
    """
    clusters: list[Cluster] = []

    def make(*args: Any, **kwargs: Any) -> Cluster:
        kwargs.setdefault("keep_logs", tmp_path / f"cluster{len(clusters)}")
        cluster = Cluster(*args, **kwargs)
        clusters.append(cluster)
        cluster.setup()
        return cluster

    yield make
    for cluster in reversed(clusters):
        cluster.close()
        if cluster.keep_logs is not None:
            print(f"interop cluster {cluster!r}: logs kept in {cluster.keep_logs}")
