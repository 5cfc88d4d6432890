"""corosync.conf as Proxmox reads, writes and generates it (ref cluster-manager.md 1.1, 2.3).

* :func:`parse_conf` is ``PVE::Corosync::parse_conf``: comments dropped, whitespace-split
  tokens, ``key: value`` pairs and ``name {`` sections; ``node`` and ``interface`` sections
  are lists, keyed afterwards by node name (else ``ring0_addr``) and link number.
* :func:`write_conf` is ``write_conf``: keys sorted, two-space indent, an empty line after each
  top-level section, nodes sorted by name and interfaces by link number.
* :func:`create_conf` is ``create_conf`` for ``pvecm create``. The transport is a parameter:
  Proxmox generates knet clusters (no ``transport`` key, ``link_mode: passive``,
  ``knet_link_priority``); for ``udp``/``udpu`` the key is written and the knet-only keys are
  left out (:data:`DEFAULT_TRANSPORT` says which one the tools generate).
* :func:`config_version` is ``cluster_config_version``: the first ``config_version: N``
  anywhere in the text (even in a comment), 0 when there is none.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_TRANSPORT",
    "KNET_TRANSPORT",
    "MAX_LINK_INDEX",
    "ConfError",
    "CorosyncConf",
    "Link",
    "config_version",
    "create_conf",
    "parse_conf",
    "parse_link",
    "write_conf",
]

KNET_TRANSPORT = "knet"
DEFAULT_TRANSPORT = KNET_TRANSPORT
"""The transport ``pvecm create`` writes: knet, corosync 3's default, as Proxmox does (no
``transport`` line); ``pvecm create --transport udpu`` still writes a udpu cluster."""
MAX_LINK_INDEX = 7
_LIST_SECTIONS = ("node", "interface")
_VERSION_RE = re.compile(rb"config_version\s*:\s*(\d+)")
_LINK_KEY = re.compile(r"^(ring|link)(\d+)_addr$")

Section = dict[str, Any]


class ConfError(ValueError):
    """The text is not a corosync.conf Proxmox's parser accepts (its message)."""


@dataclass(slots=True)
class CorosyncConf:
    """A parsed file: ``main`` sections plus the SHA-1 ``digest`` of the raw text."""

    main: Section = field(default_factory=dict)
    digest: str = ""

    @property
    def totem(self) -> Section:
        totem: Section = self.main.setdefault("totem", {})
        return totem

    @property
    def nodelist(self) -> dict[str, Section]:
        nodes: dict[str, Section] = self.main.setdefault("nodelist", {}).setdefault("node", {})
        return nodes

    @property
    def quorum(self) -> Section:
        quorum: Section = self.main.setdefault("quorum", {})
        return quorum

    def copy(self) -> CorosyncConf:
        return CorosyncConf(copy.deepcopy(self.main), self.digest)

    def version(self) -> int | None:
        value = self.main.get("totem", {}).get("config_version")
        return None if value is None else int(value)

    def node_links(self, name: str) -> dict[int, str]:
        """``{link number: address}`` of a node (``ringN_addr``/``linkN_addr``)."""
        links = {}
        for key, value in self.nodelist.get(name, {}).items():
            match = _LINK_KEY.match(key)
            if match:
                links[int(match.group(2))] = str(value)
        return links


def parse_conf(raw: bytes | str) -> CorosyncConf:
    """``parse_conf``: the sections of ``raw``; :class:`ConfError` on a syntax error."""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    if not text:
        return CorosyncConf()
    digest = hashlib.sha1(text.encode()).hexdigest()
    text = re.sub(r"#.*$", "", text, flags=re.MULTILINE)
    tokens = text.split()
    main: Section = {}
    stack: list[Section] = []
    section = main
    i = 0
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if following == "{":
            i += 2
            new: Section = {}
            if token in _LIST_SECTIONS:
                section.setdefault(token, []).append(new)
            elif token not in section:
                section[token] = new
            else:
                raise ConfError(f"section '{token}' already exists and not marked as array!")
            stack.append(section)
            section = new
            continue
        if token == "}":
            if not stack:
                raise ConfError("parse error - uncexpected '}'")
            section = stack.pop()
            i += 1
            continue
        if not token.endswith(":"):
            raise ConfError(f"missing ':' after key '{token}'")
        if following is None:
            raise ConfError(f"parse error - no value for '{token[:-1]}'")
        section[token[:-1]] = following
        i += 2
    totem = main.get("totem")
    nodelist = main.get("nodelist")
    if isinstance(nodelist, dict):
        nodes = nodelist.get("node", [])
        nodelist["node"] = {
            str(node.get("name", node.get("ring0_addr"))): node
            for node in (nodes if isinstance(nodes, list) else [])
        }
    if isinstance(totem, dict):
        interfaces = totem.get("interface", [])
        totem["interface"] = {
            str(iface.get("linknumber", iface.get("ringnumber"))): iface
            for iface in (interfaces if isinstance(interfaces, list) else [])
        }
    return CorosyncConf(main, digest)


