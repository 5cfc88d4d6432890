"""The passive Redundant Ring Protocol, sans-IO (anchors.md A2; corosync 2.x ``totemrrp.c``).

``RedundantRing`` sits between SRP and the transports, one transport per ring
(link). It has the driver contract of every core (DESIGN.md)::

    rrp.assign(srp.outbox()) -> list[Datagram]   # SRP's datagrams, each given a link
    rrp.receive(data, link, now) -> list[bytes]  # what to hand to SRP, in order
    rrp.release_token(now) -> list[bytes]        # after SRP took them: a held token
    rrp.next_deadline() / rrp.on_deadline(now) -> list[bytes]
    rrp.outbox() -> list[Datagram]               # its own ring test messages
    rrp.events() -> list[RrpEvent]               # RingFaulty, RingRecovered, LogRecord
    rrp.ring_reenable(link=None)                 # pycorosync-cfgtool -r
    rrp.status() -> list[RingStatus]             # pycorosync-cfgtool -s

``rrp_mode: none`` is one ring and a passthrough. ``rrp_mode: passive`` (what
2.x supported and tested) works like this:

* **Sending.** Tokens (every unicast: ORF and commit tokens) and multicasts each
  go round-robin over the rings that are not FAULTY, with one cursor for tokens
  and one for multicasts (``passive_token_send``, ``passive_mcast_flush_send``).
  Each message travels on *one* ring, so two rings nearly double the capacity,
  and a lost datagram is re-sent by SRP (token retransmit, rtr list) on the
  *other* ring, because the cursor has moved on. So while a ring is dead but not
  yet marked, the Totem ring keeps going at the cost of some retransmissions,
  and no membership change happens.
* **Receiving.** Everything received on any ring goes to SRP, once: each
  datagram was sent on one ring only, and SRP discards its own re-sends.
* **Failure detection** (``passive_monitor``). Per ring, count the tokens and
  (separately) the other messages received. A ring whose count lags the best
  ring's by more than ``rrp_problem_count_threshold`` tokens, or
  ``rrp_problem_count_mcast_threshold`` messages, is marked FAULTY: it is logged
  ("Marking ringid 1 interface 10.0.0.2 FAULTY"), reported as :class:`RingFaulty`,
  shown by ``status()``, and no longer sent on. The lag is the ring's *problem
  count*.
* **Problem count decay** (``rrp_problem_count_timeout``). corosync 2.x declared
  the passive decrementer but left it a TODO; we implement the man page's words
  ("decrementing the problem count by 1 ... to ensure a link is not marked faulty
  for transient network failures") with one guard: every timeout, a ring that is
  not faulty, lags, and *received something of that kind since the last tick*
  has its problem count lowered by one. A dead ring receives nothing, so decay
  never hides it, however idle the cluster is.
* **Automatic recovery** (``rrp_autorecovery_check_timeout``): see
  :mod:`totem.net.ringtest`. A FAULTY ring is tested every timeout; when a test
  has gone round the ring every node re-enables it ("Automatically recovered ring
  1", :class:`RingRecovered`). Re-enabling resets every counter, as 2.x does.
* **Token hold** (``rrp_token_expired_timeout``). With an optional
  ``msgs_missing(token)`` hook, a token that arrives while SRP still lacks
  messages the token already counts is held until they arrive (they may be on the
  slower ring) or for at most ``rrp_token_expired_timeout``, saving needless
  retransmit requests. 2.x shipped this path disabled (its ``msgs_missing`` always
  said 0); without the hook we behave the same.
* If every ring is FAULTY, both cursors keep alternating over all rings (2.x fell
  back to ring 0 only): whichever network works still carries half the traffic,
  and the ring tests find it.

Counters are Python integers, so 2.x's renormalisation at INT_MAX/2 is only kept
to bound their size. Everything is driven by ``now``; nothing here sleeps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from totem.net.ringtest import (
    RING_TEST_ACTIVATE,
    RING_TEST_ACTIVE,
    RingTest,
    RingTestError,
    decode_ring_test,
    encode_ring_test,
)
from totem.srp.events import LogLevel, LogRecord
from totem.srp.state import Datagram
from totem.wire.constants import HEADER_SIZE, PROCESSOR_COUNT_MAX, MessageType

__all__ = [
    "INTERFACE_MAX",
    "RRP_MODES",
    "RedundantRing",
    "RingFaulty",
    "RingRecovered",
    "RingStatus",
    "RrpEvent",
    "RrpSettings",
    "RrpStats",
]

RRP_MODES: Final = ("none", "passive")
INTERFACE_MAX: Final = 2
"""corosync 2.x ``INTERFACE_MAX``: ring 0 and ring 1."""
_RENORMALISE_AT: Final = 0x7FFFFFFF // 2
_TOTEM_MAGICS: Final = (b"\x70\xc0", b"\xc0\x70")
_ORF_TOKEN: Final = int(MessageType.ORF_TOKEN)
_SUBSYS: Final = "TOTEM"


@dataclass(frozen=True, slots=True)
class RrpSettings:
    """``rrp_mode``, the number of rings and the ``rrp_*`` tunables (milliseconds).

    Defaults are corosync 2.x's (``totemconfig.c`` / ``corosync.conf.5`` of 2.4.6);
    the config layer passes the effective values (there ``rrp_token_expired_timeout``
    defaults to ``token_retransmit``).
    """

    mode: str = "none"
    interface_count: int = 1
    problem_count_threshold: int = 10
    problem_count_mcast_threshold: int = 100
    problem_count_timeout: int = 2000
    token_expired_timeout: int = 47
    autorecovery_check_timeout: int = 1000

    def __post_init__(self) -> None:
        if self.mode not in RRP_MODES:
            raise ValueError(
                f'The RRP mode "{self.mode}" specified is invalid. It must be none or passive.'
            )
        limit = 1 if self.mode == "none" else INTERFACE_MAX
        if not 1 <= self.interface_count <= limit:
            raise ValueError(
                f"{self.interface_count} is too many configured interfaces for the "
                f"rrp_mode setting {self.mode}."
            )
        if self.problem_count_threshold < 2 or self.problem_count_mcast_threshold < 2:
            raise ValueError("The RRP problem count thresholds may not be less than 2.")
        timeouts = ("problem_count_timeout", "token_expired_timeout", "autorecovery_check_timeout")
        for name in timeouts:
            if getattr(self, name) <= 0:
                raise ValueError(f"rrp_{name} must be positive")


@dataclass(frozen=True, slots=True)
class RingFaulty:
    """Ring ``ring`` was marked FAULTY: no more sends on it until it recovers."""

    ring: int
    reason: str


@dataclass(frozen=True, slots=True)
class RingRecovered:
    """Ring ``ring`` is in use again: by a ring test (automatic) or ``cfgtool -r``."""

    ring: int
    automatic: bool = True


RrpEvent = RingFaulty | RingRecovered | LogRecord


@dataclass(frozen=True, slots=True)
class RingStatus:
    """One ring as ``pycorosync-cfgtool -s`` shows it."""

    ring: int
    interface: str
    faulty: bool
    status: str
    """corosync 2.x's wording: "ring 1 active with no faults" or the FAULTY line."""
    token_rx: int
    mcast_rx: int
    token_tx: int
    mcast_tx: int
    token_problem: int
    """Tokens this ring lags the best ring by (FAULTY past the token threshold)."""
    mcast_problem: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "ring": self.ring,
            "interface": self.interface,
            "faulty": self.faulty,
            "status": self.status,
            "token_rx": self.token_rx,
            "mcast_rx": self.mcast_rx,
            "token_tx": self.token_tx,
            "mcast_tx": self.mcast_tx,
            "token_problem": self.token_problem,
            "mcast_problem": self.mcast_problem,
        }


