"""TLS for the qdevice-net protocol with Python ``ssl`` (ref qnetd-protocol.md section 6).

STARTTLS upgrades a plain connection in place: the client sends STARTTLS and starts its
handshake right after it, so bytes following STARTTLS in the same read are already TLS records.
:class:`TlsSession` is therefore a sans-IO pump over :class:`ssl.MemoryBIO` (ciphertext in,
plaintext out and the reverse) that a driver feeds with whatever it already read; it works the
same for both ends and under uvloop.

Names: the server certificate is issued to ``Qnetd Server`` (what a real qdevice expects,
``-S net_nss_qnetd_cn``); a client certificate must carry the cluster name (checked by the
server, see :mod:`qnetd.certnames`).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

__all__ = [
    "QNETD_SERVER_NAME",
    "TlsError",
    "TlsOutput",
    "TlsSession",
    "client_context",
    "server_context",
]

QNETD_SERVER_NAME = "Qnetd Server"


class TlsError(Exception):
    """The TLS layer failed (handshake error, bad record)."""


def server_context(
    cert_file: str, key_file: str, ca_file: str | None, require_client_cert: bool
) -> ssl.SSLContext:
    """Server context: our certificate; client certificates chained to ``ca_file`` if required.

    As with NSS (``SSL_REQUEST_CERTIFICATE``/``SSL_REQUIRE_CERTIFICATE``), a certificate is
    only requested when it is required.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    if require_client_cert:
        if ca_file is None:
            raise ValueError("client certificates required but no CA certificate given")
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(ca_file)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def client_context(
    ca_file: str, cert_file: str | None = None, key_file: str | None = None
) -> ssl.SSLContext:
    """Client context: verify the server against ``ca_file``, present our cluster certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(ca_file)
    if cert_file is not None:
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


@dataclass(frozen=True, slots=True)
class TlsOutput:
    """Result of feeding a :class:`TlsSession`."""

    plaintext: bytes = b""
    """Application data decrypted from the input."""
    to_send: bytes = b""
    """Records to write to the socket (handshake messages, alerts)."""
    handshake_completed: bool = False
    """True exactly once, on the call that completed the handshake."""
    closed: bool = False
    """The peer sent close_notify."""


class TlsSession:
    """One side of a TLS connection over memory BIOs."""

    __slots__ = ("_in", "_obj", "_out", "handshake_done")

    def __init__(
        self, context: ssl.SSLContext, server_side: bool, server_hostname: str | None = None
    ) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = context.wrap_bio(
            self._in, self._out, server_side=server_side, server_hostname=server_hostname
        )
        self.handshake_done = False

    @property
    def ssl_object(self) -> ssl.SSLObject:
        return self._obj

    def start(self) -> bytes:
        """Begin the handshake; return the first records to send (ClientHello for a client)."""
        return self.feed(b"").to_send

    def feed(self, data: bytes) -> TlsOutput:
        """Ciphertext from the socket → plaintext and records to send. Raises :class:`TlsError`."""
        if data:
            self._in.write(data)
        completed = False
        closed = False
        chunks: list[bytes] = []
        try:
            if not self.handshake_done:
                try:
                    self._obj.do_handshake()
                except ssl.SSLWantReadError:
                    return TlsOutput(to_send=self._out.read())
                self.handshake_done = completed = True
            while True:
                try:
                    chunk = self._obj.read(65536)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLZeroReturnError:
                    closed = True
                    break
                if not chunk:
                    closed = True
                    break
                chunks.append(chunk)
        except ssl.SSLError as exc:
            raise TlsError(str(exc)) from exc
        return TlsOutput(b"".join(chunks), self._out.read(), completed, closed)

    def pending_output(self) -> bytes:
        """Records waiting to be sent (e.g. an alert after a failed handshake)."""
        return self._out.read()

    def encrypt(self, plaintext: bytes) -> bytes:
        """Application data → records to send (after the handshake)."""
        try:
            self._obj.write(plaintext)
        except ssl.SSLError as exc:
            raise TlsError(str(exc)) from exc
        return self._out.read()

    def getpeercert(self) -> dict[str, object] | None:
        cert = self._obj.getpeercert()
        return dict(cert) if cert else None
