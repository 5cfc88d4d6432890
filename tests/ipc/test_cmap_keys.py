"""The whole configuration map of a node, key by key (names and types, read through libcmap's
iteration), against what ``corosync-cmapctl`` listed on a real corosync 3.1.7 node of a 3-node
udpu cluster with the same corosync.conf: at start-up, after ``corosync-cfgtool -R``, and with
votequorum's options (``tests/fixtures/libqb/real-cmapctl*.txt``, provenance in the README
there). Also the reload keys' life cycle and the watchdog timeout's range."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ipc.cmapctl import key_types
from tests.ipc.fakes import FakeConn
from tests.ipc.layouts import FIXTURES
from tests.ipc.test_cmap import CONF, list_keys
from totem.config import find_local_node, load
from totem.ipc.wire import CsError
from totem.node.assemble import build_net, build_stack
from totem.node.reload import ReloadRefused, apply_to_stack, plan_reload
from totem.node.services import load_services
from totem.node.stack import NodeStack
from totem.ringid import RingId
from totem.service import ServiceContext
from totem.services.cmap import CmapService, encode_config_version_mcast
from totem.services.cmap.store import TRACK_ADD, TRACK_MODIFY, TRACK_PREFIX, ValueType
from totem.srp.events import ConfigurationChange, ConfigurationKind

SHORT = {
    ValueType.INT8: "i8",
    ValueType.UINT8: "u8",
    ValueType.INT16: "i16",
    ValueType.UINT16: "u16",
    ValueType.INT32: "i32",
    ValueType.UINT32: "u32",
    ValueType.INT64: "i64",
    ValueType.UINT64: "u64",
    ValueType.FLOAT: "flt",
    ValueType.DOUBLE: "dbl",
    ValueType.STRING: "str",
    ValueType.BINARY: "bin",
}
QUORUM_OPTIONS = "    wait_for_all: 1\n    auto_tie_breaker: 1\n    last_man_standing: 1\n"
MEMBERS = (1, 2, 3)


def start(tmp_path: Path, text: str = CONF) -> tuple[NodeStack, CmapService]:
    """Node 1 of the 3-node cluster, its services as the daemon loads them, all members in."""
    path = tmp_path / "corosync.conf"
    path.write_text(text)
    config = load(str(path))
    local = find_local_node(config, [], [], nodeid_override=1)
    services = load_services(ServiceContext(config, local))
    net = build_net(config, local, salt_source=bytes, epoch=1)
    stack = build_stack(config, local, services, net=net)
    stack.start(0.0)
    cmap = next(s for s in stack.services if isinstance(s, CmapService))
    cmap.confchg(
        ConfigurationChange(ConfigurationKind.REGULAR, RingId(1, 8), MEMBERS, (), MEMBERS), 0.0
    )
    for sender in MEMBERS:
        cmap.exec_deliver(sender, 0, encode_config_version_mcast(0, 0), 0.0)
    return stack, cmap


def listing(cmap: CmapService) -> dict[str, str]:
    conn = FakeConn()
    cmap.lib_init(conn)
    return {key: SHORT[ValueType(vtype)] for key, (vtype, _len) in list_keys(cmap, conn).items()}


def real(name: str) -> dict[str, str]:
    return key_types((FIXTURES / name).read_text())


def reload(stack: NodeStack, cmap: CmapService, path: Path) -> None:
    """What the daemon does when cfg RELOAD_CONFIG is delivered, with a file that loads."""
    cmap.reload_begin()
    new = load(str(path))
    cmap.reload_parsed()
    assert cmap._config is not None and cmap._local is not None
    apply_to_stack(stack, plan_reload(cmap._config, new, cmap._local))
    cmap.reload_end(CsError.OK)


def test_keys_at_start_up_are_a_real_nodes(tmp_path: Path) -> None:
    _, cmap = start(tmp_path)
    assert listing(cmap) == real("real-cmapctl.txt")


def test_keys_with_votequorum_options_are_a_real_nodes(tmp_path: Path) -> None:
    text = CONF.replace("    provider: corosync_votequorum\n", "    provider: corosync_votequorum\n"
                        + QUORUM_OPTIONS)  # fmt: skip
    _, cmap = start(tmp_path, text)
    assert listing(cmap) == real("real-cmapctl-quorum-options.txt")
    assert cmap.icmap.get_value("runtime.votequorum.atb_type") == 1  # lowest


def test_keys_after_a_reload_are_a_real_nodes(tmp_path: Path) -> None:
    """A reload adds ``config.*`` and votequorum's ``atb_type``, and drops the bind address
    corosync derived at start-up (the file does not have it)."""
    stack, cmap = start(tmp_path)
    seen: list[tuple[str, object]] = []
    cmap.icmap.track_add(
        "config.", TRACK_ADD | TRACK_MODIFY | TRACK_PREFIX, lambda e, k, n, o: seen.append((k, n))
    )
    reload(stack, cmap, tmp_path / "corosync.conf")
    assert listing(cmap) == real("real-cmapctl-reloaded.txt")
    icmap = cmap.icmap
    assert icmap.get_value("config.reload_status") == CsError.OK
    assert icmap.get_value("config.totemconfig_reload_in_progress") == 0
    assert icmap.get_value("config.reload_in_progress") == 0
    assert [key for key, _ in seen] == [
        "config.totemconfig_reload_in_progress",
        "config.reload_in_progress",
        "config.reload_status",
        "config.totemconfig_reload_in_progress",
        "config.reload_in_progress",
    ]


def test_a_reload_that_does_not_parse_or_is_refused(tmp_path: Path) -> None:
    """corosync 3.1.7 stops before ``reload_in_progress`` when the file does not parse
    (leaving ``totemconfig_reload_in_progress`` at 1, no status); a refused one ends with
    ``CS_ERR_INVALID_PARAM``."""
    _, cmap = start(tmp_path)
    icmap = cmap.icmap
    cmap.reload_begin()
    cmap.reload_end(CsError.ERR_INVALID_PARAM)  # the file did not parse
    assert icmap.get_value("config.totemconfig_reload_in_progress") == 1
    assert "config.reload_in_progress" not in icmap
    assert "config.reload_status" not in icmap
    path = tmp_path / "corosync.conf"
    new = load(str(path))
    moved = tmp_path / "moved.conf"
    moved.write_text(CONF.replace("ring0_addr: 10.231.0.2", "ring0_addr: 10.231.0.9"))
    cmap.reload_begin()
    cmap.reload_parsed()
    assert cmap._local is not None
    with pytest.raises(ReloadRefused):
        plan_reload(new, load(str(moved)), cmap._local)
    cmap.reload_end(CsError.ERR_INVALID_PARAM)
    assert icmap.get_value("config.reload_status") == CsError.ERR_INVALID_PARAM
    assert icmap.get_value("config.totemconfig_reload_in_progress") == 0
    assert icmap.get_value("config.reload_in_progress") == 0


def test_watchdog_timeout_stays_in_range(tmp_path: Path) -> None:
    """``resources.watchdog_timeout``: 2..120 s; out of range, in the file or set later,
    it is put back to the value in force, with corosync's warning."""
    text = CONF + "resources {\n    watchdog_timeout: 200\n}\n"
    stack, cmap = start(tmp_path, text)
    icmap = cmap.icmap
    assert icmap.get("resources.watchdog_timeout") == (ValueType.UINT32, (6).to_bytes(4, "little"))
    assert icmap.set_value("resources.watchdog_timeout", ValueType.UINT32, 30) == CsError.OK
    assert icmap.get_value("resources.watchdog_timeout") == 30
    assert icmap.set_value("resources.watchdog_timeout", ValueType.UINT32, 1) == CsError.OK
    assert icmap.get_value("resources.watchdog_timeout") == 30
    assert icmap.set_value("resources.watchdog_timeout", ValueType.STRING, "10") == CsError.OK
    assert icmap.get("resources.watchdog_timeout") == (ValueType.UINT32, (30).to_bytes(4, "little"))
    warnings = [e.message for e in stack.events() if getattr(e, "subsys", None) == "WD"]
    assert warnings.count("Set watchdog_timeout is out of range (2..120).") == 3
    assert icmap.get_value("resources.system.memory_used.state") == "stopped"
    assert icmap.get_value("resources.system.load_15min.poll_period") == 3000
