"""Status/list text (byte-exact with the samples), the control protocol and the tool CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from qnetd.model import NodeList
from qnetd.protocol import (
    Init,
    KeepActivePartitionTieBreaker,
    NodeInfo,
    Preinit,
    RingId,
    SetOption,
    TieBreaker,
    TieBreakerMode,
    Vote,
)
from qnetd.protocol.constants import Heuristics, TlsSupported
from qnetd.server.instance import QnetdServer
from qnetd.server.ipc import handle_ipc_command, quote, tokenize
from qnetd.server.settings import ServerConfig
from qnetd.server.status import list_dict, list_text, status_text
from qnetd.tool import build_command
from qnetd.tool import main as tool_main

from .harness import Harness
from .servers import REPO, RawClient, start_ours

SAMPLE_LV = (
    'Cluster "realcluster":\n'
    "    Algorithm:\t\tFifty-Fifty split (KAP Tie-breaker)\n"
    "    Tie-breaker:\tNode with lowest node ID\n"
    "    Node ID 1:\n"
    "        Client address:\t\t::ffff:10.99.0.1:44950\n"
    "        HB interval:\t\t8000ms\n"
    "        Configured node list:\t1, 2\n"
    "        Ring ID:\t\t1.9\n"
    "        Membership node list:\t1, 2\n"
    "        Heuristics:\t\tUndefined (membership: Undefined, regular: Undefined)\n"
    "        TLS active:\t\tNo\n"
    "        Vote:\t\t\tACK (ACK)\n"
    "    Node ID 2:\n"
    "        Client address:\t\t::ffff:10.99.0.2:44770\n"
    "        HB interval:\t\t8000ms\n"
    "        Configured node list:\t1, 2\n"
    "        Ring ID:\t\t1.9\n"
    "        Membership node list:\t1, 2\n"
    "        Heuristics:\t\tUndefined (membership: Undefined, regular: Undefined)\n"
    "        TLS active:\t\tNo\n"
    "        Vote:\t\t\tNo change (ACK)\n"
)
SAMPLE_S = (
    "QNetd address:\t\t\t*:5403\n"
    "TLS:\t\t\t\tUnsupported\n"
    "Connected clients:\t\t2\n"
    "Connected clusters:\t\t1\n"
)


def sample_server() -> QnetdServer:
    """The state of ref/samples/qdevice-2node-healthy.txt, built with real messages."""
    server = QnetdServer(ServerConfig(tls_supported=TlsSupported.UNSUPPORTED, tls_available=False))
    h = Harness(server)
    ring = RingId(1, 9)
    for conn, addr in ((1, "::ffff:10.99.0.1:44950"), (2, "::ffff:10.99.0.2:44770")):
        assert server.accept(conn, addr, h.now)
        h.seqs[conn] = 1
        h.send(conn, Preinit(b"realcluster", 1))
        h.send(conn, Init(conn, 1, 8000, TieBreaker(TieBreakerMode.LOWEST), ring, 2))
        h.send(conn, SetOption(3, None, KeepActivePartitionTieBreaker.ENABLED))
        h.config(conn, 1, 2)
        h.membership(conn, ring, 1, 2)
    return server


def test_list_and_status_text_match_the_real_tool_samples() -> None:
    server = sample_server()
    c1 = server.client(1)
    c2 = server.client(2)
    assert c1 is not None and c2 is not None
    # node 1 got ACK via VOTE_INFO last; node 2 got NO_CHANGE replies after its ACK
    assert (c1.last_sent_vote, c2.last_sent_vote) == (Vote.ACK, Vote.NO_CHANGE)
    assert list_text(server, verbose=True) == SAMPLE_LV
    assert status_text(server) == SAMPLE_S
    short = list_text(server)
    assert "HB interval" not in short and "Ring ID" not in short and "Heuristics" not in short
    assert "        Vote:\t\t\tNo change (ACK)\n" in short


def test_optional_lines() -> None:
    server = sample_server()
    c1 = server.client(1)
    assert c1 is not None
    c1.config_version = 7
    c1.last_heuristics = Heuristics.PASS
    c1.last_membership_node_list = NodeList((NodeInfo(1, 3),))
    text = list_text(server)
    assert "        Configuration version:\t7\n" in text
    assert "        Heuristics:\t\tPass\n" in text
    assert "        Membership node list:\t1 (3)\n" in text
    assert list_text(server, cluster_name="nope") == ""
    assert list_text(server, cluster_name="realcluster") == text
    verbose = status_text(
        QnetdServer(ServerConfig(max_clients=9, host_addr="127.0.0.1", host_port=1)), True
    )
    assert verbose == (
        "QNetd address:\t\t\t127.0.0.1:1\n"
        "TLS:\t\t\t\tSupported (client certificate required)\n"
        "Connected clients:\t\t0\n"
        "Connected clusters:\t\t0\n"
        "Maximum allowed clients:\t9\n"
        "Maximum send/receive size:\t32768/32768 bytes\n"
    )


def test_list_json() -> None:
    data = list_dict(sample_server())
    cl = data["clusters"][0]
    assert cl["name"] == "realcluster" and cl["algorithm"] == "ffsplit"
    assert cl["kap_tie_breaker"] is True
    assert cl["tie_breaker"] == {"mode": "lowest", "node_id": None}
    assert [c["vote"] for c in cl["clients"]] == ["ACK", "NO_CHANGE"]
    assert cl["clients"][0]["ring_id"] == "1.9"
    json.dumps(data)


@pytest.mark.parametrize(
    ("line", "tokens"),
    [
        ("status verbose\n", ["status", "verbose"]),
        ('list cluster "a b" \n', ["list", "cluster", "a b"]),
        ('list cluster "q\\"x\\\\y"\n', ["list", "cluster", 'q"x\\y']),
        ("  \n", []),
        ("a\\ b c", ["a b", "c"]),
        ("x\ny", ["x"]),
    ],
)
def test_tokenize(line: str, tokens: list[str]) -> None:
    assert tokenize(line) == tokens


def test_quote_round_trip() -> None:
    for name in ("plain", 'with "quotes"', "back\\slash", "sp ace"):
        assert tokenize(f"list cluster {quote(name)}") == ["list", "cluster", name]
    assert build_command("list", True, "x y", False) == 'list verbose cluster "x y" \n'
    assert build_command("status", False, None, True) == "status json \n"


def test_ipc_commands() -> None:
    server = sample_server()
    assert handle_ipc_command(server, "").encode() == b"Error\nNo command specified\n"
    assert handle_ipc_command(server, "bogus x").encode() == b"Error\nUnknown command 'bogus'\n"
    reply = handle_ipc_command(server, "STATUS")
    assert reply.ok and reply.text == SAMPLE_S
    assert handle_ipc_command(server, 'list verbose cluster "realcluster"').text == SAMPLE_LV
    assert handle_ipc_command(server, "shutdown").shutdown
    data = json.loads(handle_ipc_command(server, "status json").text)
    assert data["connected_clients"] == 2 and data["tls"] == "unsupported"
    data = json.loads(handle_ipc_command(server, "list json").text)
    assert len(data["clusters"]) == 1


@pytest.mark.sockets
@pytest.mark.timeout(60)
def test_tool_against_a_running_server(capsys: pytest.CaptureFixture[str]) -> None:
    server = start_ours("-s", "off", "-m", "5")
    try:
        c = RawClient(server.port)
        c.send(
            Preinit(b"toolcl", 1),
            Init(4, 1, 8000, TieBreaker(TieBreakerMode.LOWEST), RingId(4, 1), 2),
        )
        assert len(c.frames(2)) == 2
        sock = server.ipc_socket
        assert tool_main(["-s", "-v", "-p", sock]) == 0
        out = capsys.readouterr().out
        assert "Connected clients:\t\t1\n" in out and "Maximum allowed clients:\t5\n" in out
        assert tool_main(["-l", "-c", "toolcl", "-p", sock]) == 0
        assert 'Cluster "toolcl":\n' in capsys.readouterr().out
        assert tool_main(["-l", "--json", "-p", sock]) == 0
        assert json.loads(capsys.readouterr().out)["clusters"][0]["clients"][0]["node_id"] == 4
        assert tool_main(["-p", sock]) == 1
        assert tool_main(["-s", "-p", sock + ".missing"]) == 3
        capsys.readouterr()
        # -H shuts the server down
        assert tool_main(["-H", "-p", sock]) == 0
        server.proc.wait(timeout=10)
        assert server.proc.returncode == 0
        assert c.wait_closed(5.0)
        c.close()
    finally:
        server.stop()


@pytest.mark.timeout(30)
def test_tool_reports_server_errors(tmp_path: object, capfd: pytest.CaptureFixture[str]) -> None:
    path = os.path.join(str(tmp_path), "fake.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.sendall(b"Error\nUnknown command 'status'\n")
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    rc = subprocess.run(
        [sys.executable, "-m", "qnetd.tool", "-s", "-p", path],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    t.join()
    listener.close()
    assert rc.returncode == 4
    assert rc.stderr == "Error: Unknown command 'status'\n"
