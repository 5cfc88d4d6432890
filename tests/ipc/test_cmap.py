"""cmap: the map's rules (``icmap.c``), the stats map, and libcmap's requests byte-exact."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.ipc.fakes import FakeConn, header
from tests.ipc.layouts import FIXTURES, field, layout, pack
from totem.config import find_local_node, load
from totem.ipc.wire import CsError
from totem.ringid import RingId
from totem.services.cmap import CmapService, encode_config_version_mcast
from totem.services.cmap.stats import StatsMap
from totem.services.cmap.store import (
    TRACK_ADD,
    TRACK_DELETE,
    TRACK_MODIFY,
    TRACK_PREFIX,
    Icmap,
    ValueType,
)
from totem.srp.events import ConfigurationChange, ConfigurationKind

COMPARED = (
    "totem.",
    "nodelist.",
    "quorum.",
    "logging.",
    "system.",
    "internal_configuration.",
    "runtime.members.1.",
    "runtime.config.totem.token",
)
GET = "struct res_lib_cmap_get"
ITER_NEXT = "struct res_lib_cmap_iter_next"
NOTIFY = "struct res_lib_cmap_notify_callback"

CONF = """\
totem {
    version: 2
    cluster_name: realcluster
    transport: udpu
    crypto_cipher: none
    crypto_hash: none
    ip_version: ipv4
    interface {
        linknumber: 0
        mcastport: 5405
    }
}
system {
    sched_rr: no
    move_to_root_cgroup: no
    state_dir: /var/lib/corosync
}
logging {
    to_stderr: yes
    to_logfile: yes
    logfile: /var/log/corosync/corosync.log
    to_syslog: no
    timestamp: hires
    fileline: off
    debug: off
}
quorum {
    provider: corosync_votequorum
}
nodelist {
    node {
        ring0_addr: 10.231.0.1
        nodeid: 1
        name: lqbcap1
    }
    node {
        ring0_addr: 10.231.0.2
        nodeid: 2
        name: lqbcap2
    }
    node {
        ring0_addr: 10.231.0.3
        nodeid: 3
        name: lqbcap3
    }
}
"""


def service(tmp_path: Path) -> CmapService:
    path = tmp_path / "corosync.conf"
    path.write_text(CONF)
    config = load(str(path))
    local = find_local_node(config, [], [], nodeid_override=1)
    return CmapService(config=config, local_node=local)


def call(cmap: CmapService, conn: FakeConn, request: bytes) -> bytes:
    message_id = int.from_bytes(request[:4], "little", signed=True)
    cmap.lib_handlers()[message_id].handler(conn, request, 0.0)
    return conn.take()


def get(cmap: CmapService, conn: FakeConn, key: str, value_len: int = 0) -> bytes:
    return call(
        cmap, conn, pack("struct req_lib_cmap_get", 2, key_name=key.encode(), value_len=value_len)
    )


def list_keys(cmap: CmapService, conn: FakeConn, prefix: str = "") -> dict[str, tuple[int, int]]:
    response = call(cmap, conn, pack("struct req_lib_cmap_iter_init", 4, prefix=prefix.encode()))
    assert header(response) == (4, 32, CsError.OK)
    handle = field("struct res_lib_cmap_iter_init", response, "iter_handle", 8)
    keys: dict[str, tuple[int, int]] = {}
    while True:
        response = call(cmap, conn, pack("struct req_lib_cmap_iter_next", 5, iter_handle=handle))
        assert header(response)[:2] == (5, 304)
        if header(response)[2] == CsError.ERR_NO_SECTIONS:
            break
        at = layout(ITER_NEXT).offset("key_name")
        length = int.from_bytes(response[at : at + 2], "little")
        key = response[at + 8 : at + 8 + length].decode()
        keys[key] = (
            field(ITER_NEXT, response, "type", 1),
            field(ITER_NEXT, response, "value_len", 8),
        )
    assert (
        header(call(cmap, conn, pack("struct req_lib_cmap_iter_finalize", 6, iter_handle=handle)))[
            2
        ]
        == CsError.OK
    )
    return keys


def test_keys_and_types_match_a_real_corosync(tmp_path: Path) -> None:
    """The configuration keys of a 3-node udpu cluster, as ``corosync-cmapctl`` of a real
    node listed them (``real-cmapctl.txt``), with the same types."""
    cmap = service(tmp_path)
    conn = FakeConn()
    cmap.lib_init(conn)
    cmap.confchg(
        ConfigurationChange(ConfigurationKind.REGULAR, RingId(1, 8), (1, 2, 3), (), (1, 2, 3)), 0.0
    )
    cmap.exec_deliver(1, 0, encode_config_version_mcast(0, 0), 0.0)
    ours = list_keys(cmap, conn)
    names = {v.name: v for v in ValueType}
    short = {"str": "STRING", "u8": "UINT8", "u16": "UINT16", "u32": "UINT32", "u64": "UINT64",
             "i32": "INT32", "dbl": "DOUBLE"}  # fmt: skip
    real: dict[str, int] = {}
    for line in (FIXTURES / "real-cmapctl.txt").read_text().splitlines():
        key, _, rest = line.partition(" (")
        real[key] = names[short[rest.split(")", 1)[0]]]
    compared = [k for k in real if k.startswith(COMPARED) and "knet" not in k]
    assert len(compared) > 40
    for key in compared:
        assert key in ours, key
        assert ours[key][0] == real[key], key


def test_get_value_len_rules(tmp_path: Path) -> None:
    cmap = service(tmp_path)
    conn = FakeConn()
    cmap.lib_init(conn)
    response = get(cmap, conn, "totem.cluster_name")
    assert header(response) == (2, 40, CsError.OK)
    assert field(GET, response, "value_len", 8) == len(b"realcluster\0")
    assert field(GET, response, "type", 1) == ValueType.STRING
    response = get(cmap, conn, "totem.cluster_name", 20)  # the answer is as long as asked
    assert header(response) == (2, 60, CsError.OK)
    at = layout(GET).offset("value")
    assert response[at:] == b"realcluster\0" + bytes(8)
    assert header(get(cmap, conn, "totem.cluster_name", 4)) == (2, 40, CsError.ERR_INVALID_PARAM)
    assert header(get(cmap, conn, "no.such.key")) == (2, 40, CsError.ERR_NOT_EXIST)
    response = get(cmap, conn, "nodelist.node.1.nodeid", 4)
    assert field(GET, response, "type", 1) == ValueType.UINT32
    assert response[at : at + 4] == struct.pack("<I", 2)


def test_set_delete_adjust_and_read_only_keys(tmp_path: Path) -> None:
    cmap = service(tmp_path)
    conn = FakeConn()
    cmap.lib_init(conn)

    def set_(key: str, vtype: int, value: bytes) -> int:
        request = pack(
            "struct req_lib_cmap_set",
            0,
            value,
            key_name=key.encode(),
            value_len=len(value),
            type=vtype,
        )
        response = call(cmap, conn, request)
        assert header(response)[:2] == (0, 24)
        return header(response)[2]

    assert set_("test.counter", ValueType.UINT8, b"\xff") == CsError.OK
    adjust = pack("struct req_lib_cmap_adjust_int", 3, key_name=b"test.counter", step=2)
    assert header(call(cmap, conn, adjust)) == (3, 24, CsError.OK)
    assert cmap.icmap.get_value("test.counter") == 1  # wraps at its size
    assert set_("test.s", ValueType.STRING, b"abc\0") == CsError.OK
    adjust = pack("struct req_lib_cmap_adjust_int", 3, key_name=b"test.s", step=1)
    assert header(call(cmap, conn, adjust))[2] == CsError.ERR_INVALID_PARAM
    assert set_("test.u32", ValueType.UINT32, b"\1\0") == CsError.ERR_INVALID_PARAM
    assert set_("x", ValueType.UINT8, b"\1") == CsError.ERR_NAME_TOO_LONG
    assert set_("bad key", ValueType.UINT8, b"\1") == CsError.ERR_NAME_TOO_LONG
    assert set_("nodelist.node.0.nodeid", ValueType.UINT32, b"\7\0\0\0") == CsError.ERR_ACCESS
    assert set_("totem.cluster_name", ValueType.STRING, b"x\0") == CsError.ERR_ACCESS
    assert set_("totem.token", ValueType.UINT32, b"\x10\x27\0\0") == CsError.OK
    delete = pack("struct req_lib_cmap_delete", 1, key_name=b"test.s")
    assert header(call(cmap, conn, delete)) == (1, 24, CsError.OK)
    assert header(call(cmap, conn, delete)) == (1, 24, CsError.ERR_NOT_EXIST)
    delete = pack("struct req_lib_cmap_delete", 1, key_name=b"runtime.config.totem.token")
    assert header(call(cmap, conn, delete))[2] == CsError.ERR_ACCESS


def test_tracks_notify_with_old_and_new_values(tmp_path: Path) -> None:
    cmap = service(tmp_path)
    conn = FakeConn()
    cmap.lib_init(conn)
    request = pack(
        "struct req_lib_cmap_track_add",
        7,
        key_name=b"test.",
        track_type=TRACK_ADD | TRACK_MODIFY | TRACK_DELETE | TRACK_PREFIX,
        track_inst_handle=0x1234,
    )
    response = call(cmap, conn, request)
    assert header(response) == (7, 32, CsError.OK)
    handle = field("struct res_lib_cmap_track_add", response, "track_handle", 8)
    cmap.icmap.set_value("test.a", ValueType.UINT32, 5)
    cmap.icmap.set_value("test.a", ValueType.UINT32, 5)  # same value: nothing
    cmap.icmap.set_value("test.a", ValueType.UINT32, 6)
    cmap.icmap.set_value("other.a", ValueType.UINT32, 6)
    cmap.icmap.delete("test.a")
    added, modified, deleted = conn.take_events()
    assert header(added) == (9, 336 + 4, CsError.OK)
    assert field(NOTIFY, added, "track_inst_handle", 8) == 0x1234
    assert field(NOTIFY, added, "event") == TRACK_ADD
    assert field(NOTIFY, added, "new_value_type", 1) == ValueType.UINT32
    assert (field(NOTIFY, added, "new_value_len", 8), field(NOTIFY, added, "old_value_len", 8)) == (
        4,
        0,
    )
    at = layout(NOTIFY).offset("new_value")
    assert header(modified)[1] == 336 + 8
    assert modified[at : at + 8] == struct.pack("<II", 6, 5)  # new, then old
    assert field(NOTIFY, deleted, "event") == TRACK_DELETE
    assert deleted[at:] == struct.pack("<I", 6)  # the old value only
    assert (
        field(NOTIFY, deleted, "new_value_len", 8),
        field(NOTIFY, deleted, "old_value_type", 1),
    ) == (0, ValueType.UINT32)
    busy = call(cmap, conn, pack("struct req_lib_cmap_set_current_map", 9, map=1))
    assert header(busy) == (10, 24, CsError.ERR_BUSY)
    response = call(cmap, conn, pack("struct req_lib_cmap_track_delete", 8, track_handle=handle))
    assert header(response) == (8, 32, CsError.OK)
    assert field("struct res_lib_cmap_track_delete", response, "track_inst_handle", 8) == 0x1234
    cmap.icmap.set_value("test.b", ValueType.UINT8, 1)
    assert conn.take_events() == []


def test_stats_map_and_its_clear_keys(tmp_path: Path) -> None:
    cmap = service(tmp_path)
    counters = {"n": 7}
    cmap.stats.register(
        "demo",
        lambda: [("stats.demo.n", ValueType.UINT64, counters["n"])],
        lambda: counters.update(n=0),
    )
    conn = FakeConn()
    cmap.lib_init(conn)
    assert header(call(cmap, conn, pack("struct req_lib_cmap_set_current_map", 9, map=1))) == (
        10,
        24,
        CsError.OK,
    )
    assert list_keys(cmap, conn, "stats.") == {"stats.demo.n": (ValueType.UINT64, 8)}
    request = pack(
        "struct req_lib_cmap_set",
        0,
        b"\1",
        key_name=b"stats.demo.n",
        value_len=1,
        type=ValueType.UINT8,
    )
    assert header(call(cmap, conn, request))[2] == CsError.ERR_ACCESS
    request = pack(
        "struct req_lib_cmap_set",
        0,
        b"\1",
        key_name=b"stats.clear.demo",
        value_len=1,
        type=ValueType.UINT8,
    )
    assert header(call(cmap, conn, request))[2] == CsError.OK
    assert counters["n"] == 0
    assert header(call(cmap, conn, pack("struct req_lib_cmap_set_current_map", 9, map=5))) == (
        10,
        24,
        CsError.ERR_NOT_EXIST,
    )


def test_stats_tracks_need_add_and_delete_with_prefix() -> None:
    stats = StatsMap()
    value = {"n": 1}
    stats.register("x", lambda: [("stats.x.n", ValueType.UINT32, value["n"])])
    seen: list[tuple[int, str]] = []
    assert (
        stats.track_add("stats.x.", TRACK_PREFIX | TRACK_ADD, lambda e, k, n, o: None)
        == CsError.ERR_NOT_SUPPORTED
    )
    track = stats.track_add("stats.x.n", TRACK_MODIFY, lambda e, k, n, o: seen.append((e, k)))
    stats.poll_tracks()
    value["n"] = 2
    stats.poll_tracks()
    assert seen == [(TRACK_MODIFY, "stats.x.n")]
    assert not isinstance(track, CsError)
    assert stats.track_delete(track) == CsError.OK


def test_members_and_config_reload_keys(tmp_path: Path) -> None:
    cmap = service(tmp_path)
    cmap.confchg(
        ConfigurationChange(ConfigurationKind.REGULAR, RingId(1, 8), (1, 2), (), (1, 2)), 0.0
    )
    cmap.confchg(
        ConfigurationChange(ConfigurationKind.TRANSITIONAL, RingId(1, 8), (1,), (2,), ()), 0.0
    )
    cmap.confchg(
        ConfigurationChange(ConfigurationKind.REGULAR, RingId(1, 12), (1, 2), (), (2,)), 0.0
    )
    icmap = cmap.icmap
    assert icmap.get_value("runtime.members.2.join_count") == 2
    assert icmap.get_value("runtime.members.2.status") == "joined"
    assert icmap.get_value("runtime.members.1.ip") == "r(0) ip(10.231.0.1) "
    events: list[tuple[int, str]] = []
    icmap.track_add(
        "nodelist.",
        TRACK_ADD | TRACK_DELETE | TRACK_MODIFY | TRACK_PREFIX,
        lambda e, k, n, o: events.append((e, k)),
    )
    path = tmp_path / "corosync.conf"
    path.write_text(CONF.replace("        name: lqbcap3\n", "        name: renamed3\n"))
    cmap.config_reloaded(load(str(path)))
    assert events == [(TRACK_MODIFY, "nodelist.node.2.name")]
    assert icmap.get_value("nodelist.node.2.name") == "renamed3"


def test_icmap_rejects_values_of_the_wrong_size() -> None:
    icmap = Icmap()
    assert icmap.set("a.b.c", ValueType.INT16, b"\1") == CsError.ERR_INVALID_PARAM
    assert icmap.set("a.b.c", 99, b"\1") == CsError.ERR_INVALID_PARAM
    assert icmap.set("a.b.c", ValueType.STRING, b"ab\0cd") == CsError.ERR_INVALID_PARAM
    assert icmap.set("a.b.c", ValueType.BINARY, bytes(16 * 1024 + 1)) == CsError.ERR_INVALID_PARAM
    assert icmap.set("a.b.c", ValueType.STRING, b"ab") == CsError.OK
    assert icmap.get("a.b.c") == (ValueType.STRING, b"ab\0")


@pytest.mark.parametrize("vtype", list(ValueType))
def test_every_value_type_round_trips(vtype: ValueType) -> None:
    icmap = Icmap()
    sample = {
        ValueType.STRING: "text",
        ValueType.BINARY: b"\0\1",
        ValueType.FLOAT: 1.5,
        ValueType.DOUBLE: 2.25,
    }
    value = sample.get(vtype, 3)
    assert icmap.set_value("k.e.y", vtype, value) == CsError.OK
    assert icmap.get_value("k.e.y") == value
