"""Transcripts of the knet link layer (``testdata/knet``): pings, pongs, PMTUd, link up
and down, data, crypto.

Hosts run :class:`totem.knet.handle.KnetHandle` on the virtual wire of the knet tests
(:class:`tests.knet.wirenet.Wire`: host ``h`` is ``10.0.<link>.<h>``, port 5405 + link,
a fixed latency), with explicit time. Every packet put on the wire is printed once, when
sent, decoded by :mod:`totem.knet.wire` (opened first when crypto is on: the line then
gives the clear and the sealed sizes and the start of the salt); every event a handle
emits is printed when drained. The salt of the crypto comes from a seeded generator and the
key from the transcript's seed, so a run is the same bytes every time. Commands::

    hosts 1 2 [links=(0,1)] [ping_interval=MS ping_timeout=MS pong_count=N]
          [crypto=CIPHER/HASH] [kernel_mtu=N]      the hosts, each with every other as a peer
    log-level debug|info|warning                   which knet log lines are printed
    run ms=N [quiet|silent]                        N ms of virtual time
    send HOST TEXT [size=N]                        an application message (padded to N bytes)
    cut 1 2 [link=N] | mend                        lose everything between two hosts / no more
    path-mtu link=N MTU                            IP packets above MTU vanish on that link
    status                                         each host's links, MTUs and counters

``quiet`` prints the events and, at the end, how many packets of each kind went where.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter

from tests.knet.wirenet import Wire
from tests.transcripts import printers
from tests.transcripts.datadriven import Case
from tests.transcripts.interp import Interpreter, ms
from totem.knet.crypto import CryptoConfig, KnetCrypto, KnetCryptoError
from totem.knet.events import DataMtuChanged, HostStateChanged, KnetEvent, LinkStateChanged
from totem.knet.handle import KnetHandle
from totem.knet.wire import (
    TYPE_NAMES,
    DataPacket,
    KnetWireError,
    PingPacket,
    PmtudPacket,
    decode,
    timespec_seconds,
)
from totem.srp.events import LogLevel, LogRecord

__all__ = ["KnetInterpreter"]


class TracedWire(Wire):
    """The knet test wire, printing each packet when sent and each event when drained."""

    interp: KnetInterpreter

    def _flush(self, host: int) -> None:
        """:meth:`Wire._flush` with a print of every packet, event and delivery."""
        handle = self.handles[host]
        interp = self.interp
        for event in handle.events():
            interp.event(self.now, host, event)
        for payload in self.delivered[host][interp.seen_count(host) :]:
            interp.delivered(self.now, host, payload)
        for datagram in handle.outbox():
            dest = datagram.dest
            assert dest is not None
            self.sent.append((self.now, host, dest, datagram.link, datagram.data))
            limit = self.mtu.get(datagram.link)
            lost = (host, dest, datagram.link) in self.cut or (
                limit is not None and len(datagram.data) + 28 > limit
            )
            interp.packet(self.now, host, dest, datagram.link, datagram.data, lost)
            if not lost:
                heapq.heappush(
                    self._queue,
                    (
                        self.now + self.latency,
                        next(self._seq),
                        host,
                        dest,
                        datagram.link,
                        datagram.data,
                    ),
                )
        for _channel, payload in handle.take_local():
            self.delivered[host].append(payload)
            interp.delivered(self.now, host, payload)


class KnetInterpreter(Interpreter):
    """Commands of ``testdata/knet`` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.wire: TracedWire | None = None
        self.opener: KnetCrypto | None = None
        self.level = LogLevel.INFO
        self.quiet = False
        self.silent = False
        self.counts: Counter[str] = Counter()
        self._seen: dict[int, int] = {}

    # -- printing --------------------------------------------------------------------------
    def seen_count(self, host: int) -> int:
        return self._seen.get(host, 0)

    def packet(self, now: float, src: int, dest: int, link: int, data: bytes, lost: bool) -> None:
        clear = data
        sealed = ""
        if self.opener is not None:
            try:
                clear = self.opener.open(data)
            except KnetCryptoError as err:
                sealed = f" unopenable ({err.reason})"
            else:
                sealed = f", {len(data)}B sealed, salt {data[:4].hex()}.."
        try:
            packet = decode(clear)
        except KnetWireError as err:
            text = f"undecodable ({err.reason})"
            kind = "?"
        else:
            kind = TYPE_NAMES[clear[1]]
            if isinstance(packet, PingPacket):
                sent = timespec_seconds(packet.ts_sec, packet.ts_nsec)
                text = (
                    f"{kind} link={packet.link} seq={packet.seq} "
                    f"{'timed' if packet.timed else 'untimed'} ts={sent:.3f}"
                )
            elif isinstance(packet, PmtudPacket):
                text = f"{kind} link={packet.link} size={packet.size}"
            else:
                assert isinstance(packet, DataPacket)
                frag = f" frag={packet.frag_seq}/{packet.frag_num}" if packet.frag_num > 1 else ""
                text = (
                    f"{kind} seq={packet.seq} {'bcast' if packet.bcast else 'ucast'}"
                    f" channel={packet.channel}{frag} {printers.text(packet.payload, 16)}"
                )
        self.counts[f"{src}->{dest} link {link} {kind}"] += 1
        if self.quiet:
            return
        arrow = "-x" if lost else "->"
        self.out(f"{ms(now)}  {src} {arrow} {dest}  {text} ({len(clear)}B{sealed})")

    def event(self, now: float, host: int, event: KnetEvent) -> None:
        if self.silent:
            return
        if isinstance(event, LogRecord):
            if event.level > self.level:
                return
            text = f"[{event.subsys}] {event.message}"
        elif isinstance(event, LinkStateChanged):
            text = f"link to {event.host} link {event.link} {'up' if event.connected else 'down'}"
        elif isinstance(event, HostStateChanged):
            text = f"host {event.host} {'reachable' if event.reachable else 'unreachable'}"
        else:
            assert isinstance(event, DataMtuChanged)
            text = f"data MTU {event.mtu}"
        self.out(f"{ms(now)}  {host}: {text}")

    def delivered(self, now: float, host: int, payload: bytes) -> None:
        self._seen[host] = self.seen_count(host) + 1
        if not self.silent:
            self.out(f"{ms(now)}  {host}: deliver {len(payload)}B {printers.text(payload, 16)}")

    @property
    def net(self) -> TracedWire:
        if self.wire is None:
            raise ValueError("no hosts yet: say `hosts 1 2` first")
        return self.wire

    # -- commands --------------------------------------------------------------------------
    def cmd_hosts(self, case: Case) -> None:
        ids = [int(h) for h in case.positional()]
        links = self.ids_arg(case, "links") or [0]
        wire = TracedWire()
        wire.interp = self
        self.wire = wire
        crypto = None
        spec = case.get("crypto")
        if spec is not None:
            cipher, _, hash_name = spec.partition("/")
            key = self.rng.randbytes(256)  # what corosync-keygen writes, from the seed
            crypto = CryptoConfig(cipher, hash_name, key)
            self.opener = KnetCrypto(crypto, lambda n: bytes(n))
        for host in ids:
            salts = random.Random(self.rng.getrandbits(64))
            handle: KnetHandle = wire.add(
                host,
                [p for p in ids if p != host],
                links,
                ping_interval=self.int_arg(case, "ping_interval", 912),
                ping_timeout=self.int_arg(case, "ping_timeout", 1825),
                pong_count=self.int_arg(case, "pong_count", 2),
                crypto=crypto,
                kernel_mtu=self.int_arg(case, "kernel_mtu", 1500),
                salt=salts.randbytes,
            )
            self.out(
                f"host {host}: links {printers.ids(links)} to {printers.ids(ids)}, "
                f"data MTU {handle.data_mtu}"
                + (f", crypto {crypto.cipher}/{crypto.hash}" if crypto else "")
            )

    def cmd_log_level(self, case: Case) -> None:
        self.level = LogLevel[case.positional()[0].upper()]

    def cmd_run(self, case: Case) -> None:
        self.quiet = case.has("quiet") or case.has("silent")
        self.silent = case.has("silent")
        self.counts.clear()
        try:
            wire = self.net
            wire.run_until(wire.now + self.int_arg(case, "ms") / 1000)
        finally:
            quiet, silent = self.quiet, self.silent
            self.quiet = self.silent = False
        if quiet and not silent:
            for key, count in sorted(self.counts.items()):
                self.out(f"  {count:4d} x {key}")

    def cmd_send(self, case: Case) -> None:
        words = case.positional()
        host, text = int(words[0]), " ".join(words[1:])
        payload = text.encode()
        size = self.int_arg(case, "size", 0)
        if size:
            payload = payload.ljust(size, b".")
        wire = self.net
        ok = wire.send(host, payload)
        if not ok:
            self.out(f"{ms(wire.now)}  {host}: no reachable host (EHOSTDOWN)")

    def cmd_cut(self, case: Case) -> None:
        a, b = (int(h) for h in case.positional()[:2])
        links = [self.int_arg(case, "link")] if case.has("link") else [0, 1, 2, 3, 4, 5, 6, 7]
        for link in links:
            self.net.cut |= {(a, b, link), (b, a, link)}

    def cmd_mend(self, case: Case) -> None:
        self.net.cut.clear()

    def cmd_path_mtu(self, case: Case) -> None:
        self.net.mtu[self.int_arg(case, "link")] = int(case.positional()[0])

    def cmd_status(self, case: Case) -> None:
        wire = self.net
        for host, handle in sorted(wire.handles.items()):
            self.out(f"host {host}: data MTU {handle.data_mtu}, tx_seq {handle.tx_seq}")
            for peer in handle.host_ids():
                if peer == host:
                    continue
                for link_id in handle.link_ids(peer):
                    st = handle.link_status(peer, link_id)
                    link = handle.link(peer, link_id)
                    if st is None or link is None:
                        continue
                    self.out(
                        f"  to {peer} link {link_id}: "
                        f"{'connected' if st.connected else 'down'}, mtu {st.mtu}, "
                        f"latency {st.latency} us, pong_timeout_adj "
                        f"{link.pong_timeout_adj // 1000} ms, up {link.stats.up_count} "
                        f"down {link.stats.down_count}"
                    )
