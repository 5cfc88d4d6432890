"""``pycorosync-qnetd``: the qnetd daemon (options of ``corosync-qnetd``, ref section 9).

::

    pycorosync-qnetd [-46dfhv] [-l listen_addr] [-p listen_port] [-s on|off|req]
                     [-c on|off] [-m max_clients] [-S option=value[,option2=value2,...]]
                     [--cert-dir DIR] [--run-dir DIR] [--metrics HOST:PORT] [--help]

``-s`` TLS mode (default on = supported), ``-c`` client certificate required (default on),
``-m`` max clients (0 = unlimited), ``-S`` advanced settings (see
:mod:`qnetd.server.settings`), ``-d`` debug log (twice: debug messages go to syslog at info
priority), ``-f`` foreground (log to stderr too). TLS uses PEM files from ``--cert-dir``
(default ``/etc/pycorosync/qnetd``: ``server.crt``, ``server.key``, ``ca.crt``; create them
with ``pycorosync-qnetd-certutil -i``). The lock file and the control socket live in
``--run-dir`` (default ``/run/pycorosync-qnetd``) unless ``-S lock_file=`` /
``-S local_socket_file=`` say otherwise, so unprivileged instances can run side by side.
``-h`` prints the usage and exits 1, as corosync-qnetd; ``--help`` describes every option.
``--metrics HOST:PORT`` serves Prometheus metrics (:mod:`qnetd.server.metrics`). Under systemd
(``Type=notify``, run with ``-f``) it sends ``READY=1`` once it listens, as corosync-qnetd,
``STATUS=`` with its clients and clusters, ``WATCHDOG=1`` when ``WatchdogSec=`` is set and
``STOPPING=1`` (:mod:`totem.node.sdnotify`).
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import logging.handlers
import os
import resource
import signal
import socket
import sys
import time
from dataclasses import replace
from typing import TYPE_CHECKING, TextIO

from qnetd.protocol.constants import (
    ALL_MESSAGE_TYPES,
    SUPPORTED_DECISION_ALGORITHMS,
    TlsSupported,
    algorithm_str,
    msg_type_str,
)
from qnetd.server.driver import QnetdDriver
from qnetd.server.instance import QnetdServer
from qnetd.server.ipc import DEFAULT_RUN_DIR, SOCKET_FILE_NAME
from qnetd.server.settings import (
    DEFAULT_PORT,
    AdvancedSettings,
    ServerConfig,
    SettingsError,
    parse_advanced_settings,
    parse_bool,
)
from qnetd.tls import server_context
from totem.config.values import parse_listen
from totem.node.sdnotify import SystemdNotifier

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["DEFAULT_CERT_DIR", "DEFAULT_RUN_DIR", "QnetdLogFormatter", "main", "run"]

PROGRAM = "pycorosync-qnetd"
VERSION = "3.0.3"
DEFAULT_CERT_DIR = "/etc/pycorosync/qnetd"
LOCK_FILE_NAME = "pycorosync-qnetd.pid"

log = logging.getLogger("qnetd")

_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "crit",
}


class QnetdLogFormatter(logging.Formatter):
    """``Nov 25 06:16:01 warning Message`` like the stderr log of corosync-qnetd."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%b %d %H:%M:%S", time.localtime(record.created))
        level = _LEVEL_NAMES.get(record.levelno, "none")
        return f"{stamp} {level:<7} {record.getMessage()}"


class _SyslogHandler(logging.handlers.SysLogHandler):
    def __init__(self, bump: bool) -> None:
        super().__init__(address="/dev/log", facility=logging.handlers.SysLogHandler.LOG_DAEMON)
        self.bump = bump
        self.ident = f"{PROGRAM}[{os.getpid()}]: "

    def mapPriority(self, levelName: str) -> str:
        if self.bump and levelName == "DEBUG":
            return "info"
        return super().mapPriority(levelName)


