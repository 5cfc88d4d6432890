"""Operator logs in corosync's shape: ``... notice  [TOTEM ] A new membership (1.5) was formed.``

Protocol cores emit ``LogRecord(level, subsys, message)`` events; the daemon
turns them into lines through Python's ``logging`` with corosync's level names
and its six-character, bracketed subsystem tag.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time

from totem.srp.events import LogLevel, LogRecord

__all__ = [
    "LEVEL_NAMES",
    "CorosyncFormatter",
    "SyslogFormatter",
    "configure_logging",
    "emit",
    "syslog_handler",
]

LEVEL_NAMES = {
    LogLevel.ERROR: "error",
    LogLevel.WARNING: "warning",
    LogLevel.NOTICE: "notice",
    LogLevel.INFO: "info",
    LogLevel.DEBUG: "debug",
}

_PY_LEVELS = {
    LogLevel.ERROR: logging.ERROR,
    LogLevel.WARNING: logging.WARNING,
    LogLevel.NOTICE: logging.INFO + 5,
    LogLevel.INFO: logging.INFO,
    LogLevel.DEBUG: logging.DEBUG,
}

logging.addLevelName(logging.INFO + 5, "NOTICE")
_LOGGER = logging.getLogger("pycorosync")


class CorosyncFormatter(logging.Formatter):
    """``Nov 25 06:35:11.123 [1234] cs1 pycorosync notice  [TOTEM ] message``."""

    def __init__(self, hostname: str | None = None) -> None:
        super().__init__()
        self.hostname = hostname or socket.gethostname()
        self.pid = os.getpid()

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%b %d %H:%M:%S", time.localtime(record.created))
        millis = int(record.msecs)
        level = getattr(record, "corosync_level", record.levelname.lower())
        subsys = getattr(record, "subsys", "MAIN")
        return (
            f"{stamp}.{millis:03d} [{self.pid}] {self.hostname} pycorosync "
            f"{level:<7} [{subsys:<6}] {record.getMessage()}"
        )


class SyslogFormatter(logging.Formatter):
    """``pycorosync[1234]: [TOTEM ] message``: syslog adds time and host, as for corosync."""

    def format(self, record: logging.LogRecord) -> str:
        subsys = getattr(record, "subsys", "MAIN")
        return f"pycorosync[{os.getpid()}]: [{subsys:<6}] {record.getMessage()}"


def syslog_handler(facility: str, address: str = "/dev/log") -> logging.Handler | None:
    """A handler for the local syslog socket, or None when there is none (containers)."""
    if not os.path.exists(address):
        return None
    import logging.handlers  # only where there is a syslog socket to log to

    code = logging.handlers.SysLogHandler.facility_names.get(facility)
    if code is None:
        return None
    try:
        handler = logging.handlers.SysLogHandler(address=address, facility=code)
    except OSError:
        return None
    handler.setFormatter(SyslogFormatter())
    return handler


def configure_logging(
    *,
    debug: bool,
    logfile: str | None = None,
    to_stderr: bool = True,
    syslog_facility: str | None = None,
) -> logging.Logger:
    """Set up the daemon's logger: stderr, a log file, and syslog (``syslog_facility`` set),
    as corosync's ``logging { to_stderr, to_logfile, to_syslog, syslog_facility }``."""
    _LOGGER.handlers.clear()
    _LOGGER.setLevel(logging.DEBUG if debug else logging.INFO)
    _LOGGER.propagate = False
    formatter = CorosyncFormatter()
    if to_stderr:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter)
        _LOGGER.addHandler(handler)
    if logfile:
        file_handler = logging.FileHandler(logfile)
        file_handler.setFormatter(formatter)
        _LOGGER.addHandler(file_handler)
    if syslog_facility is not None:
        to_syslog = syslog_handler(syslog_facility)
        if to_syslog is not None:
            _LOGGER.addHandler(to_syslog)
    return _LOGGER


def emit(record: LogRecord) -> None:
    """Log one core ``LogRecord``."""
    _LOGGER.log(
        _PY_LEVELS.get(record.level, logging.INFO),
        record.message,
        extra={"subsys": record.subsys, "corosync_level": LEVEL_NAMES.get(record.level, "info")},
    )