def write_conf(conf: CorosyncConf) -> str:
    """``write_conf``: the text Proxmox writes for ``conf``."""
    main = copy.deepcopy(conf.main)
    nodelist = main.get("nodelist")
    if isinstance(nodelist, dict) and isinstance(nodelist.get("node"), dict):
        nodes = nodelist["node"]
        nodelist["node"] = [nodes[name] for name in sorted(nodes)]
    totem = main.get("totem")
    if isinstance(totem, dict) and isinstance(totem.get("interface"), dict):
        interfaces = totem["interface"]
        totem["interface"] = [interfaces[key] for key in sorted(interfaces)]
        if not totem["interface"]:
            del totem["interface"]

    def dump(section: Section, prefix: str) -> str:
        out = []
        for key in sorted(section):
            value = section[key]
            if isinstance(value, dict):
                out.append(f"{prefix}{key} {{\n{dump(value, prefix + '  ')}{prefix}}}\n")
                if not prefix:
                    out.append("\n")
            elif isinstance(value, list):
                for child in value:
                    out.append(f"{prefix}{key} {{\n{dump(child, prefix + '  ')}{prefix}}}\n")
            elif value is None:
                raise ConfError(f"got undefined value for key '{key}'!")
            else:
                out.append(f"{prefix}{key}: {value}\n")
        return "".join(out)

    return dump(main, "")


def config_version(raw: bytes) -> int:
    """``cluster_config_version``: the first ``config_version: N`` in the text; 0 if none."""
    match = _VERSION_RE.search(raw)
    return int(match.group(1)) if match else 0


@dataclass(frozen=True, slots=True)
class Link:
    """One ``--linkN [address=]IP[,priority=N]`` argument."""

    address: str
    priority: int | None = None


def parse_link(value: str) -> Link:
    """``parse_corosync_link``: a property string; ``ValueError`` with the schema's message."""
    address: str | None = None
    priority: int | None = None
    for part in value.split(","):
        key, sep, item = part.partition("=")
        if not sep:
            key, item = "address", key
        if key == "address":
            address = item
        elif key == "priority":
            if not item.isdigit() or not 0 <= int(item) <= 255:
                raise ValueError(f"priority: value must be between 0 and 255 (got '{item}')")
            priority = int(item)
        else:
            raise ValueError(
                f"{key}: property is not defined in schema and the schema does not "
                "allow additional properties"
            )
    if not address:
        raise ValueError("address: property is missing and it is not optional")
    return Link(address, priority)


def create_conf(
    nodename: str,
    clustername: str,
    links: dict[int, Link],
    *,
    nodeid: int = 1,
    votes: int = 1,
    token_coefficient: int | None = None,
    transport: str = DEFAULT_TRANSPORT,
) -> CorosyncConf:
    """``create_conf``: a one-node cluster with ``config_version: 0`` (``atomic_write_conf``
    raises it to 1). ``links`` must not be empty (the caller falls back to the node's IP)."""
    totem: Section = {
        "version": 2,
        "secauth": "on",
        "cluster_name": clustername,
        "config_version": 0,
        "ip_version": "ipv4-6",
        "interface": {},
    }
    if token_coefficient is not None:
        totem["token_coefficient"] = token_coefficient
    knet = transport == KNET_TRANSPORT
    if knet:
        totem["link_mode"] = "passive"
    else:
        totem["transport"] = transport
    node: Section = {"name": nodename, "nodeid": nodeid, "quorum_votes": votes}
    for number, link in links.items():
        interface: Section = {"linknumber": number}
        if knet and link.priority:
            interface["knet_link_priority"] = link.priority
        totem["interface"][str(number)] = interface
        node[f"ring{number}_addr"] = link.address
    main: Section = {
        "totem": totem,
        "nodelist": {"node": {nodename: node}},
        "quorum": {"provider": "corosync_votequorum"},
        "logging": {"to_syslog": "yes", "debug": "off"},
    }
    return CorosyncConf(main)
