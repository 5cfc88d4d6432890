"""The ``logging { }`` and ``system { }`` sections (corosync ``logconfig.c``,
``main.c``).

:func:`build_logging` reads the destinations, priorities and ``logger_subsys`` overrides
(warning about the obsolete ``to_file`` and ``syslog_level``); :func:`build_system` the
daemon's state directory, scheduling, IPC type and the metrics address.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Literal

from totem.config.flatten import Flat
from totem.config.model import (
    DebugLevel,
    LoggerSubsysConfig,
    LoggingConfig,
    SystemConfig,
)
from totem.config.values import (
    parse_choice,
    parse_listen,
    parse_on_off,
    parse_yes_on_no_off,
)

__all__ = ["build_logging", "build_system"]

_SYSLOG_FACILITIES = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
]
_PRIORITIES = ["alert", "crit", "debug", "emerg", "err", "error", "info", "notice", "warning"]


def _debug(key: str, value: str) -> DebugLevel:
    for name in ("off", "on", "trace"):
        if value == name:
            return name
    raise ValueError(f"unknown value for {key}: {value!r} (expected on, off or trace)")


def _timestamp(key: str, value: str) -> Literal["on", "hires", "off"]:
    for name in ("on", "hires", "off"):
        if value == name:
            return name
    raise ValueError(f"unknown value for {key}: {value!r} (expected on, hires or off)")


def _facility(key: str, value: str) -> str:
    return parse_choice(key, value, _SYSLOG_FACILITIES)


def _priority(key: str, value: str) -> str:
    return parse_choice(key, value, _PRIORITIES)


def _destinations(flat: Flat, prefix: str) -> dict[str, bool | None]:
    found: dict[str, bool | None] = {}
    for name in ("to_stderr", "to_logfile", "to_syslog"):
        found[name] = flat.get_typed(f"{prefix}.{name}", parse_yes_on_no_off)
    legacy = flat.get_typed(f"{prefix}.to_file", parse_yes_on_no_off)
    if legacy is not None:
        flat.warn(
            flat.lines[f"{prefix}.to_file"],
            "the to_file config parameter has been obsoleted; see to_logfile",
        )
        if found["to_logfile"] is None:
            found["to_logfile"] = legacy
    if f"{prefix}.syslog_level" in flat.raw:
        flat.get_typed(f"{prefix}.syslog_level", _priority)
        flat.warn(
            flat.lines[f"{prefix}.syslog_level"],
            "the syslog_level config parameter has been obsoleted; see syslog_priority",
        )
    for name in ("logfile_priority", "syslog_priority"):
        flat.get_typed(f"{prefix}.{name}", _priority)
    flat.get_typed(f"{prefix}.syslog_facility", _facility)
    return found


def build_logging(flat: Flat) -> LoggingConfig:
    targets = _destinations(flat, "logging")
    subsystems = []
    for subsys in flat.logger_subsys:
        prefix = f"logging.logger_subsys.{subsys}"
        own = _destinations(flat, prefix)
        subsystems.append(
            LoggerSubsysConfig(
                subsys=subsys,
                debug=flat.get_typed(f"{prefix}.debug", _debug),
                to_stderr=own["to_stderr"],
                to_logfile=own["to_logfile"],
                to_syslog=own["to_syslog"],
                raw=MappingProxyType(
                    {
                        k[len(prefix) + 1 :]: v
                        for k, v in flat.raw.items()
                        if k.startswith(prefix + ".")
                    }
                ),
                line=flat.sections[prefix],
            )
        )

    def flag(name: str, default: bool) -> bool:
        value = flat.get_typed(f"logging.{name}", parse_on_off)
        return default if value is None else value

    to_stderr, to_logfile, to_syslog = (
        targets["to_stderr"],
        targets["to_logfile"],
        targets["to_syslog"],
    )
    return LoggingConfig(
        to_stderr=True if to_stderr is None else to_stderr,
        to_logfile=False if to_logfile is None else to_logfile,
        logfile=flat.get("logging.logfile"),
        to_syslog=True if to_syslog is None else to_syslog,
        debug=flat.get_typed("logging.debug", _debug) or "off",
        timestamp=flat.get_typed("logging.timestamp", _timestamp) or "hires",
        fileline=flag("fileline", False),
        function_name=flag("function_name", False),
        blackbox=flag("blackbox", True),
        syslog_facility=flat.get("logging.syslog_facility") or "daemon",
        syslog_priority=flat.get("logging.syslog_priority") or "info",
        logfile_priority=flat.get("logging.logfile_priority") or "info",
        logger_subsys=tuple(subsystems),
    )


def build_system(flat: Flat) -> SystemConfig:
    qb_ipc_type = flat.get("system.qb_ipc_type") or "native"
    move = flat.get("system.move_to_root_cgroup") or "auto"
    return SystemConfig(
        state_dir=flat.get("system.state_dir") or "/var/lib/corosync",
        sched_rr=flat.get("system.sched_rr") != "no",
        priority=flat.get("system.priority"),
        qb_ipc_type=qb_ipc_type,  # type: ignore[arg-type]
        move_to_root_cgroup=move,  # type: ignore[arg-type]
        allow_knet_handle_fallback=flat.get("system.allow_knet_handle_fallback") == "yes",
        metrics=_metrics_address(flat),
    )


def _metrics_address(flat: Flat) -> tuple[str, int] | None:
    text = flat.get("system.metrics")
    if text is None:
        return None
    try:
        return parse_listen(text)
    except ValueError as exc:
        raise flat.error(
            flat.line_of("system.metrics", "system"), f"system.metrics: {exc}"
        ) from None
