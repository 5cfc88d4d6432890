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

__all__ = ["CLUSTER_NAME", "cluster_config", "conf_text", "node_address"]

CLUSTER_NAME = "pycorosync-sim"


def node_address(node_id: int) -> str:
    """A stable, never-routed IPv4 address for node ``node_id`` (10.0.x.y)."""
    index = node_id - 1
    return f"10.0.{index // 250}.{index % 250 + 1}"


def conf_text(
    count: int,
    totem: Mapping[str, int] | None = None,
    quorum: Mapping[str, str] | None = None,
) -> str:
    """corosync.conf text for nodes 1..``count``."""
    lines = [
        "totem {",
        "    version: 2",
        f"    cluster_name: {CLUSTER_NAME}",
        "    transport: udpu",
        "    crypto_cipher: none",
        "    crypto_hash: none",
    ]
    lines += [f"    {key}: {value}" for key, value in (totem or {}).items()]
    lines += ["}", "nodelist {"]
    for node_id in range(1, count + 1):
        lines += [
            "    node {",
            f"        nodeid: {node_id}",
            f"        name: n{node_id}",
            f"        ring0_addr: {node_address(node_id)}",
            "    }",
        ]
    lines += ["}", "quorum {", "    provider: corosync_votequorum"]
    lines += [f"    {key}: {value}" for key, value in (quorum or {}).items()]
    lines += ["}", "logging {", "    to_stderr: yes", "}"]
    return "\n".join(lines) + "\n"


def cluster_config(
    count: int,
    totem: Mapping[str, int] | None = None,
    quorum: Mapping[str, str] | None = None,
) -> CorosyncConfig:
    """The parsed configuration (raises ``ConfigError`` as corosync would refuse it)."""
    return parse_text(conf_text(count, totem, quorum), f"<nodes {count}>")
