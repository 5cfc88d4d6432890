"""The ``pycorosync.agents`` entry point of the qdevice-net client, kept light.

Every daemon loads its agents' entry points at start-up; the client itself (its
codec, TLS, votequorum bridge) is imported only when ``quorum.device.model`` is
``net``, so nodes without a quorum device do not pay for it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["agent_factory"]


def agent_factory(daemon: Any) -> Any:
    """The qdevice agent when ``quorum.device.model`` is ``net``, else None."""
    device = daemon.config.quorum.device
    if device is None or device.model != "net":
        return None
    from votequorum.qdevice.agent import agent_factory as configured

    return configured(daemon)
