"""The "Join Information" string of Proxmox's GUI (ref cluster-manager.md 2.1).

Proxmox's "Join Information" dialog encodes ``{ipAddress, fingerprint, peerLinks, ring_addr,
totem}`` as JSON, then base64; the joining node's "Join Cluster" dialog decodes it and asks
for the password only. :func:`join_string` builds it from the join API's answer
(``GET /cluster/config/join``, :func:`pvecluster.pvecm.cluster.join_info_of`);
:func:`parse_join_string` reads it back, with a clear error for anything else pasted.
A node whose API is not on port 8006 adds ``port`` (ignored by Proxmox's GUI).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from pvecluster.api.tls import FINGERPRINT_RE

__all__ = ["DEFAULT_PORT", "JoinInfo", "join_info_json", "join_string", "parse_join_string"]

DEFAULT_PORT = 8006


@dataclass(frozen=True, slots=True)
class JoinInfo:
    address: str
    fingerprint: str
    port: int = DEFAULT_PORT
    links: tuple[tuple[int, str], ...] = ()


def join_info_json(info: dict[str, Any], port: int = DEFAULT_PORT) -> dict[str, Any]:
    """The object the GUI encodes, from ``join_info_of``'s answer."""
    preferred = info["preferred_node"]
    node = next(n for n in info["nodelist"] if n.get("name") == preferred)
    links = {
        key[len("ring") : -len("_addr")]: value
        for key, value in sorted(node.items())
        if key.startswith("ring") and key.endswith("_addr")
    }
    data: dict[str, Any] = {
        "ipAddress": node.get("pve_addr"),
        "fingerprint": node.get("pve_fp"),
        "peerLinks": links,
        "ring_addr": list(links.values()),
        "totem": info.get("totem", {}),
    }
    if port != DEFAULT_PORT:
        data["port"] = port
    return data


def join_string(info: dict[str, Any], port: int = DEFAULT_PORT) -> str:
    raw = json.dumps(join_info_json(info, port), sort_keys=True, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def parse_join_string(text: str) -> JoinInfo:
    """The peer's address and fingerprint; ValueError says what is wrong with ``text``."""
    compact = "".join(text.split())
    if not compact:
        raise ValueError("the join information is empty: paste it from the cluster's panel")
    try:
        data = json.loads(base64.b64decode(compact, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("this is not join information (base64 of a JSON object)") from None
    if not isinstance(data, dict):
        raise ValueError("this is not join information (base64 of a JSON object)")
    address = data.get("ipAddress")
    fingerprint = data.get("fingerprint")
    if not isinstance(address, str) or not address:
        raise ValueError("the join information has no ipAddress")
    if not isinstance(fingerprint, str) or not FINGERPRINT_RE.match(fingerprint):
        raise ValueError("the join information has no valid fingerprint")
    port = data.get("port", DEFAULT_PORT)
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError("the join information has an invalid port")
    peer_links = data.get("peerLinks") or {}
    links: list[tuple[int, str]] = []
    if isinstance(peer_links, dict):
        for key, value in peer_links.items():
            if str(key).isdigit() and isinstance(value, str):
                links.append((int(key), value))
    return JoinInfo(address, fingerprint.upper(), port, tuple(sorted(links)))
