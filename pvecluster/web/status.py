"""The panel's view of the cluster, and the timeline of its changes, as pure functions.

:func:`build_snapshot` turns what a node knows into one JSON-able object for the browser:

* the replicated ``corosync.conf`` (cluster name, ``config_version``, transport, secauth,
  the nodelist with votes and link addresses, the quorum device; ref cluster-manager.md 1.5);
* the filesystem daemon's own status (local or cluster mode, quorate, DFSM mode);
* the engine's ``status`` (membership, links: knet's per-node link status and latency, or
  the udp/udpu rings), its ``quorum.status`` (expected, highest expected, total, quorum,
  flags: ``corosync-quorumtool -s``) and, when a quorum device runs, ``qdevice.status``.

A node is *online* when it is in this node's votequorum membership (what ``pvecm nodes``
lists); when this node's engine does not answer nobody's state is known (``None``).

:func:`timeline` compares two snapshots and says what changed, in the operator's words:
nodes joining and leaving the membership, quorum lost and regained, expected votes, the
configuration version, nodes added to and removed from the configuration, the quorum
device, link status and this node's engine. Time is an argument; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pvecluster.corosync.conf import ConfError, CorosyncConf, parse_conf

__all__ = ["TimelineEntry", "build_snapshot", "qdevice_configured", "timeline"]

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One change: ``kind`` is membership, quorum, config, qdevice, link or engine."""

    time: float
    kind: str
    text: str
    level: str = "info"
    """``info``, ``ok`` (something came back) or ``warning`` (something went away)."""

    def to_json(self) -> Json:
        return {"time": self.time, "kind": self.kind, "text": self.text, "level": self.level}


