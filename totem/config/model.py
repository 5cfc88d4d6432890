"""The typed corosync.conf (ref totem-wire.md 12, 6.5, 2.2; votequorum(5); corosync-qdevice(8)).

Frozen values only; :mod:`totem.config.loader` builds them from the parsed tree.  Conventions:

* A field typed ``X | None`` is ``None`` when the key is absent from the file and the consumer
  applies corosync's rule for "unset" (for the totem timers that rule lives in
  :mod:`totem.config.timers`; for ``quorum.wait_for_all`` it is
  :attr:`QuorumConfig.wait_for_all_effective`).
* A field with a plain default holds corosync's default when the key is absent.
* ``line`` fields give the line of the section (or key) the value came from, for later
  ``file:line`` diagnostics; :attr:`CorosyncConfig.lines` does the same for every raw key.

Crypto choice (``totem.secauth``): corosync 2.x defaulted to crypto *on* (aes256 + sha1) and
``secauth: off`` turned it off; corosync 3.x defaults to none and maps ``secauth: on`` to
aes256 + sha256, with ``crypto_cipher``/``crypto_hash`` overriding either half.  We follow
3.1.7 (our compatibility target): absent means none, ``on`` means aes256 + sha256.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AUTHKEY_ENV",
    "DEFAULT_KEYFILE",
    "RUNTIME_TIMERS",
    "AutoTieBreakerNode",
    "CorosyncConfig",
    "CryptoCipher",
    "CryptoHash",
    "CryptoModel",
    "DebugLevel",
    "HeuristicsMode",
    "InterfaceConfig",
    "IpVersion",
    "LinkMode",
    "LoggerSubsysConfig",
    "LoggingConfig",
    "NodeConfig",
    "QdeviceAlgorithm",
    "QdeviceTls",
    "QuorumConfig",
    "QuorumDeviceConfig",
    "QuorumDeviceHeuristicsConfig",
    "QuorumDeviceNetConfig",
    "RrpMode",
    "SystemConfig",
    "TieBreaker",
    "TotemConfig",
    "TotemTimers",
    "Transport",
]

Transport = Literal["udp", "udpu", "knet"]
IpVersion = Literal["ipv4", "ipv6", "ipv4-6", "ipv6-4"]
RrpMode = Literal["none", "passive"]
LinkMode = Literal["passive", "active", "rr"]
CryptoModel = Literal["nss", "openssl"]
CryptoCipher = Literal["none", "aes256", "aes192", "aes128"]
CryptoHash = Literal["none", "md5", "sha1", "sha256", "sha384", "sha512"]
DebugLevel = Literal["off", "on", "trace"]
AutoTieBreakerNode = Literal["lowest", "highest"] | tuple[int, ...]
QdeviceAlgorithm = Literal["ffsplit", "lms", "2nodelms", "test"]
QdeviceTls = Literal["on", "off", "required"]
TieBreaker = Literal["lowest", "highest"] | int
HeuristicsMode = Literal["off", "on", "sync"]

DEFAULT_KEYFILE = "/etc/corosync/authkey"
AUTHKEY_ENV = "PYCOROSYNC_AUTHKEY"
"""Environment variable naming another default key file (corosync's is compiled in): lets
several nodes of one machine, each under its own root directory, share one corosync.conf."""
"""``COROSYSCONFDIR "/authkey"``: read when crypto is on and neither keyfile nor key is set."""


@dataclass(frozen=True, slots=True)
class InterfaceConfig:
    """One ``totem { interface { ... } }`` section (cmap ``totem.interface.<linknumber>.*``).

    Only what the file says; the effective multicast address and port for a link are
    computed by :func:`totem.config.addresses.effective_mcastaddr` / ``effective_mcastport``.
    """

    linknumber: int
    """``linknumber`` (or the 2.x spelling ``ringnumber``); 0 when neither is given."""
    bindnetaddr: str | None = None
    mcastaddr: str | None = None
    mcastport: int | None = None
    ttl: int = 1
    broadcast: bool = False
    knet_link_priority: int | None = None
    """knet only, as written (corosync's default: 1)."""
    knet_ping_interval: int | None = None
    """ms; None or 0: ``token / (knet_pong_count * 2)`` (:mod:`totem.config.knetlinks`)."""
    knet_ping_timeout: int | None = None
    """ms; None or 0: ``token / knet_pong_count``."""
    knet_ping_precision: int | None = None
    knet_pong_count: int | None = None
    knet_transport: str | None = None
    """``udp`` (``sctp`` is refused: pycorosync speaks knet over UDP only)."""
    line: int = 0


@dataclass(frozen=True, slots=True)
class TotemTimers:
    """Effective timers (ms) and counts, as in cmap ``runtime.config.totem.*``."""

    token: int
    token_retransmit: int
    hold: int
    token_retransmits_before_loss_const: int
    join: int
    send_join: int
    consensus: int
    merge: int
    downcheck: int
    fail_recv_const: int
    seqno_unchanged_const: int
    miss_count_const: int
    max_network_delay: int
    window_size: int
    max_messages: int
    token_warning: int
    """Percent of ``token`` after which "Token has not been received" is logged; 0 = off."""
    heartbeat_failures_allowed: int
    rrp_problem_count_timeout: int
    rrp_problem_count_threshold: int
    rrp_problem_count_mcast_threshold: int
    rrp_token_expired_timeout: int
    rrp_autorecovery_check_timeout: int

    # --- seconds, for the sans-IO cores whose clock is a float in seconds ---
    @property
    def token_s(self) -> float:
        return self.token / 1000.0

    @property
    def token_retransmit_s(self) -> float:
        return self.token_retransmit / 1000.0

    @property
    def hold_s(self) -> float:
        return self.hold / 1000.0

    @property
    def join_s(self) -> float:
        return self.join / 1000.0

    @property
    def send_join_s(self) -> float:
        return self.send_join / 1000.0

    @property
    def consensus_s(self) -> float:
        return self.consensus / 1000.0

    @property
    def merge_s(self) -> float:
        return self.merge / 1000.0

    @property
    def downcheck_s(self) -> float:
        return self.downcheck / 1000.0

    @property
    def max_network_delay_s(self) -> float:
        return self.max_network_delay / 1000.0

    @property
    def rrp_problem_count_timeout_s(self) -> float:
        return self.rrp_problem_count_timeout / 1000.0

    @property
    def rrp_token_expired_timeout_s(self) -> float:
        return self.rrp_token_expired_timeout / 1000.0

    @property
    def rrp_autorecovery_check_timeout_s(self) -> float:
        return self.rrp_autorecovery_check_timeout / 1000.0

    @property
    def token_warning_ms(self) -> int:
        """When the "token not received" warning fires (0 = disabled), u32 as corosync."""
        return ((self.token_warning * self.token) & 0xFFFFFFFF) // 100

    @property
    def token_warning_s(self) -> float:
        return self.token_warning_ms / 1000.0


RUNTIME_TIMERS: tuple[str, ...] = (
    "token",
    "token_retransmit",
    "hold",
    "token_retransmits_before_loss_const",
    "join",
    "send_join",
    "consensus",
    "merge",
    "downcheck",
    "fail_recv_const",
    "seqno_unchanged_const",
    "miss_count_const",
    "max_network_delay",
    "window_size",
    "max_messages",
    "token_warning",
    "heartbeat_failures_allowed",
)
"""The :class:`TotemTimers` fields corosync publishes as ``runtime.config.totem.*`` and a
reload changes (``totem_volatile_config_read``), in its order."""


@dataclass(frozen=True, slots=True)
class TotemConfig:
    """The ``totem`` section.

    Timer and count keys hold the value as written (``None`` if absent); corosync treats
    most of them as "use the default" when 0 -- see :func:`totem.config.timers.compute_timers`
    for the effective values.
    """

    version: int
    cluster_name: str | None = None
    transport: Transport = "knet"
    ip_version: IpVersion = "ipv6-4"
    """Effective: as written, else ``ipv4`` for udp and ``ipv6-4`` for udpu/knet."""
    netmtu: int = 1500
    """Effective: as written (if non-zero), else 1500 (udp/udpu) or 65536 (knet)."""
    # --- timers and counts (ms or counts; None = absent) ---
    token: int | None = None
    token_coefficient: int | None = None
    token_retransmit: int | None = None
    hold: int | None = None
    token_retransmits_before_loss_const: int | None = None
    token_warning: int | None = None
    join: int | None = None
    send_join: int | None = None
    consensus: int | None = None
    merge: int | None = None
    downcheck: int | None = None
    fail_recv_const: int | None = None
    seqno_unchanged_const: int | None = None
    heartbeat_failures_allowed: int | None = None
    max_network_delay: int | None = None
    window_size: int | None = None
    max_messages: int | None = None
    miss_count_const: int | None = None
    # --- redundant ring (corosync 2.x RRP, passive only) ---
    rrp_mode: RrpMode = "none"
    rrp_problem_count_timeout: int | None = None
    rrp_problem_count_threshold: int | None = None
    rrp_problem_count_mcast_threshold: int | None = None
    rrp_token_expired_timeout: int | None = None
    rrp_autorecovery_check_timeout: int | None = None
    # --- knet (transport knet only; corosync's defaults) ---
    link_mode: LinkMode = "passive"
    knet_pmtud_interval: int = 30
    """Seconds between path MTU discoveries per link."""
    knet_mtu: int = 0
    """0: discover the path MTU; else assume this interface MTU."""
    knet_compression_model: str = "none"
    knet_compression_threshold: int = 0
    """0: knet's default (100 bytes)."""
    knet_compression_level: int = 0
    # --- membership and filtering ---
    block_unlisted_ips: bool = True
    cancel_token_hold_on_retransmit: bool = False
    config_version: int | None = None
    """u64; ``None`` when absent (qdevice then sends no CONFIG_VERSION)."""
    clear_node_high_bit: bool = False
    nodeid: int | None = None
    """2.x-style ``totem.nodeid`` (3.x ignores it); usable as the local node id override."""
    interfaces: tuple[InterfaceConfig, ...] = ()
    """Sorted by link number."""
    # --- crypto (effective, see module docstring) ---
    crypto_cipher: CryptoCipher = "none"
    crypto_hash: CryptoHash = "none"
    crypto_model: CryptoModel = "nss"
    """knet's crypto library on a real node; both speak the same packets."""
    secauth: bool | None = None
    """As written (2.x spelling); already folded into crypto_cipher/crypto_hash."""
    keyfile: str | None = None
    key: str | None = None
    """Inline key (``totem.key``); corosync uses its bytes plus the terminating NUL."""
    line: int = 0

    @property
    def crypto_enabled(self) -> bool:
        return self.crypto_cipher != "none" or self.crypto_hash != "none"

    @property
    def keyfile_path(self) -> str:
        """The key file corosync would read: ``keyfile``, else the default authkey
        (``$PYCOROSYNC_AUTHKEY`` when set)."""
        if self.keyfile is not None:
            return self.keyfile
        return os.environ.get(AUTHKEY_ENV) or DEFAULT_KEYFILE

    def interface(self, linknumber: int) -> InterfaceConfig | None:
        for iface in self.interfaces:
            if iface.linknumber == linknumber:
                return iface
        return None


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """One ``nodelist { node { ... } }`` entry (cmap ``nodelist.node.<position>.*``)."""

    nodeid: int
    """As written, or autogenerated from an IPv4 ``ring0_addr`` (udp/udpu)."""
    ring0_addr: str
    ring1_addr: str | None = None
    name: str | None = None
    quorum_votes: int = 1
    nodeid_autogenerated: bool = False
    more_rings: tuple[tuple[int, str], ...] = ()
    """``(link, address)`` of ``ring2_addr`` .. ``ring7_addr`` (knet only), by link; resolved
    when the file was loaded with name resolution."""
    position: int = 0
    """Index in the nodelist (the ``N`` of ``nodelist.node.N``)."""
    line: int = 0
    resolved: tuple[str, ...] = ()
    """The address of each ring as corosync resolves ``ringX_addr`` (:mod:`totem.config.resolve`),
    in link order; empty when the file was loaded without name resolution."""

    @property
    def written(self) -> tuple[str, ...]:
        """``ring0_addr`` (and ``ring1_addr``) as written in the file: addresses or host names."""
        if self.ring1_addr is None:
            return (self.ring0_addr,)
        return (self.ring0_addr, self.ring1_addr)

    @property
    def addresses(self) -> tuple[str, ...]:
        """Ring addresses in link order (ring0, then ring1 if present): the resolved ones when
        the file was loaded with name resolution, else as written."""
        return self.resolved or self.written

    @property
    def link_addresses(self) -> dict[int, str]:
        """Every ring address by link number (knet has links 0..7, not always all): resolved
        when the file was loaded with name resolution, else as written."""
        found = dict(enumerate(self.addresses))
        found.update(self.more_rings)
        return found

    def address(self, link: int) -> str | None:
        """The address of ``ring<link>_addr``, or None."""
        return self.link_addresses.get(link)


@dataclass(frozen=True, slots=True)
class QuorumDeviceNetConfig:
    """``quorum { device { net { ... } } }`` with corosync-qdevice 3.0.3 defaults."""

    host: str
    port: int = 5403
    algorithm: QdeviceAlgorithm = "ffsplit"
    tie_breaker: TieBreaker = "lowest"
    tls: QdeviceTls = "on"
    connect_timeout: int = 8000
    """Effective: as written, else ``device.timeout * 0.8`` clamped to 1000..120000 ms."""
    force_ip_version: Literal[0, 4, 6] = 0
    keep_active_partition_tie_breaker: bool = True
    line: int = 0


@dataclass(frozen=True, slots=True)
class QuorumDeviceHeuristicsConfig:
    """``quorum { device { heuristics { ... } } }`` (effective values, qdevice 3.0.3)."""

    mode: HeuristicsMode = "off"
    timeout: int = 5000
    """Default ``device.timeout / 2``."""
    sync_timeout: int = 15000
    """Default ``device.sync_timeout / 2``."""
    interval: int = 30000
    """Default ``device.timeout * 3``."""
    execs: tuple[tuple[str, str], ...] = ()
    """``exec_<name>: <command>`` pairs, sorted by name (cmap iteration order)."""
    raw: Mapping[str, str] | None = None
    """Every key of the section as written."""


@dataclass(frozen=True, slots=True)
class QuorumDeviceConfig:
    """``quorum { device { ... } }``; present only when ``model`` is set and non-empty."""

    model: str
    votes: int | None = None
    """``None``: votequorum computes it (nodes - 1 when every node has one vote)."""
    timeout: int = 10000
    sync_timeout: int = 30000
    master_wins: bool | None = None
    """``None``: the model decides (net: no)."""
    net: QuorumDeviceNetConfig | None = None
    """Present when ``model: net``."""
    heuristics: QuorumDeviceHeuristicsConfig = QuorumDeviceHeuristicsConfig()
    line: int = 0


@dataclass(frozen=True, slots=True)
class QuorumConfig:
    """The ``quorum`` section (votequorum(5))."""

    provider: str | None = None
    """``corosync_votequorum`` or ``None`` (no quorum service)."""
    expected_votes: int | None = None
    votes: int | None = None
    two_node: bool = False
    wait_for_all: bool | None = None
    """As written; ``None`` when unset (it then follows two_node: ``wait_for_all_effective``)."""
    last_man_standing: bool = False
    last_man_standing_window: int = 10000
    auto_tie_breaker: bool = False
    auto_tie_breaker_node: AutoTieBreakerNode = "lowest"
    allow_downscale: bool = False
    expected_votes_tracking: bool = False
    """As written; votequorum also turns tracking on when allow_downscale is set."""
    device: QuorumDeviceConfig | None = None
    line: int = 0

    @property
    def wait_for_all_effective(self) -> bool:
        """votequorum: an unset wait_for_all takes the value of two_node."""
        return self.two_node if self.wait_for_all is None else self.wait_for_all


@dataclass(frozen=True, slots=True)
class LoggerSubsysConfig:
    """``logging { logger_subsys { subsys: X ... } }``; unset keys inherit from ``logging``."""

    subsys: str
    debug: DebugLevel | None = None
    to_stderr: bool | None = None
    to_logfile: bool | None = None
    to_syslog: bool | None = None
    raw: Mapping[str, str] | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """The ``logging`` section with corosync 3.1.7 defaults (``exec/logconfig.c``)."""

    to_stderr: bool = True
    to_logfile: bool = False
    logfile: str | None = None
    to_syslog: bool = True
    debug: DebugLevel = "off"
    timestamp: Literal["on", "hires", "off"] = "hires"
    fileline: bool = False
    function_name: bool = False
    blackbox: bool = True
    syslog_facility: str = "daemon"
    syslog_priority: str = "info"
    logfile_priority: str = "info"
    logger_subsys: tuple[LoggerSubsysConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class SystemConfig:
    """The ``system`` section."""

    state_dir: str = "/var/lib/corosync"
    sched_rr: bool = True
    priority: str | None = None
    qb_ipc_type: Literal["native", "shm", "socket"] = "native"
    move_to_root_cgroup: Literal["yes", "no", "auto"] = "auto"
    allow_knet_handle_fallback: bool = False
    metrics: tuple[str, int] | None = None
    """``system.metrics: HOST:PORT`` (pycorosync's): where the node serves Prometheus
    metrics; real corosync stores the key and ignores it."""


@dataclass(frozen=True, slots=True)
class CorosyncConfig:
    """A whole corosync.conf, checked and typed."""

    totem: TotemConfig
    nodes: tuple[NodeConfig, ...]
    """In nodelist order."""
    quorum: QuorumConfig
    logging: LoggingConfig
    system: SystemConfig
    member_count: int
    """How many link-0 members corosync 3.1.7 counts for the token timeout.

    Normally ``len(nodes)``, but corosync counts a node twice when it generates the node's id
    and ``ring0_addr`` is the node's only key (its cmap iterator revisits ``ring0_addr`` after
    storing the generated ``nodeid``; observed with ``corosync -t`` under gdb).
    """
    timers: TotemTimers
    """Effective totem timers: :func:`totem.config.timers.compute_timers` of ``member_count``."""
    path: str
    warnings: tuple[str, ...]
    """``file:line: ...`` notes: ignored keys, settings real corosync treats differently."""
    raw: Mapping[str, str]
    """Flat cmap-style map of every key as written (``totem.token``, ``nodelist.node.0.name``)."""
    lines: Mapping[str, int]
    """Line of every key of :attr:`raw`."""

    def node_by_id(self, nodeid: int) -> NodeConfig | None:
        for node in self.nodes:
            if node.nodeid == nodeid:
                return node
        return None

    @property
    def links(self) -> tuple[int, ...]:
        """Link (ring) numbers in use: with knet, the ``ringX_addr`` of the nodelist (the
        loader checks that every node has the same ones); with udp/udpu 0, plus 1 with
        ``rrp_mode: passive``."""
        if self.totem.transport == "knet":
            return tuple(sorted(self.nodes[0].link_addresses)) if self.nodes else (0,)
        return (0, 1) if self.totem.rrp_mode == "passive" else (0,)
