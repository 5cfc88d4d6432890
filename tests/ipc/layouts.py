"""The compiler-measured layouts of corosync's IPC structs, as test tools.

``tests/fixtures/libqb/offsets.txt`` is gcc's ``sizeof``/``offsetof`` of every struct of
corosync 3.1.7's ``ipc_*.h`` on x86-64 (``../shared/ref/libqb-ipc/layouts``), and
``libqb-layouts.txt`` the same for libqb 2.0.6's set-up messages and ring buffer header.
:func:`pack` builds a request with fields placed where gcc puts them and :func:`field`
reads a field of a message where gcc says it is, so the tests never restate an offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FIXTURES", "Layout", "field", "layout", "pack"]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "libqb"
_HEAD = re.compile(r"^(?P<name>\S.*): sizeof (?P<size>\d+)$")
_FIELD = re.compile(
    r"^\s+(?P<field>\w+)\s+off\s+(?P<off>\d+)(?: size\s+(?P<size>\d+)| \(flexible array\))"
)


@dataclass(frozen=True)
class Layout:
    name: str
    size: int
    fields: dict[str, tuple[int, int | None]]

    def offset(self, name: str) -> int:
        return self.fields[name][0]

    def width(self, name: str) -> int | None:
        return self.fields[name][1]


def _load() -> dict[str, Layout]:
    out: dict[str, Layout] = {}
    for path in (FIXTURES / "offsets.txt", FIXTURES / "libqb-layouts.txt"):
        current: Layout | None = None
        for line in path.read_text().splitlines():
            head = _HEAD.match(line)
            if head:
                current = Layout(head["name"], int(head["size"]), {})
                out[current.name] = current
                continue
            item = _FIELD.match(line)
            if item and current is not None:
                size = int(item["size"]) if item["size"] else None
                current.fields[item["field"]] = (int(item["off"]), size)
    return out


_LAYOUTS = _load()


def layout(name: str) -> Layout:
    """``layout("struct req_lib_cpg_join")`` (or ``"mar_cpg_name_t"``)."""
    return _LAYOUTS[name]


def _put(buf: bytearray, offset: int, width: int | None, value: int | bytes) -> None:
    if isinstance(value, int):
        assert width is not None
        buf[offset : offset + width] = value.to_bytes(width, "little", signed=value < 0)
    else:
        buf[offset : offset + len(value)] = value


_NAMES = {"group_name": "mar_cpg_name_t", "key_name": "mar_name_t", "prefix": "mar_name_t"}
_RINGS = ("mar_votequorum_ring_id", "mar_quorum_ring_id_t")


def _sub(name: str) -> Layout:
    return _LAYOUTS.get(name) or _LAYOUTS[f"struct {name}"]


def pack(
    struct_name: str, msg_id: int, tail: bytes = b"", **fields: int | bytes | tuple[int, int]
) -> bytes:
    """A request of struct ``struct_name``: ``sizeof`` zero bytes with ``fields`` where gcc
    puts them, then ``tail`` (a flexible array); the header's ``id`` is ``msg_id`` and its
    ``size`` the whole length. A name field (``group_name``, ``key_name``, ``prefix``)
    takes bytes, a ``ring_id`` a ``(nodeid, seq)`` pair."""
    lay = layout(struct_name)
    buf = bytearray(lay.size)
    for key, value in fields.items():
        base = lay.offset(key)
        if key in _NAMES and isinstance(value, bytes):
            sub = _sub(_NAMES[key])
            _put(buf, base + sub.offset("length"), sub.width("length"), len(value))
            _put(buf, base + sub.offset("value"), None, value)
        elif key == "ring_id" and isinstance(value, tuple):
            sub = _sub(_RINGS[0] if "votequorum" in struct_name else _RINGS[1])
            _put(buf, base + sub.offset("nodeid"), sub.width("nodeid"), value[0])
            _put(buf, base + sub.offset("seq"), sub.width("seq"), value[1])
        else:
            assert not isinstance(value, tuple)
            _put(buf, base, lay.width(key), value)
    data = bytearray(bytes(buf) + tail)
    data[0:4] = msg_id.to_bytes(4, "little", signed=True)
    data[8:12] = len(data).to_bytes(4, "little")
    return bytes(data)


def field(name: str, data: bytes, key: str, width: int | None = None) -> int:
    """The unsigned integer field ``key`` of struct ``name`` in ``data``."""
    lay = layout(name)
    offset = lay.offset(key)
    size = width or lay.width(key) or 4
    return int.from_bytes(data[offset : offset + size], "little")
