"""The logging and system sections (corosync 3.1.7 ``exec/logconfig.c``, ``coroparse.c``)."""

from __future__ import annotations

import pytest

from tests.config.conftext import conf, error, line_of, load_text
from totem.config import LoggerSubsysConfig, LoggingConfig, SystemConfig


def test_logging_defaults() -> None:
    assert load_text(conf()).logging == LoggingConfig(
        to_stderr=True,
        to_logfile=False,
        logfile=None,
        to_syslog=True,
        debug="off",
        timestamp="hires",
        fileline=False,
        function_name=False,
        blackbox=True,
        syslog_facility="daemon",
        syslog_priority="info",
        logfile_priority="info",
        logger_subsys=(),
    )


def test_logging_settings() -> None:
    text = conf(
        other="logging {\n    to_stderr: no\n    to_logfile: on\n    logfile: /tmp/c.log\n"
        "    to_syslog: off\n    debug: trace\n    timestamp: on\n    fileline: on\n"
        "    function_name: on\n    blackbox: off\n    syslog_facility: local3\n"
        "    syslog_priority: warning\n    logfile_priority: debug\n"
        "    logger_subsys {\n        subsys: QUORUM\n        debug: on\n        to_stderr: yes\n"
        "    }\n}"
    )
    logging = load_text(text).logging
    assert logging == LoggingConfig(
        to_stderr=False,
        to_logfile=True,
        logfile="/tmp/c.log",
        to_syslog=False,
        debug="trace",
        timestamp="on",
        fileline=True,
        function_name=True,
        blackbox=False,
        syslog_facility="local3",
        syslog_priority="warning",
        logfile_priority="debug",
        logger_subsys=(
            LoggerSubsysConfig(
                subsys="QUORUM",
                debug="on",
                to_stderr=True,
                raw={"subsys": "QUORUM", "debug": "on", "to_stderr": "yes"},
                line=line_of(text, "logger_subsys"),
            ),
        ),
    )
    assert load_text(text).raw["logging.logger_subsys.QUORUM.debug"] == "on"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("to_stderr: 1", "unknown value for logging.to_stderr: '1' (expected yes, no, on or off)"),
        ("fileline: yes", "unknown value for logging.fileline: 'yes' (expected on or off)"),
        ("debug: yes", "unknown value for logging.debug: 'yes' (expected on, off or trace)"),
        ("timestamp: ms", "unknown value for logging.timestamp: 'ms'"),
        ("syslog_facility: local9", "invalid value for logging.syslog_facility: 'local9'"),
        ("syslog_priority: loud", "invalid value for logging.syslog_priority: 'loud'"),
    ],
)
def test_bad_logging_values(setting: str, message: str) -> None:
    text = conf(other=f"logging {{\n    {setting}\n}}")
    assert error(text).startswith(f"corosync.conf:{line_of(text, setting)}: {message}")


def test_logger_subsys_needs_subsys() -> None:
    text = conf(other="logging {\n    logger_subsys {\n        debug: on\n    }\n}")
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'logger_subsys')}: no subsys key in logger_subsys directive"
    )


def test_obsolete_logging_keys_warn() -> None:
    text = conf(other="logging {\n    to_file: yes\n    syslog_level: info\n}")
    config = load_text(text)
    assert config.logging.to_logfile is True
    assert config.warnings == (
        f"corosync.conf:{line_of(text, 'to_file')}: the to_file config parameter has been "
        "obsoleted; see to_logfile",
        f"corosync.conf:{line_of(text, 'syslog_level')}: the syslog_level config parameter has "
        "been obsoleted; see syslog_priority",
    )


def test_system_defaults_and_settings() -> None:
    assert load_text(conf()).system == SystemConfig()
    assert SystemConfig().state_dir == "/var/lib/corosync"
    text = conf(
        other="system {\n    state_dir: /tmp/st\n    sched_rr: no\n    priority: max\n"
        "    qb_ipc_type: socket\n    move_to_root_cgroup: no\n"
        "    allow_knet_handle_fallback: yes\n}"
    )
    assert load_text(text).system == SystemConfig(
        state_dir="/tmp/st",
        sched_rr=False,
        priority="max",
        qb_ipc_type="socket",
        move_to_root_cgroup="no",
        allow_knet_handle_fallback=True,
    )


def test_bad_system_values() -> None:
    text = conf(other="system {\n    sched_rr: off\n}")
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'sched_rr')}: invalid value for system.sched_rr: 'off' "
        "(expected one of yes, no)"
    )


def test_system_metrics_is_a_listen_address() -> None:
    # corosync splits a line at its first colon: HOST:PORT is the value of "metrics"
    for value, address in (
        ("127.0.0.1:9664", ("127.0.0.1", 9664)),
        (":9100", ("", 9100)),
        ("[::1]:9664", ("::1", 9664)),
        ("10.0.0.1", ("10.0.0.1", 9664)),
    ):
        text = conf(other=f"system {{\n    metrics: {value}\n}}")
        config = load_text(text)
        assert config.system.metrics == address
        assert config.warnings == ()  # a key of ours: no "unknown key" warning
    for value, why in (
        ("10.0.0.1:http", "'10.0.0.1:http': the port must be a number from 0 to 65535"),
        ("::1:9664", "'::1:9664': write an IPv6 address as [ADDRESS]:PORT"),
        ("[::1]9664", "'[::1]9664': expected ':PORT' after ']'"),
    ):
        text = conf(other=f"system {{\n    metrics: {value}\n}}")
        assert error(text) == f"corosync.conf:{line_of(text, 'metrics')}: system.metrics: {why}"


def test_uidgid_allows_only_uid_and_gid() -> None:
    assert load_text(conf(other="uidgid {\n    uid: hacluster\n}")).raw["uidgid.uid"] == (
        "hacluster"
    )
    text = conf(other="uidgid {\n    user: hacluster\n}")
    assert error(text) == (
        f"corosync.conf:{line_of(text, 'user:')}: uidgid: only uid and gid are allowed items"
    )
