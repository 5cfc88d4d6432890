"""Certificates for qnetd TLS as PEM files (``corosync-qnetd-certutil``, ref section 6).

The same PKI as the NSS scripts of corosync-qdevice, made with ``cryptography``:

- a self-signed CA ``CN=QNet CA`` (nickname "QNet CA" in NSS);
- the server certificate ``CN=Qnetd Server`` signed by it (what a qdevice expects);
- one certificate per cluster, ``CN=<cluster name>``, signed by the CA, either from a
  certificate request made on a node (``-s``, as ``certutil -C``) or generated here with its key.

Layout of the certificate directory (default ``/etc/pycorosync/qnetd``; keys mode 0600)::

    ca.crt              CA certificate -- copy to every cluster node (= qnetd-cacert.crt)
    ca.key              CA private key
    server.crt          server certificate, CN "Qnetd Server"
    server.key          server private key
    serial.txt          next certificate serial number
    cluster-NAME.crt    cluster certificate signed from a request (-s)
    clusters/NAME/      cluster certificate generated here (--client):
        cluster.crt, cluster.key, cluster.p12 (PKCS#12, empty password, for ``pk12util -i``
        into a node's NSS database), ca.crt

``pycorosync-qnetd`` reads ``server.crt``, ``server.key`` and ``ca.crt`` (to verify client
certificates). Validity is 1200 months as in the shell scripts.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from qnetd.tls import QNETD_SERVER_NAME

__all__ = [
    "CA_COMMON_NAME",
    "VALIDITY_DAYS",
    "CertDir",
    "CertError",
    "ClusterCert",
    "create_ca",
    "create_cluster_cert",
    "create_server_cert",
    "load_csr",
    "sign_csr",
]

CA_COMMON_NAME = "QNet CA"
VALIDITY_DAYS = 36500
"""CRT_VALIDITY=1200 months of the certutil scripts, rounded to 100 years."""

PrivateKey = rsa.RSAPrivateKey


class CertError(Exception):
    """A certificate operation could not be done (missing CA, existing files, bad request)."""


def _new_key() -> PrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(days: int) -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    return now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)


def create_ca(
    common_name: str = CA_COMMON_NAME, days: int = VALIDITY_DAYS, serial: int = 100
) -> tuple[x509.Certificate, PrivateKey]:
    """A self-signed CA certificate and its key."""
    key = _new_key()
    name = _name(common_name)
    start, end = _validity(days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _issue(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    subject: x509.Name,
    public_key: rsa.RSAPublicKey,
    serial: int,
    days: int,
    server: bool,
    dns_names: tuple[str, ...] = (),
) -> x509.Certificate:
    start, end = _validity(days)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256())


def create_server_cert(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    serial: int,
    common_name: str = QNETD_SERVER_NAME,
    days: int = VALIDITY_DAYS,
) -> tuple[x509.Certificate, PrivateKey]:
    """The qnetd server certificate (``CN=Qnetd Server``, also as subjectAltName)."""
    key = _new_key()
    cert = _issue(
        ca_cert,
        ca_key,
        _name(common_name),
        key.public_key(),
        serial,
        days,
        server=True,
        dns_names=(common_name,),
    )
    return cert, key


def create_cluster_cert(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    cluster_name: str,
    serial: int,
    days: int = VALIDITY_DAYS,
) -> tuple[x509.Certificate, PrivateKey]:
    """A client certificate for the nodes of ``cluster_name`` (``CN=<cluster name>``)."""
    key = _new_key()
    cert = _issue(
        ca_cert, ca_key, _name(cluster_name), key.public_key(), serial, days, server=False
    )
    return cert, key


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    """A certificate request in PEM or DER (``certutil -R`` writes DER)."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_csr(data)
        return x509.load_der_x509_csr(data)
    except ValueError as exc:
        raise CertError(f"Can't parse certificate request: {exc}") from exc


def sign_csr(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    csr: x509.CertificateSigningRequest,
    serial: int,
    days: int = VALIDITY_DAYS,
) -> x509.Certificate:
    """``certutil -C``: a client certificate with the request's subject and key."""
    if not csr.is_signature_valid:
        raise CertError("Certificate request signature is invalid")
    public_key = csr.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise CertError("Only RSA certificate requests are supported")
    return _issue(ca_cert, ca_key, csr.subject, public_key, serial, days, server=False)


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class ClusterCert:
    """Files of a cluster certificate generated by :meth:`CertDir.create_cluster`."""

    directory: str
    cert_file: str
    key_file: str
    p12_file: str
    ca_file: str