def _setup_logging(foreground: bool, debug: bool, bump: bool, stream: TextIO) -> None:
    logger = logging.getLogger("qnetd")
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    if foreground:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(QnetdLogFormatter())
        logger.addHandler(handler)
    if os.path.exists("/dev/log"):
        try:
            logger.addHandler(_SyslogHandler(bump))
        except OSError:
            pass
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


def _usage() -> str:
    return (
        f"usage: {PROGRAM} [-46dfhv] [-l listen_addr] [-p listen_port] [-s tls]\n"
        f"{'':16}[-c client_cert_required] [-m max_clients] "
        "[-S option=value[,option2=value2,...]]\n"
        f"{'':16}[--cert-dir DIR] [--run-dir DIR] [--metrics HOST:PORT] [--help]\n"
    )


def _help() -> str:
    return _usage() + (
        "\nThe quorum arbiter of corosync-qdevice clients (corosync-qnetd 3.0.3).\n\n"
        "  -f              run in the foreground, logging to stderr too\n"
        "  -d              debug log (twice: debug messages go to syslog at info)\n"
        "  -l ADDR         listen on this address (default: every address)\n"
        f"  -p PORT         listen on this TCP port (default {DEFAULT_PORT})\n"
        "  -4, -6          IPv4 or IPv6 only\n"
        "  -s on|off|req   TLS supported (default), off, or required\n"
        "  -c on|off       client certificates required (default on)\n"
        "  -m N            at most N clients (0: no limit)\n"
        "  -S KEY=VALUE    advanced settings (see qnetd/server/settings.py)\n"
        f"  --cert-dir DIR  PEM certificates: server.crt, server.key, ca.crt\n"
        f"                  (default {DEFAULT_CERT_DIR}; pycorosync-qnetd-certutil makes them)\n"
        f"  --run-dir DIR   lock file and control socket (default {DEFAULT_RUN_DIR});\n"
        "                  pycorosync-qnetd-tool --run-dir DIR reads it\n"
        "  --metrics HOST:PORT  serve Prometheus metrics at http://HOST:PORT/metrics\n"
        "  -v              version, algorithms and message types (exit status 1)\n"
        "  -h              the usage line (exit status 1, as corosync-qnetd)\n"
        "  --help          this help\n"
    )


def _version() -> str:
    algs = ", ".join(f"{algorithm_str(a)} ({a})" for a in SUPPORTED_DECISION_ALGORITHMS)
    msgs = ", ".join(f"{msg_type_str(m)} ({m})" for m in ALL_MESSAGE_TYPES)
    return (
        f"pycorosync Qdevice Network Daemon, compatible with corosync-qnetd '{VERSION}'\n\n"
        f"Supported algorithms: {algs}\nSupported message types: {msgs}\n"
    )


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{PROGRAM}: {message}\n{_usage()}")
        sys.exit(1)


