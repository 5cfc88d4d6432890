"""The configuration check of a node: ``pycorosync -t`` and ``python -m totem.config``.

corosync 3.1.7 checks a configuration in ``main.c`` before it starts anything, and ``corosync
-t`` runs exactly those steps and exits: it parses the file (``coroparse``), reads the logging
section, reads the totem configuration (``totemconfig.c:totem_config_read``: the transport,
the nodelist with every ``ringX_addr`` resolved by ``totemip_parse``, the local node found by
``find_local_node``, the crypto key read by ``totem_config_keyread``) and validates it
(``totem_config_validate``). Its output is log lines: the warnings, then either the error and
``Corosync Cluster Engine exiting with status 8 at main.c:<line>.``, or ``Corosync Cluster
Engine exiting normally`` (exit status 0).

:func:`check_config` is that sequence for pycorosync, and the daemon starts from its result,
so the checker refuses exactly what the daemon refuses, through the same code:

1. :func:`~totem.config.loader.load` with the machine's resolver
   (:mod:`totem.config.resolve`): grammar, values, timers, nodelist, host names;
2. :func:`~totem.config.addresses.find_local_node` (``--nodeid``/``totem.nodeid``, or host
   names and local addresses, as corosync);
3. :func:`totem.node.assemble.check_node`: what the node itself can run -- the transport and
   the crypto settings and key (:func:`totem.config.authkey.check_authkey`: readable,
   128..4096 bytes, when crypto is on).

Step 3 is the node's own knowledge, so this module (unlike the rest of ``totem.config``)
imports the node layer; ``totem.config`` does not re-export it, and nothing below the node
imports it. :func:`checked_start` adds corosync's log lines around the check, for both
entry points.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from totem.config.addresses import find_local_node, local_interface_addresses
from totem.config.errors import ConfigError
from totem.config.loader import load
from totem.config.model import CorosyncConfig, NodeConfig
from totem.config.resolve import AddressLookup, NameLookup, system_lookup, system_reverse
from totem.node.assemble import check_node
from totem.node.logsys import configure_logging, emit
from totem.srp.events import LogLevel, LogRecord

__all__ = [
    "EXIT_CONFIG",
    "CheckedConfig",
    "check_config",
    "check_loaded",
    "checked_start",
    "exit_normally",
]

EXIT_CONFIG = 8
"""corosync's ``COROSYNC_DONE_MAINCONFIGREAD``: the configuration cannot be used."""


@dataclass(frozen=True, slots=True)
class CheckedConfig:
    """A configuration this node can start with, and which of its nodes this node is."""

    config: CorosyncConfig
    local_node: NodeConfig


def check_config(
    path: str | os.PathLike[str],
    nodeid: int | None = None,
    *,
    lookup: AddressLookup = system_lookup,
    reverse: NameLookup = system_reverse,
    local_addresses: Sequence[str] | None = None,
    hostnames: Sequence[str] | None = None,
) -> CheckedConfig:
    """Everything the daemon checks before it starts; raises :class:`ConfigError`.

    ``nodeid`` is the ``--nodeid`` option (else ``totem.nodeid``, else the local node is found
    by name and address). The lookups and the machine's addresses and host names are
    arguments for the tests; by default they are the machine's.
    """
    return check_loaded(
        load(path, lookup=lookup),
        nodeid,
        lookup=lookup,
        reverse=reverse,
        local_addresses=local_addresses,
        hostnames=hostnames,
    )


def check_loaded(
    config: CorosyncConfig,
    nodeid: int | None = None,
    *,
    lookup: AddressLookup = system_lookup,
    reverse: NameLookup = system_reverse,
    local_addresses: Sequence[str] | None = None,
    hostnames: Sequence[str] | None = None,
) -> CheckedConfig:
    """Steps 2 and 3 of :func:`check_config` for a file loaded with ``lookup``."""
    local_node = find_local_node(
        config,
        local_interface_addresses() if local_addresses is None else local_addresses,
        [socket.gethostname()] if hostnames is None else hostnames,
        nodeid_override=nodeid if nodeid is not None else config.totem.nodeid,
        reverse=reverse,
        lookup=lookup,
    )
    check_node(config, local_node)
    return CheckedConfig(config, local_node)


def checked_start(
    path: str | os.PathLike[str], nodeid: int | None = None, *, debug: bool = False
) -> CheckedConfig | None:
    """:func:`check_config` with corosync's start-up log lines; None when refused.

    Logging is set up from the file's ``logging`` section once it parses (stderr always);
    warnings are logged at WARNING; a refusal is logged with ``Corosync Cluster Engine exiting
    with status 8.`` and the caller exits with :data:`EXIT_CONFIG`.
    """
    configure_logging(debug=debug)
    try:
        config = load(path, lookup=system_lookup)
    except ConfigError as err:
        _refused(err)
        return None
    _configure_logging(config, debug)
    for warning in config.warnings:
        emit(LogRecord(LogLevel.WARNING, "MAIN", warning))
    try:
        checked = check_loaded(config, nodeid)
    except ConfigError as err:
        _refused(err)
        return None
    node = checked.local_node
    emit(
        LogRecord(
            LogLevel.DEBUG,
            "MAIN",
            f"this is node {node.nodeid} ({', '.join(node.addresses)}) of {config.path}",
        )
    )
    return checked


def exit_normally() -> int:
    """The end of a successful ``-t``, as corosync logs it; returns the exit status 0."""
    emit(LogRecord(LogLevel.NOTICE, "MAIN", "Corosync Cluster Engine exiting normally"))
    return 0


def _configure_logging(config: CorosyncConfig, debug: bool) -> None:
    """The file's ``logging`` section; stderr always (the daemon runs in the foreground)."""
    logging = config.logging
    try:
        configure_logging(
            debug=debug or logging.debug != "off",
            logfile=logging.logfile if logging.to_logfile else None,
            syslog_facility=logging.syslog_facility if logging.to_syslog else None,
        )
    except OSError as err:
        configure_logging(debug=debug or logging.debug != "off")
        emit(LogRecord(LogLevel.ERROR, "MAIN", f"cannot open log file {logging.logfile}: {err}"))


def _refused(err: ConfigError) -> None:
    emit(LogRecord(LogLevel.ERROR, "MAIN", str(err)))
    emit(
        LogRecord(
            LogLevel.ERROR, "MAIN", f"Corosync Cluster Engine exiting with status {EXIT_CONFIG}."
        )
    )
