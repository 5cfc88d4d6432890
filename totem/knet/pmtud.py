"""Path MTU discovery, as libknet 1.25's PMTUd thread does it (ref knet/README.md 1.5;
``threads_pmtud.c``).

Every 200 ms tick without a discovery in progress, the runner *scans* the links that are
enabled, connected and have sent a ping, host by host, link by link, one at a time:

* with a manual MTU (corosync ``knet_mtu``), the link's data MTU is computed from it;
* otherwise a link whose last discovery is ``knet_pmtud_interval`` (30 s) old, or every
  link when a run was forced (a link came up, crypto changed), is *probed*: a PMTUD
  packet announcing its on-wire size (IP + UDP + knet [+ crypto]) goes to the peer, and
  the runner waits for the PMTUD_REPLY echoing that size, up to the link's
  ``pong_timeout_adj`` (times a multiplier that starts at 2 and doubles on each
  timeout, up to 128, when crypto is on);
* probing starts at 65535 bytes; the local kernel refuses anything above its MTU
  towards the peer (EMSGSIZE, :attr:`LinkConfig.kernel_mtu`), which makes the next
  probe exactly that size; a reply makes the size *good*, a timeout *bad*, and the
  next probe bisects between them until the good size is one below the bad one (with
  crypto: within one cipher block), at most 30 probes;
* the link's data MTU is then ``calc_max_data_outlen(size - IP - UDP)`` (1446 clear on
  a 1500-byte network, 1397 with aes256/sha256); below knet's minimum it is invalid;
  a link whose discovery fails has no valid MTU and stops counting for reachability.

When the scan is over, the handle's data MTU -- what every message is fragmented to --
is the smallest MTU among the scanned links. A forced run while a scan is in progress
abandons it (its link keeps its previous MTU) and scans again at the next tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from totem.knet.constants import (
    HEADER_ALL_SIZE,
    LINK_PMTUD_CRYPTO_TIMEOUT_MULTIPLIER_MAX,
    LINK_PMTUD_CRYPTO_TIMEOUT_MULTIPLIER_MIN,
    PMTUD_SIZE_V4,
)
from totem.knet.link import KnetLink
from totem.knet.mtu import CryptoSizes, ip_overhead

__all__ = ["PMTUD_FAILSAFE", "PmtudHost", "PmtudProbe", "PmtudRunner"]

PMTUD_FAILSAFE = 30
"""Probes per link per discovery before knet gives up ("Too many attempts")."""


class PmtudHost(Protocol):
    """What the runner needs from its handle."""

    def pmtud_links(self) -> list[KnetLink]:
        """Enabled, connected, non-loopback links that have sent a ping, in scan order."""
        ...

    def crypto_sizes(self) -> CryptoSizes: ...

    def crypto_on(self) -> bool: ...

    def send_pmtud(self, link: KnetLink, size: int, length: int) -> None:
        """Put a probe for on-wire ``size`` (``length`` clear bytes) on ``link``."""
        ...

    def link_mtu_validity_changed(self, link: KnetLink) -> None: ...

    def log(self, level: str, subsys: str, text: str) -> None: ...

    def data_mtu_changed(self, mtu: int) -> None: ...


@dataclass(slots=True)
class PmtudProbe:
    """One link's discovery in progress (the locals of ``_handle_check_link_pmtud``)."""

    link: KnetLink
    overhead: int
    onwire_len: int = PMTUD_SIZE_V4
    last_good: int = 0
    last_bad: int = 0
    failsafe: int = 0
    warned: bool = False
    crypto_reduce: bool = True
    sent_at: float = 0.0
    timeout_us: int = 0
    deadline: float | None = None
    saved_mtu: int = 0
    saved_valid: bool = False


