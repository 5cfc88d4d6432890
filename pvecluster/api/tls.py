"""The node's self-signed API certificate and its fingerprint (ref cluster-manager.md 5.2).

The fingerprint is the SHA-256 of the certificate's DER, as ``AA:BB:...`` in upper case
(pve-common's ``fingerprint-sha256`` format: 32 octets).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = [
    "FINGERPRINT_RE",
    "ensure_certificate",
    "fingerprint_of_der",
    "fingerprint_of_pem_file",
]

FINGERPRINT_RE = re.compile(r"^([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}$")


def fingerprint_of_der(der: bytes) -> str:
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def fingerprint_of_pem_file(path: str) -> str:
    with open(path, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    return fingerprint_of_der(cert.public_bytes(serialization.Encoding.DER))


def ensure_certificate(cert_path: str, key_path: str, name: str, ip: str) -> bool:
    """Create the node's certificate and key if missing; True when created."""
    if os.path.exists(cert_path) and os.path.exists(key_path):
        return False
    os.makedirs(os.path.dirname(cert_path), exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pycorosync cluster node"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(name)]
    try:
        alt_names.append(x509.IPAddress(ipaddress.ip_address(ip)))
    except ValueError:
        pass
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2 * 365))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .sign(key, hashes.SHA256())
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with open(cert_path, "wb") as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))
    return True
