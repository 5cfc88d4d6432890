"""One knet host: its links, link policy and reachability (ref knet/README.md 2;
``host.c:_host_dstcache_update_sync``, ``threads_tx.c:_dispatch_to_links``).

A host is *reachable* while at least one of its links is enabled, connected and has a
valid MTU; only then does knet send it data or accept data from it ("Source host N not
reachable yet"). Which links carry data is the link policy (corosync ``link_mode``):

* ``passive`` (default): the single usable link of highest priority; on a tie the lowest
  link id. When it goes down the next one takes over at once -- nothing is negotiated,
  and Totem sees no membership change;
* ``active``: every usable link (the receiver drops the copies by sequence number);
* ``rr``: the usable links in turn, one message each.

Pings and pongs run on every enabled link whatever the policy. The host also owns the
receive side's duplicate window (:mod:`.seqring`) and defragmentation buffers
(:mod:`.defrag`) for what it sends us.
"""

from __future__ import annotations

from typing import Final

from totem.knet.defrag import DefragBuffers
from totem.knet.link import KnetLink
from totem.knet.seqring import SeqWindow

__all__ = ["LINK_POLICIES", "KnetHost"]

LINK_POLICIES: Final = ("passive", "active", "rr")


class KnetHost:
    """``struct knet_host``."""

    __slots__ = (
        "active_links",
        "defrag",
        "got_data",
        "host_id",
        "links",
        "loopback",
        "policy",
        "reachable",
        "timed_rx_seq",
        "untimed_rx_seq",
        "window",
    )

    def __init__(self, host_id: int, policy: str = "passive", *, loopback: bool = False) -> None:
        if policy not in LINK_POLICIES:
            raise ValueError(f"link policy {policy!r} is not passive, active or rr")
        self.host_id = host_id
        self.policy = policy
        self.loopback = loopback
        """The local host: reached through the loopback link, always reachable."""
        self.links: dict[int, KnetLink] = {}
        self.active_links: list[int] = []
        self.reachable = loopback
        self.defrag = DefragBuffers()
        self.window = SeqWindow(self.defrag)
        self.got_data = False
        self.timed_rx_seq = 0
        self.untimed_rx_seq = 0

    def update_dstcache(self) -> tuple[bool, list[tuple[str, str]]]:
        """Recompute the links data goes over and reachability.

        Returns (reachability changed, knet log lines as (level, text)).
        """
        if self.loopback:
            self.active_links = [0]
            return False, []
        usable = [
            link
            for link_id, link in sorted(self.links.items())
            if link.enabled and link.connected and link.has_valid_mtu
        ]
        logs: list[tuple[str, str]] = []
        if self.policy == "passive":
            best: KnetLink | None = None
            for link in usable:
                if best is None or link.priority > best.priority:
                    best = link
            self.active_links = [best.link_id] if best is not None else []
            shown = best if best is not None else self.links.get(0)
            logs.append(
                (
                    "info",
                    f"host: {self.host_id} (passive) best link: "
                    f"{shown.link_id if shown is not None else 0} "
                    f"(pri: {shown.priority if shown is not None else 0})",
                )
            )
        else:
            self.active_links = [link.link_id for link in usable]
            logs.append(("info", f"host: {self.host_id} has {len(self.active_links)} active links"))
        if not self.active_links:
            logs.append(("warning", f"host: {self.host_id} has no active links"))
            self.window.clear(0)
            reachable = False
        else:
            reachable = True
        changed = reachable != self.reachable
        self.reachable = reachable
        return changed, logs

    def dispatch_links(self) -> list[KnetLink]:
        """The links the next message goes over (``_dispatch_to_links``); in ``rr`` mode
        the first one moves to the back."""
        active = self.active_links
        if not active:
            return []
        if self.policy == "rr" and len(active) > 1:
            first = active.pop(0)
            active.append(first)
            return [self.links[first]]
        return [self.links[link_id] for link_id in active]
