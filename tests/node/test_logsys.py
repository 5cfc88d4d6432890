"""corosync-shaped log lines: stderr/logfile format and the syslog handler."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

from totem.node.logsys import CorosyncFormatter, SyslogFormatter, syslog_handler


def _record(message: str, subsys: str = "TOTEM", level: str = "notice") -> logging.LogRecord:
    record = logging.LogRecord("pycorosync", logging.INFO, __file__, 1, message, None, None)
    record.subsys = subsys
    record.corosync_level = level
    return record


def test_stderr_line_has_corosync_level_and_subsystem_columns() -> None:
    line = CorosyncFormatter(hostname="cs1").format(_record("A new membership (1.5) was formed."))
    assert line.endswith(" cs1 pycorosync notice  [TOTEM ] A new membership (1.5) was formed.")


def test_syslog_handler_sends_corosync_style_lines_to_the_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "log")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    try:
        handler = syslog_handler("daemon", address=path)
        assert handler is not None
        handler.handle(_record("Members[3]: 1 2 3", subsys="QUORUM"))
        data = server.recv(4096).decode()
        # <30> = facility daemon (3) * 8 + priority info (6)
        assert data.startswith("<30>pycorosync[")
        assert data.rstrip("\x00").endswith("]: [QUORUM] Members[3]: 1 2 3")
        assert isinstance(handler.formatter, SyslogFormatter)
        handler.close()
    finally:
        server.close()


def test_no_syslog_socket_means_no_handler(tmp_path: Path) -> None:
    assert syslog_handler("daemon", address=str(tmp_path / "missing")) is None
    assert syslog_handler("no-such-facility", address=str(tmp_path)) is None
