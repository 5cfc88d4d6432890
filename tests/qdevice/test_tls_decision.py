"""The TLS decision table of the client (``check_tls_compatibility``, ref section 5.2).

Against the in-process QnetdServer, whose TLS gate really refuses a plain client when TLS is
required; the handshake itself is completed in place (sockets test the cryptography).
"""

from __future__ import annotations

import pytest

from qnetd.certnames import PeerCertificate
from qnetd.protocol import Init, Preinit, StartTls
from qnetd.protocol.constants import TlsSupported
from qnetd.protocol.tlv import RingId
from qnetd.server.instance import QnetdServer
from qnetd.server.settings import ServerConfig
from totem.srp.events import LogLevel, LogRecord
from votequorum.qdevice.events import ClientState, DisconnectReason
from votequorum.qdevice.events import StartTls as StartTlsOutput
from votequorum.qdevice.replies import tls_decision

from .world import CLUSTER, World

OFF, ON, REQ = TlsSupported.UNSUPPORTED, TlsSupported.SUPPORTED, TlsSupported.REQUIRED
TABLE = [
    # server, client, outcome
    (OFF, OFF, "plain"),
    (OFF, ON, "plain"),
    (OFF, REQ, "incompatible"),
    (ON, OFF, "plain"),
    (ON, ON, "tls"),
    (ON, REQ, "tls"),
    (REQ, OFF, "incompatible"),
    (REQ, ON, "tls"),
    (REQ, REQ, "tls"),
]


@pytest.mark.parametrize(("server", "client", "outcome"), TABLE)
def test_decision_function(server: TlsSupported, client: TlsSupported, outcome: str) -> None:
    expected = {"plain": False, "tls": True, "incompatible": None}[outcome]
    assert tls_decision(server, client) is expected


@pytest.mark.parametrize(("server", "client", "outcome"), TABLE)
def test_sessions(server: TlsSupported, client: TlsSupported, outcome: str) -> None:
    world = World(QnetdServer(ServerConfig(tls_supported=server, tls_available=server != OFF)))
    node = world.add(1, tls=client)
    world.start(1, RingId(1, 5), (1,))
    world.run_for(0.5)
    sent = node.sent
    if outcome == "incompatible":
        assert node.client.disconnect_reason == DisconnectReason.INCOMPATIBLE_TLS
        assert node.client.state == ClientState.RECONNECT_DELAY
        assert [type(m) for m in sent] == [Preinit]
        return
    assert node.client.state == ClientState.CONNECTED
    conn = node.conn_id
    assert conn is not None
    record = world.server.client(conn)
    assert record is not None
    if outcome == "tls":
        assert sent[:3] == [
            Preinit(CLUSTER.encode(), 1),
            StartTls(2),
            Init(sent[2].node_id, sent[2].decision_algorithm, 8000, sent[2].tie_breaker,
                 RingId(1, 5), 3),
        ]  # fmt: skip
        assert StartTlsOutput("Qnetd Server") in node.outputs
        assert record.tls_started and node.client.using_tls
        # the server asked for a certificate (client certs required by default): one was sent
        assert node.client.tls_client_cert_sent
    else:
        assert [type(m) for m in sent[:2]] == [Preinit, Init]
        assert not record.tls_started and not node.client.using_tls


def _notices(events: list[object]) -> list[str]:
    return [e.message for e in events if isinstance(e, LogRecord) and e.level is LogLevel.NOTICE]


def test_a_certificate_for_another_cluster_is_explained_once() -> None:
    """qnetd closes the connection after INIT without a word when the client certificate is
    not issued to the cluster name; the node says so at NOTICE, with both names, once."""
    world = World(QnetdServer(ServerConfig(tls_supported=REQ, tls_available=True)))
    world.server_cert = PeerCertificate(common_names=("othercluster",))
    node = world.add(1, tls=REQ)
    world.start(1, RingId(1, 5), (1,))
    world.run_for(30.0)  # several attempts
    assert node.client.state != ClientState.CONNECTED
    assert node.client.counters["disconnect_server_closed_connection"] >= 2
    notices = _notices(node.events)
    assert notices == [
        "qnetd qnetd.example:5403 closed the connection after INIT: this node sent cluster "
        "name 'pycluster' and a client certificate issued to 'othercluster' "
        "(/etc/corosync/qdevice/net/cluster.crt); qnetd accepts only a certificate issued to "
        "the cluster name (pycorosync-qnetd-certutil --setup -n pycluster makes one)"
    ]
    # the right certificate connects, and nothing more is said of the wrong one
    world.server_cert = PeerCertificate(common_names=(CLUSTER,))
    world.run_until(lambda: node.client.state == ClientState.CONNECTED, timeout=60)
    assert sum("closed the connection after INIT" in n for n in _notices(node.events)) == 1