class PmtudRunner:
    """The PMTUd thread of one handle, as a state machine driven by ``now``."""

    def __init__(self, host: PmtudHost, interval: int = 30, manual_mtu: int = 0) -> None:
        self.host = host
        self.interval = interval
        """``knet_pmtud_interval``, seconds."""
        self.manual_mtu = manual_mtu
        """``knet_mtu``: 0 discovers, else the interface MTU to assume."""
        self.data_mtu = 0
        self.forcerun = False
        self.probe: PmtudProbe | None = None
        self._queue: list[KnetLink] = []
        self._forced = False
        self._lower = PMTUD_SIZE_V4
        self._have_mtu = False

    @property
    def running(self) -> bool:
        return self.probe is not None or bool(self._queue)

    def next_deadline(self) -> float | None:
        probe = self.probe
        return probe.deadline if probe is not None else None

    # ------------------------------------------------------------------------------------
    def force(self, *, reset_mtu: bool, restart: bool) -> None:
        """``force_pmtud_run``: rerun at the next tick; ``reset_mtu`` drops the data MTU
        to the minimum meanwhile; ``restart`` abandons a scan in progress."""
        if reset_mtu:
            minimum = self.host.crypto_sizes().min_mtu()
            self.host.log("debug", "pmtud", "PMTUd has been reset to default")
            if self.data_mtu != minimum:
                self.data_mtu = minimum
                self.host.data_mtu_changed(minimum)
        if not self.running:
            self.forcerun = True
        elif restart:
            self._abort()
            self.forcerun = True

    def _abort(self) -> None:
        probe = self.probe
        if probe is not None:
            link = probe.link
            self.host.log(
                "debug",
                "pmtud",
                f"PMTUD for host: {link.host_id} link: {link.link_id} has been rescheduled",
            )
            link.mtu = probe.saved_mtu
            link.has_valid_mtu = probe.saved_valid
        self.probe = None
        self._queue = []

    # ------------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """A 200 ms tick of the PMTUd thread: start a scan unless one runs."""
        if self.running:
            return
        self._forced = self.forcerun
        self.forcerun = False
        if self._forced:
            self.host.log("debug", "pmtud", "PMTUd request to rerun has been received")
        self._queue = list(self.host.pmtud_links())
        self._lower = PMTUD_SIZE_V4
        self._have_mtu = False
        self._continue(now)

    def _continue(self, now: float) -> None:
        """Work through the scan until a probe waits for its reply, or the scan ends."""
        host = self.host
        while self.probe is None:
            if not self._queue:
                if self._have_mtu and self.data_mtu != self._lower:
                    self.data_mtu = self._lower
                    host.log("info", "pmtud", f"Global data MTU changed to: {self._lower}")
                    host.data_mtu_changed(self._lower)
                return
            link = self._queue.pop(0)
            if not (link.enabled and link.connected):
                continue
            if self.manual_mtu:
                overhead = ip_overhead(link.config.ipv6)
                link.mtu = host.crypto_sizes().max_data_outlen(self.manual_mtu - overhead)
                self._count(link, True)
                continue
            due = self._forced or link.pmtud_last is None or now - link.pmtud_last >= self.interval
            if not due:
                self._count(link, link.has_valid_mtu)
                continue
            self._start(link, now)

    def _count(self, link: KnetLink, valid: bool) -> None:
        if valid:
            self._have_mtu = True
            self._lower = min(self._lower, link.mtu)

    # ------------------------------------------------------------------------------------
    def _start(self, link: KnetLink, now: float) -> None:
        """``_handle_check_pmtud`` then ``_handle_check_link_pmtud`` for ``link``."""
        self.host.log(
            "debug", "pmtud", f"Starting PMTUD for host: {link.host_id} link: {link.link_id}"
        )
        overhead = ip_overhead(link.config.ipv6)
        probe = PmtudProbe(
            link,
            overhead,
            last_good=link.last_ping_size + overhead,
            saved_mtu=link.mtu,
            saved_valid=link.has_valid_mtu,
        )
        self.probe = probe
        self._send(probe, now)

    def _send(self, probe: PmtudProbe, now: float) -> None:
        """The ``restart:`` label: size the next probe and put it on the wire (or not)."""
        host = self.host
        sizes = host.crypto_sizes()
        link = probe.link
        while True:
            if probe.failsafe == PMTUD_FAILSAFE:
                host.log(
                    "error",
                    "pmtud",
                    "Aborting PMTUD process: Too many attempts. MTU might have changed "
                    "during discovery.",
                )
                self._finish(probe, now, ok=False)
                return
            probe.failsafe += 1
            app_mtu = sizes.max_data_outlen(probe.onwire_len - probe.overhead)
            probe.onwire_len = sizes.data_outlen(app_mtu + HEADER_ALL_SIZE) + probe.overhead
            if sizes.salt and app_mtu + HEADER_ALL_SIZE <= 0:
                self._finish(probe, now, ok=False)
                return
            if not (link.enabled and link.connected):
                host.log(
                    "debug",
                    "pmtud",
                    f"PMTUD detected host ({link.host_id}) link ({link.link_id}) has been "
                    "disconnected",
                )
                self._finish(probe, now, ok=False)
                return
            kernel_mtu = link.kernel_mtu
            if kernel_mtu and probe.onwire_len > kernel_mtu:
                # EMSGSIZE: the kernel reports its MTU, the next probe is that size
                probe.last_bad = kernel_mtu + 1
                probe.onwire_len = kernel_mtu
                continue
            host.send_pmtud(link, probe.onwire_len, app_mtu + HEADER_ALL_SIZE)
            link.last_recv_mtu = 0
            timeout = link.pong_timeout_adj
            if host.crypto_on():
                timeout *= link.pmtud_crypto_multiplier
            probe.timeout_us = timeout
            probe.sent_at = now
            probe.deadline = now + timeout / 1_000_000
            return

    def reply(self, link: KnetLink, size: int, now: float) -> None:
        """A PMTUD_REPLY arrived on ``link``: it wakes whichever probe waits (as the
        condition variable does), which judges its own link's reply."""
        link.last_recv_mtu = size
        probe = self.probe
        if probe is not None and probe.deadline is not None:
            self._judge(probe, now, timed_out=False)

    def on_deadline(self, now: float) -> None:
        probe = self.probe
        if probe is not None and probe.deadline is not None and probe.deadline <= now:
            self._judge(probe, now, timed_out=True)

    def _judge(self, probe: PmtudProbe, now: float, *, timed_out: bool) -> None:
        host = self.host
        link = probe.link
        probe.deadline = None
        crypto = host.crypto_on()
        if timed_out:
            if crypto and link.pmtud_crypto_multiplier < LINK_PMTUD_CRYPTO_TIMEOUT_MULTIPLIER_MAX:
                link.pmtud_crypto_multiplier *= 2
                probe.crypto_reduce = False
                host.log(
                    "debug",
                    "pmtud",
                    f"Increasing PMTUd response timeout multiplier to "
                    f"({link.pmtud_crypto_multiplier}) for host {link.host_id} "
                    f"link: {link.link_id}",
                )
                self._send(probe, now)
                return
            if not probe.warned:
                host.log(
                    "warning",
                    "pmtud",
                    f"possible MTU misconfiguration detected. kernel is reporting MTU: "
                    f"{probe.onwire_len} bytes for host {link.host_id} link {link.link_id} "
                    "but the other node is not acknowledging packets of this size. ",
                )
                probe.warned = True
        elif (
            crypto
            and probe.crypto_reduce
            and link.pmtud_crypto_multiplier > LINK_PMTUD_CRYPTO_TIMEOUT_MULTIPLIER_MIN
            and (now - probe.sent_at) * 1_000_000 < probe.timeout_us / 2
        ):
            link.pmtud_crypto_multiplier //= 2
        if timed_out or link.last_recv_mtu != probe.onwire_len:
            probe.last_bad = probe.onwire_len
        else:
            sizes = host.crypto_sizes()
            onwire = probe.onwire_len
            if sizes.block:
                found = onwire + sizes.block >= PMTUD_SIZE_V4 or (
                    probe.last_bad != 0 and probe.last_bad <= onwire + sizes.block
                )
            else:
                found = (
                    onwire == PMTUD_SIZE_V4
                    or (probe.last_bad != 0 and probe.last_bad == onwire + 1)
                    or probe.last_bad == probe.last_good
                )
            if found:
                link.mtu = sizes.max_data_outlen(onwire - probe.overhead)
                self._finish(probe, now, ok=True)
                return
            probe.last_good = onwire
        probe.onwire_len = (probe.last_good + probe.last_bad) // 2
        self._send(probe, now)

    def _finish(self, probe: PmtudProbe, now: float, *, ok: bool) -> None:
        """The end of ``_handle_check_pmtud`` for the probed link; the scan goes on."""
        host = self.host
        link = probe.link
        self.probe = None
        if not ok:
            link.has_valid_mtu = False
        else:
            minimum = host.crypto_sizes().min_mtu()
            if link.mtu < minimum:
                host.log(
                    "info",
                    "pmtud",
                    f"Invalid MTU detected for host: {link.host_id} link: {link.link_id} "
                    f"mtu: {link.mtu}",
                )
                link.has_valid_mtu = False
            else:
                link.has_valid_mtu = True
                if probe.saved_mtu and probe.saved_mtu != link.mtu:
                    host.log(
                        "info",
                        "pmtud",
                        f"PMTUD link change for host: {link.host_id} link: {link.link_id} "
                        f"from {probe.saved_mtu} to {link.mtu}",
                    )
                host.log(
                    "debug",
                    "pmtud",
                    f"PMTUD completed for host: {link.host_id} link: {link.link_id} "
                    f"current link mtu: {link.mtu}",
                )
                link.pmtud_last = now
        if probe.saved_valid != link.has_valid_mtu:
            host.link_mtu_validity_changed(link)
        self._count(link, link.has_valid_mtu)
        self._continue(now)
