"""A knet handle, sans-IO: hosts, links, transmit, receive, heartbeat, PMTUd
(ref knet/README.md 1-4; libknet 1.25 ``threads_tx.c``, ``threads_rx.c``,
``threads_heartbeat.c``, ``handle.c``).

Driver contract (DESIGN.md)::

    handle.start(now)
    handle.send(payload)                         # one application message (channel 0)
    handle.receive(data, now, link, source)      # a datagram -> [(channel, payload)]
    handle.next_deadline() / on_deadline(now)    # heartbeat ticks, PMTUd replies
    handle.outbox() -> [Datagram(host, bytes, link)]   # what to put on the wire
    handle.take_local() -> [(channel, payload)]  # messages sent to ourselves (loopback)
    handle.events() -> [LinkStateChanged | HostStateChanged | DataMtuChanged | LogRecord]

**Transmit** (``_parse_recv_from_sock``). The destination filter (corosync: the Totem
``target_nodeid``) says broadcast, or which hosts. With the loopback link configured
a broadcast, or a message to ourselves, is handed to :meth:`take_local` at once. If no
destination host is reachable the message goes nowhere else and *takes no sequence
number*. Otherwise it takes the next ``tx_seq`` (16 bits, 0 skipped), is compressed if
configured and worth it, cut into ``ceil(len / data_mtu)`` fragments, each sealed once,
and sent to every reachable destination host over that host's active links (link
policy, :mod:`.host`). Every 8191st sequence number also forces an untimed ping on
every link.

**Receive** (``_parse_recv_from_links``). Crypto first (the configuration in use, then
the other; a packet nothing opens is dropped when clear traffic is refused), then the
header; the source host must be configured. Ping, pong and PMTUd packets name their link;
with access lists on (corosync's ``block_unlisted_ips``, the default) the source address
must be that link's peer address. A DATA packet's link is the one whose peer address is
the source. DATA is accepted only from a reachable host, once per sequence number
(:mod:`.seqring`), reassembled (:mod:`.defrag`), decompressed, filtered again (a unicast
for another host is dropped) and delivered. A PING is answered with its PONG, a PMTUD
probe with its 9-byte reply, both sealed.

**Heartbeat**: every 200 ms (``KNET_THREADS_TIMERES``) each enabled link is pinged if its
interval has passed and brought down if its pong is overdue (:mod:`.link`); once a
second the pong timeouts are adjusted; then PMTUd gets its tick (:mod:`.pmtud`).

``source`` is the datagram's source address as the socket reports it. The simulator,
whose network cannot spoof, passes None: the packet's own host id is then trusted and a
DATA packet's link is the local ``link`` it arrived on.

Malformed input never raises: it is dropped and counted in :attr:`KnetHandle.drops`
by reason (``short``, ``bad_version``, ``bad_type``, ``crypto_*``, ``unknown_host``,
``own_host``, ``no_link``, ``acl``, ``unreachable``, ``duplicate``, ``bad_fragment``,
``decompress``, ``not_for_us``, ``no_channel``, ``defrag_expired``, ``late_pong``).
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Final

from totem.knet.compress import CompressConfig, KnetCompressError, compress, decompress
from totem.knet.constants import (
    DATA_HEADER_SIZE,
    HEADER_SIZE,
    HEADER_VERSION,
    MAX_LINK,
    MAX_PACKET_SIZE,
    PING_SIZE,
    PMTUD_MIN_MTU_V4,
    PMTUD_SIZE,
    THREADS_TIMERES,
    TYPE_DATA,
    TYPE_PING,
    TYPE_PMSK,
    TYPE_PMTUD,
    TYPE_PMTUD_REPLY,
    TYPE_PONG,
    UNTIMED_PING_EVERY,
)
from totem.knet.crypto import CryptoConfig, CryptoSlots, KnetCrypto, KnetCryptoError, SaltSource
from totem.knet.events import DataMtuChanged, HostStateChanged, KnetEvent, LinkStateChanged
from totem.knet.host import KnetHost
from totem.knet.link import KnetLink, LinkConfig, LinkStatus
from totem.knet.mtu import CryptoSizes, ip_overhead, static_link_mtu
from totem.knet.pmtud import PmtudRunner
from totem.knet.status import HandleStats
from totem.knet.wire import (
    data_packets,
    encode_ping,
    encode_pmtud,
    pmtud_reply,
    pong_for,
    timespec_seconds,
)
from totem.srp.events import LogLevel, LogRecord
from totem.srp.state import Datagram

__all__ = ["ClockNs", "DstFilter", "HandleStats", "KnetHandle"]

DstFilter = Callable[[bytes, bool, int], tuple[bool, tuple[int, ...]]]
"""``filter(payload, tx, source_host) -> (broadcast, destination hosts)``: knet's
``dst_host_filter_fn`` (``tx`` False when run on receive)."""

_DATA_HEAD: Final = struct.Struct(">BBHxxHBxBBBb")
_PING_TIME: Final = struct.Struct("<qq")
_PING_SEQ: Final = struct.Struct(">HB")
_PMTUD_FIELD: Final = struct.Struct("<H")
_NODE: Final = struct.Struct(">H")
_LEVELS: Final = {
    "debug": LogLevel.DEBUG,
    "info": LogLevel.INFO,
    "warning": LogLevel.WARNING,
    "error": LogLevel.ERROR,
}


ClockNs = Callable[[], int]
"""A monotonic clock in nanoseconds (``time.monotonic_ns``), for the timing statistics."""


class KnetHandle:
    """One ``knet_handle_t`` (see module docstring)."""

    def __init__(
        self,
        host_id: int,
        *,
        salt_source: SaltSource,
        pmtud_interval: int = 30,
        manual_mtu: int = 0,
        access_lists: bool = True,
        dst_filter: DstFilter | None = None,
        clock_ns: ClockNs | None = None,
    ) -> None:
        self.host_id = host_id
        self.salt_source = salt_source
        self.clock_ns = clock_ns
        """Times the crypto and compression statistics (``*_time_*``, nanoseconds): the
        daemon passes a monotonic clock; None (simulator, tests) leaves them untimed. It
        never decides anything: ``now`` stays the protocol's only clock."""
        self.access_lists = access_lists
        self.dst_filter = dst_filter
        self.hosts: dict[int, KnetHost] = {}
        self.has_loop_link = False
        self.crypto = CryptoSlots()
        self.compress = CompressConfig()
        self.tx_seq = 0
        self.pmtud = PmtudRunner(self, pmtud_interval, manual_mtu)
        self.pmtud.data_mtu = CryptoSizes().min_mtu()
        self.stats = HandleStats()
        self.drops: Counter[str] = Counter()
        self._out: list[Datagram] = []
        self._local: list[tuple[int, bytes]] = []
        self._events: list[KnetEvent] = []
        self._tick_at: float | None = None
        self._tick_count = 1
        self.now = 0.0
        """The latest time seen (start, receive, deadline): the clock of what is sent
        between inputs."""

    # ------------------------------------------------------------------------------------
    # configuration (libknet's API, as totemknet.c calls it)
    # ------------------------------------------------------------------------------------
    def add_host(self, host_id: int, policy: str = "passive") -> KnetHost:
        """``knet_host_add`` + ``knet_host_set_policy``."""
        if not 0 <= host_id <= 0xFFFF:
            raise ValueError(f"knet host id {host_id} is not 0..65535")
        host = self.hosts.get(host_id)
        if host is None:
            host = self.hosts[host_id] = KnetHost(host_id, policy, loopback=host_id == self.host_id)
        else:
            host.policy = policy
            self._dstcache(host)
        return host

    def remove_host(self, host_id: int) -> None:
        """``knet_host_remove`` (its links first)."""
        host = self.hosts.get(host_id)
        if host is None:
            return
        for link_id in list(host.links):
            self.remove_link(host_id, link_id)
        self.hosts.pop(host_id, None)

    def set_link(self, host_id: int, config: LinkConfig) -> KnetLink:
        """``knet_link_set_config`` + priority, timers, pong count + ``knet_link_set_enable``.

        The local host's link is the loopback link (no wire traffic, always usable)."""
        if not 0 <= config.link_id < MAX_LINK:
            raise ValueError(f"knet link id {config.link_id} is not 0..{MAX_LINK - 1}")
        host = self.hosts.get(host_id) or self.add_host(host_id)
        old = host.links.get(config.link_id)
        if old is not None:
            self.remove_link(host_id, config.link_id)
            host = self.hosts.get(host_id) or self.add_host(host_id, host.policy)
        loopback = host_id == self.host_id
        mtu = static_link_mtu(self.crypto.sizes, config.ipv6) if not loopback else 65535
        link = KnetLink(host_id, config, mtu, loopback=loopback)
        host.links[config.link_id] = link
        link.enabled = True
        if loopback:
            self.has_loop_link = True
            link.connected = True
        self._dstcache(host)
        return link

    def remove_link(self, host_id: int, link_id: int) -> None:
        """``knet_link_set_enable(0)`` + ``knet_link_clear_config``."""
        host = self.hosts.get(host_id)
        if host is None or link_id not in host.links:
            return
        link = host.links[link_id]
        if link.connected and not link.loopback:
            self._link_updown(host, link, connected=False)
        link.enabled = False
        del host.links[link_id]
        self._dstcache(host)

    def link(self, host_id: int, link_id: int) -> KnetLink | None:
        host = self.hosts.get(host_id)
        return host.links.get(link_id) if host is not None else None

    def set_ping_timers(
        self, host_id: int, link_id: int, interval: int, timeout: int, precision: int
    ) -> None:
        """``knet_link_set_ping_timers`` (milliseconds)."""
        link = self.link(host_id, link_id)
        if link is not None and not link.loopback:
            link.set_timers(interval, timeout, precision)

    def set_pong_count(self, host_id: int, link_id: int, count: int) -> None:
        link = self.link(host_id, link_id)
        if link is not None and not link.loopback:
            link.pong_count = count

    def set_priority(self, host_id: int, link_id: int, priority: int) -> None:
        """``knet_link_set_priority``: the passive policy may choose another link now."""
        host = self.hosts.get(host_id)
        link = host.links.get(link_id) if host is not None else None
        if host is None or link is None or link.priority == priority:
            return
        link.priority = priority
        self._dstcache(host)

    def set_crypto(self, index: int, config: CryptoConfig | None) -> None:
        """``knet_handle_crypto_set_config`` for slot ``index`` (None or ``none``/``none``:
        clear the slot)."""
        if config is None or not config.enabled:
            self.crypto.set_config(index, None)
        else:
            self.crypto.set_config(index, KnetCrypto(config, self.salt_source))

    def use_crypto(self, index: int) -> None:
        """``knet_handle_crypto_use_config``: seal with slot ``index`` (0: clear); the data
        MTU falls back to the minimum and PMTUd reruns, as the overheads changed."""
        self.crypto.use_config(index)
        self._log("debug", "crypto", f"crypto config {index} in use")
        self.pmtud.force(reset_mtu=True, restart=False)

    def set_rx_clear(self, allow: bool) -> None:
        """``knet_handle_crypto_rx_clear_traffic``."""
        self.crypto.rx_clear = allow

    def set_compress(self, config: CompressConfig) -> None:
        """``knet_handle_compress``."""
        self.compress = config

    def set_pmtud_interval(self, seconds: int) -> None:
        """``knet_handle_pmtud_setfreq`` (1..86400 s)."""
        if not 1 <= seconds <= 86400:
            raise ValueError(f"PMTUd interval {seconds} s is not 1..86400")
        self.pmtud.interval = seconds

    def set_manual_mtu(self, mtu: int) -> None:
        """``knet_handle_pmtud_set``: 0 discovers, else assume this interface MTU."""
        if not 0 <= mtu <= 65535:
            raise ValueError(f"knet_mtu {mtu} is not 0..65535")
        if mtu:
            self._log("info", "pmtud", f"MTU manually set to: {mtu}")
        self.pmtud.manual_mtu = mtu
        self.pmtud.force(reset_mtu=False, restart=False)

    # ------------------------------------------------------------------------------------
    # driver contract
    # ------------------------------------------------------------------------------------
    @property
    def data_mtu(self) -> int:
        """What messages are fragmented to now (``knet_h->data_mtu``)."""
        return self.pmtud.data_mtu

    def start(self, now: float) -> None:
        """The heartbeat and PMTUd threads start: their first tick is 200 ms away."""
        self.now = now
        self._tick_at = now + THREADS_TIMERES

    def next_deadline(self) -> float | None:
        best = self._tick_at
        probe = self.pmtud.next_deadline()
        if probe is not None and (best is None or probe < best):
            best = probe
        return best

    def on_deadline(self, now: float) -> None:
        self.now = now
        self.pmtud.on_deadline(now)
        tick = self._tick_at
        if tick is not None and tick <= now:
            # one tick per call: ticks missed by a stalled process run back to back, as a
            # thread catching up would; the grid itself never drifts
            self._tick_at = tick + THREADS_TIMERES
            if self._tick_at <= now:
                skipped = math.floor((now - self._tick_at) / THREADS_TIMERES) + 1
                self._tick_at += skipped * THREADS_TIMERES
            self._heartbeat(now)
            self.pmtud.tick(now)

    def outbox(self) -> list[Datagram]:
        """Wire packets to send: ``Datagram(host, sealed packet, link)``."""
        out, self._out = self._out, []
        return out

    def take_local(self) -> list[tuple[int, bytes]]:
        """Messages this node sent to itself, for local delivery."""
        out, self._local = self._local, []
        return out

    @property
    def local_pending(self) -> bool:
        return bool(self._local)

    def events(self) -> list[KnetEvent]:
        out, self._events = self._events, []
        return out

    # ------------------------------------------------------------------------------------
    # transmit
    # ------------------------------------------------------------------------------------
    def send(self, payload: bytes, channel: int = 0, *, loopback: bool = True) -> bool:
        """One application message; False when it reached no host (EHOSTDOWN).

        ``loopback`` False skips the local copy of a broadcast (the caller already
        holds its own message)."""
        stats = self.stats
        stats.tx_messages += 1
        if len(payload) > MAX_PACKET_SIZE:
            self.drops["tx_too_big"] += 1
            return False
        if self.dst_filter is not None:
            bcast, dsts = self.dst_filter(payload, True, self.host_id)
        else:
            bcast, dsts = True, ()
        own = self.host_id
        if self.has_loop_link and (bcast or own in dsts) and (loopback or not bcast):
            self._local.append((channel, payload))
            stats.local_messages += 1
        hosts = self.hosts
        if bcast:
            targets = [h for h in hosts.values() if h.reachable and not h.loopback]
        else:
            targets = []
            for dst in dsts:
                host = hosts.get(dst)
                if host is not None and host.reachable and not host.loopback:
                    targets.append(host)
        if not targets:
            stats.tx_no_destination += 1
            return False
        data_mtu = self.pmtud.data_mtu or PMTUD_MIN_MTU_V4
        compress_id = 0
        config = self.compress
        if config.model != "none":
            if len(payload) > config.effective_threshold:
                clock = self.clock_ns
                if clock is None:
                    packed = compress(config, payload)
                else:
                    start = clock()
                    packed = compress(config, payload)
                    stats.sample("tx_compress_time", stats.tx_compressed_packets, clock() - start)
                if packed is not None:
                    stats.tx_compressed_packets += 1
                    stats.tx_compressed_original_bytes += len(payload)
                    stats.tx_compressed_size_bytes += len(packed)
                    if len(packed) < len(payload):
                        payload = packed
                        compress_id = config.model_id
                else:
                    self._log("warning", "compress", "Compression failed")
            if not compress_id:
                stats.tx_uncompressed_packets += 1
        seq = (self.tx_seq + 1) & 0xFFFF or 1
        self.tx_seq = seq
        if seq % UNTIMED_PING_EVERY == 0:
            self._send_pings(self.now, timed=False)
        packets = data_packets(own, seq, payload, data_mtu, compress_id, bcast, channel)
        sealer = self.crypto.sealer
        if sealer is not None:
            clock = self.clock_ns
            if clock is None:
                sealed = [sealer.seal(packet) for packet in packets]
                stats.tx_crypt_packets += len(sealed)
            else:
                sealed = []
                for packet in packets:
                    start = clock()
                    sealed.append(sealer.seal(packet))
                    stats.tx_crypt_sample(clock() - start)
            stats.tx_crypt_byte_overhead += sum(map(len, sealed)) - sum(map(len, packets))
            packets = sealed
        out = self._out
        for host in targets:
            for link in host.dispatch_links():
                link_stats = link.stats
                link_id = link.link_id
                for packet in packets:
                    out.append(Datagram(host.host_id, packet, link_id))
                    link_stats.tx_data_packets += 1
                    link_stats.tx_data_bytes += len(packet)
        return True

    def _seal_service(self, packet: bytes, counter: str) -> bytes:
        sealer = self.crypto.sealer
        if sealer is None:
            return packet
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        return sealer.seal(packet)

    def send_pmtud(self, link: KnetLink, size: int, length: int) -> None:
        """A PMTUd probe (the runner's callback)."""
        packet = self._seal_service(
            encode_pmtud(self.host_id, link.link_id, size, length), "tx_crypt_pmtu_packets"
        )
        self._out.append(Datagram(link.host_id, packet, link.link_id))
        link.stats.tx_pmtu_packets += 1
        link.stats.tx_pmtu_bytes += len(packet)

    # ------------------------------------------------------------------------------------
    # heartbeat
    # ------------------------------------------------------------------------------------
    def _heartbeat(self, now: float) -> None:
        """One ``_handle_heartbt_thread`` iteration: back-off once a second, then pings."""
        if self._tick_count % 5 == 0:
            for host in self.hosts.values():
                for link in host.links.values():
                    if link.enabled and not link.loopback:
                        link.adjust_pong_timeout()
            self._tick_count = 1
        else:
            self._tick_count += 1
        self._send_pings(now, timed=True)

    def _send_pings(self, now: float, *, timed: bool) -> None:
        for host in sorted(self.hosts.values(), key=lambda h: h.host_id):
            for link in sorted(host.links.values(), key=lambda lk: lk.link_id):
                if link.enabled and not link.loopback:
                    self._check_each(host, link, now, timed)

    def _check_each(self, host: KnetHost, link: KnetLink, now: float, timed: bool) -> None:
        """``_handle_check_each``: ping if due, link down if its pong is overdue."""
        if not timed or link.ping_due(now):
            ping = self._seal_service(
                encode_ping(self.host_id, link.link_id, now, self.tx_seq, timed=timed),
                "tx_crypt_ping_packets",
            )
            self._out.append(Datagram(host.host_id, ping, link.link_id))
            link.ping_last = now
            link.stats.tx_ping_packets += 1
            link.stats.tx_ping_bytes += len(ping)
            link.last_ping_size = len(ping)
        if link.pong_overdue(now):
            self._link_down(host, link)

    def _link_down(self, host: KnetHost, link: KnetLink) -> None:
        link.reset_down()
        if link.connected:
            self._log("info", "link", f"host: {host.host_id} link: {link.link_id} is down")
            self._link_updown(host, link, connected=False)

    def _link_updown(self, host: KnetHost, link: KnetLink, *, connected: bool) -> None:
        if link.connected == connected:
            return
        link.connected = connected
        self._events.append(LinkStateChanged(host.host_id, link.link_id, connected))
        self._dstcache(host)
        if connected:
            link.stats.up_count += 1
            self._log(
                "info",
                "link",
                f"Resetting MTU for link {link.link_id} because host {host.host_id} joined",
            )
            self.pmtud.force(reset_mtu=True, restart=True)
        else:
            link.stats.down_count += 1

    def _dstcache(self, host: KnetHost) -> None:
        changed, logs = host.update_dstcache()
        for level, text in logs:
            self._log(level, "host", text)
        if changed:
            self._events.append(HostStateChanged(host.host_id, host.reachable))

    # ------------------------------------------------------------------------------------
    # receive
    # ------------------------------------------------------------------------------------
    def receive(
        self, data: bytes | memoryview, now: float, link: int = 0, source: str | None = None
    ) -> list[tuple[int, bytes]]:
        """A datagram that arrived on local link ``link`` from address ``source``.

        Returns the application messages it completes, as ``(channel, payload)``.
        """
        self.now = now
        crypto = self.crypto
        decrypted: int | None = None  # ns the decryption took (0 untimed); None: clear
        if crypto.slots:
            clock = self.clock_ns
            try:
                if clock is None:
                    data = crypto.open(data)
                    decrypted = 0
                else:
                    start = clock()
                    data = crypto.open(data)
                    decrypted = clock() - start
            except KnetCryptoError as err:
                if not crypto.rx_clear:
                    self.drops[err.reason] += 1
                    return []
        size = len(data)
        if size < HEADER_SIZE + 1:
            self.drops["short"] += 1
            return []
        if data[0] != HEADER_VERSION:
            self.drops["bad_version"] += 1
            return []
        kind = data[1]
        node = data[2] << 8 | data[3]
        host = self.hosts.get(node)
        if host is None:
            self.drops["unknown_host"] += 1
            return []
        if host.loopback:
            self.drops["own_host"] += 1
            return []
        if kind & TYPE_PMSK:
            src_link = host.links.get(data[6] % MAX_LINK)
            if src_link is None or not src_link.enabled:
                self.drops["no_link"] += 1
                return []
            if self.access_lists and source is not None and source != src_link.config.remote:
                self.drops["acl"] += 1
                return []
        else:
            found: KnetLink | None = None
            if source is None:
                found = host.links.get(link)
            else:
                for candidate in host.links.values():
                    if candidate.config.remote == source:
                        found = candidate
                        break
            if found is None:
                self.drops["no_link"] += 1
                return []
            src_link = found
        if kind == TYPE_DATA:
            return self._receive_data(host, src_link, data, decrypted)
        if kind == TYPE_PING:
            self._receive_ping(host, src_link, data)
        elif kind == TYPE_PONG:
            self._receive_pong(host, src_link, data, now)
        elif kind == TYPE_PMTUD:
            self._receive_pmtud(host, src_link, data)
        elif kind == TYPE_PMTUD_REPLY:
            if size < PMTUD_SIZE:
                self.drops["short"] += 1
                return []
            src_link.stats.rx_pmtu_packets += 1
            src_link.stats.rx_pmtu_bytes += size
            self.pmtud.reply(src_link, _PMTUD_FIELD.unpack_from(data, 7)[0], now)
        else:
            self.drops["bad_type"] += 1
        return []

    def _receive_data(
        self, host: KnetHost, link: KnetLink, data: bytes | memoryview, decrypted: int | None
    ) -> list[tuple[int, bytes]]:
        size = len(data)
        if size < DATA_HEADER_SIZE:
            self.drops["short"] += 1
            return []
        link.stats.rx_data_packets += 1
        link.stats.rx_data_bytes += size
        if decrypted is not None:
            if self.clock_ns is not None:
                self.stats.rx_crypt_sample(decrypted)
            else:
                self.stats.rx_crypt_packets += 1
        if not host.reachable:
            self.drops["unreachable"] += 1
            return []
        _v, _t, _n, seq, compress_id, _bcast, frag_num, frag_seq, channel = _DATA_HEAD.unpack_from(
            data
        )
        host.got_data = True
        window = host.window
        if not window.lookup(seq):
            self.drops["duplicate"] += 1
            return []
        if frag_num > 1:
            if not 1 <= frag_seq <= frag_num:
                self.drops["bad_fragment"] += 1
                return []
            whole = self._defrag(host, seq, frag_num, frag_seq, data[DATA_HEADER_SIZE:])
            if whole is None:
                return []
            payload = whole
        else:
            payload = bytes(data[DATA_HEADER_SIZE:])
        if compress_id:
            clock = self.clock_ns
            start = clock() if clock is not None else 0
            try:
                original = decompress(compress_id, payload)
            except KnetCompressError:
                self.drops["decompress"] += 1
                self._log("error", "compress", f"Unable to decompress packet ({compress_id})")
                return []
            stats = self.stats
            if clock is not None:
                stats.sample("rx_compress_time", stats.rx_compressed_packets, clock() - start)
            stats.rx_compressed_packets += 1
            stats.rx_compressed_original_bytes += len(original)
            stats.rx_compressed_size_bytes += len(payload)
            payload = original
        if self.dst_filter is not None:
            bcast, dsts = self.dst_filter(payload, False, host.host_id)
            if not bcast and self.host_id not in dsts:
                self.drops["not_for_us"] += 1
                return []
        if channel != 0:
            self.drops["no_channel"] += 1
            return []
        window.mark(seq)
        self.stats.rx_messages += 1
        return [(channel, payload)]

    def _defrag(
        self, host: KnetHost, seq: int, frag_num: int, frag_seq: int, chunk: bytes | memoryview
    ) -> bytes | None:
        """``pckt_defrag``: the whole message once its last fragment is in, else None."""
        buffers = host.defrag
        slot = buffers.find(seq)
        if slot is None:
            if not host.window.lookup(seq, defrag=True):
                self.drops["defrag_expired"] += 1
                return None
            host.window.mark(seq, defrag=True)
            slot = buffers.take(seq, self.now)
        slot.last_update = self.now
        if frag_seq in slot.received:
            return None
        slot.received[frag_seq] = chunk
        if len(slot.received) < frag_num:
            return None
        received = slot.received
        buffers.release(slot)
        if any(index not in received for index in range(1, frag_num + 1)):
            self.drops["bad_fragment"] += 1
            return None
        return b"".join(received[index] for index in range(1, frag_num + 1))

    def _receive_ping(self, host: KnetHost, link: KnetLink, data: bytes | memoryview) -> None:
        if len(data) < PING_SIZE:
            self.drops["short"] += 1
            return
        link.stats.rx_ping_packets += 1
        link.stats.rx_ping_bytes += len(data)
        seq, timed = _PING_SEQ.unpack_from(data, 23)
        window = host.window
        if not timed:
            # forced pings come over every link: act on the first of a burst only
            if seq != host.untimed_rx_seq:
                host.untimed_rx_seq = seq
                wipe = not host.got_data
                host.got_data = False
                window.lookup(seq, clear=wipe)
        elif seq != host.timed_rx_seq:
            host.timed_rx_seq = seq
            if seq == 0:
                # the sender restarted and has sent nothing yet: forget its old numbers
                window.lookup(seq, clear=True)
        pong = self._seal_service(pong_for(data, self.host_id), "tx_crypt_pong_packets")
        self._out.append(Datagram(host.host_id, pong, link.link_id))
        link.stats.tx_pong_packets += 1
        link.stats.tx_pong_bytes += len(pong)

    def _receive_pong(
        self, host: KnetHost, link: KnetLink, data: bytes | memoryview, now: float
    ) -> None:
        if len(data) < PING_SIZE:
            self.drops["short"] += 1
            return
        link.stats.rx_pong_packets += 1
        link.stats.rx_pong_bytes += len(data)
        sec, nsec = _PING_TIME.unpack_from(data, 7)
        outcome = link.take_pong(now, timespec_seconds(sec, nsec))
        if outcome == "late":
            self.drops["late_pong"] += 1
            self._log(
                "debug",
                "rx",
                f"Incoming pong packet from host: {host.host_id} link: {link.link_id} has "
                "higher latency than pong_timeout. Discarding",
            )
        elif outcome == "up":
            self._log("info", "rx", f"host: {host.host_id} link: {link.link_id} is up")
            self._link_updown(host, link, connected=True)
        elif outcome == "counted":
            self._log(
                "debug",
                "rx",
                f"host: {host.host_id} link: {link.link_id} received pong: {link.received_pong}",
            )

    def _receive_pmtud(self, host: KnetHost, link: KnetLink, data: bytes | memoryview) -> None:
        if len(data) < PMTUD_SIZE:
            self.drops["short"] += 1
            return
        link.stats.rx_pmtu_packets += 1
        link.stats.rx_pmtu_bytes += len(data)
        reply = self._seal_service(pmtud_reply(data, self.host_id), "tx_crypt_pmtu_reply_packets")
        self._out.append(Datagram(host.host_id, reply, link.link_id))

    # ------------------------------------------------------------------------------------
    # PmtudHost callbacks
    # ------------------------------------------------------------------------------------
    def pmtud_links(self) -> list[KnetLink]:
        return [
            link
            for host in sorted(self.hosts.values(), key=lambda h: h.host_id)
            for link in sorted(host.links.values(), key=lambda lk: lk.link_id)
            if link.enabled and link.connected and not link.loopback and link.last_ping_size
        ]

    def crypto_sizes(self) -> CryptoSizes:
        return self.crypto.sizes

    def crypto_on(self) -> bool:
        return self.crypto.in_use != 0

    def link_mtu_validity_changed(self, link: KnetLink) -> None:
        host = self.hosts.get(link.host_id)
        if host is not None:
            self._dstcache(host)

    def data_mtu_changed(self, mtu: int) -> None:
        self._events.append(DataMtuChanged(mtu))

    def log(self, level: str, subsys: str, text: str) -> None:
        self._log(level, subsys, text)

    def _log(self, level: str, subsys: str, text: str) -> None:
        self._events.append(LogRecord(_LEVELS[level], "KNET", f"{subsys}: {text}"))

    # ------------------------------------------------------------------------------------
    # status
    # ------------------------------------------------------------------------------------
    def link_status(self, host_id: int, link_id: int) -> LinkStatus | None:
        """``knet_link_get_status``."""
        link = self.link(host_id, link_id)
        if link is None:
            return None
        sizes = self.crypto.sizes
        overhead = ip_overhead(link.config.ipv6) + 26 + sizes.salt + sizes.hash
        return link.status(overhead)

    def host_ids(self) -> list[int]:
        return sorted(self.hosts)

    def link_ids(self, host_id: int) -> list[int]:
        host = self.hosts.get(host_id)
        return sorted(host.links) if host is not None else []

    def reachable(self, host_id: int) -> bool:
        host = self.hosts.get(host_id)
        return host is not None and host.reachable

    def iter_links(self) -> Iterable[KnetLink]:
        for host_id in sorted(self.hosts):
            host = self.hosts[host_id]
            for link_id in sorted(host.links):
                yield host.links[link_id]