def _parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, ServerConfig, list[str]]:
    p = _Parser(prog=PROGRAM, add_help=False)
    p.add_argument("-4", dest="family", action="store_const", const=socket.AF_INET)
    p.add_argument("-6", dest="family", action="store_const", const=socket.AF_INET6)
    p.add_argument("-d", dest="debug", action="count", default=0)
    p.add_argument("-f", dest="foreground", action="store_true")
    p.add_argument("-h", dest="usage", action="store_true")
    p.add_argument("--help", dest="help", action="store_true")
    p.add_argument("-v", dest="version", action="store_true")
    p.add_argument("-c", dest="client_cert", default="on")
    p.add_argument("-l", dest="host")
    p.add_argument("-m", dest="max_clients", default="0")
    p.add_argument("-p", dest="port", default=str(DEFAULT_PORT))
    p.add_argument("-S", dest="advanced", action="append", default=[])
    p.add_argument("-s", dest="tls", default="on")
    p.add_argument("--cert-dir", default=DEFAULT_CERT_DIR)
    p.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    p.add_argument("--metrics")
    args = p.parse_args(argv)
    if args.help:
        sys.stdout.write(_help())
        sys.exit(0)
    if args.usage:
        sys.stdout.write(_usage())
        sys.exit(1)
    if args.version:
        sys.stdout.write(_version())
        sys.exit(1)

    cert_required = parse_bool(args.client_cert)
    if cert_required is None:
        sys.exit(f"{PROGRAM}: client_cert_required should be on/yes/1, off/no/0")
    try:
        max_clients = int(args.max_clients)
        if max_clients < 0:
            raise ValueError
    except ValueError:
        sys.exit(f"{PROGRAM}: max clients value {args.max_clients} is invalid")
    try:
        port = int(args.port)
        if not 1 <= port <= 65535:
            raise ValueError
    except ValueError:
        sys.exit(f"{PROGRAM}: host port must be in range 1-65535")
    tls_word = args.tls.lower()
    tls_modes = {
        "on": TlsSupported.SUPPORTED,
        "off": TlsSupported.UNSUPPORTED,
        "req": TlsSupported.REQUIRED,
    }
    if tls_word not in tls_modes:
        sys.exit(f"{PROGRAM}: tls must be one of on, off, req")
    tls = tls_modes[tls_word]
    if args.metrics is not None:
        try:
            args.metrics = parse_listen(args.metrics)
        except ValueError as exc:
            sys.exit(f"{PROGRAM}: --metrics: {exc}")

    advanced = AdvancedSettings()
    warnings: list[str] = []
    for text in args.advanced:
        try:
            advanced, w = parse_advanced_settings(text, advanced)
        except SettingsError as exc:
            sys.exit(f"{PROGRAM}: {exc}")
        warnings.extend(w)
    run_dir = args.run_dir
    if advanced.lock_file is None or advanced.local_socket_file is None:
        advanced = replace(
            advanced,
            lock_file=advanced.lock_file or os.path.join(run_dir, LOCK_FILE_NAME),
            local_socket_file=advanced.local_socket_file or os.path.join(run_dir, SOCKET_FILE_NAME),
        )
    config = ServerConfig(
        tls_supported=tls,
        tls_client_cert_required=cert_required,
        max_clients=max_clients,
        host_addr=args.host,
        host_port=port,
        tls_available=tls != TlsSupported.UNSUPPORTED,
        advanced=advanced,
    )
    return args, config, warnings


