"""``corosync-qdevice-tool -s [-v]`` for the in-daemon qdevice-net client (ref section 9).

:func:`snapshot` copies every figure the real tool prints out of a
:class:`~votequorum.qdevice.net_client.QdeviceNetClient` (``qdevice-ipc-cmd.c`` and
``qdevice-net-ipc-cmd.c``); :func:`render_status` prints them in its layout, tabs included;
:func:`status_json` is the machine form. Times are the client's (monotonic) ``now`` values,
converted to wall-clock time by the caller's ``wall`` function and printed as local
``YYYY-MM-DDTHH:MM:SS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qnetd.protocol.constants import (
    DecisionAlgorithm,
    Heuristics,
    TieBreakerMode,
    Vote,
    algorithm_str,
    heuristics_str,
    tls_supported_str,
)
from qnetd.protocol.tlv import NodeInfo, RingId
from votequorum.qdevice.events import ClientState
from votequorum.qdevice.net_client import QdeviceNetClient
from votequorum.qdevice.requests import QuorumNode
from votequorum.qdevice.settings import HeuristicsMode

__all__ = ["QdeviceStatus", "render_status", "snapshot", "status_json"]

_NODE_STATE = {1: "member", 2: "dead", 3: "leaving"}


@dataclass(frozen=True, slots=True)
class QdeviceStatus:
    """Everything ``corosync-qdevice-tool -sv`` shows, plus counters."""

    node_id: int
    timeout_ms: int
    sync_timeout_ms: int
    config_version: int | None
    config_nodes: tuple[NodeInfo, ...]
    heuristics_mode: str
    ring_id: RingId | None
    membership: tuple[int, ...]
    quorate: bool
    quorum_nodes: tuple[QuorumNode, ...]
    expected_votes: int
    last_poll: float | None
    """Wall-clock time of the last poll, None = never."""
    last_poll_cast_vote: bool
    cluster_name: str
    host: str
    port: int
    force_ip_version: int
    connect_timeout_ms: int
    heartbeat_interval_ms: int
    cast_vote_timer_interval_ms: int
    tls: int
    algorithm: int
    tie_breaker_mode: int
    tie_breaker_node_id: int
    kap: str
    poll_timer_running: bool
    poll_timer_casting: bool
    state: str
    client_state: str
    heuristics_latest: Heuristics
    heuristics_regular: Heuristics
    heuristics_membership: Heuristics
    heuristics_connect: Heuristics
    connected: bool
    using_tls: bool
    tls_client_cert_sent: bool
    connected_since: float | None
    echo_reply_received: float | None
    disconnect_reason: str | None
    reconnect_in: float | None
    cast_vote: str
    counters: dict[str, int]


def _kap(client: QdeviceNetClient) -> str:
    algorithm = client.settings.algorithm
    if algorithm == DecisionAlgorithm.TEST:
        return "Unsupported by algorithm"
    if algorithm in (DecisionAlgorithm.TWO_NODE_LMS, DecisionAlgorithm.LMS):
        return "Algorithm hard-coded"
    if not client.settings.keep_active_partition_tie_breaker:
        return "Disabled"
    if client.state != ClientState.CONNECTED or client.server_supports_kap:
        return "Enabled"
    return "Unsupported by QNetd"


def _state_text(client: QdeviceNetClient) -> str:
    state = client.state
    if state == ClientState.CONNECTED:
        return "Connected"
    if state in (ClientState.WAITING_PREINIT_REPLY, ClientState.WAITING_INIT_REPLY):
        return "Connecting"
    if state == ClientState.WAITING_CONNECT:
        return "Connect failed" if client.connect_failed_flag else "Connecting"
    return "Disconnected"


def snapshot(client: QdeviceNetClient, now: float, wall: Callable[[float], float]) -> QdeviceStatus:
    """The client's figures at ``now`` (monotonic); ``wall`` maps such times to epoch seconds."""
    s = client.settings

    def at(value: float | None) -> float | None:
        return None if value is None else wall(value)

    return QdeviceStatus(
        node_id=s.node_id,
        timeout_ms=s.timeout_ms,
        sync_timeout_ms=s.sync_timeout_ms,
        config_version=client.config_version,
        config_nodes=client.config_nodes,
        heuristics_mode=client.heuristics_mode,
        ring_id=client.vq_node_list_ring_id,
        membership=client.vq_node_list,
        quorate=client.vq_quorum_quorate,
        quorum_nodes=client.vq_quorum_nodes,
        expected_votes=client.vq_expected_votes,
        last_poll=at(client.last_poll_at),
        last_poll_cast_vote=client.last_poll_cast_vote,
        cluster_name=s.cluster_name,
        host=s.host,
        port=s.port,
        force_ip_version=s.force_ip_version,
        connect_timeout_ms=s.connect_timeout_ms,
        heartbeat_interval_ms=s.heartbeat_interval_ms,
        cast_vote_timer_interval_ms=s.cast_vote_timer_interval_ms,
        tls=int(s.tls),
        algorithm=int(s.algorithm),
        tie_breaker_mode=int(s.tie_breaker.mode),
        tie_breaker_node_id=s.tie_breaker.node_id,
        kap=_kap(client),
        poll_timer_running=client.cast_vote.running,
        poll_timer_casting=client.cast_vote.casting,
        state=_state_text(client),
        client_state=client.state.name,
        heuristics_latest=client.latest_heuristics,
        heuristics_regular=client.latest_regular_heuristics,
        heuristics_membership=client.latest_vq_heuristics,
        heuristics_connect=client.latest_connect_heuristics,
        connected=client.state == ClientState.CONNECTED,
        using_tls=client.using_tls,
        tls_client_cert_sent=client.tls_client_cert_sent,
        connected_since=at(client.connected_since),
        echo_reply_received=at(client.last_echo_reply_at),
        disconnect_reason=(
            None if client.disconnect_reason is None else client.disconnect_reason.name
        ),
        reconnect_in=None if client.reconnect_at is None else max(0.0, client.reconnect_at - now),
        cast_vote=Vote(client.cast_vote.vote).name,
        counters=dict(client.counters),
    )


