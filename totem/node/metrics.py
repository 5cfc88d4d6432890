"""Prometheus metrics of a node, from its status (the ``status`` control operation).

Two families of names:

* ``ha_cluster_corosync_*``: what ClusterLabs' ha_cluster_exporter derives from
  ``corosync-quorumtool -p`` and ``corosync-cfgtool -s`` (its ``collector/corosync``), under
  its names, labels and help texts, so its Grafana dashboards and alerts work on our nodes
  unchanged:

  - ``ha_cluster_corosync_quorate``: 1 when the node is quorate;
  - ``ha_cluster_corosync_member_votes{node_id,node,local}``: the votes of each member of the
    quorum view (the ``Membership information`` lines, the quorum device's ``0 ... Qdevice``
    line included when a device is registered); ``local`` is ``"true"``/``"false"``;
  - ``ha_cluster_corosync_quorum_votes{type}``: ``expected_votes``, ``highest_expected``,
    ``total_votes`` and ``quorum``;
  - ``ha_cluster_corosync_rings{ring_id,node_id,number,address}``: one per ring (link) of this
    node, 1 when healthy and 0 when faulty; ``ring_id`` is the quorum view's ring id as the
    quorumtool prints it (``1.d``), ``address`` this node's address on the ring;
  - ``ha_cluster_corosync_ring_errors``: how many of those are faulty.

  A ring is faulty as corosync 2's redundant ring protocol says (``rrp_mode: passive``, the
  ``FAULTY`` of ``corosync-cfgtool -s``). knet has no such state (corosync 3's cfgtool prints
  none, and the exporter then reports no ring at all); we count a knet link faulty when it is
  down towards a node that is still a member, i.e. reached over another link.

* ``pycorosync_*``: our own -- Totem's token rotation time, retransmissions, dropped input by
  layer and reason, messages delivered, each node's link state and latency per link, CPG
  groups and their members, IPC connections, configuration reloads.

The families are computed from the status dictionary the tools read
(:meth:`totem.node.daemon.Daemon.status`), so a process that only reaches the node through
its control socket (the cluster filesystem daemon) exports the same metrics.
:class:`StatusCollector` adapts a status source to ``prometheus_client``'s collector protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

__all__ = [
    "CPG_SERVICE",
    "QUORUM_SERVICE",
    "VOTEQUORUM_SERVICE",
    "StatusCollector",
    "corosync_families",
    "daemon_families",
    "pycorosync_families",
]

VOTEQUORUM_SERVICE = "corosync vote quorum service v1.0"
QUORUM_SERVICE = "corosync cluster quorum service v0.1"
CPG_SERVICE = "corosync cluster closed process group service v1.01"
"""Service names (corosync's) under which the node's status lists each service."""

_QDEVICE_REGISTERED = 64
_QDEVICE_CAST_VOTE = 256
"""``VOTEQUORUM_INFO_QDEVICE_*`` flags (votequorum.h)."""

Metric = GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily


# ------------------------------------------------------------------------------------------
# ha_cluster_exporter's corosync collector
# ------------------------------------------------------------------------------------------
def corosync_families(status: Mapping[str, Any]) -> list[Metric]:
    """``ha_cluster_corosync_*`` of a node status."""
    node = status["node"]
    services = node.get("services", {})
    votequorum = services.get(VOTEQUORUM_SERVICE)
    quorum = services.get(QUORUM_SERVICE)
    out: list[Metric] = []
    quorate = GaugeMetricFamily(
        "ha_cluster_corosync_quorate", "Whether or not the cluster is quorate"
    )
    if votequorum is not None:
        quorate.add_metric([], 1 if votequorum["quorate"] else 0)
    elif quorum is not None:
        quorate.add_metric([], 1 if quorum["quorate"] else 0)
    out.append(quorate)
    out.extend(_ring_families(status, votequorum))
    if votequorum is not None:
        out.append(_quorum_votes(votequorum))
        out.append(_member_votes(status, votequorum))
    return out


def _quorum_votes(votequorum: Mapping[str, Any]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "ha_cluster_corosync_quorum_votes",
        "Cluster quorum votes; one line per type",
        labels=["type"],
    )
    for kind in ("expected_votes", "highest_expected", "total_votes", "quorum"):
        family.add_metric([kind], votequorum[kind])
    return family


def _names(status: Mapping[str, Any]) -> dict[int, str]:
    """The Name column of corosync-quorumtool: the node's name, else its first address."""
    names = {}
    for entry in status.get("nodelist", []):
        addresses = entry.get("addresses") or [""]
        names[entry["node_id"]] = entry.get("name") or addresses[0]
    return names


def _member_votes(status: Mapping[str, Any], votequorum: Mapping[str, Any]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "ha_cluster_corosync_member_votes",
        "How many votes each member node has contributed with to the current quorum",
        labels=["node_id", "node", "local"],
    )
    names = _names(status)
    me = votequorum["node_id"]
    nodes = {n["node_id"]: n for n in votequorum.get("nodes", [])}
    qdevice_shown = False
    for node_id in votequorum["members"]:
        info = nodes.get(node_id, {})
        flags = int(info.get("flags", 0))
        qdevice_shown = qdevice_shown or bool(flags & _QDEVICE_REGISTERED)
        local = "true" if node_id == me else "false"
        family.add_metric([str(node_id), names.get(node_id, ""), local], info.get("votes", 0))
    if qdevice_shown:
        qdevice = votequorum.get("qdevice", {})
        own_flags = int(nodes.get(me, {}).get("flags", 0))
        votes = qdevice.get("votes", 0) if own_flags & _QDEVICE_CAST_VOTE else 0
        family.add_metric(["0", qdevice.get("name") or "Qdevice", "false"], votes)
    return family


def _ring_health(status: Mapping[str, Any]) -> list[tuple[int, str, bool]]:
    """(ring number, this node's address on it, faulty) for each ring or knet link."""
    node = status["node"]
    knet = node.get("knet")
    me = status["node_id"]
    if knet is None:
        faulty = set(node.get("faulty_rings", []))
        return [
            (number, link.get("address", ""), number in faulty)
            for number, link in enumerate(status.get("links", []))
        ]
    members = set(node.get("members", []))
    own: Mapping[str, Any] = next((e for e in status.get("nodelist", []) if e["node_id"] == me), {})
    down: set[int] = set()
    for host in knet.get("hosts", []):
        if host["host_id"] == me or host["host_id"] not in members:
            continue
        for link in host.get("links", []):
            if not link.get("connected"):
                down.add(link["link"])
    return [
        (int(number), address, int(number) in down)
        for number, address in sorted(own.get("links", {}).items(), key=lambda kv: int(kv[0]))
    ]


def _ring_families(
    status: Mapping[str, Any], votequorum: Mapping[str, Any] | None
) -> list[GaugeMetricFamily]:
    rings = GaugeMetricFamily(
        "ha_cluster_corosync_rings",
        "The status of each Corosync ring; 1 means healthy, 0 means faulty.",
        labels=["ring_id", "node_id", "number", "address"],
    )
    ring_id = votequorum["ring_id"] if votequorum is not None else status["node"]["ring_id"]
    health = _ring_health(status)
    for number, address, faulty in health:
        rings.add_metric(
            [ring_id, str(status["node_id"]), str(number), address], 0 if faulty else 1
        )
    errors = GaugeMetricFamily(
        "ha_cluster_corosync_ring_errors", "The total number of faulty corosync rings"
    )
    errors.add_metric([], sum(1 for _n, _a, faulty in health if faulty))
    return [rings, errors]


# ------------------------------------------------------------------------------------------
# pycorosync_*
# ------------------------------------------------------------------------------------------
def pycorosync_families(status: Mapping[str, Any]) -> list[Metric]:
    """``pycorosync_*`` of a node status."""
    node = status["node"]
    stats = node.get("stats", {})
    info = InfoMetricFamily("pycorosync", "The node and its software")
    info.add_metric(
        [],
        {
            "version": str(status.get("version", "")),
            "cluster_name": str(status.get("cluster_name", "")),
            "transport": str(status.get("transport", "")),
            "node_id": str(status["node_id"]),
        },
    )
    out: list[Metric] = [info]
    out.append(
        _gauge(
            "pycorosync_totem_members", "Members of the current ring", len(node.get("members", []))
        )
    )
    state = GaugeMetricFamily(
        "pycorosync_totem_state",
        "Totem's membership state (1 for the current one)",
        labels=["state"],
    )
    for name in ("OPERATIONAL", "GATHER", "COMMIT", "RECOVERY"):
        state.add_metric([name], 1 if node.get("state") == name else 0)
    out.append(state)
    out.append(
        _gauge(
            "pycorosync_totem_synced",
            "Whether the services finished their synchronisation on the current ring",
            1 if node.get("synced") else 0,
        )
    )
    rotation = GaugeMetricFamily(
        "pycorosync_token_rotation_seconds",
        "Time between this node's token visits: the last one, the running average "
        "(weight 1/8) and the longest since start",
        labels=["stat"],
    )
    for stat, key in (
        ("last", "last_rotation_ms"),
        ("average", "avg_rotation_ms"),
        ("max", "max_rotation_ms"),
    ):
        rotation.add_metric([stat], float(stats.get(key, 0.0)) / 1000)
    out.append(rotation)
    for name, key, text in _SRP_COUNTERS:
        out.append(_counter(name, text, stats.get(key, 0)))
    out.append(_dropped(status))
    stack = node.get("stack", {})
    out.append(
        _counter(
            "pycorosync_messages_delivered",
            "Messages Totem delivered in agreed order to this node's services (sync included)",
            stack.get("delivered", 0),
        )
    )
    out.append(
        _counter(
            "pycorosync_messages_queued",
            "Messages this node's services handed to Totem for delivery to every node",
            stack.get("queued", 0),
        )
    )
    out.extend(_link_families(status))
    out.extend(_transport_families(status))
    out.extend(_cpg_families(node.get("services", {}).get(CPG_SERVICE)))
    out.append(_ipc_family(status))
    reloads = CounterMetricFamily(
        "pycorosync_config_reloads",
        "Configuration reloads (cfg RELOAD_CONFIG) accepted and refused",
        labels=["outcome"],
    )
    for outcome in ("accepted", "refused"):
        reloads.add_metric([outcome], status.get("reloads", {}).get(outcome, 0))
    out.append(reloads)
    out.append(
        _gauge(
            "pycorosync_loop_lag_max_seconds",
            "Longest delay of the event loop behind a timer since start",
            float(status.get("loop_lag_max_ms", 0.0)) / 1000,
        )
    )
    return out


_SRP_COUNTERS = (
    (
        "pycorosync_token_retransmits",
        "token_retransmits",
        "Tokens re-sent after the token retransmit timeout",
    ),
    (
        "pycorosync_mcast_retransmits",
        "mcast_retx",
        "Messages this node sent again on a retransmit request",
    ),
    (
        "pycorosync_retransmit_requests",
        "rtr_requested",
        "Sequence numbers this node put on the token's retransmit list",
    ),
    ("pycorosync_tokens_received", "orf_token_rx", "ORF tokens received"),
    ("pycorosync_mcasts_received", "mcast_rx", "Totem multicast messages received"),
    ("pycorosync_mcasts_sent", "mcast_tx", "Totem multicast messages sent"),
    (
        "pycorosync_memberships_formed",
        "operational_entered",
        "Times Totem entered the OPERATIONAL state",
    ),
    (
        "pycorosync_consensus_timeouts",
        "consensus_timeouts",
        "Consensus timeouts while forming a membership",
    ),
    (
        "pycorosync_token_losses",
        "operational_token_lost",
        "Tokens lost in the OPERATIONAL state (a processor failed)",
    ),
)


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text)
    family.add_metric([], value)
    return family


