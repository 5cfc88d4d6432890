"""Client-certificate name check of qnetd (``CERT_VerifyCertName``, ref section 6).

With client certificates required, qnetd accepts a TLS client only if its certificate is
issued for the cluster name sent in PREINIT. NSS checks the subjectAltName DNS names when the
certificate has any, otherwise the subject common names; comparison is case-insensitive and a
leading ``*.`` label matches exactly one label. The TLS layer (the driver) extracts the names;
the check itself is pure so the sans-IO server can apply it.

The qdevice client applies the same rule to its own certificate (:func:`certificate_file_names`)
to explain why qnetd dropped it: qnetd says nothing on the wire, it closes the connection
after INIT.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PeerCertificate",
    "certificate_file_names",
    "describe",
    "peer_certificate_from_ssl",
    "verify_cert_name",
]


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """Names of a verified client certificate."""

    common_names: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    subject: str = ""


def peer_certificate_from_ssl(cert: Mapping[str, Any] | None) -> PeerCertificate | None:
    """Build from ``SSLObject.getpeercert()`` (None or ``{}`` = no verified certificate)."""
    if not cert:
        return None
    cns: list[str] = []
    parts: list[str] = []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            parts.append(f"{key}={value}")
            if key == "commonName":
                cns.append(str(value))
    dns = [str(v) for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
    return PeerCertificate(tuple(cns), tuple(dns), ",".join(parts))


def _match(pattern: str, name: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    name = name.lower().rstrip(".")
    if pattern == name:
        return True
    if pattern.startswith("*.") and "." in name:
        return name.split(".", 1)[1] == pattern[2:] and name.split(".", 1)[0] != ""
    return False


def verify_cert_name(cert: PeerCertificate, name: str) -> bool:
    """True if ``cert`` is issued for ``name`` (SAN DNS names first, else common names)."""
    candidates = cert.dns_names or cert.common_names
    return any(_match(c, name) for c in candidates)


def certificate_file_names(path: str) -> PeerCertificate:
    """The names of the PEM certificate in ``path`` (OSError/ValueError if unreadable)."""
    from cryptography import x509  # only a node with a client certificate needs it

    with open(path, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    common_names = tuple(
        str(attribute.value)
        for attribute in cert.subject.get_attributes_for_oid(x509.OID_COMMON_NAME)
    )
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        dns_names: tuple[str, ...] = ()
    else:
        dns_names = tuple(extension.value.get_values_for_type(x509.DNSName))
    return PeerCertificate(common_names, dns_names, cert.subject.rfc4514_string())


def describe(cert: PeerCertificate) -> str:
    """The names qnetd compares, for a message: ``'a', 'b'`` (SAN DNS names, else CNs)."""
    names = cert.dns_names or cert.common_names
    return ", ".join(repr(name) for name in names) if names else "no name"
