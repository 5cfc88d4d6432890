"""Client-certificate name check of qnetd (``CERT_VerifyCertName``, ref section 6).

With client certificates required, qnetd accepts a TLS client only if its certificate is
issued for the cluster name sent in PREINIT. NSS checks the subjectAltName DNS names when the
certificate has any, otherwise the subject common names; comparison is case-insensitive and a
leading ``*.`` label matches exactly one label. The TLS layer (the driver) extracts the names;
the check itself is pure so the sans-IO server can apply it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PeerCertificate", "peer_certificate_from_ssl", "verify_cert_name"]


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
