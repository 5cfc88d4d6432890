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
"""

from __future__ import annotations

import argparse
import sys

from qnetd.certs import CertDir, CertError
from qnetd.server.daemon import DEFAULT_CERT_DIR

__all__ = ["main"]

PROGRAM = "pycorosync-qnetd-certutil"


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
        "-G",
        dest="no_group_write",
        action="store_true",
        help="do not set the group write bit on new files",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    certs = CertDir(args.directory, group_write=not args.no_group_write)
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
