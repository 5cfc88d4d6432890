"""Status and client listing of a running server (``qnetd-ipc-cmd.c``, ref section 9).

:func:`status_text` and :func:`list_text` produce byte-for-byte the text of
``corosync-qnetd-tool -s`` / ``-l`` (tabs included, see ``ref/samples/qdevice-*.txt``);
:func:`status_dict` and :func:`list_dict` are the same data for ``--json``.
"""

from __future__ import annotations

from typing import Any

from qnetd.model import Cluster, NodeList, QnetdClient, cluster_name_str
from qnetd.protocol.constants import (
    DecisionAlgorithm,
    Heuristics,
    TieBreakerMode,
    TlsSupported,
    Vote,
    algorithm_str,
    heuristics_str,
    tls_supported_str,
    vote_str,
)
from qnetd.server.instance import QnetdServer

__all__ = ["list_dict", "list_text", "status_dict", "status_text"]


def _address(server: QnetdServer) -> str:
    cfg = server.config
    return f"{cfg.host_addr if cfg.host_addr is not None else '*'}:{cfg.host_port}"


def _tls_text(server: QnetdServer) -> str:
    cfg = server.config
    suffix = (
        " (client certificate required)"
        if cfg.tls_supported != TlsSupported.UNSUPPORTED and cfg.tls_client_cert_required
        else ""
    )
    return tls_supported_str(cfg.tls_supported) + suffix


def status_text(server: QnetdServer, verbose: bool = False) -> str:
    """``qnetd_ipc_cmd_status``."""
    cfg = server.config
    out = [
        f"QNetd address:\t\t\t{_address(server)}\n",
        f"TLS:\t\t\t\t{_tls_text(server)}\n",
        f"Connected clients:\t\t{len(server.connections)}\n",
        f"Connected clusters:\t\t{len(server.clusters)}\n",
    ]
    if verbose:
        if cfg.max_clients:
            out.append(f"Maximum allowed clients:\t{cfg.max_clients}\n")
        adv = cfg.advanced
        out.append(
            "Maximum send/receive size:\t"
            f"{adv.max_client_send_size}/{adv.max_client_receive_size} bytes\n"
        )
    return "".join(out)


def status_dict(server: QnetdServer, verbose: bool = False) -> dict[str, Any]:
    cfg = server.config
    adv = cfg.advanced
    data: dict[str, Any] = {
        "qnetd_address": _address(server),
        "host": cfg.host_addr,
        "port": cfg.host_port,
        "tls": tls_supported_str(cfg.tls_supported).lower(),
        "tls_client_certificate_required": cfg.tls_client_cert_required,
        "connected_clients": len(server.connections),
        "connected_clusters": len(server.clusters),
        "maximum_allowed_clients": cfg.max_clients or None,
        "maximum_send_size": adv.max_client_send_size,
        "maximum_receive_size": adv.max_client_receive_size,
        "counters": dict(sorted(server.counters.items())),
    }
    return data


def _kap_active(cluster: Cluster) -> bool:
    return all(
        c.decision_algorithm == DecisionAlgorithm.FFSPLIT and c.keep_active_partition_tie_breaker
        for c in cluster.clients
    )


def _tie_breaker_text(client: QnetdClient) -> str:
    tb = client.tie_breaker
    if tb.mode == TieBreakerMode.LOWEST:
        return "Node with lowest node ID"
    if tb.mode == TieBreakerMode.HIGHEST:
        return "Node with highest node ID"
    return f"Node with node ID {tb.node_id}"


def _node_list_text(nodes: NodeList) -> str:
    return ", ".join(
        f"{n.node_id} ({n.data_center_id})" if n.data_center_id else str(n.node_id)
        for n in nodes.nodes
    )


