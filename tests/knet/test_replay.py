"""Our knet handle in real node 2's place: every packet the capture shows arriving at
10.77.0.2 is replayed into a handle configured as node 2, on node 2's own clock (read
from its pings), and what the handle answers and delivers is compared with what real
node 2 did (ref knet/README.md 1, 2, 5)."""

from __future__ import annotations

import pytest

from tests.knet.captures import AUTHKEY, datagrams
from totem.knet.constants import TYPE_DATA, TYPE_PING, TYPE_PMTUD, TYPE_PMTUD_REPLY, TYPE_PONG
from totem.knet.crypto import CryptoConfig, KnetCrypto
from totem.knet.events import HostStateChanged, LinkStateChanged
from totem.knet.handle import KnetHandle
from totem.knet.layer import KnetLayer
from totem.knet.setup import corosync_link_config
from totem.knet.wire import decode

ME = "10.77.0.2"


def node2(crypto: bool) -> KnetHandle:
    handle = KnetHandle(2, salt_source=lambda n: bytes(n))
    KnetLayer(handle)  # installs the Totem host filter
    if crypto:
        handle.set_crypto(1, CryptoConfig("aes256", "sha256", AUTHKEY))
        handle.use_crypto(1)
        handle.set_rx_clear(False)
    for host in (1, 2, 3):
        handle.add_host(host)
        handle.set_link(
            host,
            corosync_link_config(0, ME, f"10.77.0.{host}", 5405, token=3650, kernel_mtu=1500),
        )
    handle.events()
    return handle


@pytest.mark.parametrize("name", ["clear-3nodes", "aes256-sha256-3nodes"])
def test_replay_as_node_2(name: str) -> None:
    crypto = KnetCrypto(CryptoConfig("aes256", "sha256", AUTHKEY), bytes) if "aes" in name else None

    def clear(data: bytes) -> bytes:
        return crypto.open(data) if crypto is not None else data

    packets = datagrams(name)
    # node 2's clock: the time stamp of its first ping against the capture's clock
    first = next(d for d in packets if d.src == ME and clear(d.payload)[1] == TYPE_PING)
    ping = decode(clear(first.payload))
    offset = ping.ts_sec + ping.ts_nsec / 1e9 - first.ts  # type: ignore[union-attr]
    handle = node2(crypto is not None)
    handle.start(packets[0].ts + offset - 0.1)
    answers = {TYPE_PONG: 0, TYPE_PMTUD_REPLY: 0}
    delivered: list[bytes] = []
    expected: list[bytes] = []
    pending: dict[tuple[str, int], list[bytes]] = {}
    for index, datagram in enumerate(packets):
        now = datagram.ts + offset
        deadline = handle.next_deadline()
        while deadline is not None and deadline <= now:
            handle.on_deadline(deadline)
            handle.outbox()
            deadline = handle.next_deadline()
        if datagram.dst != ME:
            continue
        packet = clear(datagram.payload)
        kind = packet[1]
        out = handle.receive(datagram.payload, now, 0, datagram.src)
        delivered += [payload for _channel, payload in out]
        replies = [d for d in handle.outbox() if d.data]
        if kind in (TYPE_PING, TYPE_PMTUD):
            # real node 2's answer: the packet it sent back echoing this one
            want = TYPE_PONG if kind == TYPE_PING else TYPE_PMTUD_REPLY
            echo = packet[4 : 26 if kind == TYPE_PING else 9]
            real = next(
                (
                    d
                    for d in packets[index + 1 :]
                    if d.src == ME
                    and d.dst == datagram.src
                    and clear(d.payload)[1] == want
                    and clear(d.payload)[4:].startswith(echo)
                ),
                None,
            )
            if real is None:
                continue  # real node 2 was not running yet, or the capture ended
            ours = [clear(d.data) for d in replies if clear(d.data)[1] == want]
            assert ours == [clear(real.payload)]
            answers[want] += 1
        elif kind == TYPE_DATA and handle.reachable(int.from_bytes(packet[2:4], "big")):
            frag_num, frag_seq = packet[11], packet[12]
            key = (datagram.src, int.from_bytes(packet[6:8], "big"))
            if frag_num == 1:
                expected.append(packet[14:])
            else:
                pending.setdefault(key, [b""] * frag_num)[frag_seq - 1] = packet[14:]
                if all(pending[key]):
                    expected.append(b"".join(pending.pop(key)))
    assert answers[TYPE_PONG] > 30 and answers[TYPE_PMTUD_REPLY] >= 2
    # every Totem message a reachable peer sent us was delivered once, whole, in order
    assert delivered == expected
    assert len(delivered) > 100
    assert any(len(message) > 482 for message in delivered)  # a reassembled one
    assert handle.drops["duplicate"] == 0 and handle.drops["bad_fragment"] == 0
    events = handle.events()
    assert LinkStateChanged(1, 0, True) in events and HostStateChanged(3, True) in events
    # node 3 was killed near the end: the link to it went down as on node 2
    assert LinkStateChanged(3, 0, False) in events
