"""The ``quorum`` section: votequorum keys and the qdevice ``device`` block.

Sources: votequorum(5) and ``exec/votequorum.c:votequorum_readconfig`` (corosync 3.1.7) for the
quorum keys and the start-up checks; corosync-qdevice 3.0.3 (``qdevice-instance.c``,
``qdevice-net-instance.c``, ``qnet-config.h``) for ``device``, ``device.net`` and
``device.heuristics`` defaults and ranges.

* The quorum flags are u8 integers (``two_node: 1``), not yes/no.
* ``wait_for_all`` left unset follows ``two_node``; :class:`QuorumConfig` keeps "unset" (None)
  and exposes ``wait_for_all_effective``.
* The combinations votequorum refuses at start (two_node with a device, a device with
  last_man_standing / auto_tie_breaker / allow_downscale, device votes that cannot be derived,
  auto_tie_breaker with last_man_standing in an odd cluster without wait_for_all) are
  :class:`ConfigError`; the ones it silently repairs (it disables two_node next to
  auto_tie_breaker, or auto_tie_breaker in an odd cluster without wait_for_all) are warnings.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Literal

from totem.config.flatten import Flat
from totem.config.model import (
    AutoTieBreakerNode,
    HeuristicsMode,
    NodeConfig,
    QdeviceAlgorithm,
    QdeviceTls,
    QuorumConfig,
    QuorumDeviceConfig,
    QuorumDeviceHeuristicsConfig,
    QuorumDeviceNetConfig,
    TieBreaker,
)
from totem.config.values import parse_bool_qdevice, parse_int

__all__ = ["build_quorum"]

VOTEQUORUM_PROVIDER = "corosync_votequorum"
DEFAULT_LMS_WINDOW = 10000
QDEVICE_DEFAULT_TIMEOUT = 10000
QDEVICE_DEFAULT_SYNC_TIMEOUT = 30000
QNETD_DEFAULT_PORT = 5403
HEARTBEAT_INTERVAL_MIN = 1000
HEARTBEAT_INTERVAL_MAX = 120000
CONNECT_TIMEOUT_MIN = 1000
CONNECT_TIMEOUT_MAX = 120000
HEURISTICS_TIMEOUT_RANGE = (1000, 120000)
HEURISTICS_INTERVAL_RANGE = (1000, 3600000)

_ALGORITHMS: tuple[QdeviceAlgorithm, ...] = ("ffsplit", "lms", "2nodelms", "test")


def _flag(flat: Flat, key: str) -> bool | None:
    value = flat.get_int(key, "u8")
    return None if value is None else bool(value)


def _parse_atb_node(key: str, value: str) -> AutoTieBreakerNode:
    if value == "lowest":
        return "lowest"
    if value == "highest":
        return "highest"
    nodeids: list[int] = []
    for word in value.split():
        try:
            nodeid = parse_int(key, word, "u32")
        except ValueError:
            nodeid = 0
        if nodeid == 0:
            nodeids = []
            break
        nodeids.append(nodeid)
    if not nodeids:
        raise ValueError(
            "auto_tie_breaker_node must be 'lowest', 'highest' or a space-separated list of "
            f"node IDs, not {value!r}"
        )
    return tuple(nodeids)


def _ranged(key: str, value: str, low: int, high: int) -> int:
    """corosync-qdevice ``utils_strtonum``: a decimal integer in ``low..high``."""
    try:
        number = parse_int(key, value, "i32")
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise ValueError(f"{key} must be a number in range {low}..{high}, not {value!r}")
    return number


def _tls(key: str, value: str) -> QdeviceTls:
    flag = parse_bool_qdevice(value)
    if flag is not None:
        return "on" if flag else "off"
    if value.lower() == "required":
        return "required"
    raise ValueError(f"{key} value is not valid: {value!r} (expected on, off or required)")


def _bool(key: str, value: str) -> bool:
    flag = parse_bool_qdevice(value)
    if flag is None:
        raise ValueError(f"{key} value is not valid: {value!r} (expected on or off)")
    return flag


def _tie_breaker(key: str, value: str) -> TieBreaker:
    if value == "lowest":
        return "lowest"
    if value == "highest":
        return "highest"
    try:
        nodeid = parse_int(key, value, "u32")
    except ValueError:
        nodeid = 0
    if nodeid == 0:
        raise ValueError(f"{key} must be lowest|highest|valid_node_id, not {value!r}")
    return nodeid


def _algorithm(key: str, value: str) -> QdeviceAlgorithm:
    for name in _ALGORITHMS:
        if value == name:
            return name
    raise ValueError(
        f"unknown decision algorithm {value!r} for {key} (expected ffsplit, lms, 2nodelms or test)"
    )


def _force_ip_version(key: str, value: str) -> Literal[0, 4, 6]:
    number = _ranged(key, value, 0, 6)
    if number == 4:
        return 4
    if number == 6:
        return 6
    if number == 0:
        return 0
    raise ValueError(f"{key} must be one of 0|4|6, not {value!r}")


def _heuristics_mode(key: str, value: str) -> HeuristicsMode:
    flag = parse_bool_qdevice(value)
    if flag is not None:
        return "on" if flag else "off"
    if value.lower() == "sync":
        return "sync"
    raise ValueError(f"{key} value is not valid: {value!r} (expected on, off or sync)")


def _net(flat: Flat, timeout: int) -> QuorumDeviceNetConfig:
    prefix = "quorum.device.net"
    host = flat.get(f"{prefix}.host")
    if not host:
        raise flat.error(
            flat.line_of(f"{prefix}.host", prefix) or flat.sections.get("quorum.device"),
            "quorum.device.net.host is required with model net (the qnetd address)",
        )
    heartbeat = min(max(int(timeout * 0.8), HEARTBEAT_INTERVAL_MIN), HEARTBEAT_INTERVAL_MAX)
    port = flat.get_typed(f"{prefix}.port", lambda k, v: _ranged(k, v, 1, 0xFFFF))
    connect_timeout = flat.get_typed(
        f"{prefix}.connect_timeout",
        lambda k, v: _ranged(k, v, CONNECT_TIMEOUT_MIN, CONNECT_TIMEOUT_MAX),
    )
    algorithm = flat.get_typed(f"{prefix}.algorithm", _algorithm) or "ffsplit"
    if algorithm == "test":
        flat.warn(
            flat.lines[f"{prefix}.algorithm"],
            "algorithm 'test' is refused by corosync-qdevice unless started with "
            "-S net_test_algorithm_enabled=on",
        )
    tie_breaker = flat.get_typed(f"{prefix}.tie_breaker", _tie_breaker)
    keep_active = flat.get_typed(f"{prefix}.keep_active_partition_tie_breaker", _bool)
    force_ip = flat.get_typed(f"{prefix}.force_ip_version", _force_ip_version)
    return QuorumDeviceNetConfig(
        host=host,
        port=QNETD_DEFAULT_PORT if port is None else port,
        algorithm=algorithm,
        tie_breaker="lowest" if tie_breaker is None else tie_breaker,
        tls=flat.get_typed(f"{prefix}.tls", _tls) or "on",
        connect_timeout=heartbeat if connect_timeout is None else connect_timeout,
        force_ip_version=0 if force_ip is None else force_ip,
        keep_active_partition_tie_breaker=True if keep_active is None else keep_active,
        line=flat.sections.get(prefix, 0),
    )


def _heuristics(flat: Flat, timeout: int, sync_timeout: int) -> QuorumDeviceHeuristicsConfig:
    prefix = "quorum.device.heuristics."
    raw = {k[len(prefix) :]: v for k, v in flat.raw.items() if k.startswith(prefix)}
    low, high = HEURISTICS_TIMEOUT_RANGE
    h_timeout = flat.get_typed(prefix + "timeout", lambda k, v: _ranged(k, v, low, high))
    h_sync = flat.get_typed(prefix + "sync_timeout", lambda k, v: _ranged(k, v, low, high))
    ilow, ihigh = HEURISTICS_INTERVAL_RANGE
    interval = flat.get_typed(prefix + "interval", lambda k, v: _ranged(k, v, ilow, ihigh))
    execs = tuple(
        (name[len("exec_") :], command)
        for name, command in sorted(raw.items())
        if name.startswith("exec_") and "." not in name[len("exec_") :]
    )
    return QuorumDeviceHeuristicsConfig(
        mode=flat.get_typed(prefix + "mode", _heuristics_mode) or "off",
        timeout=timeout // 2 if h_timeout is None else h_timeout,
        sync_timeout=sync_timeout // 2 if h_sync is None else h_sync,
        interval=(timeout * 3) & 0xFFFF_FFFF if interval is None else interval,
        execs=execs,
        raw=MappingProxyType(raw),
    )


def _device(flat: Flat) -> QuorumDeviceConfig | None:
    line = flat.sections.get("quorum.device")
    if line is None:
        return None
    model = flat.get("quorum.device.model")
    if not model:
        flat.warn(line, "quorum.device has no model: no quorum device is configured")
        return None
    timeout = flat.get_int("quorum.device.timeout", "u32")
    sync_timeout = flat.get_int("quorum.device.sync_timeout", "u32")
    timeout = QDEVICE_DEFAULT_TIMEOUT if timeout is None else timeout
    sync_timeout = QDEVICE_DEFAULT_SYNC_TIMEOUT if sync_timeout is None else sync_timeout
    net = None
    if model == "net":
        net = _net(flat, timeout)
    else:
        flat.warn(
            flat.lines["quorum.device.model"],
            f"quorum.device.model {model!r} is not supported by corosync-qdevice (only net)",
        )
    return QuorumDeviceConfig(
        model=model,
        votes=flat.get_int("quorum.device.votes", "u32"),
        timeout=timeout,
        sync_timeout=sync_timeout,
        master_wins=_flag(flat, "quorum.device.master_wins"),
        net=net,
        heuristics=_heuristics(flat, timeout, sync_timeout),
        line=line,
    )


def build_quorum(flat: Flat, nodes: tuple[NodeConfig, ...]) -> QuorumConfig:
    """The quorum section with votequorum's start-up checks against ``nodes``."""
    section = flat.sections.get("quorum")
    if section is None:
        return QuorumConfig()
    provider = flat.get("quorum.provider")
    if provider is not None and provider != VOTEQUORUM_PROVIDER:
        raise flat.error(
            flat.lines["quorum.provider"],
            f"invalid quorum provider {provider!r} (only {VOTEQUORUM_PROVIDER} is supported)",
        )
    lms_window = flat.get_int("quorum.last_man_standing_window", "u32")
    atb_node = flat.get_typed("quorum.auto_tie_breaker_node", _parse_atb_node)
    config = QuorumConfig(
        provider=provider,
        expected_votes=flat.get_int("quorum.expected_votes", "u32"),
        votes=flat.get_int("quorum.votes", "u32"),
        two_node=bool(_flag(flat, "quorum.two_node")),
        wait_for_all=_flag(flat, "quorum.wait_for_all"),
        last_man_standing=bool(_flag(flat, "quorum.last_man_standing")),
        last_man_standing_window=DEFAULT_LMS_WINDOW if lms_window is None else lms_window,
        auto_tie_breaker=bool(_flag(flat, "quorum.auto_tie_breaker")),
        auto_tie_breaker_node="lowest" if atb_node is None else atb_node,
        allow_downscale=bool(_flag(flat, "quorum.allow_downscale")),
        expected_votes_tracking=bool(_flag(flat, "quorum.expected_votes_tracking")),
        device=_device(flat),
        line=section,
    )
    if provider == VOTEQUORUM_PROVIDER:
        _check_votequorum(flat, config, nodes, section)
    return config


