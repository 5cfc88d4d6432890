"""Prometheus metrics of a qnetd (``pycorosync-qnetd --metrics HOST:PORT``).

* ``pycorosync_qnetd_clients``, ``pycorosync_qnetd_clusters``: connected clients (qdevice
  nodes) and clusters, as ``corosync-qnetd-tool -s`` counts them;
* ``pycorosync_qnetd_cluster_clients{cluster,algorithm}``: the clients of each cluster;
* ``pycorosync_qnetd_node_vote{cluster,node_id,vote}``: 1 for qnetd's decision in force for
  each node, the last ``ACK`` or ``NACK`` it sent (the parenthesis of the ``Vote:`` line of
  ``corosync-qnetd-tool -l``; a later ``NO_CHANGE`` or ``ASK_LATER`` keeps it);
* ``pycorosync_qnetd_decisions_total{vote}``: every vote sent (a reply to a node list, an
  ask-for-vote, a heuristics change, or a vote info message), by vote;
* ``pycorosync_qnetd_messages_total``, ``pycorosync_qnetd_decode_errors_total``,
  ``pycorosync_qnetd_server_errors_sent_total``, ``pycorosync_qnetd_connections_refused_total``
  and ``pycorosync_qnetd_disconnects_total{reason}`` from the server's counters.

Collected on the daemon's loop (:class:`totem.node.metrics_http.MetricsServer`).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from qnetd.protocol.constants import Vote, algorithm_str
from qnetd.server.instance import QnetdServer

__all__ = ["QnetdCollector", "qnetd_families"]

_VOTES = (Vote.ACK, Vote.NACK, Vote.ASK_LATER, Vote.WAIT_FOR_REPLY, Vote.NO_CHANGE)


def qnetd_families(server: QnetdServer) -> list[GaugeMetricFamily | CounterMetricFamily]:
    """Every family of the server now."""
    clients = GaugeMetricFamily("pycorosync_qnetd_clients", "Connected clients")
    clients.add_metric([], len(server.connections))
    clusters = GaugeMetricFamily("pycorosync_qnetd_clusters", "Connected clusters")
    clusters.add_metric([], len(server.clusters))
    per_cluster = GaugeMetricFamily(
        "pycorosync_qnetd_cluster_clients",
        "Clients of each cluster, with the cluster's decision algorithm",
        labels=["cluster", "algorithm"],
    )
    votes = GaugeMetricFamily(
        "pycorosync_qnetd_node_vote",
        "The decision in force for each node: the last ACK or NACK sent (1 for it)",
        labels=["cluster", "node_id", "vote"],
    )
    for cluster in server.clusters:
        name = cluster.name_text
        algorithm = algorithm_str(cluster.clients[0].decision_algorithm) if cluster.clients else ""
        per_cluster.add_metric([name, algorithm], len(cluster.clients))
        for client in cluster.clients:
            last = client.last_sent_ack_nack_vote
            if last in (Vote.ACK, Vote.NACK):
                votes.add_metric([name, str(client.node_id), Vote(last).name], 1)
    counters = server.counters
    decisions = CounterMetricFamily(
        "pycorosync_qnetd_decisions", "Votes sent to nodes, by vote", labels=["vote"]
    )
    for vote in _VOTES:
        decisions.add_metric([vote.name], counters.get("votes_" + vote.name.lower(), 0))
    disconnects = CounterMetricFamily(
        "pycorosync_qnetd_disconnects", "Clients disconnected, by reason", labels=["reason"]
    )
    for key, count in sorted(counters.items()):
        if key.startswith("disconnects_"):
            disconnects.add_metric([key.removeprefix("disconnects_")], count)
    out: list[GaugeMetricFamily | CounterMetricFamily] = [
        clients,
        clusters,
        per_cluster,
        votes,
        decisions,
        disconnects,
    ]
    for key, text in (
        ("messages", "Messages received from clients"),
        ("decode_errors", "Messages that could not be decoded"),
        ("server_errors_sent", "Error replies sent to misbehaving clients"),
        ("connections_refused", "Connections refused (the client limit was reached)"),
    ):
        family = CounterMetricFamily(f"pycorosync_qnetd_{key}", text)
        family.add_metric([], counters.get(key, 0))
        out.append(family)
    return out


class QnetdCollector(Collector):
    """``prometheus_client`` collector of a running server."""

    def __init__(self, server: QnetdServer) -> None:
        self.server = server

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield from qnetd_families(self.server)

    def describe(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        return iter(())
