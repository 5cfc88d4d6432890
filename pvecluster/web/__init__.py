"""The seed's "Datacenter -> Cluster" panel, served by ``pycorosync-cfsd`` on its HTTPS port.

One page, no framework and no build step (``static/``: HTML, CSS and a script, shipped in
the package): the cluster's status live (server-sent events), Proxmox's cluster actions run
as ``pycorosync-pvecm`` worker tasks with their log, and a checked editor of the replicated
``corosync.conf``. Modules, one concept each:

* :mod:`pvecluster.web.status` -- the snapshot of a node and the timeline of its changes
  (pure functions);
* :mod:`pvecluster.web.monitor` -- the live feed: the engine's events and a periodic look;
* :mod:`pvecluster.web.tasks` and :mod:`pvecluster.web.worker` -- actions as pvecm tasks;
* :mod:`pvecluster.web.editor` -- corosync.conf checks, ``config_version``, diff and save;
* :mod:`pvecluster.web.joininfo` -- the "Join Information" string;
* :mod:`pvecluster.web.security` -- login, ticket cookie, CSRF, TLS and headers;
* :mod:`pvecluster.web.handlers` -- the routes; :mod:`pvecluster.web.panel` -- the panel's
  state; :mod:`pvecluster.web.app` -- the wiring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from pvecluster.cfsd.host import CfsHost
    from pvecluster.web.panel import Panel

__all__ = ["setup_web"]


def setup_web(app: web.Application, daemon: CfsHost) -> Panel:
    """Add the panel to the node's API application (see :mod:`pvecluster.web.app`)."""
    from pvecluster.web.app import setup_web as setup

    return setup(app, daemon)