class CertDir:
    """The certificate directory of a qnetd (layout in the module docstring)."""

    def __init__(self, path: str, group_write: bool = False) -> None:
        self.path = path
        self.file_mode = 0o660 if group_write else 0o640
        self.dir_mode = 0o770 if group_write else 0o750

    @property
    def ca_cert_file(self) -> str:
        return os.path.join(self.path, "ca.crt")

    @property
    def ca_key_file(self) -> str:
        return os.path.join(self.path, "ca.key")

    @property
    def server_cert_file(self) -> str:
        return os.path.join(self.path, "server.crt")

    @property
    def server_key_file(self) -> str:
        return os.path.join(self.path, "server.key")

    @property
    def serial_file(self) -> str:
        return os.path.join(self.path, "serial.txt")

    def exists(self) -> bool:
        return os.path.exists(self.ca_cert_file) and os.path.exists(self.ca_key_file)

    def _next_serial(self) -> int:
        try:
            with open(self.serial_file) as f:
                serial = int(f.read().strip() or "100")
        except FileNotFoundError:
            serial = 100
        _write(self.serial_file, f"{serial + 1}\n".encode(), self.file_mode)
        return serial

    def _load_ca(self) -> tuple[x509.Certificate, PrivateKey]:
        if not self.exists():
            raise CertError(
                f"Certificate database ({self.path}) doesn't exist. Use -i to create it"
            )
        with open(self.ca_cert_file, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        with open(self.ca_key_file, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise CertError("CA key is not an RSA key")
        return cert, key

    def init(self) -> None:
        """``-i``: create the CA and the server certificate (refuses to overwrite)."""
        if os.path.exists(self.ca_cert_file) or os.path.exists(self.server_cert_file):
            raise CertError(
                f"Certificate database ({self.path}) already exists. Delete it to initialize new db"
            )
        os.makedirs(self.path, mode=self.dir_mode, exist_ok=True)
        ca_cert, ca_key = create_ca(serial=self._next_serial())
        _write(self.ca_key_file, _pem_key(ca_key), 0o600)
        _write(self.ca_cert_file, _pem_cert(ca_cert), self.file_mode)
        server_cert, server_key = create_server_cert(ca_cert, ca_key, self._next_serial())
        _write(self.server_key_file, _pem_key(server_key), 0o600)
        _write(self.server_cert_file, _pem_cert(server_cert), self.file_mode)

    def sign_request(self, csr_data: bytes, cluster_name: str) -> str:
        """``-s -c REQ -n NAME``: sign a node's request into ``cluster-NAME.crt``."""
        ca_cert, ca_key = self._load_ca()
        csr = load_csr(csr_data)
        cert = sign_csr(ca_cert, ca_key, csr, self._next_serial())
        path = os.path.join(self.path, f"cluster-{cluster_name}.crt")
        _write(path, _pem_cert(cert), self.file_mode)
        return path

    def create_cluster(self, cluster_name: str, out_dir: str | None = None) -> ClusterCert:
        """Generate key + certificate for a cluster (no request needed), with PKCS#12."""
        if not cluster_name or "/" in cluster_name or cluster_name in (".", ".."):
            raise CertError(f"Invalid cluster name {cluster_name!r}")
        ca_cert, ca_key = self._load_ca()
        cert, key = create_cluster_cert(ca_cert, ca_key, cluster_name, self._next_serial())
        directory = out_dir or os.path.join(self.path, "clusters", cluster_name)
        os.makedirs(directory, mode=self.dir_mode, exist_ok=True)
        files = ClusterCert(
            directory,
            os.path.join(directory, "cluster.crt"),
            os.path.join(directory, "cluster.key"),
            os.path.join(directory, "cluster.p12"),
            os.path.join(directory, "ca.crt"),
        )
        _write(files.key_file, _pem_key(key), 0o600)
        _write(files.cert_file, _pem_cert(cert), self.file_mode)
        _write(files.ca_file, _pem_cert(ca_cert), self.file_mode)
        p12 = pkcs12.serialize_key_and_certificates(
            b"Cluster Cert", key, cert, [ca_cert], serialization.NoEncryption()
        )
        _write(files.p12_file, p12, 0o600)
        return files
