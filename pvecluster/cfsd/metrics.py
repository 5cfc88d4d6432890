"""Prometheus metrics of the cluster filesystem daemon (``pycorosync-cfsd --metrics HOST:PORT``).

The filesystem's own, under ``pycorosync_cfs_``:

* ``pycorosync_cfs_quorate``, ``pycorosync_cfs_synced``, ``pycorosync_cfs_local_mode``: may the
  node write (the quorum it follows), is its copy of the database up to date (DFSM synced),
  does it run without a cluster;
* ``pycorosync_cfs_dfsm_mode{mode}``: 1 for the DFSM's current mode (``START``,
  ``START_SYNC``, ``SYNCED``, ``UPDATE``, ...);
* ``pycorosync_cfs_members``: processes of the ``pve_dcdb_v1`` group (one per node online);
* ``pycorosync_cfs_version``: the database's version (rises with every change);
* ``pycorosync_cfs_send_queue``: messages waiting to be multicast;
* ``pycorosync_cfs_group_messages_total{kind}``: the group's messages sent, delivered,
  retried (``try_again``) and its configuration changes;
* ``pycorosync_cfs_refused_inquorate_total``: writes refused for lack of quorum;
* ``pycorosync_cfs_engine_running``, ``pycorosync_cfs_engine_restarts_total``: the engine this
  daemon supervises.

And, since on such a node the filesystem daemon starts and supervises the engine (as
systemd runs corosync beside pve-cluster on Proxmox), the engine's metrics --
``ha_cluster_corosync_*`` and ``pycorosync_*`` of :mod:`totem.node.metrics` -- asked from the
engine's control socket before each scrape; while the engine does not answer they are
absent and ``pycorosync_cfs_engine_up`` is 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from pvecluster.cfs.dfsm import Mode
from totem.node.async_client import AsyncControlClient
from totem.node.client import NodeUnavailable, RequestFailed

__all__ = ["CfsCollector", "CfsState", "EngineStatus", "cfs_families"]

ENGINE_TIMEOUT = 2.0
"""Seconds a scrape waits for the engine's status."""

Family = GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text)
    family.add_metric([], value)
    return family


def cfs_families(status: Mapping[str, Any], engine_up: bool) -> list[Family]:
    """The filesystem's families from :meth:`CfsDaemon.status`."""
    dfsm = status.get("dfsm") or {}
    out: list[Family] = [
        _gauge(
            "pycorosync_cfs_quorate",
            "Whether the filesystem may be written (quorum)",
            1 if status.get("quorate") else 0,
        ),
        _gauge(
            "pycorosync_cfs_synced",
            "Whether this node's database is up to date",
            1 if status.get("synced") else 0,
        ),
        _gauge(
            "pycorosync_cfs_local_mode",
            "Whether the node runs without a cluster",
            1 if status.get("local_mode") else 0,
        ),
        _gauge(
            "pycorosync_cfs_members",
            "Processes of the filesystem's process group",
            len(dfsm.get("members", [])),
        ),
        _gauge(
            "pycorosync_cfs_version",
            "Version of the database (rises with every change)",
            status.get("version", 0),
        ),
        _gauge(
            "pycorosync_cfs_send_queue",
            "Messages waiting to be multicast",
            status.get("send_queue", 0),
        ),
        _gauge(
            "pycorosync_cfs_engine_running",
            "Whether the supervised engine runs",
            1 if status.get("engine_running") else 0,
        ),
        _gauge(
            "pycorosync_cfs_engine_up",
            "Whether the engine's control socket answered this scrape",
            1 if engine_up else 0,
        ),
    ]
    mode = GaugeMetricFamily(
        "pycorosync_cfs_dfsm_mode", "The DFSM's mode (1 for the current one)", labels=["mode"]
    )
    for name in Mode.__members__:
        mode.add_metric([name], 1 if dfsm.get("mode") == name else 0)
    out.append(mode)
    messages = CounterMetricFamily(
        "pycorosync_cfs_group_messages",
        "The process group's messages, by kind",
        labels=["kind"],
    )
    group = status.get("group") or {}
    for kind in ("sent", "delivered", "try_again", "confchg"):
        messages.add_metric([kind], group.get(kind, 0))
    out.append(messages)
    for name, key, text in (
        ("pycorosync_cfs_refused_inquorate", "refused_inquorate", "Writes refused without quorum"),
        (
            "pycorosync_cfs_engine_restarts",
            "engine_restarts",
            "Restarts of the engine after it died",
        ),
    ):
        family = CounterMetricFamily(name, text)
        family.add_metric([], status.get(key, 0))
        out.append(family)
    return out


class EngineStatus:
    """The engine's ``status``, asked from its control socket before each scrape."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.last: dict[str, Any] | None = None

    async def refresh(self) -> None:
        self.last = None
        client = AsyncControlClient(self.run_dir)
        try:
            await asyncio.wait_for(client.connect(), ENGINE_TIMEOUT)
            status = await asyncio.wait_for(client.call("status"), ENGINE_TIMEOUT)
        except (NodeUnavailable, RequestFailed, OSError, TimeoutError):
            return
        finally:
            await client.close()
        if isinstance(status, dict):
            self.last = status


class CfsState(Protocol):
    """What the collector reads of the filesystem daemon (``CfsDaemon``)."""

    @property
    def node(self) -> object | None: ...

    def status(self) -> dict[str, Any]: ...


class CfsCollector(Collector):
    """The filesystem's families, and the engine's when it answered."""

    def __init__(self, daemon: CfsState, engine: EngineStatus) -> None:
        self.daemon = daemon
        self.engine = engine

    def collect(self) -> Iterator[Family]:
        from totem.node.metrics import daemon_families

        engine = self.engine.last
        if self.daemon.node is not None:
            yield from cfs_families(self.daemon.status(), engine is not None)
        if engine is not None:
            yield from daemon_families(engine)

    def describe(self) -> Iterator[Family]:
        return iter(())
