"""The corosync.conf of a simulated cluster.

A scenario's ``nodes N key=value...`` becomes a real corosync.conf text (udpu,
nodes 1..N on documentation-range addresses) that goes through the project's
own parser and checks (:func:`totem.config.parse_text`). So a simulated node
runs with exactly the effective timers a daemon would run with for that file
(``nodes 3`` gives token 3650 / consensus 4380 ms, as a real 3-node corosync),
and a scenario option corosync would refuse is refused the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

from totem.config import CorosyncConfig, parse_text

__all__ = [
    "CLUSTER_NAME",
    "QNETD_ADDRESS",
    "SIM_KEY",
    "cluster_config",
    "conf_text",
    "node_address",
]

CLUSTER_NAME = "pycorosync-sim"


SIM_KEY = "pycorosync-sim-" + "0123456789abcdef" * 8
"""The inline ``totem.key`` of simulated clusters with crypto on (not a secret)."""


QNETD_ADDRESS = "10.255.255.254"
"""Where the nodes' ``quorum.device.net.host`` points: the simulated qnetd host."""


def node_address(node_id: int, ring: int = 0) -> str:
    """A stable, never-routed IPv4 address for node ``node_id`` on ``ring`` (10.ring.x.y)."""
    index = node_id - 1
    return f"10.{ring}.{index // 250}.{index % 250 + 1}"


def conf_text(
    count: int,
    totem: Mapping[str, int] | None = None,
    quorum: Mapping[str, str] | None = None,
    *,
    rings: int = 1,
    crypto: bool = False,
    device: Mapping[str, str] | None = None,
    device_net: Mapping[str, str] | None = None,
    transport: str = "udpu",
) -> str:
    """corosync.conf text for nodes 1..``count`` (udpu with two rings: passive RRP; knet:
    ``rings`` links; crypto: aes256+sha256).

    ``device``/``device_net``: a ``quorum.device`` section (model net, TLS off, host
    :data:`QNETD_ADDRESS`) with these keys of ``device`` and of its ``net`` block.
    """
    cipher, hash_ = ("aes256", "sha256") if crypto else ("none", "none")
    lines = [
        "totem {",
        "    version: 2",
        f"    cluster_name: {CLUSTER_NAME}",
        f"    transport: {transport}",
        f"    crypto_cipher: {cipher}",
        f"    crypto_hash: {hash_}",
    ]
    if crypto:
        lines.append(f"    key: {SIM_KEY}")
    if rings > 1 and transport == "udpu":
        lines.append("    rrp_mode: passive")
    lines += [f"    {key}: {value}" for key, value in (totem or {}).items()]
    lines += ["}", "nodelist {"]
    for node_id in range(1, count + 1):
        lines += [
            "    node {",
            f"        nodeid: {node_id}",
            f"        name: n{node_id}",
            *(f"        ring{ring}_addr: {node_address(node_id, ring)}" for ring in range(rings)),
            "    }",
        ]
    lines += ["}", "quorum {", "    provider: corosync_votequorum"]
    lines += [f"    {key}: {value}" for key, value in (quorum or {}).items()]
    if device is not None or device_net is not None:
        lines += ["    device {", "        model: net"]
        lines += [f"        {key}: {value}" for key, value in (device or {}).items()]
        lines += ["        net {", f"            host: {QNETD_ADDRESS}", "            tls: off"]
        lines += [f"            {key}: {value}" for key, value in (device_net or {}).items()]
        lines += ["        }", "    }"]
    lines += ["}", "logging {", "    to_stderr: yes", "}"]
    return "\n".join(lines) + "\n"


def cluster_config(
    count: int,
    totem: Mapping[str, int] | None = None,
    quorum: Mapping[str, str] | None = None,
    *,
    rings: int = 1,
    crypto: bool = False,
    device: Mapping[str, str] | None = None,
    device_net: Mapping[str, str] | None = None,
    transport: str = "udpu",
) -> CorosyncConfig:
    """The parsed configuration (raises ``ConfigError`` as corosync would refuse it)."""
    text = conf_text(
        count,
        totem,
        quorum,
        rings=rings,
        crypto=crypto,
        device=device,
        device_net=device_net,
        transport=transport,
    )
    return parse_text(text, f"<nodes {count}>")