# ---------------------------------------------------------------------- snapshot
def _int(value: Any, default: int | None = None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _cluster(conf: CorosyncConf) -> Json:
    totem = conf.main.get("totem") or {}
    return {
        "name": totem.get("cluster_name"),
        "config_version": _int(totem.get("config_version")),
        "transport": totem.get("transport", "knet"),
        "secauth": totem.get("secauth", "off"),
        "nodes": len(conf.nodelist),
    }


def _qdevice_config(conf: CorosyncConf) -> Json | None:
    device = (conf.main.get("quorum") or {}).get("device")
    if not isinstance(device, dict):
        return None
    net: Json = device["net"] if isinstance(device.get("net"), dict) else {}
    return {
        "model": device.get("model"),
        "host": net.get("host"),
        "port": _int(net.get("port"), 5403),
        "algorithm": net.get("algorithm"),
        "tls": net.get("tls", "on"),
        "votes": _int(device.get("votes")),
    }


def qdevice_configured(conf_text: bytes | None) -> bool:
    """The configuration has a ``quorum { device { ... } }`` (ask the engine's agent then)."""
    if not conf_text:
        return False
    try:
        return _qdevice_config(parse_conf(conf_text)) is not None
    except ConfError:
        return False


def _votequorum_service(engine: Json | None) -> Json:
    """The votequorum service's own status inside the engine's ``status`` (or {})."""
    services = ((engine or {}).get("node") or {}).get("services") or {}
    for service in services.values():
        if isinstance(service, dict) and "qdevice" in service and "expected_votes" in service:
            return service
    return {}


def _engine_links(engine: Json, member_ids: set[int]) -> dict[int, list[Json]]:
    """Each node's links as this node sees them: ``{node id: [{link, status, latency_ms}]}``.

    knet (``node.knet``): the per-host link state and latency of knet's heartbeat; udp and
    udpu: one ring per link, a node is connected on it when it is a member (faulty rings of
    passive RRP are FAULTY)."""
    me = _int(engine.get("node_id"), 0)
    node = engine.get("node") or {}
    knet = node.get("knet")
    out: dict[int, list[Json]] = {}
    nodelist = engine.get("nodelist") or []
    if isinstance(knet, dict):
        hosts = {_int(h.get("host_id"), 0): h for h in knet.get("hosts") or []}
        for entry in nodelist:
            node_id = _int(entry.get("node_id"), 0) or 0
            links: list[Json] = []
            numbers = sorted({_int(k, 0) or 0 for k in (entry.get("links") or {"0": ""})})
            for number in numbers:
                if node_id == me:
                    links.append({"link": number, "status": "localhost", "latency_ms": None})
                    continue
                host = hosts.get(node_id) or {}
                link = next(
                    (lk for lk in host.get("links") or [] if _int(lk.get("link")) == number), None
                )
                connected = bool(link and link.get("connected"))
                latency = link.get("latency") if link else None
                links.append(
                    {
                        "link": number,
                        "status": "connected" if connected else "disconnected",
                        "latency_ms": None if latency is None else round(latency / 1000.0, 3),
                    }
                )
            out[node_id] = links
        return out
    faulty = set(node.get("faulty_rings") or [])
    rings = len(engine.get("links") or []) or 1
    for entry in nodelist:
        node_id = _int(entry.get("node_id"), 0) or 0
        links = []
        for number in range(min(rings, len(entry.get("addresses") or [""]))):
            if node_id == me:
                status = "FAULTY" if number in faulty else "localhost"
            elif number in faulty:
                status = "FAULTY"
            else:
                status = "connected" if node_id in member_ids else "disconnected"
            links.append({"link": number, "status": status, "latency_ms": None})
        out[node_id] = links
    return out


def _quorum(quorum: Json | None) -> Json | None:
    if not quorum:
        return None
    return {
        "quorate": bool(quorum.get("quorate")),
        "expected_votes": quorum.get("expected_votes"),
        "highest_expected": quorum.get("highest_expected"),
        "total_votes": quorum.get("total_votes"),
        "quorum": quorum.get("quorum"),
        "flags": list(quorum.get("flags") or []),
        "ring_id": quorum.get("ring_id"),
    }


def _qdevice(conf: CorosyncConf | None, service: Json, agent: Json | None) -> Json | None:
    configured = _qdevice_config(conf) if conf is not None else None
    registered = service.get("qdevice") or {}
    name = str(registered.get("name") or "")
    if configured is None and not name:
        return None
    net = (agent or {}).get("net") or {}
    return {
        "configured": configured,
        "registered": bool(name),
        "name": name,
        "votes": _int(registered.get("votes"), 0),
        "state": net.get("state"),
        "client_state": net.get("client_state"),
        "cast_vote": net.get("cast_vote"),
        "connected": None if agent is None else net.get("connected_since") is not None,
        "last_disconnect_reason": net.get("last_disconnect_reason"),
        "tls_active": net.get("tls_active"),
    }


def build_snapshot(
    *,
    now: float,
    node: Mapping[str, Any],
    conf_text: bytes | None,
    engine: Json | None = None,
    quorum: Json | None = None,
    qdevice: Json | None = None,
) -> Json:
    """The panel's view of one node.

    ``node`` is the filesystem daemon's status (``name``, ``ip``, ``local_mode``, ``quorate``,
    ``dfsm``); ``engine``, ``quorum`` and ``qdevice`` are the engine's answers (None when it
    does not answer, or runs no quorum device)."""
    problems: list[str] = []
    conf: CorosyncConf | None = None
    if conf_text:
        try:
            conf = parse_conf(conf_text)
        except ConfError as err:
            problems.append(f"unable to parse /etc/pve/corosync.conf: {err}")
    service = _votequorum_service(engine)
    members: dict[int, Json] = {}
    if quorum:
        for member in quorum.get("members") or []:
            node_id = _int(member.get("node_id") if isinstance(member, dict) else member)
            if node_id is not None:
                members[node_id] = member if isinstance(member, dict) else {}
    member_votes = {
        _int(n.get("node_id"), 0): n for n in service.get("nodes") or [] if isinstance(n, dict)
    }
    links = _engine_links(engine, set(members)) if engine else {}
    local_name = str(node.get("name", ""))
    dfsm = node.get("dfsm") or {}
    cfs_ids = {int(pair[0]) for pair in dfsm.get("members") or [] if pair}
    nodes: list[Json] = []
    if conf is not None:
        for name, entry in sorted(
            conf.nodelist.items(), key=lambda kv: _int(kv[1].get("nodeid"), 0) or 0
        ):
            node_id = _int(entry.get("nodeid"), 0) or 0
            configured_votes = _int(entry.get("quorum_votes"), 1)
            online: bool | None = (node_id in members) if quorum else None
            votes = (member_votes.get(node_id) or members.get(node_id) or {}).get("votes")
            addresses = {str(k): v for k, v in sorted(conf.node_links(name).items())}
            nodes.append(
                {
                    "name": name,
                    "nodeid": node_id,
                    "votes": configured_votes if votes is None else votes,
                    "configured_votes": configured_votes,
                    "online": online,
                    "local": name == local_name,
                    "cfs": None if node.get("local_mode") else node_id in cfs_ids,
                    "addresses": addresses,
                    "links": links.get(node_id, []),
                }
            )
    timers = (engine or {}).get("timers") or {}
    return {
        "time": now,
        "node": {
            "name": local_name,
            "ip": node.get("ip"),
            "local_mode": bool(node.get("local_mode")),
            "cfs_quorate": bool(node.get("quorate")),
            "dfsm_mode": dfsm.get("mode"),
            "engine_running": engine is not None,
            "nodeid": (engine or {}).get("node_id"),
        },
        "cluster": _cluster(conf) if conf is not None and conf.main else None,
        "quorum": _quorum(quorum),
        "nodes": nodes,
        "qdevice": _qdevice(conf, service, qdevice),
        "links_measured": isinstance(((engine or {}).get("node") or {}).get("knet"), dict),
        "timers": {"token": timers.get("token"), "consensus": timers.get("consensus")},
        "problems": problems,
    }


# ---------------------------------------------------------------------- timeline
def _online(snapshot: Json) -> dict[str, bool] | None:
    if snapshot.get("quorum") is None:
        return None
    return {n["name"]: bool(n["online"]) for n in snapshot.get("nodes") or []}


def _votes_text(quorum: Json) -> str:
    return (
        f"{quorum.get('total_votes')} of {quorum.get('expected_votes')} votes, "
        f"quorum {quorum.get('quorum')}"
    )


def _link_states(snapshot: Json) -> dict[tuple[str, int], str]:
    return {
        (n["name"], int(link["link"])): str(link["status"])
        for n in snapshot.get("nodes") or []
        for link in n.get("links") or []
        if not n.get("local")
    }


def timeline(old: Json | None, new: Json) -> list[TimelineEntry]:
    """What changed from ``old`` to ``new`` (``old`` None: the first look)."""
    now = float(new["time"])
    out: list[TimelineEntry] = []

    def say(kind: str, text: str, level: str = "info") -> None:
        out.append(TimelineEntry(now, kind, text, level))

    quorum = new.get("quorum")
    cluster = new.get("cluster")
    if old is None:
        if cluster is None:
            say("config", "standalone node: no cluster configured")
        elif quorum is None:
            say("engine", "the engine of this node is not running", "warning")
        else:
            count = sum(1 for n in new["nodes"] if n["online"])
            state = "quorate" if quorum["quorate"] else "NOT quorate"
            say(
                "quorum",
                f"{count} of {len(new['nodes'])} nodes online, {state} ({_votes_text(quorum)})",
                "ok" if quorum["quorate"] else "warning",
            )
        return out
    old_cluster, old_quorum = old.get("cluster"), old.get("quorum")
    # configuration
    if old_cluster is None and cluster is not None:
        say(
            "config",
            f"cluster '{cluster['name']}' configured (version {cluster['config_version']})",
        )
    elif old_cluster is not None and cluster is None:
        say("config", "no cluster configuration any more", "warning")
    elif old_cluster is not None and cluster is not None:
        before, after = old_cluster.get("config_version"), cluster.get("config_version")
        if before != after:
            say("config", f"corosync.conf version {before} -> {after}")
    old_names = {n["name"] for n in old.get("nodes") or []}
    new_names = {n["name"] for n in new.get("nodes") or []}
    for name in sorted(new_names - old_names):
        if old_cluster is not None:
            say("config", f"{name} added to the cluster configuration")
    for name in sorted(old_names - new_names):
        if cluster is not None:
            say("config", f"{name} removed from the cluster configuration", "warning")
    # the engine of this node
    was_running = old["node"].get("engine_running")
    running = new["node"].get("engine_running")
    if was_running and not running:
        say("engine", "the engine of this node stopped", "warning")
    elif running and not was_running and cluster is not None:
        say("engine", f"the engine of this node runs (node id {new['node'].get('nodeid')})", "ok")
    if old["node"].get("local_mode") != new["node"].get("local_mode"):
        mode = "local mode" if new["node"].get("local_mode") else "cluster mode"
        say("config", f"the filesystem runs in {mode}")
    # membership
    was_online, online = _online(old), _online(new)
    if was_online is not None and online is not None:
        for name in sorted(online):
            if online[name] and not was_online.get(name, False):
                say("membership", f"{name} joined the membership", "ok")
            elif was_online.get(name) and not online[name]:
                say("membership", f"{name} left the membership", "warning")
    # quorum
    if old_quorum is not None and quorum is not None:
        if quorum["quorate"] and not old_quorum["quorate"]:
            say("quorum", f"quorum regained ({_votes_text(quorum)})", "ok")
        elif old_quorum["quorate"] and not quorum["quorate"]:
            say("quorum", f"quorum lost ({_votes_text(quorum)})", "warning")
        if old_quorum.get("expected_votes") != quorum.get("expected_votes"):
            say(
                "quorum",
                f"expected votes {old_quorum.get('expected_votes')} -> "
                f"{quorum.get('expected_votes')}",
            )
    elif old_quorum is None and quorum is not None and cluster is not None:
        state = "quorate" if quorum["quorate"] else "not quorate"
        say("quorum", f"{state} ({_votes_text(quorum)})", "ok" if quorum["quorate"] else "warning")
    # links (knet's own link state; on udp/udpu a link follows the membership)
    if old_quorum is not None and quorum is not None and new.get("links_measured"):
        old_links, new_links = _link_states(old), _link_states(new)
        for (name, number), status in sorted(new_links.items()):
            previous = old_links.get((name, number))
            if previous is not None and previous != status:
                level = "ok" if status == "connected" else "warning"
                say("link", f"link {number} to {name}: {previous} -> {status}", level)
    # quorum device
    old_q, new_q = old.get("qdevice") or {}, new.get("qdevice") or {}
    if bool(old_q.get("configured")) != bool(new_q.get("configured")):
        say(
            "qdevice",
            "quorum device configured" if new_q.get("configured") else "quorum device removed",
        )
    if bool(old_q.get("registered")) != bool(new_q.get("registered")):
        if new_q.get("registered"):
            say("qdevice", f"quorum device {new_q.get('name')} registered", "ok")
        else:
            say("qdevice", "quorum device unregistered", "warning")
    elif new_q.get("registered") and old_q.get("votes") != new_q.get("votes"):
        say("qdevice", f"quorum device votes {old_q.get('votes')} -> {new_q.get('votes')}")
    before_vote, vote = old_q.get("cast_vote"), new_q.get("cast_vote")
    if before_vote is not None and vote is not None and before_vote != vote:
        if vote:
            say("qdevice", "quorum device casts its vote for this partition", "ok")
        else:
            say("qdevice", "quorum device withdraws its vote from this partition", "warning")
    return out
