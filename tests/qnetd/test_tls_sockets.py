"""TLS end to end on 127.0.0.1: pycorosync-qnetd with certificates from our cert helper.

Also checks that those certificates satisfy NSS: the real corosync-qnetd, given an NSS database
holding our CA and server certificate, accepts a client certificate we issued.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from qnetd.certs import CertDir, ClusterCert
from qnetd.protocol import (
    EchoRequest,
    Init,
    InitReply,
    NodeInfo,
    NodeList,
    NodeListType,
    Preinit,
    PreinitReply,
    RingId,
    ServerError,
    StartTls,
    TieBreaker,
    TieBreakerMode,
    TlsSupported,
    Vote,
    VoteInfo,
    parse_message,
)
from qnetd.protocol.constants import DecisionAlgorithm
from qnetd.tls import TlsSession, client_context

from .servers import REAL_QNETD, REPO, RawClient, ServerProcess, start_ours, start_real

pytestmark = pytest.mark.sockets

LOWEST = TieBreaker(TieBreakerMode.LOWEST)
RING = RingId(1, 5)


@pytest.fixture(scope="module")
def pki() -> Iterator[tuple[CertDir, ClusterCert, ClusterCert]]:
    tmp = tempfile.mkdtemp(prefix="qnt-pki-")
    certs = CertDir(os.path.join(tmp, "qnetd"))
    certs.init()
    good = certs.create_cluster("tlscluster")
    other = certs.create_cluster("othercluster")
    try:
        yield certs, good, other
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_server(pki: tuple[CertDir, ClusterCert, ClusterCert]) -> Iterator[ServerProcess]:
    certs, _, _ = pki
    server = start_ours("-s", "req", "-c", "on", cert_dir=certs.path)
    try:
        yield server
    finally:
        server.stop()


def tls_session(client: RawClient, cluster: bytes, ctx: ssl.SSLContext) -> None:
    client.send(Preinit(cluster, 1))
    assert client.messages(1) == [PreinitReply(TlsSupported.REQUIRED, True, 1)]
    client.send(StartTls(2))
    client.start_tls(ctx)


@pytest.mark.timeout(60)
def test_full_session_over_tls_with_client_certificate(
    pki: tuple[CertDir, ClusterCert, ClusterCert], tls_server: ServerProcess
) -> None:
    certs, good, _ = pki
    ctx = client_context(certs.ca_cert_file, good.cert_file, good.key_file)
    c = RawClient(tls_server.port)
    tls_session(c, b"tlscluster", ctx)
    assert isinstance(c.sock, ssl.SSLSocket) and c.sock.version() in ("TLSv1.2", "TLSv1.3")
    c.send(Init(1, DecisionAlgorithm.FFSPLIT, 8000, LOWEST, RING, 3))
    assert c.messages(1) == [InitReply(0, 32768, 32768, 3)]
    c.send(
        NodeList(4, NodeListType.INITIAL_CONFIG, (NodeInfo(1), NodeInfo(2))),
        NodeList(5, NodeListType.MEMBERSHIP, (NodeInfo(1),), ring_id=RING),
    )
    msgs = c.messages(3)
    assert VoteInfo(1, Vote.ACK, RING) in msgs
    c.send(EchoRequest(1))
    assert c.messages(1)[0].TYPE == 9
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "qnetd.tool",
            "-l",
            "-v",
            "-p",
            tls_server.ipc_socket,
        ],
        capture_output=True,
        text=True,
        timeout=10,
        env=dict(os.environ, PYTHONPATH=REPO),
    )
    assert "TLS active:\t\tYes (client certificate verified)\n" in out.stdout
    c.close()


@pytest.mark.timeout(60)
def test_starttls_and_client_hello_in_one_segment(
    pki: tuple[CertDir, ClusterCert, ClusterCert], tls_server: ServerProcess
) -> None:
    """Bytes that follow STARTTLS in the same read are the first TLS records."""
    certs, good, _ = pki
    ctx = client_context(certs.ca_cert_file, good.cert_file, good.key_file)
    c = RawClient(tls_server.port)
    c.send(Preinit(b"tlscluster", 1))
    c.messages(1)
    tls = TlsSession(ctx, server_side=False, server_hostname="Qnetd Server")
    raw = c.sock
    raw.sendall(StartTls(2).encode() + tls.start())
    raw.settimeout(5)
    plaintext = b""
    sent_init = False
    while len(plaintext) < 6 or len(plaintext) < 6 + int.from_bytes(plaintext[2:6], "big"):
        data = raw.recv(65536)
        assert data
        out = tls.feed(data)
        if out.to_send:
            raw.sendall(out.to_send)
        plaintext += out.plaintext
        if tls.handshake_done and not sent_init:
            raw.sendall(tls.encrypt(Init(1, 1, 8000, LOWEST, RING, 3).encode()))
            sent_init = True
    assert parse_message(plaintext) == InitReply(0, 32768, 32768, 3)
    c.close()


@pytest.mark.timeout(60)
def test_tls_required_and_certificate_failures(
    pki: tuple[CertDir, ClusterCert, ClusterCert], tls_server: ServerProcess
) -> None:
    certs, good, other = pki
    # no STARTTLS: error 3, connection kept
    plain = RawClient(tls_server.port)
    plain.send(Preinit(b"tlscluster", 1))
    plain.messages(1)
    plain.send(Init(1, 1, 8000, LOWEST, RING, 2))
    assert plain.messages(1) == [ServerError(3, 2)]
    assert plain.quiet(0.2)

    # a certificate issued for another cluster: dropped at INIT
    wrong = RawClient(tls_server.port)
    tls_session(
        wrong, b"tlscluster", client_context(certs.ca_cert_file, other.cert_file, other.key_file)
    )
    wrong.send(Init(2, 1, 8000, LOWEST, RING, 3))
    assert wrong.wait_closed(5.0)

    # no certificate at all: the handshake fails
    anonymous = RawClient(tls_server.port)
    with pytest.raises((ssl.SSLError, OSError)):
        tls_session(anonymous, b"tlscluster", client_context(certs.ca_cert_file))
        anonymous.send(Init(3, 1, 8000, LOWEST, RING, 3))
        anonymous.frames(1)
        if anonymous.closed:
            raise OSError("closed")

    # a server name other than "Qnetd Server" is refused by the client
    picky = RawClient(tls_server.port)
    with pytest.raises(ssl.SSLCertVerificationError):
        picky.send(Preinit(b"tlscluster", 1))
        picky.messages(1)
        picky.send(StartTls(2))
        picky.start_tls(
            client_context(certs.ca_cert_file, good.cert_file, good.key_file), "qnetd.example"
        )

    # the first connection is unaffected
    plain.send(Preinit(b"tlscluster", 9))
    assert plain.messages(1) == [PreinitReply(TlsSupported.REQUIRED, True, 9)]
    for x in (plain, wrong, anonymous, picky):
        x.close()


def _nss_db(certs: CertDir, directory: str) -> None:
    """An NSS database with our CA (trusted) and server certificate as "QNetd Cert"."""
    os.makedirs(directory)
    subprocess.run(["certutil", "-N", "-d", directory, "--empty-password"], check=True)
    subprocess.run(
        [
            "certutil",
            "-A",
            "-d",
            directory,
            "-n",
            "QNet CA",
            "-t",
            "CT,,",
            "-i",
            certs.ca_cert_file,
        ],
        check=True,
    )
    with open(certs.server_cert_file, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(certs.server_key_file, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    p12 = pkcs12.serialize_key_and_certificates(
        b"QNetd Cert",
        key,
        cert,
        None,
        serialization.NoEncryption(),  # type: ignore[arg-type]
    )
    p12_path = os.path.join(directory, "server.p12")
    with open(p12_path, "wb") as f:
        f.write(p12)
    subprocess.run(["pk12util", "-i", p12_path, "-d", directory, "-W", ""], check=True)


@pytest.mark.timeout(90)
@pytest.mark.skipif(
    REAL_QNETD is None or shutil.which("certutil") is None or shutil.which("pk12util") is None,
    reason="corosync-qnetd or NSS tools not installed",
)
def test_our_certificates_work_with_the_real_nss_server(
    pki: tuple[CertDir, ClusterCert, ClusterCert],
) -> None:
    certs, good, other = pki
    tmp = tempfile.mkdtemp(prefix="qnt-nss-")
    try:
        nssdb = os.path.join(tmp, "nssdb")
        _nss_db(certs, nssdb)
        real = start_real("-s", "req", "-c", "on", settings=f"nss_db_dir={nssdb}")
        try:
            ctx = client_context(certs.ca_cert_file, good.cert_file, good.key_file)
            c = RawClient(real.port)
            tls_session(c, b"tlscluster", ctx)
            c.send(Init(1, DecisionAlgorithm.FFSPLIT, 8000, LOWEST, RING, 3))
            assert c.messages(1) == [InitReply(0, 32768, 32768, 3)]
            c.close()
            wrong = RawClient(real.port)
            tls_session(
                wrong,
                b"tlscluster",
                client_context(certs.ca_cert_file, other.cert_file, other.key_file),
            )
            wrong.send(Init(2, DecisionAlgorithm.FFSPLIT, 8000, LOWEST, RING, 3))
            assert wrong.wait_closed(5.0)
            wrong.close()
        finally:
            real.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
