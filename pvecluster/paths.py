"""The layout of a node root (ref cluster-manager.md 5.2): every path below ``--root R``.

``/`` on a real host; one directory per node when several nodes share one machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["QDEVICE_CERT_TREE", "NodeRoot"]

QDEVICE_CERT_TREE = "priv/qdevice/net"
"""The replicated copy of the quorum device client's PEM files (``ca.crt``, ``cluster.crt``,
``cluster.key``); every node's cfsd keeps :attr:`NodeRoot.qdevice_cert_dir` equal to it."""


@dataclass(frozen=True, slots=True)
class NodeRoot:
    root: str

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    @property
    def etc_pve(self) -> str:
        """The FUSE mount point (``/etc/pve``)."""
        return self.path("etc", "pve")

    @property
    def db(self) -> str:
        return self.path("var", "lib", "pve-cluster", "config.db")

    @property
    def corosync_dir(self) -> str:
        return self.path("etc", "corosync")

    @property
    def corosync_conf(self) -> str:
        return self.path("etc", "corosync", "corosync.conf")

    @property
    def authkey(self) -> str:
        return self.path("etc", "corosync", "authkey")

    @property
    def qdevice_dir(self) -> str:
        return self.path("etc", "corosync", "qdevice")

    @property
    def qdevice_cert_dir(self) -> str:
        return self.path("etc", "corosync", "qdevice", "net")

    @property
    def state_dir(self) -> str:
        """The engine's ``--state-dir`` (``/var/lib/corosync``)."""
        return self.path("var", "lib", "corosync")

    @property
    def run_dir(self) -> str:
        """The engine's ``--run-dir`` and the daemon's socket."""
        return self.path("run")

    @property
    def socket(self) -> str:
        return self.path("run", "cfsd.sock")

    @property
    def pid_file(self) -> str:
        return self.path("run", "cfsd.pid")

    @property
    def config_dir(self) -> str:
        return self.path("etc", "pycorosync")

    @property
    def passwd(self) -> str:
        return self.path("etc", "pycorosync", "passwd")

    @property
    def api_cert(self) -> str:
        return self.path("etc", "pycorosync", "api.crt")

    @property
    def api_key(self) -> str:
        return self.path("etc", "pycorosync", "api.key")

    @property
    def log_dir(self) -> str:
        return self.path("var", "log")

    @property
    def engine_log(self) -> str:
        return self.path("var", "log", "corosync.log")
