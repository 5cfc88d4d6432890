"""Entry-point factories of the service engines that live in ``totem.services``.

Registered in ``pyproject.toml`` under ``pycorosync.services`` (see
``totem.node.services``), as corosync loads its service engines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from totem.services.cfg import CfgService
from totem.services.cmap import CmapService
from totem.services.cpg import CpgService
from totem.services.cpg.interfaces import CpgLibrary
from totem.services.quorum import QuorumService

if TYPE_CHECKING:
    from totem.service import ServiceContext

__all__ = ["cfg_factory", "cmap_factory", "cpg_factory", "quorum_factory"]


def cmap_factory(context: ServiceContext) -> CmapService:
    """cmap (id 0): takes part in sync with ``totem.config_version`` ("does not exist" if unset)."""
    return CmapService(
        config_version=context.config.totem.config_version,
        config=context.config,
        local_node=context.local_node,
        handle_salt=int.from_bytes(context.random_bytes(4), "little"),
    )


def cfg_factory(context: ServiceContext) -> CfgService:
    """cfg (id 1): kill and shutdown requests."""
    return CfgService()


def cpg_factory(context: ServiceContext) -> CpgService:
    """cpg (id 2): closed process groups, the process-group API of applications."""
    daemon = context.daemon

    def ifaces_print(node_id: int) -> str:
        # the daemon's configuration follows reloads (nodes added at run time)
        config = daemon.config if daemon is not None else context.config
        node = config.node_by_id(node_id)
        return node.addresses[0] if node is not None else ""

    return CpgService(ifaces_print=ifaces_print, library=_cpg_library)


def _cpg_library(service: CpgService) -> CpgLibrary:
    """libcpg's handlers, imported when the IPC layer first asks for them."""
    from totem.services.cpg.lib import CpgLib

    return CpgLib(service)


def quorum_factory(context: ServiceContext) -> QuorumService:
    """quorum (id 3): the quorum view and its log lines; votequorum reports to it."""
    return QuorumService(provider=context.config.quorum.provider)