def _counter(name: str, text: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, text)
    family.add_metric([], value)
    return family


def _dropped(status: Mapping[str, Any]) -> CounterMetricFamily:
    """Input thrown away, by the layer that refused it and why."""
    node = status["node"]
    family = CounterMetricFamily(
        "pycorosync_dropped",
        "Received input dropped, by layer and reason",
        labels=["layer", "reason"],
    )
    rows: dict[tuple[str, str], int] = {}

    def add(layer: str, counts: Mapping[str, Any] | None) -> None:
        for reason, count in (counts or {}).items():
            rows[(layer, str(reason))] = rows.get((layer, str(reason)), 0) + int(count)

    add("totem", node.get("stats", {}).get("dropped"))
    stack = node.get("stack", {})
    add(
        "totempg",
        {
            k: stack.get(k, 0)
            for k in ("bad_packet", "byteswapped", "bad_group_frame", "unknown_group")
        },
    )
    if "knet" in node:
        add("knet", node["knet"].get("dropped"))
    add("rrp", node.get("rrp", {}).get("dropped"))
    crypto = node.get("crypto")
    if isinstance(crypto, Mapping):
        add("crypto", crypto.get("dropped"))
    for link in status.get("links", []):
        counters = link.get("counters", {})
        add(
            "transport",
            {k: counters.get(k, 0) for k in ("rx_unlisted", "rx_oversized", "rx_errors")},
        )
    for (layer, reason), count in sorted(rows.items()):
        family.add_metric([layer, reason], count)
    return family


