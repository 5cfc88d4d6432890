"""The simulator's network reads a datagram's kind (for ``loss ... kind=token`` and the like)
from fixed bytes; those bytes say what the project's own codecs say, for every Totem
message and for knet's packets, so the layout is declared once (``totem.wire``,
``totem.knet.wire``) and only read here."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from simulations.latency import DelaySampler
from simulations.network import KINDS, Network
from tests.wire.strategies import messages
from totem.knet.wire import data_packets, encode_ping, encode_pmtud, pong_for
from totem.wire import Message, encode, message_type

_SAMPLER = DelaySampler(0)


def _kind(data: bytes, *, knet: bool) -> str:
    """The kind the network gives ``data``: the one kind whose loss drops it."""
    for index, name in enumerate(KINDS):
        network = Network((1, 2), _SAMPLER, random.Random(0), lambda *_: None, knet=knet)
        network.set_loss([(1, 2)], 1.0, kinds=(index,))
        network.transmit(1, 2, data, 0.0)
        if network.counters["dropped_loss"]:
            return name
    raise AssertionError("no kind drops it")


@given(messages)
@settings(max_examples=100)
def test_a_totem_datagram_has_the_kind_of_its_decoded_type(message: Message) -> None:
    assert _kind(encode(message), knet=False) == KINDS[message_type(message)]


@given(messages, st.integers(64, 400))
@settings(max_examples=100)
def test_a_knet_data_packet_has_the_kind_of_the_totem_message_it_starts(
    message: Message, data_mtu: int
) -> None:
    packets = data_packets(3, 7, encode(message), data_mtu)
    assert _kind(packets[0], knet=True) == KINDS[message_type(message)]
    for later in packets[1:]:  # a continuation fragment starts no message
        assert _kind(later, knet=True) == "other"


def test_knet_link_packets_are_other() -> None:
    ping = encode_ping(3, 0, 1.5, 9)
    for packet in (ping, pong_for(ping, 2), encode_pmtud(3, 0, 1400, 1400)):
        assert _kind(packet, knet=True) == "other"