def _client_text(client: QnetdClient, verbose: bool) -> list[str]:
    out = [f"    Node ID {client.node_id}:\n", f"        Client address:\t\t{client.addr_str}\n"]
    if verbose:
        out.append(f"        HB interval:\t\t{client.heartbeat_interval}ms\n")
    if client.config_version is not None:
        out.append(f"        Configuration version:\t{client.config_version}\n")
    if client.configuration_node_list:
        out.append(
            f"        Configured node list:\t{_node_list_text(client.configuration_node_list)}\n"
        )
    if verbose:
        out.append(f"        Ring ID:\t\t{client.last_ring_id}\n")
    if client.last_membership_node_list:
        out.append(
            f"        Membership node list:\t{_node_list_text(client.last_membership_node_list)}\n"
        )
    if client.last_heuristics != Heuristics.UNDEFINED or verbose:
        line = f"        Heuristics:\t\t{heuristics_str(client.last_heuristics)}"
        if verbose:
            line += (
                f" (membership: {heuristics_str(client.last_membership_heuristics)}, "
                f"regular: {heuristics_str(client.last_regular_heuristics)})"
            )
        out.append(line + "\n")
    if verbose:
        line = f"        TLS active:\t\t{'Yes' if client.tls_started else 'No'}"
        if client.tls_started and client.tls_peer_certificate_verified:
            line += " (client certificate verified)"
        out.append(line + "\n")
    if client.last_sent_vote != Vote.UNDEFINED:
        line = f"        Vote:\t\t\t{vote_str(client.last_sent_vote)}"
        if client.last_sent_ack_nack_vote != Vote.UNDEFINED:
            line += f" ({vote_str(client.last_sent_ack_nack_vote)})"
        out.append(line + "\n")
    return out


def _selected(server: QnetdServer, cluster_name: str | None) -> list[Cluster]:
    return [
        c for c in server.clusters if not cluster_name or cluster_name_str(c.name) == cluster_name
    ]


def list_text(server: QnetdServer, verbose: bool = False, cluster_name: str | None = None) -> str:
    """``qnetd_ipc_cmd_list``; ``cluster_name`` ("" or None = all) filters by name."""
    out: list[str] = []
    for cluster in _selected(server, cluster_name):
        out.append(f'Cluster "{cluster.name_text}":\n')
        for i, client in enumerate(cluster.clients):
            if i == 0:
                kap = " (KAP Tie-breaker)" if _kap_active(cluster) else ""
                out.append(f"    Algorithm:\t\t{algorithm_str(client.decision_algorithm)}{kap}\n")
                out.append(f"    Tie-breaker:\t{_tie_breaker_text(client)}\n")
            out.extend(_client_text(client, verbose))
    return "".join(out)


def _vote_name(vote: Vote) -> str | None:
    return None if vote == Vote.UNDEFINED else vote.name


def _nodes_json(nodes: NodeList) -> list[dict[str, Any]]:
    return [
        {
            "node_id": n.node_id,
            "data_center_id": n.data_center_id or None,
            "node_state": None if n.node_state == 0 else n.node_state.name.lower(),
        }
        for n in nodes.nodes
    ]


def list_dict(
    server: QnetdServer, verbose: bool = False, cluster_name: str | None = None
) -> dict[str, Any]:
    clusters = []
    for cluster in _selected(server, cluster_name):
        first = cluster.clients[0] if cluster.clients else None
        clients = []
        for c in cluster.clients:
            clients.append(
                {
                    "node_id": c.node_id,
                    "client_address": c.addr_str,
                    "heartbeat_interval_ms": c.heartbeat_interval,
                    "config_version": c.config_version,
                    "configured_node_list": _nodes_json(c.configuration_node_list),
                    "ring_id": str(c.last_ring_id),
                    "membership_node_list": _nodes_json(c.last_membership_node_list),
                    "quorum_node_list": _nodes_json(c.last_quorum_node_list),
                    "heuristics": c.last_heuristics.name.lower(),
                    "membership_heuristics": c.last_membership_heuristics.name.lower(),
                    "regular_heuristics": c.last_regular_heuristics.name.lower(),
                    "tls_active": c.tls_started,
                    "tls_client_certificate_verified": c.tls_peer_certificate_verified,
                    "keep_active_partition_tie_breaker": c.keep_active_partition_tie_breaker,
                    "vote": _vote_name(c.last_sent_vote),
                    "last_ack_nack_vote": _vote_name(c.last_sent_ack_nack_vote),
                }
            )
        clusters.append(
            {
                "name": cluster.name_text,
                "algorithm": None
                if first is None
                else DecisionAlgorithm(first.decision_algorithm).name.lower(),
                "algorithm_text": (
                    None if first is None else algorithm_str(first.decision_algorithm)
                ),
                "kap_tie_breaker": _kap_active(cluster),
                "tie_breaker": None
                if first is None
                else {
                    "mode": first.tie_breaker.mode.name.lower(),
                    "node_id": first.tie_breaker.node_id
                    if first.tie_breaker.mode == TieBreakerMode.NODE_ID
                    else None,
                },
                "clients": clients,
            }
        )
    return {"clusters": clusters}
