"""The quorum service (id 3, ``exec/vsf_quorum.c``) and the quorum-provider hook.

vsf_quorum sends no exec messages and its ``sync_process`` is done at once, but
it takes part in sync (ref 10.4) and it is where the operator sees membership
and quorum (subsystem QUORUM, level NOTICE):

* at ``sync_init``: ``Sync members[3]: 1 2 3``, then ``Sync joined[1]: 3`` and
  ``Sync left[1]: 4`` when someone joined or left since the last *activated*
  sync (a node that left and came back within one transitional period counts as
  left and joined);
* when the provider reports quorum (after every votequorum activation, and on
  every quorum change outside sync): ``This node is within the primary component
  and will provide service.`` (or ``... non-primary component and will NOT
  provide any services.``) only when the state flips, then always
  ``Members[3]: 1 2 3``.

Long lists are cut into lines of at most 63 characters ending with ``\\``, as
corosync's 64-byte ``view_buf`` does.

**Provider hook.** The quorum provider (votequorum) is given
:meth:`QuorumService.set_quorum` as its callback (corosync's
``quorum_set_quorate_fn_t``): ``set_quorum(members, quorate, ring_id)``. With
no provider configured the node is always quorate (``primary_designated = 1``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from totem.ringid import RingId
from totem.service import Service
from totem.srp.events import LogLevel

__all__ = ["QuorateCallback", "QuorumService", "QuorumView", "view_list_lines"]

QUORUM_SERVICE_ID = 3
_VIEW_BUF = 64

QuorateCallback = Callable[[Sequence[int], bool, RingId], None]
"""``set_quorum(members, quorate, ring_id)``: what a quorum provider calls."""


@dataclass(frozen=True, slots=True)
class QuorumView:
    """The quorum view as the provider last reported it (what quorum clients see)."""

    quorate: bool
    ring_id: RingId
    members: tuple[int, ...]


def view_list_lines(kind: str, nodes: Sequence[int]) -> list[str]:
    """Format ``Members[3]: 1 2 3`` as corosync's ``log_view_list`` does (63-char pieces)."""
    lines: list[str] = []
    total = len(nodes)
    i = 0
    while True:
        buf = ""
        while i < total:
            piece = f" {nodes[i]}"
            if len(buf) + len(piece) >= _VIEW_BUF:
                break
            buf += piece
            i += 1
        more = "\\" if i < total else ""
        lines.append(f"{kind}[{total}]:{buf}{more}")
        if i == total:
            return lines


class QuorumService(Service):
    """vsf_quorum: sync participant, membership logs and the quorate state of the node."""

    service_id = QUORUM_SERVICE_ID
    name = "corosync cluster quorum service v0.1"
    sync_participant = True

    def __init__(self, provider: str | None = "corosync_votequorum") -> None:
        super().__init__()
        self.provider = provider
        self._primary = provider is None
        self._view: QuorumView | None = None
        self._members: tuple[int, ...] = ()
        self._old_members: tuple[int, ...] = ()
        self._joined: tuple[int, ...] = ()
        self._left: tuple[int, ...] = ()
        self._last_sync_ring: RingId | None = None
        self._events: list[Any] = []

    def attach(self, host: Any) -> None:
        super().attach(host)
        if self.provider is not None:
            self._log(f"Using quorum provider {self.provider}")

    # --- state for tools --------------------------------------------------------------------
    @property
    def quorate(self) -> bool:
        """``primary_designated``: may this node provide service?"""
        return self._primary

    @property
    def view(self) -> QuorumView | None:
        """The provider's last report; None before the first one."""
        return self._view

    @property
    def sync_members(self) -> tuple[int, ...]:
        return self._members

    @property
    def joined(self) -> tuple[int, ...]:
        return self._joined

    @property
    def left(self) -> tuple[int, ...]:
        return self._left

    # --- the provider hook ------------------------------------------------------------------
    def set_quorum(self, members: Sequence[int], quorate: bool, ring_id: RingId) -> None:
        """The quorum provider reports the quorum view (``quorum_api_set_quorum``)."""
        old = self._primary
        self._primary = bool(quorate)
        if self._primary and not old:
            self._log("This node is within the primary component and will provide service.")
        elif not self._primary and old:
            self._log(
                "This node is within the non-primary component and will NOT provide any services."
            )
        self._view = QuorumView(self._primary, ring_id, tuple(members))
        for line in view_list_lines("Members", self._view.members):
            self._log(line)
        self._events.append(self._view)

    # --- sync -------------------------------------------------------------------------------
    def sync_init(
        self,
        trans_members: Sequence[int],
        members: Sequence[int],
        ring_id: RingId,
        now: float,
    ) -> None:
        self._members = tuple(members)
        self._last_sync_ring = ring_id
        trans = set(trans_members)
        member_set = set(self._members)
        left = [n for n in self._old_members if n not in trans or n not in member_set]
        left_set = set(left)
        old_set = set(self._old_members)
        joined = [n for n in self._members if n not in old_set or n in left_set]
        self._left = tuple(left)
        self._joined = tuple(joined)
        for line in view_list_lines("Sync members", self._members):
            self._log(line)
        if joined:
            for line in view_list_lines("Sync joined", self._joined):
                self._log(line)
        if left:
            for line in view_list_lines("Sync left", self._left):
                self._log(line)

    def sync_process(self, now: float) -> bool:
        return True

    def sync_activate(self, now: float) -> None:
        self._old_members = self._members

    def events(self) -> list[Any]:
        events, self._events = self._events, []
        return events

    def status(self) -> dict[str, Any]:
        view = self._view
        return {
            "provider": self.provider,
            "quorate": self._primary,
            "ring_id": None if view is None else str(view.ring_id),
            "members": [] if view is None else list(view.members),
        }

    def _log(self, message: str) -> None:
        if self.host is not None:
            self.host.log(LogLevel.NOTICE, "QUORUM", message)