def _time(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch))


def _tie_breaker(status: QdeviceStatus) -> str:
    if status.tie_breaker_mode == TieBreakerMode.LOWEST:
        return "Node with lowest node ID"
    if status.tie_breaker_mode == TieBreakerMode.HIGHEST:
        return "Node with highest node ID"
    return f"Node with node ID {status.tie_breaker_node_id}"


def render_status(status: QdeviceStatus, verbose: bool = False) -> str:
    """The text of ``corosync-qdevice-tool -s`` (``-v``: verbose), byte for byte."""
    out = ["Qdevice information\n", "-------------------\n", "Model:\t\t\tNet\n"]
    out.append(f"Node ID:\t\t{status.node_id}\n")
    if verbose:
        out.append(f"HB interval:\t\t{status.timeout_ms}ms\n")
        out.append(f"Sync HB interval:\t{status.sync_timeout_ms}ms\n")
    if status.config_version is not None:
        out.append(f"Configuration version:\t{status.config_version}\n")
    out.append("Configured node list:\n")
    for index, node in enumerate(status.config_nodes):
        line = f"    {index}\tNode ID = {node.node_id}"
        if node.data_center_id:
            line += f", Data center ID = {node.data_center_id}"
        out.append(line + "\n")
    if verbose:
        out.append(f"Heuristics:\t\t{HeuristicsMode.TEXT[status.heuristics_mode]}\n")
        ring = status.ring_id or RingId(0, 0)
        out.append(f"Ring ID:\t\t{ring.rep:x}.{ring.seq:x}\n")
    out.append("Membership node list:\t" + ", ".join(map(str, status.membership)) + "\n")
    if verbose:
        out.append(f"Quorate:\t\t{'Yes' if status.quorate else 'No'}\n")
        out.append("Quorum node list:\n")
        for index, qnode in enumerate(status.quorum_nodes):
            if qnode.node_id == 0:
                continue
            state = _NODE_STATE.get(qnode.state, "Unhandled votequorum node state")
            out.append(f"    {index}\tNode ID = {qnode.node_id}, State = {state}\n")
        out.append(f"Expected votes:\t\t{status.expected_votes}\n")
        if status.last_poll is None:
            out.append("Last poll call:\t\tNever\n")
        else:
            cast = " (cast vote)" if status.last_poll_cast_vote else ""
            out.append(f"Last poll call:\t\t{_time(status.last_poll)}{cast}\n")
    out.append("\n")
    out.append("Qdevice-net information\n----------------------\n")
    out.append(f"Cluster name:\t\t{status.cluster_name}\n")
    out.append(f"QNetd host:\t\t{status.host}:{status.port}\n")
    if verbose:
        if status.force_ip_version:
            out.append(f"Force IP version:\t{status.force_ip_version}\n")
        out.append(f"Connect timeout:\t{status.connect_timeout_ms}ms\n")
        out.append(f"HB interval:\t\t{status.heartbeat_interval_ms}ms\n")
        out.append(f"VQ vote timer interval:\t{status.cast_vote_timer_interval_ms}ms\n")
        out.append(f"TLS:\t\t\t{tls_supported_str(status.tls)}\n")
    out.append(f"Algorithm:\t\t{algorithm_str(status.algorithm)}\n")
    out.append(f"Tie-breaker:\t\t{_tie_breaker(status)}\n")
    if verbose:
        out.append(f"KAP Tie-breaker:\t{status.kap}\n")
        line = f"Poll timer running:\t{'Yes' if status.poll_timer_running else 'No'}"
        if status.poll_timer_casting:
            line += " (cast vote)"
        out.append(line + "\n")
    out.append(f"State:\t\t\t{status.state}\n")
    if status.heuristics_mode != HeuristicsMode.OFF:
        line = f"Heuristics result:\t{heuristics_str(status.heuristics_latest)}"
        if verbose:
            line += (
                f" (regular: {heuristics_str(status.heuristics_regular)}, "
                f"membership: {heuristics_str(status.heuristics_membership)}, "
                f"connect: {heuristics_str(status.heuristics_connect)})"
            )
        out.append(line + "\n")
    if verbose and status.connected:
        line = f"TLS active:\t\t{'Yes' if status.using_tls else 'No'}"
        if status.using_tls and status.tls_client_cert_sent:
            line += " (client certificate sent)"
        out.append(line + "\n")
        if status.connected_since is not None:
            out.append(f"Connected since:\t{_time(status.connected_since)}\n")
        if status.echo_reply_received is not None:
            out.append(f"Echo reply received:\t{_time(status.echo_reply_received)}\n")
    return "".join(out)


