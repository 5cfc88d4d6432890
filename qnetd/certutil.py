"""``pycorosync-qnetd-certutil``: the qnetd PKI in one command (``corosync-qnetd-certutil``).

::

    pycorosync-qnetd-certutil -i [--cert-dir DIR] [-G]                 # CA + server certificate
    pycorosync-qnetd-certutil -s -c REQUEST -n CLUSTER [--cert-dir DIR] # sign a node's request
    pycorosync-qnetd-certutil --client -n CLUSTER [-o OUT] [--cert-dir DIR]
    pycorosync-qnetd-certutil --setup -n CLUSTER [-o OUT] [--cert-dir DIR]

``-i``/``-s``/``-c``/``-n``/``-G`` are those of corosync-qnetd-certutil; ``--cert-dir`` (or
``-d``) is the certificate directory, the one ``pycorosync-qnetd --cert-dir`` reads (default
``/etc/pycorosync/qnetd``, layout in :mod:`qnetd.certs`).
``--client`` generates the key and certificate of a cluster here (PEM + PKCS#12) instead of
signing a request made on a node; ``--setup`` does ``-i`` when needed and then ``--client``,
which is what ``pvecm qdevice setup`` achieves with the NSS scripts: afterwards
``pycorosync-qnetd --cert-dir DIR`` serves TLS with client certificates, and the files to copy
to the nodes are printed (a node reads them with ``pycorosync --qdevice-cert-dir``).

``--setup --nss -n CLUSTER -o OUT`` does the same for the **real** corosync-qnetd, on its
host: its NSS database (``corosync-qnetd-certutil -i`` when it has none yet), a key and a
DER request for the cluster made here, signed by ``corosync-qnetd-certutil -s``, and the
three PEM files the nodes read (``ca.crt`` from ``qnetd-cacert.crt``, ``cluster.crt``,
``cluster.key``) written to OUT, as ``pvecm qdevice setup`` does over SSH with the NSS
scripts.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

from qnetd.certs import CertDir, CertError
from qnetd.server.daemon import DEFAULT_CERT_DIR

__all__ = ["main"]

PROGRAM = "pycorosync-qnetd-certutil"
NSSDB = "/etc/corosync/qnetd/nssdb"
NSS_TOOL = "corosync-qnetd-certutil"


def nss_cluster_files(cluster: str, out: str, nssdb: str = NSSDB, tool: str = NSS_TOOL) -> None:
    """The cluster's PEM files signed by a real corosync-qnetd's CA (see the module doc)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    ca_export = os.path.join(nssdb, "qnetd-cacert.crt")
    if not os.path.exists(ca_export):
        subprocess.run([tool, "-i"], check=False, timeout=120)
    try:
        with open(ca_export, encoding="ascii", errors="replace") as handle:
            exported = handle.read()
    except OSError as err:
        raise CertError(f"{ca_export}: {err.strerror} (is corosync-qnetd installed?)") from None
    start = exported.find("-----BEGIN CERTIFICATE-----")
    if start < 0:
        raise CertError(f"{ca_export} holds no PEM certificate")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cluster)]))
        .sign(key, hashes.SHA256())
    )
    signed_path = os.path.join(nssdb, f"cluster-{cluster}.crt")
    with tempfile.TemporaryDirectory() as tmp:
        request_path = os.path.join(tmp, "qdevice-net-node.crq")
        with open(request_path, "wb") as handle:
            handle.write(request.public_bytes(serialization.Encoding.DER))
        done = subprocess.run(
            [tool, "-s", "-c", request_path, "-n", cluster],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    try:
        with open(signed_path, "rb") as handle:
            signed = handle.read()
        if not signed:
            raise OSError(0, "empty")
    except OSError:
        # the script's exit status does not show certutil's failures: its output does
        raise CertError(f"{tool} -s did not sign the request: {done.stdout}{done.stderr}") from None
    cert = (
        x509.load_pem_x509_certificate(signed)
        if signed.lstrip().startswith(b"-----")
        else x509.load_der_x509_certificate(signed)
    )
    os.makedirs(out, mode=0o750, exist_ok=True)
    for name, data, mode in (
        ("ca.crt", exported[start:].encode(), 0o644),
        ("cluster.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644),
        (
            "cluster.key",
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            0o600,
        ),
    ):
        path = os.path.join(out, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(path, mode)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROGRAM, description="Create the qnetd TLS certificates.")
    op = p.add_mutually_exclusive_group(required=True)
    op.add_argument("-i", dest="init", action="store_true", help="create CA and server cert")
    op.add_argument("-s", dest="sign", action="store_true", help="sign a cluster request")
    op.add_argument("--client", action="store_true", help="generate a cluster key + cert")
    op.add_argument("--setup", action="store_true", help="-i if needed, then --client")
    p.add_argument("-c", dest="request", help="certificate request file (PEM or DER)")
    p.add_argument("-n", dest="cluster", help="cluster name")
    p.add_argument(
        "--cert-dir",
        "-d",
        dest="directory",
        default=DEFAULT_CERT_DIR,
        metavar="DIR",
        help=f"certificate directory, as pycorosync-qnetd --cert-dir (default {DEFAULT_CERT_DIR})",
    )
    p.add_argument("-o", dest="out", metavar="DIR", help="output directory of --client/--setup")
    p.add_argument(
        "--nss",
        action="store_true",
        help="--setup with the real corosync-qnetd's NSS database (corosync-qnetd-certutil)",
    )
    p.add_argument(
        "--nssdb",
        default=NSSDB,
        help=f"the real qnetd's NSS database directory (default {NSSDB})",
    )
    p.add_argument(
        "-G",
        dest="no_group_write",
        action="store_true",
        help="do not set the group write bit on new files",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    certs = CertDir(args.directory, group_write=not args.no_group_write)
    if args.nss:
        if not args.setup or not args.cluster or not args.out:
            sys.stderr.write("--nss goes with --setup -n CLUSTER -o OUT\n")
            return 1
        try:
            nss_cluster_files(args.cluster, args.out, args.nssdb)
        except CertError as exc:
            sys.stderr.write(f"{exc}\n")
            return 1
        print(f"Cluster certificate for {args.cluster!r} signed by {args.nssdb}; in {args.out}:")
        print("  ca.crt\n  cluster.crt\n  cluster.key")
        return 0
    try:
        if args.init or (args.setup and not certs.exists()):
            print("Creating new CA")
            certs.init()
            print(f"QNetd CA certificate is exported as {certs.ca_cert_file}")
            print(f"Server certificate stored in {certs.server_cert_file}")
        if args.sign:
            if not args.request:
                sys.stderr.write("You have to specify certificate request (-c)\n")
                return 1
            if not args.cluster:
                sys.stderr.write("You have to specify cluster name\n")
                return 1
            try:
                with open(args.request, "rb") as f:
                    data = f.read()
            except OSError:
                sys.stderr.write(f"Can't open certificate file {args.request}\n")
                return 1
            print("Signing cluster certificate")
            path = certs.sign_request(data, args.cluster)
            print(f"Certificate stored in {path}")
        if args.client or args.setup:
            if not args.cluster:
                sys.stderr.write("You have to specify cluster name\n")
                return 1
            files = certs.create_cluster(args.cluster, args.out)
            print(f"Cluster certificate for {args.cluster!r} stored in {files.directory}:")
            print(f"  {files.cert_file}\n  {files.key_file}\n  {files.p12_file}")
            print(f"Copy {files.ca_file}, cluster.crt and cluster.key (or cluster.p12) to every")
            print("node of the cluster.")
    except CertError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"{PROGRAM}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