def _check_votequorum(
    flat: Flat, config: QuorumConfig, nodes: tuple[NodeConfig, ...], section: int
) -> None:
    def line(key: str) -> int:
        return flat.lines.get(key, section)

    device = config.device
    node_votes = sum(node.quorum_votes for node in nodes)
    if not nodes and not config.expected_votes:
        raise flat.error(
            section,
            "configuration error: nodelist or quorum.expected_votes must be configured!",
        )
    if config.two_node and device is not None:
        raise flat.error(
            line("quorum.two_node"),
            "configuration error: two_node and quorum device cannot be configured at the "
            "same time!",
        )
    if not config.auto_tie_breaker and "quorum.auto_tie_breaker_node" in flat.lines:
        flat.warn(
            line("quorum.auto_tie_breaker_node"),
            "auto_tie_breaker_node: is meaningless if auto_tie_breaker is set to 0",
        )
    if config.two_node and config.auto_tie_breaker:
        flat.warn(
            line("quorum.two_node"),
            "two_node and auto_tie_breaker are both specified but are not compatible; "
            "votequorum disables two_node",
        )
    if config.auto_tie_breaker and node_votes % 2 and not config.wait_for_all_effective:
        if config.last_man_standing:
            raise flat.error(
                line("quorum.auto_tie_breaker"),
                "configuration error: auto_tie_breaker & last_man_standing not available in "
                "odd sized cluster",
            )
        flat.warn(
            line("quorum.auto_tie_breaker"),
            "auto_tie_breaker is set and the cluster has an odd number of nodes but "
            "wait_for_all is not set; votequorum disables auto_tie_breaker",
        )
    if device is None:
        return
    for key, what in (
        ("quorum.last_man_standing", "last_man_standing"),
        ("quorum.auto_tie_breaker", "auto_tie_breaker"),
        ("quorum.allow_downscale", "allow_downscale"),
    ):
        if getattr(config, what):
            raise flat.error(
                line(key), f"configuration error: quorum.device is not compatible with {what}"
            )
    if config.expected_votes and device.votes is None:
        raise flat.error(
            device.line,
            "configuration error: quorum.device.votes must be specified when "
            "quorum.expected_votes is set",
        )
    if device.votes is None and nodes and len(nodes) != node_votes:
        raise flat.error(
            device.line,
            "configuration error: quorum.device.votes must be specified when not all nodes votes 1",
        )
    if device.votes and config.expected_votes and config.expected_votes - device.votes < 2:
        raise flat.error(
            line("quorum.device.votes"),
            "configuration error: quorum.device.votes is too high or expected_votes is too low",
        )