def _link_families(status: Mapping[str, Any]) -> list[Metric]:
    """Each other node's state on each link: knet's view, or the ring's for udp/udpu."""
    me = status["node_id"]
    node = status["node"]
    connected = GaugeMetricFamily(
        "pycorosync_link_connected",
        "Whether the link to a node is up (knet: connected; udp/udpu: the node is a member "
        "and the ring is not faulty)",
        labels=["node_id", "link"],
    )
    families: list[Metric] = [connected]
    knet = node.get("knet")
    if knet is None:
        members = set(node.get("members", []))
        faulty = set(node.get("faulty_rings", []))
        for number in range(len(status.get("links", []))):
            for entry in status.get("nodelist", []):
                if entry["node_id"] == me:
                    continue
                up = entry["node_id"] in members and number not in faulty
                connected.add_metric([str(entry["node_id"]), str(number)], 1 if up else 0)
        return families
    latency = GaugeMetricFamily(
        "pycorosync_link_latency_seconds",
        "Average round trip of knet's pings on the link",
        labels=["node_id", "link"],
    )
    enabled = GaugeMetricFamily(
        "pycorosync_link_enabled",
        "Whether knet's link to a node is enabled",
        labels=["node_id", "link"],
    )
    mtu = GaugeMetricFamily(
        "pycorosync_link_mtu_bytes", "knet's path MTU of the link", labels=["node_id", "link"]
    )
    downs = CounterMetricFamily(
        "pycorosync_link_down", "Times knet's link went down", labels=["node_id", "link"]
    )
    packets = CounterMetricFamily(
        "pycorosync_link_packets", "Packets on the link", labels=["node_id", "link", "direction"]
    )
    octets = CounterMetricFamily(
        "pycorosync_link_bytes", "Bytes on the link", labels=["node_id", "link", "direction"]
    )
    reachable = GaugeMetricFamily(
        "pycorosync_knet_host_reachable",
        "Whether knet has a usable link to the node",
        labels=["node_id"],
    )
    for host in knet.get("hosts", []):
        host_id = str(host["host_id"])
        if host["host_id"] == me:
            continue
        reachable.add_metric([host_id], 1 if host.get("reachable") else 0)
        for link in host.get("links", []):
            labels = [host_id, str(link["link"])]
            stats = link.get("stats", {})
            connected.add_metric(labels, 1 if link.get("connected") else 0)
            enabled.add_metric(labels, 1 if link.get("enabled") else 0)
            latency.add_metric(labels, float(link.get("latency", 0)) / 1_000_000)
            mtu.add_metric(labels, link.get("mtu", 0))
            downs.add_metric(labels, stats.get("down_count", 0))
            for direction in ("rx", "tx"):
                packets.add_metric([*labels, direction], stats.get(f"{direction}_total_packets", 0))
                octets.add_metric([*labels, direction], stats.get(f"{direction}_total_bytes", 0))
    families += [latency, enabled, mtu, downs, packets, octets, reachable]
    return families


