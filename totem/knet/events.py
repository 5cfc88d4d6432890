"""What a knet handle tells its user (ref knet/README.md 2): link and host state changes
and data MTU changes, as frozen events; its log lines are
:class:`~totem.srp.events.LogRecord` of subsystem ``KNET`` worded as libknet words them
(``link: host: 3 link: 0 is down``)."""

from __future__ import annotations

from dataclasses import dataclass

from totem.srp.events import LogRecord

__all__ = ["DataMtuChanged", "HostStateChanged", "KnetEvent", "LinkStateChanged"]


@dataclass(frozen=True, slots=True)
class LinkStateChanged:
    """Link ``link`` to host ``host`` went up (``connected``) or down."""

    host: int
    link: int
    connected: bool


@dataclass(frozen=True, slots=True)
class HostStateChanged:
    """Host ``host`` became reachable (data flows) or unreachable (no usable link)."""

    host: int
    reachable: bool


@dataclass(frozen=True, slots=True)
class DataMtuChanged:
    """The handle's data MTU (what messages are fragmented to) is now ``mtu``."""

    mtu: int


KnetEvent = LinkStateChanged | HostStateChanged | DataMtuChanged | LogRecord
