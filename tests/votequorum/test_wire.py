"""votequorum exec messages: exact bytes and strict decoding (ref 11.1)."""

from __future__ import annotations

import pytest

from totem.services.dispatch import encode_exec
from votequorum.wire import (
    MESSAGE_SIZES,
    ExecFn,
    MalformedMessage,
    NodeFlags,
    NodeInfo,
    QdeviceOperation,
    QdeviceReconfigure,
    QdeviceReg,
    ReconfigParam,
    Reconfigure,
    decode_body,
    encode_body,
)


def message(msg: NodeInfo | Reconfigure | QdeviceReg | QdeviceReconfigure) -> bytes:
    fn, body = encode_body(msg)
    return encode_exec(5, int(fn), body)


def test_nodeinfo_bytes() -> None:
    raw = message(NodeInfo(3, 1, 3, NodeFlags.QUORATE))
    assert raw == bytes.fromhex(
        "00000500 00000000 20000000 00000000 03000000 01000000 03000000 01000000".replace(" ", "")
    )
    assert len(raw) == MESSAGE_SIZES[ExecFn.NODEINFO] == 32


def test_singleton_nodeinfo_carries_first() -> None:
    """ref 10.3: 'Seen flags=8 in a singleton'."""
    raw = message(NodeInfo(1, 1, 3, NodeFlags.FIRST))
    assert raw[28:32] == b"\x08\x00\x00\x00"


def test_reconfigure_expected_votes_as_quorumtool_e2_sends_it() -> None:
    """ref 11.1: ``corosync-quorumtool -e 2`` -> nodeid=1 value=2 param=1, 32 bytes."""
    raw = message(Reconfigure(1, 2, ReconfigParam.EXPECTED_VOTES))
    assert raw == bytes.fromhex(
        "01000500 00000000 20000000 00000000 01000000 02000000 01000000 00000000".replace(" ", "")
    )


def test_qdevice_messages_sizes_and_layout() -> None:
    reg = message(QdeviceReg(QdeviceOperation.REGISTER, "Qdevice"))
    assert len(reg) == 280
    assert reg[:4] == b"\x02\x00\x05\x00"
    assert reg[16:20] == b"\x01\x00\x00\x00"
    assert reg[20:28] == b"Qdevice\x00"
    assert reg[28:] == b"\x00" * 252
    rec = message(QdeviceReconfigure("old", "new"))
    assert len(rec) == 528
    assert rec[16:20] == b"old\x00" and rec[271:275] == b"new\x00"


@pytest.mark.parametrize(
    "msg",
    [
        NodeInfo(0, 2, 0, 0),
        NodeInfo(0xFFFFFFFF, 7, 9, 0xFF),
        Reconfigure(4, 0, ReconfigParam.CANCEL_WFA),
        Reconfigure(2, 3, ReconfigParam.NODE_VOTES),
        QdeviceReg(QdeviceOperation.UNREGISTER, "x" * 254),
        QdeviceReconfigure("", "Qdevice"),
    ],
)
def test_roundtrip(msg: NodeInfo | Reconfigure | QdeviceReg | QdeviceReconfigure) -> None:
    fn, body = encode_body(msg)
    assert decode_body(fn, body) == msg


@pytest.mark.parametrize(
    ("fn", "body"),
    [
        (0, b""),
        (0, b"\x00" * 15),
        (0, b"\x00" * 17),
        (1, b"\x00" * 12),  # packed size without the tail pad
        (1, b"\x01\x00\x00\x00\x02\x00\x00\x00\x07" + b"\x00" * 7),  # unknown param 7
        (2, b"\x01\x00\x00\x00" + b"A" * 255 + b"\x00" * 5),  # name without NUL
        (2, b"\x05\x00\x00\x00" + b"\x00" * 260),  # unknown operation
        (3, b"\x00" * 511),
        (4, b"\x00" * 16),
    ],
)
def test_malformed_bodies_are_rejected(fn: int, body: bytes) -> None:
    with pytest.raises(MalformedMessage):
        decode_body(fn, body)


def test_encoding_rejects_values_that_do_not_fit() -> None:
    with pytest.raises(ValueError):
        encode_body(NodeInfo(1 << 32, 1, 1, 0))
    with pytest.raises(ValueError):
        encode_body(QdeviceReg(QdeviceOperation.REGISTER, "y" * 255))
