"""No import cycle anywhere, counting imports behind ``TYPE_CHECKING`` and inside functions.

A module that names its builder, even only for a type, is tied to it: the README's "How it
is built" says each part sees what builds it through a protocol declared beside it.
"""

from __future__ import annotations

from tests.import_graph import cycles, import_graph, modules_of

PACKAGES = ["totem", "votequorum", "qnetd", "simulations", "pvecluster", "bench"]


def test_no_import_cycle_in_the_product() -> None:
    graph = import_graph(modules_of(PACKAGES))
    assert "pvecluster.cfsd.daemon" in graph
    assert cycles(graph) == []
