"""Pure tests of the harness pieces that need no root and no corosync: tool-output parsers
(against outputs of the real 3.1.7 tools, ``ref/samples/`` and this harness's clusters), the
generated corosync.conf, the pcap reader, argument checking and stale-state reaping."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from tests.interop.corosync_conf import ConfSpec, QDeviceConf, render_corosync_conf
from tests.interop.harness import Cluster
from tests.interop.netns import proc_identity
from tests.interop.pcap import PcapError, UdpFrame, read_udp_frames
from tests.interop.state import reap_stale
from tests.interop.tools import (
    ToolOutputError,
    member_ids,
    parse_cfgtool_n,
    parse_cfgtool_s,
    parse_cmapctl,
    parse_quorumtool_s,
    parse_ring_id,
)

SAMPLES = Path(__file__).resolve().parent / "samples"
"""Outputs of the real 3.1.7 tools: ``ref/samples/`` and this harness's clusters (cfgtool-n-knet
is built from the format strings of ``tools/corosync-cfgtool.c``)."""


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


QUORUM_3NODE = sample("quorumtool-s-3node.txt")
QUORUM_QDEVICE_SURVIVOR = sample("quorumtool-s-qdevice-survivor.txt")
QUORUM_QDEVICE_NOT_VOTING = sample("quorumtool-s-qdevice-not-voting.txt")
QUORUM_ALONE_HEX = sample("quorumtool-sH-alone.txt")
QUORUM_TWO_NODE = sample("quorumtool-s-two-node.txt")
CFG_S = sample("cfgtool-s.txt")
CFG_N = sample("cfgtool-n.txt")
CFG_N_KNET = sample("cfgtool-n-knet.txt")
CFG_SB = sample("cfgtool-sb.txt")


def test_quorumtool_three_nodes() -> None:
    st = parse_quorumtool_s(QUORUM_3NODE)
    assert st == {
        "provider": "corosync_votequorum",
        "nodes": 3,
        "node_id": 1,
        "ring_id": "1.d",
        "ring_id_rep": 1,
        "ring_id_seq": 13,
        "quorate": True,
        "expected_votes": 3,
        "highest_expected": 3,
        "total_votes": 3,
        "quorum": 2,
        "activity_blocked": False,
        "flags": ["Quorate"],
        "members": [
            {"nodeid": 1, "votes": 1, "qdevice": None, "name": "cs1", "local": True},
            {"nodeid": 2, "votes": 1, "qdevice": None, "name": "cs2", "local": False},
            {"nodeid": 3, "votes": 1, "qdevice": None, "name": "cs3", "local": False},
        ],
        "qdevice": None,
    }
    assert member_ids(st) == {1, 2, 3}


def test_quorumtool_qdevice_rows() -> None:
    st = parse_quorumtool_s(QUORUM_QDEVICE_SURVIVOR)
    assert (st["ring_id_rep"], st["ring_id_seq"], st["flags"]) == (2, 13, ["Quorate", "Qdevice"])
    assert st["members"] == [
        {"nodeid": 2, "votes": 1, "qdevice": "A,V,NMW", "name": "cs2", "local": True}
    ]
    assert st["qdevice"] == {"votes": 1, "name": "Qdevice", "configured_votes": None}
    st = parse_quorumtool_s(QUORUM_QDEVICE_NOT_VOTING)
    assert [(m["nodeid"], m["qdevice"], m["local"]) for m in st["members"]] == [
        (1, "NR", True),
        (2, "A,V,NMW", False),
    ]
    assert st["qdevice"] == {"votes": 0, "name": "Qdevice", "configured_votes": 1}
    assert member_ids(st) == {1, 2}


def test_quorumtool_not_quorate_hex_and_two_node() -> None:
    st = parse_quorumtool_s(QUORUM_ALONE_HEX)
    assert (st["node_id"], st["quorate"], st["quorum"], st["activity_blocked"]) == (
        1,
        False,
        2,
        True,
    )
    assert st["flags"] == []
    assert st["members"] == [
        {"nodeid": 1, "votes": 1, "qdevice": None, "name": "ic0n1", "local": True}
    ]
    st = parse_quorumtool_s(QUORUM_TWO_NODE)
    assert st["flags"] == ["2Node", "Quorate", "WaitForAll"]
    assert (st["quorum"], st["expected_votes"]) == (1, 2)
    assert [m["local"] for m in st["members"]] == [False, True]


def test_quorumtool_without_votequorum() -> None:
    text = (
        "Quorum information\n------------------\nDate:             x\n"
        "Quorum provider:  Not configured\nNodes:            2\nNode ID:          1\n"
        "Ring ID:          1c\nQuorate:          Yes\n\nMembership information\n"
        "----------------------\n    Nodeid Name\n         1 a (local)\n         2 b\n"
    )
    st = parse_quorumtool_s(text)
    assert (st["ring_id_rep"], st["ring_id_seq"], st["expected_votes"]) == (None, 0x1C, None)
    assert [(m["nodeid"], m["votes"], m["name"]) for m in st["members"]] == [
        (1, None, "a"),
        (2, None, "b"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Cannot initialize QUORUM service\n",
        QUORUM_3NODE.replace("Ring ID:          1.d", "Ring ID:          1.zz"),
        QUORUM_3NODE.replace("         2          1 cs2", "         2          x cs2"),
        QUORUM_3NODE.replace("    Nodeid      Votes Name", "    Id Name Votes"),
        QUORUM_3NODE + "garbage row\n",
    ],
)
def test_quorumtool_rejects_other_text(text: str) -> None:
    with pytest.raises(ToolOutputError):
        parse_quorumtool_s(text)


def test_ring_id() -> None:
    assert parse_ring_id("1.d") == (1, 13)
    assert parse_ring_id("a.1f") == (10, 31)
    with pytest.raises(ToolOutputError):
        parse_ring_id("1.")


def test_cfgtool_s_and_brief() -> None:
    assert parse_cfgtool_s(CFG_S) == (
        1,
        "udpu",
        [
            {
                "link": 0,
                "transport": "",
                "addr": "10.231.0.3",
                "nodes": [
                    {"nodeid": 1, "status": "localhost"},
                    {"nodeid": 2, "status": "connected"},
                    {"nodeid": 3, "status": "disconnected"},
                ],
            }
        ],
    )
    _, _, links = parse_cfgtool_s(CFG_SB)
    assert [(n["nodeid"], n["status"]) for n in links[0]["nodes"]] == [(1, "n"), (2, "1"), (3, "1")]
    with pytest.raises(ToolOutputError):
        parse_cfgtool_s("Local node ID 1, transport udpu\n\tnodeid: 1:\tlocalhost\n")
    with pytest.raises(ToolOutputError):
        parse_cfgtool_s("Could not initialize corosync configuration API error 2\n")


def test_cfgtool_n_udpu_and_knet() -> None:
    nodeid, transport, nodes = parse_cfgtool_n(CFG_N)
    assert (nodeid, transport, sorted(nodes)) == (1, "udpu", [2, 3])
    assert nodes[2] == {
        "nodeid": 2,
        "remote": False,
        "external": False,
        "links": [
            {
                "link": 0,
                "transport": "",
                "src": "10.99.0.2",
                "dst": None,
                "enabled": True,
                "connected": True,
                "dynconnected": False,
                "mtu": 1410,
            }
        ],
    }
    _, transport, nodes = parse_cfgtool_n(CFG_N_KNET)
    assert transport == "knet"
    assert [
        (lk["link"], lk["transport"], lk["src"], lk["dst"], lk["connected"])
        for lk in nodes[2]["links"]
    ] == [
        (0, "udp", "10.0.0.1", "10.0.0.2", True),
        (1, "sctp", "10.1.0.1", "10.1.0.2", False),
    ]
    assert (nodes[3]["remote"], nodes[3]["external"], nodes[3]["links"][0]["dynconnected"]) == (
        True,
        True,
        True,
    )
    assert parse_cfgtool_n("Local node ID 1, transport udpu\n\n") == (1, "udpu", {})
    with pytest.raises(ToolOutputError):
        parse_cfgtool_n("Local node ID 1, transport udpu\n   LINK: 0  (10.0.0.2) mtu: 1\n")


def test_cmapctl() -> None:
    text = (
        "runtime.config.totem.token (u32) = 3650\n"
        "runtime.votequorum.two_node (u8) = 0\n"
        "runtime.members.1.ip (str) = r(0) ip(10.99.0.1) \n"
        "totem.knet_compression_level (i32) = -1\n"
        "some.float (dbl) = 0.5\n"
    )
    assert parse_cmapctl(text) == {
        "runtime.config.totem.token": 3650,
        "runtime.votequorum.two_node": 0,
        "runtime.members.1.ip": "r(0) ip(10.99.0.1) ",
        "totem.knet_compression_level": -1,
        "some.float": 0.5,
    }
    with pytest.raises(ToolOutputError):
        parse_cmapctl("Failed to initialize the cmap API. Error CS_ERR_LIBRARY\n")


# -------------------------------------------------------------------- corosync.conf

CONF_UDPU_NODE1 = """# generated by the pycorosync interop harness for node 1 of 3
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
        nodeid: 1
        name: cs1
        ring0_addr: 10.99.0.1
    }
    node {
        nodeid: 2
        name: cs2
        ring0_addr: 10.99.0.2
    }
    node {
        nodeid: 3
        name: cs3
        ring0_addr: 10.99.0.3
    }
}
"""


def test_conf_udpu_is_the_realcluster_layout() -> None:
    spec = ConfSpec(n=3, transport="udpu", prefix="cs", subnet="10.99.0")
    assert render_corosync_conf(spec, 1) == CONF_UDPU_NODE1
    assert render_corosync_conf(spec, 3).splitlines()[1:] == CONF_UDPU_NODE1.splitlines()[1:]
    with pytest.raises(ValueError):
        render_corosync_conf(spec, 4)


def test_conf_udp_token_extras_two_node() -> None:
    spec = ConfSpec(
        n=2,
        transport="udp",
        prefix="ic0n",
        subnet="10.231.0",
        token=1000,
        totem_extra=("window_size: 20", "  "),
        quorum_extra=("wait_for_all: 0",),
        two_node=True,
        sched_rr=True,
        debug=True,
    )
    text = render_corosync_conf(spec, 2)
    assert (
        "    token: 1000\n"
        "    interface {\n"
        "        linknumber: 0\n"
        "        bindnetaddr: 10.231.0.0\n"
        "        mcastaddr: 239.192.99.1\n"
        "        mcastport: 5405\n"
        "        ttl: 1\n"
        "    }\n"
        "    window_size: 20\n"
        "}\n"
    ) in text
    assert "    provider: corosync_votequorum\n    two_node: 1\n    wait_for_all: 0\n}" in text
    assert "sched_rr: yes" in text and "debug: on" in text
    assert text.count("node {") == 2 and "ring0_addr: 10.231.0.2" in text


def test_conf_qdevice_block_replaces_two_node() -> None:
    qd = QDeviceConf(
        algorithm="lms",
        tls="on",
        port=5404,
        tie_breaker="highest",
        extra=("connect_timeout: 8000",),
    )
    spec = ConfSpec(
        n=2,
        transport="udpu",
        prefix="x",
        subnet="10.1.2",
        qdevice=qd,
        qdevice_host="10.1.2.3",
        two_node=True,
    )
    text = render_corosync_conf(spec, 1)
    assert (
        "quorum {\n"
        "    provider: corosync_votequorum\n"
        "    device {\n"
        "        votes: 1\n"
        "        model: net\n"
        "        net {\n"
        "            host: 10.1.2.3\n"
        "            port: 5404\n"
        "            tls: on\n"
        "            algorithm: lms\n"
        "            tie_breaker: highest\n"
        "            connect_timeout: 8000\n"
        "        }\n"
        "    }\n"
        "}\n"
    ) in text
    assert "two_node" not in text
    with pytest.raises(ValueError):
        render_corosync_conf(
            ConfSpec(n=2, transport="udpu", prefix="x", subnet="10.1.2", qdevice=qd), 1
        )


# -------------------------------------------------------------------- pcap


def _pcap(records: list[tuple[float, bytes]], linktype: int = 276) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)
    for t, frame in records:
        sec = int(t)
        out += struct.pack("<IIII", sec, round((t - sec) * 1e6), len(frame), len(frame)) + frame
    return out


def _sll2_udp(
    src: str, sport: int, dst: str, dport: int, payload: bytes, ifindex: int = 3
) -> bytes:
    sll2 = struct.pack(">HHIHBB8s", 0x0800, 0, ifindex, 1, 0, 6, b"\x02" * 6 + b"\0\0")
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(
        ">BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        1,
        0x4000,
        1,
        17,
        0,
        bytes(map(int, src.split("."))),
        bytes(map(int, dst.split("."))),
    )
    return sll2 + ip + udp


def test_pcap_reader(tmp_path: Path) -> None:
    merge = bytes.fromhex("70c00302000100000000000000") + bytes(16)
    arp = struct.pack(">HHIHBB8s", 0x0806, 0, 3, 1, 0, 6, bytes(8)) + bytes(28)
    path = tmp_path / "x.pcap"
    path.write_bytes(
        _pcap(
            [
                (1.5, _sll2_udp("10.231.0.1", 5404, "239.192.99.1", 5405, merge)),
                (2.25, arp),
                (3.0, _sll2_udp("10.231.0.2", 40000, "10.231.0.3", 5405, b"x", ifindex=4)),
            ]
        )
    )
    frames, skipped = read_udp_frames(path)
    assert skipped == 1
    assert frames == [
        UdpFrame(1.5, 3, "10.231.0.1", 5404, "239.192.99.1", 5405, merge),
        UdpFrame(3.0, 4, "10.231.0.2", 40000, "10.231.0.3", 5405, b"x"),
    ]
    path.write_bytes(_pcap([], linktype=1))
    with pytest.raises(PcapError):
        read_udp_frames(path)
    path.write_bytes(b"not a pcap at all, no no no")
    with pytest.raises(PcapError):
        read_udp_frames(path)


# -------------------------------------------------------------------- harness without root


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0},
        {"n": 3, "transport": "sctp"},
        {"n": 3, "links": 2},
        {"n": 3, "transport": "knet", "links": 9},
        {"n": 3, "crypto": ("aes256", "sha256")},
        {"n": 3, "skip": {4}},
        {"n": 3, "prefix": "Bad"},
        {"n": 3, "prefix": "cs1"},
        {"n": 3, "subnet": "10.231.0.0"},
        {"n": 3, "subnet": "10.300.1"},
        {"n": 2, "qdevice": QDeviceConf()},
        {"n": 200, "extra": 51},
    ],
)
def test_cluster_rejects_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Cluster(**kwargs)  # type: ignore[arg-type]


def test_reap_stale_only_takes_dead_owners(tmp_path: Path) -> None:
    me = proc_identity(os.getpid())
    assert me is not None
    (tmp_path / "subnets").mkdir()
    owners = {
        "dead": {"pid": me.pid, "starttime": me.starttime + 1},  # a recycled PID: not the owner
        "live": {"pid": me.pid, "starttime": me.starttime},
    }
    for k, (prefix, owner) in enumerate(owners.items()):
        (tmp_path / prefix).mkdir()
        claim = tmp_path / "subnets" / f"10.231.{k}"
        claim.write_text(prefix)
        record = {
            "owner": owner,
            "prefix": prefix,
            "claim": str(claim),
            "netns": [],
            "mounts": [],
            "procs": [],
        }
        (tmp_path / prefix / "cluster.json").write_text(json.dumps(record))
    assert reap_stale(tmp_path) == ["dead"]
    assert not (tmp_path / "dead").exists() and (tmp_path / "live" / "cluster.json").exists()
    assert [p.name for p in (tmp_path / "subnets").iterdir()] == ["10.231.1"]
    assert reap_stale(tmp_path) == []


def test_environment_problem_names_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.interop.harness as harness

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert harness.environment_problem() == (
        "interop tests need root (network, mount and UTS namespaces)"
    )
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(
        harness, "missing_tools", lambda names: [n for n in names if n == "nsenter"]
    )
    assert harness.environment_problem() == (
        "interop tests need nsenter (iproute2 / util-linux / procps)"
    )
    monkeypatch.setattr(harness, "missing_tools", lambda names: [])
    monkeypatch.setattr(harness, "COROSYNC", "/nonexistent/corosync")
    problem = harness.environment_problem()
    assert problem is not None and problem.startswith("corosync is not installed")
