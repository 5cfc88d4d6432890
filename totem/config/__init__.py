"""corosync.conf: grammar, typed configuration and effective timers (ref totem-wire.md 12, 6.5).

    from totem.config import load, find_local_node, local_interface_addresses

    config = load("/etc/corosync/corosync.conf")      # ConfigError: "file:line: message"
    me = find_local_node(config, local_interface_addresses(), [os.uname().nodename],
                         nodeid_override=args.nodeid or config.totem.nodeid)
    config.timers.token_s, config.timers.consensus_s   # effective timers for this nodelist

Modules: :mod:`.parser` (line grammar), :mod:`.flatten` (cmap keys and parse-time typing),
:mod:`.loader` (checks and typed model), :mod:`.model` (frozen dataclasses), :mod:`.timers`
(effective Totem timers), :mod:`.quorum` (votequorum and qdevice keys), :mod:`.addresses`
(multicast address, ports, node id generation, local node), :mod:`.resolve` (host names, as
corosync resolves them), :mod:`.authkey` (crypto key). :mod:`.check` is the node's start-up
check (``pycorosync -t``); it also asks the node layer, so it is imported on its own::

    from totem.config.check import check_config
    checked = check_config("/etc/corosync/corosync.conf")   # ConfigError: "file:line: ..."
    checked.config, checked.local_node
"""

from totem.config.addresses import (
    LocalNodeError,
    autogenerate_nodeid,
    cluster_id,
    default_mcastaddr,
    default_mcastport,
    effective_mcastaddr,
    effective_mcastport,
    find_local_node,
    local_interface_addresses,
)
from totem.config.authkey import check_authkey, read_authkey
from totem.config.errors import ConfigError
from totem.config.loader import load, parse_text
from totem.config.model import (
    CorosyncConfig,
    InterfaceConfig,
    LoggerSubsysConfig,
    LoggingConfig,
    NodeConfig,
    QuorumConfig,
    QuorumDeviceConfig,
    QuorumDeviceHeuristicsConfig,
    QuorumDeviceNetConfig,
    SystemConfig,
    TotemConfig,
)
from totem.config.timers import TimerError, TotemTimers, compute_timers

__all__ = [
    "ConfigError",
    "CorosyncConfig",
    "InterfaceConfig",
    "LocalNodeError",
    "LoggerSubsysConfig",
    "LoggingConfig",
    "NodeConfig",
    "QuorumConfig",
    "QuorumDeviceConfig",
    "QuorumDeviceHeuristicsConfig",
    "QuorumDeviceNetConfig",
    "SystemConfig",
    "TimerError",
    "TotemConfig",
    "TotemTimers",
    "autogenerate_nodeid",
    "check_authkey",
    "cluster_id",
    "compute_timers",
    "default_mcastaddr",
    "default_mcastport",
    "effective_mcastaddr",
    "effective_mcastport",
    "find_local_node",
    "load",
    "local_interface_addresses",
    "parse_text",
    "read_authkey",
]
