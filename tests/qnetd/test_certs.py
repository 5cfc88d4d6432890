"""The certificate helper and its CLI."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from qnetd.certnames import certificate_file_names, verify_cert_name
from qnetd.certs import CertDir, CertError
from qnetd.certutil import main as certutil_main
from qnetd.tls import client_context, server_context


def load(path: str) -> x509.Certificate:
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_init_creates_ca_and_server_certificate(tmp_path: object) -> None:
    certs = CertDir(os.path.join(str(tmp_path), "qnetd"))
    certs.init()
    ca = load(certs.ca_cert_file)
    server = load(certs.server_cert_file)
    assert cn(ca) == "QNet CA" and ca.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cn(server) == "Qnetd Server" and server.issuer == ca.subject
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["Qnetd Server"]
    assert mode(certs.ca_key_file) == 0o600 and mode(certs.server_key_file) == 0o600
    assert server.serial_number != ca.serial_number
    with pytest.raises(CertError, match="already exists"):
        certs.init()
    # the files load as TLS contexts
    server_context(certs.server_cert_file, certs.server_key_file, certs.ca_cert_file, True)
    client_context(certs.ca_cert_file)


def test_cluster_certificate_generated_here(tmp_path: object) -> None:
    certs = CertDir(os.path.join(str(tmp_path), "qnetd"))
    with pytest.raises(CertError, match="Use -i"):
        certs.create_cluster("c1")
    certs.init()
    files = certs.create_cluster("c1")
    cert = load(files.cert_file)
    assert cn(cert) == "c1"
    cert.verify_directly_issued_by(load(certs.ca_cert_file))
    assert mode(files.key_file) == 0o600 and mode(files.p12_file) == 0o600
    with open(files.p12_file, "rb") as f:
        p12 = pkcs12.load_pkcs12(f.read(), None)
    assert p12.cert is not None and p12.cert.friendly_name == b"Cluster Cert"
    client_context(files.ca_file, files.cert_file, files.key_file)
    with pytest.raises(CertError):
        certs.create_cluster("../x")
    # what a node reads back to explain a refusal (the names qnetd compares)
    names = certificate_file_names(files.cert_file)
    assert (names.common_names, names.dns_names) == (("c1",), ())
    assert verify_cert_name(names, "c1") and not verify_cert_name(names, "c2")


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_sign_request(tmp_path: object, encoding: serialization.Encoding) -> None:
    certs = CertDir(os.path.join(str(tmp_path), "qnetd"))
    certs.init()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mycluster")]))
        .sign(key, hashes.SHA256())
    )
    path = certs.sign_request(csr.public_bytes(encoding), "mycluster")
    assert os.path.basename(path) == "cluster-mycluster.crt"
    cert = load(path)
    assert cn(cert) == "mycluster"
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    with pytest.raises(CertError):
        certs.sign_request(b"not a request", "x")


def test_certutil_cli(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    d = os.path.join(str(tmp_path), "qnetd")
    assert certutil_main(["--setup", "-n", "clu", "-d", d]) == 0
    out = capsys.readouterr().out
    assert "Creating new CA" in out and "clusters/clu" in out
    assert certutil_main(["-i", "-d", d]) == 1
    assert "already exists" in capsys.readouterr().err
    assert certutil_main(["--setup", "-n", "clu2", "-d", d, "-o", os.path.join(d, "out")]) == 0
    assert "Creating new CA" not in capsys.readouterr().out
    assert os.path.exists(os.path.join(d, "out", "cluster.crt"))
    assert certutil_main(["-s", "-n", "x", "-d", d]) == 1
    assert certutil_main(["-s", "-c", os.path.join(d, "missing"), "-n", "x", "-d", d]) == 1
    assert certutil_main(["--client", "-d", d]) == 1
    # --cert-dir is the long name of -d, as pycorosync-qnetd --cert-dir
    assert certutil_main(["--client", "-n", "clu3", "--cert-dir", d]) == 0
    assert os.path.exists(os.path.join(d, "clusters", "clu3", "cluster.key"))
