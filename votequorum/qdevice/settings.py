"""What the qdevice-net client runs with, from corosync.conf (ref qnetd-protocol.md 5.3, 6, 8).

corosync-qdevice 3.0.3 reads ``quorum.device.*`` and ``totem.cluster_name`` from cmap
(``qdevice-instance.c``, ``qdevice-net-instance.c``); the typed corosync.conf model
(:class:`totem.config.QuorumDeviceConfig`) already holds those keys with the qdevice defaults
and ranges. :func:`settings_from_config` derives the client's figures from them:

* heartbeat (echo request) interval = 0.8 x ``quorum.device.timeout`` clamped to 1000..120000 ms;
* cast-vote (votequorum poll) interval = 0.5 x ``quorum.device.timeout``;
* "sync HB interval" = 0.8 x ``quorum.device.sync_timeout`` (displayed only, as in 3.0.3);
* connect timeout = ``net.connect_timeout``, else the heartbeat interval.

and applies the start-up refusals of the real daemon (:class:`QdeviceSettingsError`): a model
other than ``net``, the ``test`` algorithm unless enabled, and ffsplit's rule that
``quorum.device.votes`` is exactly 1 and every node has exactly one vote
(``qdevice-net-algo-ffsplit.c``: ``check_cmap_validity``, ``check_vqinfo_validity``).

TLS material is PEM, laid out as ``pycorosync-qnetd-certutil`` writes a cluster's files
(:mod:`qnetd.certs`): ``ca.crt`` (the qnetd CA), ``cluster.crt`` and ``cluster.key`` (the
cluster certificate, CN = cluster name) in the directory given by the daemon's
``--qdevice-cert-dir``, else the one named by the environment variable :data:`CERT_DIR_ENV`,
else :data:`DEFAULT_CERT_DIR`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from qnetd.protocol.constants import DecisionAlgorithm, TieBreakerMode, TlsSupported
from qnetd.protocol.tlv import NodeInfo, TieBreaker
from qnetd.tls import QNETD_SERVER_NAME

if TYPE_CHECKING:
    from totem.config import CorosyncConfig

__all__ = [
    "CERT_DIR_ENV",
    "DEFAULT_CERT_DIR",
    "DEFAULT_DEVICE_NAME",
    "HEARTBEAT_INTERVAL_MAX",
    "HEARTBEAT_INTERVAL_MIN",
    "HEURISTICS_MAX_EXECS",
    "INITIAL_MSG_RECEIVE_SIZE",
    "MAX_MSG_RECEIVE_SIZE",
    "MIN_MSG_SEND_SIZE",
    "HeuristicsMode",
    "HeuristicsSettings",
    "QdeviceNetSettings",
    "QdeviceSettingsError",
    "TlsFiles",
    "settings_from_config",
]

DEFAULT_DEVICE_NAME = "Qdevice"
"""``-S votequorum_device_name``: the name registered with votequorum."""
DEFAULT_CERT_DIR = "/etc/corosync/qdevice/net"
"""PEM files of the client (the real client's NSS database is ``<this>/nssdb``)."""
CERT_DIR_ENV = "PYCOROSYNC_QDEVICE_CERT_DIR"
"""Environment variable naming another certificate directory."""
HEARTBEAT_INTERVAL_MIN = 1000
HEARTBEAT_INTERVAL_MAX = 120000
MIN_MSG_SEND_SIZE = 1 << 15
"""``net_min_msg_send_size``: the server must accept requests at least this large."""
MAX_MSG_RECEIVE_SIZE = 1 << 24
"""``net_max_msg_receive_size``: the server must not send replies larger than this."""
INITIAL_MSG_RECEIVE_SIZE = 1 << 15
"""``net_initial_msg_receive_size``: the receive limit until INIT_REPLY names the server's."""
HEURISTICS_MAX_EXECS = 32
"""``heuristics_max_execs``: more ``exec_`` keys than this disable heuristics."""


class QdeviceSettingsError(ValueError):
    """corosync-qdevice would refuse to start with this configuration (its message)."""


class HeuristicsMode:
    """``quorum.device.heuristics.mode`` words and the status tool's text for them."""

    OFF = "off"
    ON = "on"
    SYNC = "sync"

    TEXT: ClassVar[dict[str, str]] = {
        OFF: "Disabled",
        ON: "Enabled",
        SYNC: "Enabled only on sync",
    }


@dataclass(frozen=True, slots=True)
class HeuristicsSettings:
    """``quorum.device.heuristics`` (effective values)."""

    mode: str = HeuristicsMode.OFF
    timeout_ms: int = 5000
    sync_timeout_ms: int = 15000
    interval_ms: int = 30000
    execs: tuple[tuple[str, str], ...] = ()
    """``(name, command)`` of every ``exec_<name>``, sorted by name."""

    @property
    def enabled(self) -> bool:
        """Heuristics run at all (``on`` or ``sync``)."""
        return self.mode != HeuristicsMode.OFF


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The client's PEM files (see the module docstring)."""

    directory: str

    @property
    def ca_file(self) -> str:
        return os.path.join(self.directory, "ca.crt")

    @property
    def cert_file(self) -> str:
        return os.path.join(self.directory, "cluster.crt")

    @property
    def key_file(self) -> str:
        return os.path.join(self.directory, "cluster.key")

    @property
    def has_client_cert(self) -> bool:
        return os.path.exists(self.cert_file) and os.path.exists(self.key_file)


@dataclass(frozen=True, slots=True)
class QdeviceNetSettings:
    """Everything the qdevice-net client core and its driver need."""

    cluster_name: str
    node_id: int
    host: str
    port: int = 5403
    algorithm: DecisionAlgorithm = DecisionAlgorithm.FFSPLIT
    tie_breaker: TieBreaker = field(default_factory=lambda: TieBreaker(TieBreakerMode.LOWEST))
    tls: TlsSupported = TlsSupported.SUPPORTED
    timeout_ms: int = 10000
    """``quorum.device.timeout`` (the status tool's "HB interval" of the Qdevice block)."""
    sync_timeout_ms: int = 30000
    heartbeat_interval_ms: int = 8000
    sync_heartbeat_interval_ms: int = 24000
    cast_vote_timer_interval_ms: int = 5000
    connect_timeout_ms: int = 8000
    force_ip_version: int = 0
    keep_active_partition_tie_breaker: bool = True
    config_nodes: tuple[NodeInfo, ...] = ()
    """The nodelist as qdevice sends it: node id and data center id, in nodelist order."""
    config_version: int | None = None
    wait_for_all: bool = False
    """``quorum.wait_for_all`` (lms keeps its vote without qnetd when quorate and set)."""
    heuristics: HeuristicsSettings = HeuristicsSettings()
    device_name: str = DEFAULT_DEVICE_NAME
    server_name: str = QNETD_SERVER_NAME
    """``-S net_nss_qnetd_cn``: the name the server certificate must carry."""
    cert_dir: str = DEFAULT_CERT_DIR
    master_wins: bool = False
    """What qdevice asks votequorum for at start (``-S master_wins``; the net model: no)."""

    @property
    def tls_files(self) -> TlsFiles:
        return TlsFiles(self.cert_dir)

    @property
    def cluster_name_bytes(self) -> bytes:
        return self.cluster_name.encode()


_ALGORITHMS = {
    "test": DecisionAlgorithm.TEST,
    "ffsplit": DecisionAlgorithm.FFSPLIT,
    "2nodelms": DecisionAlgorithm.TWO_NODE_LMS,
    "lms": DecisionAlgorithm.LMS,
}
_TLS = {
    "off": TlsSupported.UNSUPPORTED,
    "on": TlsSupported.SUPPORTED,
    "required": TlsSupported.REQUIRED,
}


def _heartbeat(timeout_ms: int) -> int:
    return min(max(int(timeout_ms * 0.8), HEARTBEAT_INTERVAL_MIN), HEARTBEAT_INTERVAL_MAX)


def settings_from_config(
    config: CorosyncConfig,
    node_id: int,
    *,
    cert_dir: str | None = None,
    test_algorithm_enabled: bool = False,
) -> QdeviceNetSettings:
    """The client settings of node ``node_id``; raise :class:`QdeviceSettingsError`.

    ``cert_dir`` (the daemon's ``--qdevice-cert-dir``) defaults to ``$PYCOROSYNC_QDEVICE_CERT_DIR``,
    else :data:`DEFAULT_CERT_DIR`.
    """
    device = config.quorum.device
    if device is None:
        raise QdeviceSettingsError("quorum.device is not configured")
    if device.model != "net" or device.net is None:
        raise QdeviceSettingsError(f"Unknown model {device.model!r} (only net is supported)")
    net = device.net
    cluster_name = config.totem.cluster_name
    if not cluster_name:
        raise QdeviceSettingsError("Cluster name (totem.cluster_name) has to be defined.")
    algorithm = _ALGORITHMS[net.algorithm]
    if algorithm == DecisionAlgorithm.TEST and not test_algorithm_enabled:
        raise QdeviceSettingsError(
            "Test algorithm is not enabled. You can force enable it by passing "
            "-S net_test_algorithm_enabled=on to corosync-qdevice command"
        )
    if algorithm == DecisionAlgorithm.FFSPLIT:
        if device.votes != 1:
            raise QdeviceSettingsError(
                "50:50 split algorithm works only if quorum.device.votes configuration key "
                "is set to 1!"
            )
        for node in config.nodes:
            if node.quorum_votes != 1:
                raise QdeviceSettingsError(
                    "50:50 split algorithm works only if all nodes have exactly 1 vote. "
                    f"Node {node.nodeid} has {node.quorum_votes} votes!"
                )
    if net.tie_breaker == "lowest":
        tie_breaker = TieBreaker(TieBreakerMode.LOWEST)
    elif net.tie_breaker == "highest":
        tie_breaker = TieBreaker(TieBreakerMode.HIGHEST)
    else:
        tie_breaker = TieBreaker(TieBreakerMode.NODE_ID, int(net.tie_breaker))
    heartbeat = _heartbeat(device.timeout)
    config_nodes = []
    for node in config.nodes:
        raw_dc = config.raw.get(f"nodelist.node.{node.position}.datacenterid")
        try:
            dc_id = int(raw_dc) if raw_dc is not None else 0
        except ValueError:
            dc_id = 0
        config_nodes.append(NodeInfo(node.nodeid, dc_id if 0 <= dc_id <= 0xFFFFFFFF else 0))
    heur = device.heuristics
    mode: str = heur.mode
    if mode != HeuristicsMode.OFF and not 0 < len(heur.execs) <= HEURISTICS_MAX_EXECS:
        mode = HeuristicsMode.OFF  # corosync-qdevice: "No valid heuristics execs" / "Too much"
    directory = cert_dir or os.environ.get(CERT_DIR_ENV) or DEFAULT_CERT_DIR
    return QdeviceNetSettings(
        cluster_name=cluster_name,
        node_id=node_id,
        host=net.host,
        port=net.port,
        algorithm=algorithm,
        tie_breaker=tie_breaker,
        tls=_TLS[net.tls],
        timeout_ms=device.timeout,
        sync_timeout_ms=device.sync_timeout,
        heartbeat_interval_ms=heartbeat,
        sync_heartbeat_interval_ms=int(device.sync_timeout * 0.8),
        cast_vote_timer_interval_ms=int(device.timeout * 0.5),
        connect_timeout_ms=net.connect_timeout,
        force_ip_version=net.force_ip_version,
        keep_active_partition_tie_breaker=net.keep_active_partition_tie_breaker,
        config_nodes=tuple(config_nodes),
        config_version=config.totem.config_version,
        wait_for_all=bool(config.quorum.wait_for_all),
        heuristics=HeuristicsSettings(
            mode=mode,
            timeout_ms=heur.timeout,
            sync_timeout_ms=heur.sync_timeout,
            interval_ms=heur.interval,
            execs=heur.execs,
        ),
        cert_dir=directory,
    )
