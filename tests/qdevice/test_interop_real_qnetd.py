"""Our node daemons and their qdevice client against the REAL corosync-qnetd 3.0.3 (root).

Network and mount namespaces of the interop harness (:class:`tests.interop.harness.Cluster`):
slots 1 and 2 run ``pycorosync`` (this source tree), the extra slot 3 runs ``corosync-qnetd``.
Each slot has its own ``/etc/corosync``, so the client reads its PEM files from the default
``/etc/corosync/qdevice/net`` and ``corosync-qnetd-certutil`` builds the real NSS database in
slot 3's ``/etc/corosync/qnetd/nssdb``, as ``ref/real-corosync.md`` section 7 does; our client's
certificate request is signed there with ``corosync-qnetd-certutil -s``.
"""

from __future__ import annotations

import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.interop.corosync_conf import QDeviceConf
from tests.interop.harness import NODE_CONF, Cluster, environment_problem
from tests.interop.procs import Spawned
from totem.node.client import ControlClient, NodeUnavailable, RequestFailed

from .entrypoints import REPO, write_dist_info

_PROBLEM = environment_problem() or (
    "corosync-qnetd is not installed" if shutil.which("corosync-qnetd") is None else None
)
pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(_PROBLEM is not None, reason=f"real-corosync interop: {_PROBLEM}"),
]

CLUSTER = "realcluster"


def spawn_ours(c: Cluster, i: int, dist: Path) -> Spawned:
    env = {"PYTHONPATH": f"{dist}:{REPO}"}
    argv = [sys.executable, "-m", "totem.node.daemon", "-f", "-c", NODE_CONF, "--nodeid", str(i)]
    return c.spawn(i, "pycorosync", argv, env=env)


def call(c: Cluster, i: int, op: str, **args: Any) -> Any:
    with ControlClient(str(c.node_dir(i) / "run" / "pycorosync"), timeout=5) as client:
        return client.call(op, **args)


def wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (NodeUnavailable, RequestFailed, KeyError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"not reached within {timeout}s: {what}")


def votes(c: Cluster, i: int) -> int:
    total: int = call(c, i, "quorum.status")["total_votes"]
    return total


def qnetd_tool(c: Cluster, *args: str) -> str:
    return c.exec(3, ["corosync-qnetd-tool", *args]).stdout


def real_qnetd_pki(c: Cluster) -> None:
    """NSS database of the real qnetd, and our client's PEM files signed by its CA."""
    c.exec(3, ["corosync-qnetd-certutil", "-i"], timeout=60, check=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CLUSTER)]))
        .sign(key, hashes.SHA256())
    )
    etc3 = c.node_dir(3) / "etc"
    # certutil -C reads a DER request (the script's exit status does not show its failures)
    (etc3 / "pycorosync-node.crq").write_bytes(csr.public_bytes(serialization.Encoding.DER))
    c.exec(
        3,
        ["corosync-qnetd-certutil", "-s", "-c", "/etc/corosync/pycorosync-node.crq",
         "-n", CLUSTER],
        timeout=60,
        check=True,
    )  # fmt: skip
    signed = (etc3 / "qnetd" / "nssdb" / f"cluster-{CLUSTER}.crt").read_bytes()
    assert signed, "corosync-qnetd-certutil -s wrote no certificate"
    cert = (
        x509.load_pem_x509_certificate(signed)
        if signed.lstrip().startswith(b"-----")
        else x509.load_der_x509_certificate(signed)
    )
    exported = (etc3 / "qnetd" / "nssdb" / "qnetd-cacert.crt").read_text()
    ca_pem = exported[exported.index("-----BEGIN CERTIFICATE-----") :]
    for i in (1, 2):
        directory = c.node_dir(i) / "etc" / "qdevice" / "net"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "ca.crt").write_text(ca_pem)
        (directory / "cluster.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / "cluster.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        (directory / "cluster.key").chmod(0o600)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("tls", ["off", "required"])
def test_our_nodes_vote_through_the_real_qnetd(tmp_path: Path, tls: str) -> None:
    dist = write_dist_info(tmp_path / "dist")
    conf = QDeviceConf(tls=tls)
    with Cluster(2, skip={1, 2}, extra=1, qdevice=conf, keep_logs=tmp_path / "logs") as c:
        if tls == "off":
            c.spawn(3, "qnetd", ["corosync-qnetd", "-f", "-d", "-s", "off"])
        else:
            real_qnetd_pki(c)
            c.spawn(3, "qnetd", ["corosync-qnetd", "-f", "-d", "-s", "req"])
        time.sleep(1.0)
        ours = {i: spawn_ours(c, i, dist) for i in (1, 2)}
        wait(lambda: all(votes(c, i) == 3 for i in (1, 2)), 60, "3 votes on both nodes")
        listing = qnetd_tool(c, "-l", "-v")
        assert f'Cluster "{CLUSTER}":\n' in listing
        assert "    Algorithm:\t\tFifty-Fifty split (KAP Tie-breaker)\n" in listing
        assert listing.count("Vote:\t\t\t") == 2 and "(ACK)" in listing
        assert listing.count("Membership node list:\t1, 2\n") == 2
        if tls == "required":
            assert listing.count("TLS active:\t\tYes (client certificate verified)\n") == 2
        else:
            assert listing.count("TLS active:\t\tNo\n") == 2
        # the poll timer stops for a moment whenever a new vote is awaited (a loaded
        # machine can show that moment): wait for the steady state, then read it
        casting = "Poll timer running:\tYes (cast vote)\n"
        wait(
            lambda: casting in call(c, 1, "qdevice.status", verbose=True)["text"],
            30,
            "node 1's poll timer casting the device vote",
        )
        status = call(c, 1, "qdevice.status", verbose=True)["text"]
        assert "State:\t\t\tConnected\n" in status
        assert casting in status
        text = call(c, 1, "quorum.render", what="status")
        assert "Flags:            Quorate Qdevice \n" in text
        assert "         0          1            Qdevice\n" in text
        # our node 1 dies: the real qnetd gives node 2 the vote, it stays quorate with 2 of 3
        c.stop(ours[1], signal.SIGKILL)
        wait(
            lambda: "Node ID 1" not in qnetd_tool(c, "-l"),
            60,
            "the real qnetd dropped node 1",
        )

        def survivor_alone() -> bool:
            status = call(c, 2, "quorum.status")
            alone = [m["node_id"] for m in status["members"]] == [2]
            return alone and status["total_votes"] == 2

        wait(survivor_alone, 60, "node 2 alone with the device vote")
        assert call(c, 2, "quorum.status")["quorate"] is True