@dataclass(slots=True)
class RrpStats:
    """Counters of the RRP layer itself."""

    dropped: Counter[str] = field(default_factory=Counter)
    """Refused input, by reason (``bad_link``, ``ring_test_short``, ...)."""
    ring_tests_sent: int = 0
    ring_tests_forwarded: int = 0
    tokens_held: int = 0
    tokens_held_expired: int = 0
    """Held tokens released by ``rrp_token_expired_timeout`` rather than by arrivals."""
    faults: int = 0
    recoveries: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dropped": dict(self.dropped),
            "ring_tests_sent": self.ring_tests_sent,
            "ring_tests_forwarded": self.ring_tests_forwarded,
            "tokens_held": self.tokens_held,
            "tokens_held_expired": self.tokens_held_expired,
            "faults": self.faults,
            "recoveries": self.recoveries,
        }


class RedundantRing:
    """Link choice, per-ring monitoring and recovery of one node (see module docstring)."""

    def __init__(
        self,
        node_id: int,
        settings: RrpSettings | None = None,
        *,
        interfaces: Sequence[str] | None = None,
        nodelist_size: int = PROCESSOR_COUNT_MAX,
        msgs_missing: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.node_id = node_id
        self.settings = settings = settings or RrpSettings()
        count = settings.interface_count
        self.count = count
        self.passive = settings.mode == "passive"
        if interfaces is None:
            interfaces = [f"link{i}" for i in range(count)]
        if len(interfaces) != count:
            raise ValueError(f"{len(interfaces)} interface names for {count} rings")
        self.interfaces = tuple(interfaces)
        self.max_hops = max(1, nodelist_size)
        self.msgs_missing = msgs_missing
        self.stats = RrpStats()
        self.token_target: int | None = None
        """Where this node last sent a token: ring tests follow the token's path."""

        self.faulty = [False] * count
        self._token_count = [0] * count
        self._mcast_count = [0] * count
        self._token_seen = [False] * count
        self._mcast_seen = [False] * count
        self._token_rx = [0] * count
        self._mcast_rx = [0] * count
        self._token_tx = [0] * count
        self._mcast_tx = [0] * count
        self._status = [self._ok_text(i) for i in range(count)]
        self._token_xmit = 0
        self._mcast_xmit = 0
        self._decay_at: float | None = None
        self._test_at: list[float | None] = [None] * count
        self._held: bytes | None = None
        self._held_until = 0.0
        self._out: list[Datagram] = []
        self._events: list[RrpEvent] = []

    # ------------------------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------------------------
    def assign(self, datagrams: Iterable[Datagram]) -> list[Datagram]:
        """SRP's datagrams, each with the link (ring) it must go out on."""
        if not self.passive:
            return list(datagrams)
        out: list[Datagram] = []
        for datagram in datagrams:
            if datagram.dest is None:
                link = self._mcast_xmit = self._next_link(self._mcast_xmit)
                self._mcast_tx[link] += 1
            else:
                self.token_target = datagram.dest
                link = self._token_xmit = self._next_link(self._token_xmit)
                self._token_tx[link] += 1
            out.append(Datagram(datagram.dest, datagram.data, link))
        return out

    def _next_link(self, current: int) -> int:
        count = self.count
        faulty = self.faulty
        for step in range(1, count + 1):
            candidate = (current + step) % count
            if not faulty[candidate]:
                return candidate
        return (current + 1) % count

    def outbox(self) -> list[Datagram]:
        """Drain this layer's own datagrams (ring tests), links already set."""
        out, self._out = self._out, []
        return out

    # ------------------------------------------------------------------------------------
    # Receiving
    # ------------------------------------------------------------------------------------
    def receive(self, data: bytes, link: int, now: float) -> list[bytes]:
        """A datagram arrived on ``link``: the datagrams to hand to SRP now, in order."""
        if not 0 <= link < self.count:
            self.stats.dropped["bad_link"] += 1
            return []
        if not self.passive:
            return [data]
        if len(data) < HEADER_SIZE or data[:2] not in _TOTEM_MAGICS:
            return [data]  # not ours to judge: SRP drops and counts it
        kind = data[3]
        if kind == _ORF_TOKEN:
            self._token_rx[link] += 1
            self._monitor(self._token_count, self._token_seen, link, True, now)
            if self.msgs_missing is not None and self.msgs_missing(data):
                if self._held is None:
                    self._held_until = now + self.settings.token_expired_timeout / 1000
                self._held = data
                self.stats.tokens_held += 1
                return []
            return [data]  # a held token, older or newer, still goes: SRP keeps the newest
        if kind in (RING_TEST_ACTIVE, RING_TEST_ACTIVATE):
            self._ring_test(data, link)
            return []
        self._mcast_rx[link] += 1
        self._monitor(self._mcast_count, self._mcast_seen, link, False, now)
        return [data]

    def release_token(self, now: float) -> list[bytes]:
        """Call after SRP took what ``receive`` returned: the held token, once SRP has
        every message it counts (or its ``rrp_token_expired_timeout`` is over)."""
        held = self._held
        if held is None:
            return []
        if now < self._held_until and self.msgs_missing is not None and self.msgs_missing(held):
            return []
        self._held = None
        return [held]

    # ------------------------------------------------------------------------------------
    # Failure detection (passive_monitor)
    # ------------------------------------------------------------------------------------
    def _monitor(
        self, counts: list[int], seen: list[bool], link: int, token: bool, now: float
    ) -> None:
        counts[link] += 1
        seen[link] = True
        top = max(counts)
        if top > _RENORMALISE_AT:
            low = min(counts)
            for i in range(self.count):
                counts[i] -= low
            top -= low
        settings = self.settings
        threshold = (
            settings.problem_count_threshold if token else settings.problem_count_mcast_threshold
        )
        lagging = False
        for i in range(self.count):
            if self.faulty[i]:
                continue
            problem = top - counts[i]
            if problem > threshold:
                kind = "token" if token else "message"
                self._mark_faulty(i, f"{kind} problem count {problem} > {threshold}", now)
            elif problem:
                lagging = True
        if lagging and self._decay_at is None:
            self._decay_at = now + settings.problem_count_timeout / 1000

    def _mark_faulty(self, ring: int, reason: str, now: float) -> None:
        self.faulty[ring] = True
        self.stats.faults += 1
        text = f"Marking ringid {ring} interface {self.interfaces[ring]} FAULTY"
        self._status[ring] = text
        self._events.append(LogRecord(LogLevel.ERROR, _SUBSYS, text))
        self._events.append(RingFaulty(ring, reason))
        self._test_at[ring] = now + self.settings.autorecovery_check_timeout / 1000

    def _decay(self, now: float) -> None:
        """``rrp_problem_count_timeout`` tick: a live, lagging ring's problem count -1."""
        lagging = False
        for counts, seen in (
            (self._token_count, self._token_seen),
            (self._mcast_count, self._mcast_seen),
        ):
            top = max(counts)
            for i in range(self.count):
                if not self.faulty[i] and counts[i] < top:
                    if seen[i]:
                        counts[i] += 1
                    if counts[i] < top:
                        lagging = True
                seen[i] = False
        self._decay_at = now + self.settings.problem_count_timeout / 1000 if lagging else None

    # ------------------------------------------------------------------------------------
    # Recovery: ring tests and re-enabling
    # ------------------------------------------------------------------------------------
    def _send_test(self, message: RingTest, link: int) -> bool:
        if self.token_target is None:
            self.stats.dropped["ring_test_no_target"] += 1
            return False
        self._out.append(Datagram(self.token_target, encode_ring_test(message), link))
        return True

    def _ring_test(self, data: bytes, link: int) -> None:
        try:
            message = decode_ring_test(data)
        except RingTestError as err:
            self.stats.dropped[f"ring_test_{err.reason}"] += 1
            return
        if message.ring_number != link:
            self.stats.dropped["ring_test_wrong_ring"] += 1
            return
        me = self.node_id
        if message.type == RING_TEST_ACTIVE:
            self._log(LogLevel.DEBUG, "received message requesting test of ring now active")
            if message.activator == me:
                if self._send_test(RingTest(RING_TEST_ACTIVATE, me, link, me), link):
                    self.stats.ring_tests_sent += 1
            else:
                self._forward(message, link)
            return
        self._log(
            LogLevel.DEBUG,
            f"Received ring test activate message for ring {message.ring_number} "
            f"sent by node {message.activator}",
        )
        if self.faulty[link]:
            self._log(LogLevel.NOTICE, f"Automatically recovered ring {link}")
            self._events.append(RingRecovered(link, automatic=True))
            self.stats.recoveries += 1
        self._reenable((link,))
        if message.activator != me:
            self._forward(message, link)

    def _forward(self, message: RingTest, link: int) -> None:
        hops = message.hops + 1
        if hops > self.max_hops:
            self.stats.dropped["ring_test_expired"] += 1
            return
        forwarded = RingTest(message.type, self.node_id, link, message.activator, hops)
        if self._send_test(forwarded, link):
            self.stats.ring_tests_forwarded += 1

    def _reenable(self, rings: Iterable[int]) -> None:
        """``passive_ring_reenable``: every counter restarts; ``rings`` are in use again."""
        for counts in (self._token_count, self._mcast_count):
            for i in range(self.count):
                counts[i] = 0
        for ring in rings:
            self.faulty[ring] = False
            self._status[ring] = self._ok_text(ring)
            self._test_at[ring] = None
        self._decay_at = None

    def ring_reenable(self, link: int | None = None) -> list[int]:
        """Administrative re-enable (``cfgtool -r``) of ``link``, or every ring if None.

        Returns the rings that were FAULTY and are now in use again.
        """
        if link is not None and not 0 <= link < self.count:
            raise ValueError(f"no ring {link}: this node has rings 0..{self.count - 1}")
        rings = tuple(range(self.count)) if link is None else (link,)
        recovered = [ring for ring in rings if self.faulty[ring]]
        for ring in recovered:
            self._log(LogLevel.NOTICE, f"Ring {ring} re-enabled by administrator request")
            self._events.append(RingRecovered(ring, automatic=False))
            self.stats.recoveries += 1
        if self.passive:
            self._reenable(rings)
        return recovered

    # ------------------------------------------------------------------------------------
    # Timers
    # ------------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        """The earliest of the decay tick, the ring test timers and a held token's expiry."""
        best = self._decay_at
        for due in self._test_at:
            if due is not None and (best is None or due < best):
                best = due
        if self._held is not None and (best is None or self._held_until < best):
            best = self._held_until
        return best

    def on_deadline(self, now: float) -> list[bytes]:
        """Run what is due; returns a held token whose time is up (for SRP)."""
        if self._decay_at is not None and self._decay_at <= now:
            self._decay(now)
        period = self.settings.autorecovery_check_timeout / 1000
        for ring, due in enumerate(self._test_at):
            if due is None or due > now:
                continue
            if self.faulty[ring]:
                me = self.node_id
                if self._send_test(RingTest(RING_TEST_ACTIVE, me, ring, me), ring):
                    self.stats.ring_tests_sent += 1
                self._test_at[ring] = now + period
            else:
                self._test_at[ring] = None
        if self._held is not None and self._held_until <= now:
            held, self._held = self._held, None
            self.stats.tokens_held_expired += 1
            return [held]
        return []

    # ------------------------------------------------------------------------------------
    # Events and status
    # ------------------------------------------------------------------------------------
    def events(self) -> list[RrpEvent]:
        """Drain the events."""
        out, self._events = self._events, []
        return out

    def _log(self, level: LogLevel, message: str) -> None:
        self._events.append(LogRecord(level, _SUBSYS, message))

    @staticmethod
    def _ok_text(ring: int) -> str:
        return f"ring {ring} active with no faults"

    def status(self) -> list[RingStatus]:
        """Every ring, for people and programs."""
        token_top = max(self._token_count)
        mcast_top = max(self._mcast_count)
        return [
            RingStatus(
                ring=i,
                interface=self.interfaces[i],
                faulty=self.faulty[i],
                status=self._status[i],
                token_rx=self._token_rx[i],
                mcast_rx=self._mcast_rx[i],
                token_tx=self._token_tx[i],
                mcast_tx=self._mcast_tx[i],
                token_problem=token_top - self._token_count[i],
                mcast_problem=mcast_top - self._mcast_count[i],
            )
            for i in range(self.count)
        ]