def status_json(status: QdeviceStatus) -> dict[str, Any]:
    """The machine-readable status (``pycorosync-qdevice-tool -s --json``)."""
    ring = status.ring_id
    return {
        "model": "Net",
        "node_id": status.node_id,
        "timeout_ms": status.timeout_ms,
        "sync_timeout_ms": status.sync_timeout_ms,
        "config_version": status.config_version,
        "config_nodes": [
            {"node_id": n.node_id, "data_center_id": n.data_center_id} for n in status.config_nodes
        ],
        "heuristics": status.heuristics_mode,
        "ring_id": None if ring is None else f"{ring.rep:x}.{ring.seq:x}",
        "membership": list(status.membership),
        "quorate": status.quorate,
        "quorum_nodes": [
            {"node_id": n.node_id, "state": _NODE_STATE.get(n.state, str(n.state))}
            for n in status.quorum_nodes
            if n.node_id
        ],
        "expected_votes": status.expected_votes,
        "last_poll": status.last_poll,
        "last_poll_cast_vote": status.last_poll_cast_vote,
        "net": {
            "cluster_name": status.cluster_name,
            "host": status.host,
            "port": status.port,
            "connect_timeout_ms": status.connect_timeout_ms,
            "heartbeat_interval_ms": status.heartbeat_interval_ms,
            "cast_vote_timer_interval_ms": status.cast_vote_timer_interval_ms,
            "tls": tls_supported_str(status.tls),
            "algorithm": algorithm_str(status.algorithm),
            "tie_breaker": _tie_breaker(status),
            "kap_tie_breaker": status.kap,
            "poll_timer_running": status.poll_timer_running,
            "cast_vote": status.cast_vote,
            "state": status.state,
            "client_state": status.client_state,
            "heuristics_result": heuristics_str(status.heuristics_latest),
            "tls_active": status.using_tls,
            "connected_since": status.connected_since,
            "echo_reply_received": status.echo_reply_received,
            "last_disconnect_reason": status.disconnect_reason,
            "reconnect_in": status.reconnect_in,
        },
        "counters": dict(status.counters),
    }