def _transport_families(status: Mapping[str, Any]) -> list[Metric]:
    """The sockets under the links: datagrams in and out, send and receive errors."""
    datagrams = CounterMetricFamily(
        "pycorosync_transport_datagrams",
        "Datagrams through this node's socket of each ring or link",
        labels=["link", "direction"],
    )
    errors = CounterMetricFamily(
        "pycorosync_transport_errors",
        "Socket errors of each ring or link",
        labels=["link", "direction"],
    )
    for number, link in enumerate(status.get("links", [])):
        counters = link.get("counters", {})
        label = str(link.get("link", number))
        for direction in ("rx", "tx"):
            datagrams.add_metric([label, direction], counters.get(direction, 0))
            errors.add_metric([label, direction], counters.get(f"{direction}_errors", 0))
    return [datagrams, errors]


def _cpg_families(cpg: Mapping[str, Any] | None) -> list[Metric]:
    groups = GaugeMetricFamily(
        "pycorosync_cpg_groups", "Process groups with members in the cluster"
    )
    members = GaugeMetricFamily(
        "pycorosync_cpg_group_members",
        "Processes in each process group, cluster-wide",
        labels=["group"],
    )
    local = GaugeMetricFamily(
        "pycorosync_cpg_local_members", "Processes of this node in process groups"
    )
    if cpg is None:
        return [groups, members, local]
    table = cpg.get("groups", {})
    groups.add_metric([], len(table))
    for name, processes in sorted(table.items()):
        members.add_metric([name], len(processes))
    local.add_metric([], len(cpg.get("local", [])))
    return [groups, members, local]


