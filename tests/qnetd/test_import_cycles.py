"""qnetd's modules import each other without cycles (the server core and its connections meet
through the ``ConnectionHost`` protocol, the algorithms through ``AlgorithmContext``)."""

from __future__ import annotations

from tests.import_graph import cycles, import_graph, modules_of


def test_qnetd_has_no_import_cycle() -> None:
    graph = import_graph(modules_of(["qnetd"]))
    assert "qnetd.server.instance" in graph
    assert "qnetd.server.client" in graph["qnetd.server.instance"]
    assert cycles(graph) == []


def test_detector_finds_a_type_only_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