def _listen_socket(host: str | None, port: int, family: int | None, backlog: int) -> socket.socket:
    infos: list[tuple[int, tuple[object, ...]]]
    if host is None:
        if family == socket.AF_INET:
            infos = [(socket.AF_INET, ("0.0.0.0", port))]
        else:
            infos = [(socket.AF_INET6, ("::", port))]
            if family is None:
                infos.append((socket.AF_INET, ("0.0.0.0", port)))
    else:
        res = socket.getaddrinfo(
            host, port, family or socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
        infos = [(int(fam), tuple(addr)) for fam, _, _, _, addr in res]
    last_exc: OSError | None = None
    for fam, addr in infos:
        sock = socket.socket(fam, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6 and host is None:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(addr)
            sock.listen(backlog)
            sock.setblocking(False)
            return sock
        except OSError as exc:
            sock.close()
            last_exc = exc
    raise last_exc or OSError("no address to listen on")


class _LockBusy(Exception):
    pass


def _acquire_lock(path: str) -> int:
    """``utils_flock``: POSIX write lock on the pid file (interoperates with corosync-qnetd)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o640)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        raise _LockBusy() from exc
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _daemonize() -> None:
    """``utils_tty_detach``: fork, setsid, fork, chdir /, stdio to /dev/null."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)


def _raise_nofile_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


def _status_line(server: QnetdServer) -> str:
    return f"{len(server.connections)} clients, {len(server.clusters)} clusters"


async def run(
    config: ServerConfig,
    cert_dir: str,
    family: int | None = None,
    *,
    metrics: tuple[str, int] | None = None,
    notifier: SystemdNotifier | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM or an IPC ``shutdown``; returns the exit status."""
    loop = asyncio.get_running_loop()
    notifier = notifier if notifier is not None else SystemdNotifier({})
    adv = config.advanced
    tls_ctx = None
    if config.tls_supported != TlsSupported.UNSUPPORTED:
        log.debug("Initializing TLS (PEM files in %s)", cert_dir)
        try:
            tls_ctx = server_context(
                os.path.join(cert_dir, "server.crt"),
                os.path.join(cert_dir, "server.key"),
                os.path.join(cert_dir, "ca.crt") if config.tls_client_cert_required else None,
                config.tls_client_cert_required,
            )
        except (OSError, ValueError) as exc:
            log.critical("Can't load server certificate from %s: %s", cert_dir, exc)
            return 1
    server = QnetdServer(config, record_events=False)
    stop = asyncio.Event()
    driver = QnetdDriver(server, loop, tls_ctx, on_shutdown_request=stop.set)

    assert adv.local_socket_file is not None
    log.debug("Initializing local socket")
    try:
        await driver.listen_ipc(adv.local_socket_file)
    except OSError as exc:
        log.error("Can't create unix socket: %s", exc)
        return 1
    log.debug("Creating listening socket")
    try:
        sock = _listen_socket(config.host_addr, config.host_port, family, adv.listen_backlog)
    except OSError as exc:
        log.critical("Can't create listening socket: %s", exc)
        return 1
    await driver.listen_tcp(sock)
    metrics_server = None
    if metrics is not None:
        from totem.node.metrics_http import MetricsServer, new_registry

        def registry() -> CollectorRegistry:
            from qnetd.server.metrics import QnetdCollector

            return new_registry(QnetdCollector(server))

        metrics_server = MetricsServer(registry, *metrics)
        try:
            await metrics_server.start()
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            log.critical("Can't serve metrics on %s:%d: %s", metrics[0] or "*", metrics[1], reason)
            await driver.close()
            return 1

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.debug("QNetd ready to provide service")
    notifier.ready(_status_line(server))
    notifier.start_watchdog(loop)
    refresh: asyncio.TimerHandle | None = None

    def refresh_status() -> None:
        nonlocal refresh
        notifier.status(_status_line(server))
        refresh = loop.call_later(1.0, refresh_status)

    if notifier.enabled:
        refresh_status()
    log.debug("Running QNetd main loop")
    await stop.wait()
    if refresh is not None:
        refresh.cancel()
    notifier.stopping("Shutting down")
    if metrics_server is not None:
        await metrics_server.stop()
    log.debug("Closing server socket")
    await driver.close()
    try:
        os.unlink(adv.local_socket_file)
    except OSError:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    args, config, warnings = _parse_args(argv)
    notifier = SystemdNotifier()
    for w in warnings:
        sys.stderr.write(f"{PROGRAM}: {w}\n")
    adv = config.advanced
    if config.tls_supported != TlsSupported.UNSUPPORTED and not os.path.isdir(args.cert_dir):
        sys.stderr.write(f"{PROGRAM}: Can't open certificate directory {args.cert_dir}\n")
        return 1
    if not args.foreground:
        _daemonize()
    _setup_logging(args.foreground, args.debug > 0, args.debug > 1, sys.stderr)
    assert adv.lock_file is not None
    try:
        lock_fd = _acquire_lock(adv.lock_file)
    except _LockBusy:
        log.error("Another instance is running")
        return 1
    except OSError as exc:
        log.error("Can't acquire lock: %s", exc)
        return 1
    _raise_nofile_limit()
    try:
        try:
            import uvloop
        except ImportError:  # pragma: no cover
            status = asyncio.run(
                run(config, args.cert_dir, args.family, metrics=args.metrics, notifier=notifier)
            )
        else:
            status = uvloop.run(
                run(config, args.cert_dir, args.family, metrics=args.metrics, notifier=notifier)
            )
    finally:
        os.close(lock_fd)
    return status


if __name__ == "__main__":
    sys.exit(main())