def _ipc_family(status: Mapping[str, Any]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "pycorosync_ipc_connections",
        "Client connections: libqb IPC (corosync's client libraries) per service, and the "
        "control socket (pycorosync's tools and Python clients)",
        labels=["kind", "service"],
    )
    ipc = status.get("ipc")
    if isinstance(ipc, Mapping):
        for service, count in sorted(ipc.get("services", {}).items()):
            family.add_metric(["libqb", service], count)
    family.add_metric(["control", ""], status.get("control_connections", 0))
    return family


def daemon_families(status: Mapping[str, Any]) -> list[Metric]:
    """Every family of a node status."""
    return corosync_families(status) + pycorosync_families(status)


class StatusCollector(Collector):
    """A ``prometheus_client`` collector over a status source (None: nothing to export now,
    e.g. while the cluster filesystem's engine is down)."""

    def __init__(
        self,
        source: Callable[[], Mapping[str, Any] | None],
        families: Callable[[Mapping[str, Any]], Iterable[Metric]] = daemon_families,
    ) -> None:
        self._source = source
        self._families = families

    def collect(self) -> Iterator[Metric]:
        status = self._source()
        if status is not None:
            yield from self._families(status)

    def describe(self) -> Iterator[Metric]:
        return iter(())


def samples(families: Iterable[Metric]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by (name, sorted labels): what tests compare."""
    out = {}
    for family in families:
        for sample in family.samples:
            assert isinstance(sample, Sample)
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out
