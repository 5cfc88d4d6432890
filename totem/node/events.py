"""What a node stack emits: :data:`NodeEvent`, the events of ``NodeStack.events()``.

They are drained, in this order, from SRP (configuration changes, the ring seq to
persist, state changes, log records; its deliveries are consumed by the stack), the sync
engine, every service engine and the link layer (the redundant rings' or knet's). The
events of totem's own services are named here; a service plugged in through an entry
point (votequorum) emits frozen dataclasses of its own that ``totem`` cannot name without
importing upward: :class:`PluginEvent` stands for them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from totem.knet.events import DataMtuChanged, HostStateChanged, LinkStateChanged
from totem.net.rrp import RingFaulty, RingRecovered
from totem.services.cfg import (
    CfgCryptoReconfig,
    CfgKilled,
    CfgReloadRequested,
    CfgRingReenable,
    CfgShutdown,
)
from totem.services.cmap.service import ConfigVersionMismatch
from totem.services.cpg.events import CpgEvent
from totem.services.quorum import QuorumView
from totem.srp.events import ConfigurationChange, LogRecord, RingSeqChanged, StateChanged
from totem.sync import SyncEvent

__all__ = ["LinkEvent", "NodeEvent", "PluginEvent", "ServiceEvent"]


class PluginEvent(Protocol):
    """An event of a plugged-in service engine: a frozen dataclass the node passes on."""

    __dataclass_fields__: ClassVar[dict[str, Any]]


ServiceEvent = (
    CfgKilled
    | CfgShutdown
    | CfgReloadRequested
    | CfgCryptoReconfig
    | CfgRingReenable
    | ConfigVersionMismatch
    | CpgEvent
    | QuorumView
    | PluginEvent
)
"""The service engines' events (cfg, cmap, cpg when no sink takes them, quorum, plugins)."""

LinkEvent = RingFaulty | RingRecovered | LinkStateChanged | HostStateChanged | DataMtuChanged
"""The link layer's events (passive redundant rings, knet's links and hosts)."""

NodeEvent = (
    ConfigurationChange
    | RingSeqChanged
    | StateChanged
    | LogRecord
    | SyncEvent
    | (ServiceEvent | LinkEvent)
)
"""Everything ``NodeStack.events()`` returns."""
