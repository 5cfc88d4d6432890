"""systemd's service notifications (``sd_notify(3)``), spoken directly over its socket.

A unit with ``Type=notify`` hands its main process the address of a unix datagram socket in
``NOTIFY_SOCKET`` (a path, or ``@name`` for an abstract socket); the service tells systemd
about itself by sending datagrams of newline-separated ``KEY=VALUE`` lines there:

* ``READY=1``: start-up is finished (dependants may start now). corosync sends it when its
  services have completed their synchronisation on a membership (``exec/main.c``,
  ``corosync_sync_completed``), so ``After=corosync.service`` means "after the node has a ring";
* ``STOPPING=1``: the service is shutting down;
* ``STATUS=...``: one line for ``systemctl status``;
* ``WATCHDOG=1``: keep-alive; with ``WatchdogSec=`` set, systemd passes ``WATCHDOG_USEC``
  (and ``WATCHDOG_PID``: only that process is meant) and restarts the service when no ping
  arrives within that time. A ping every half of it is what ``sd_watchdog_enabled(3)`` advises.

No libsystemd is needed: the protocol is one ``sendto`` per message. Without
``NOTIFY_SOCKET`` (not started by systemd) every call does nothing. Like
``sd_notify(unset_environment=1)`` the variables are removed from the environment when read,
so processes this one starts (the cluster filesystem's engine) do not talk to systemd in its
name. A send that fails is counted and otherwise ignored: notifications never stop a daemon.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import MutableMapping

__all__ = ["NOTIFY_SOCKET_ENV", "WATCHDOG_PID_ENV", "WATCHDOG_USEC_ENV", "SystemdNotifier"]

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV = "WATCHDOG_USEC"
WATCHDOG_PID_ENV = "WATCHDOG_PID"


def _address(value: str) -> str | None:
    """The socket address of ``NOTIFY_SOCKET`` (``@`` stands for the abstract namespace)."""
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None  # systemd only hands out absolute paths and abstract names


def _watchdog_usec(environ: MutableMapping[str, str], pid: int) -> int | None:
    """``WATCHDOG_USEC`` when it is meant for process ``pid`` (``sd_watchdog_enabled``)."""
    text = environ.get(WATCHDOG_USEC_ENV)
    if not text:
        return None
    owner = environ.get(WATCHDOG_PID_ENV)
    if owner and owner.strip() != str(pid):
        return None
    try:
        usec = int(text)
    except ValueError:
        return None
    return usec if usec > 0 else None


class SystemdNotifier:
    """The notifications of one service process. Inert when systemd did not ask for them."""

    def __init__(
        self,
        environ: MutableMapping[str, str] | None = None,
        *,
        pid: int | None = None,
        unset_environment: bool = True,
    ) -> None:
        env = os.environ if environ is None else environ
        raw = env.get(NOTIFY_SOCKET_ENV, "")
        self.address = _address(raw) if raw else None
        """Where notifications go (None: nowhere)."""
        usec = _watchdog_usec(env, os.getpid() if pid is None else pid)
        self.watchdog_usec = usec if self.address is not None else None
        if unset_environment:
            for key in (NOTIFY_SOCKET_ENV, WATCHDOG_USEC_ENV, WATCHDOG_PID_ENV):
                env.pop(key, None)
        self.sent = 0
        self.errors = 0
        self.ready_sent = False
        self.last_status: str | None = None
        self._socket: socket.socket | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    @property
    def enabled(self) -> bool:
        """Whether systemd listens (``NOTIFY_SOCKET`` was set)."""
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between ``WATCHDOG=1`` pings (half of ``WatchdogSec``), or None."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2_000_000

    def notify(self, *lines: str) -> bool:
        """Send ``KEY=VALUE`` lines as one datagram; False when nothing was delivered."""
        if self.address is None or not lines:
            return False
        data = "\n".join(lines).encode("utf-8", "replace")
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
                self._socket.setblocking(False)
            self._socket.sendto(data, self.address)
        except OSError:
            self.errors += 1
            return False
        self.sent += 1
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1`` (with a status line). Repeating it is harmless, as for corosync."""
        lines = ["READY=1"]
        if status is not None:
            lines.append(_status_line(status))
            self.last_status = status
        self.ready_sent = True
        return self.notify(*lines)

    def status(self, text: str) -> bool:
        """``STATUS=text``, when it differs from the last one sent."""
        if text == self.last_status:
            return False
        self.last_status = text
        return self.notify(_status_line(text))

    def stopping(self, status: str | None = None) -> bool:
        """``STOPPING=1``; the watchdog stops too (systemd stops expecting pings)."""
        self.stop_watchdog()
        lines = ["STOPPING=1"]
        if status is not None:
            lines.append(_status_line(status))
            self.last_status = status
        return self.notify(*lines)

    def watchdog(self) -> bool:
        """One ``WATCHDOG=1`` ping."""
        return self.notify("WATCHDOG=1")

    def start_watchdog(self, loop: asyncio.AbstractEventLoop) -> None:
        """Ping from ``loop`` every :attr:`watchdog_interval` seconds (nothing without
        ``WATCHDOG_USEC``): the pings stop when the loop stops turning, which is what
        systemd's watchdog is there to notice."""
        interval = self.watchdog_interval
        if interval is None or self._watchdog is not None:
            return

        def ping() -> None:
            self.watchdog()
            self._watchdog = loop.call_later(interval, ping)

        ping()

    def stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def close(self) -> None:
        self.stop_watchdog()
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _status_line(text: str) -> str:
    """``STATUS=`` with the text on one line (a newline would start a new assignment)."""
    return "STATUS=" + " ".join(text.split("\n"))
