"""corosync.conf to :class:`CorosyncConfig` (ref totem-wire.md sections 12, 6.5, 2.2).

``parse_text`` runs the grammar (:mod:`~totem.config.parser`), the cmap-style flattening with
corosync's parse-time typing (:mod:`~totem.config.flatten`), then the checks corosync makes
when it starts (``totemconfig.c:totem_config_read``/``totem_config_validate``,
``votequorum_readconfig``, ``logconfig.c``), each reported as ``file:line: message``.

Where we knowingly differ from corosync 3.1.7:

* ``rrp_mode: passive`` with ``ring1_addr``/``interface { linknumber: 1 }`` is accepted for
  udp/udpu (corosync 2.x redundant ring); ``rrp_mode: active`` is refused.
* crypto with udp/udpu is accepted with a warning (real 3.x nodes refuse such a ring).
* Host names are resolved only when a lookup is given (:mod:`totem.config.resolve`: the daemon
  and the checker pass the machine's resolver); without one, a host name ``ring0_addr`` needs
  an explicit nodeid, since only an address can generate one.
* Two nodes with the same ring address (after resolution) are an error.
* A second ``nodelist`` section is an error (corosync would silently overlay its nodes on
  the first one's).
* Several bad values corosync silently ignores (``block_unlisted_ips: maybe``) are errors.
* knet: ``knet_transport: sctp`` and ``knet_compression_model: lzo2`` are refused (we speak
  knet over UDP, and have no lzo2), and so is a model whose package (lz4, zstandard) is
  not installed, where libknet would fail when it loads the model; out-of-range
  ``knet_mtu``, ``knet_pmtud_interval`` and ``knet_compression_threshold`` are errors where
  libknet would log and keep its default.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
from pathlib import Path
from types import MappingProxyType
from typing import Literal, TypedDict

from totem.config.addresses import autogenerate_nodeid, ip_literal
from totem.config.authkey import PRIVATE_KEY_LEN_MAX, PRIVATE_KEY_LEN_MIN
from totem.config.errors import ConfigError
from totem.config.flatten import Flat, flatten
from totem.config.model import (
    CorosyncConfig,
    CryptoCipher,
    CryptoHash,
    CryptoModel,
    DebugLevel,
    InterfaceConfig,
    IpVersion,
    LinkMode,
    LoggerSubsysConfig,
    LoggingConfig,
    NodeConfig,
    RrpMode,
    SystemConfig,
    TotemConfig,
    Transport,
)
from totem.config.parser import c_bytes, parse
from totem.config.quorum import build_quorum
from totem.config.resolve import AddressLookup, UnresolvedHost, resolve_address, resolve_ipv4
from totem.config.timers import TimerError, compute_timers
from totem.config.values import (
    parse_choice,
    parse_listen,
    parse_on_off,
    parse_yes_no,
    parse_yes_on_no_off,
)

__all__ = ["load", "parse_text"]

INTERFACE_MAX = 8
KNET_MAX_HOST = 65536
KNET_MAX_PACKET_SIZE = 65536
KNET_PMTUD_INTERVAL = 30
KNET_COMPRESSION_MODELS = ("none", "zlib", "lz4", "lz4hc", "lzma", "bzip2", "zstd")
"""What pycorosync's knet speaks; lzo2 (also in libknet 1.25) is refused at load."""
KNET_COMPRESSION_PACKAGES = {"lz4": "lz4", "lz4hc": "lz4", "zstd": "zstandard"}
"""The models that need a package beside the standard library (a dependency of the project;
a model whose package is missing here is refused at load, not when the first message is
compressed)."""


def compression_package_missing(model: str) -> str | None:
    """The package ``model`` needs and that cannot be imported here, or None."""
    package = KNET_COMPRESSION_PACKAGES.get(model)
    if package is None or importlib.util.find_spec(package) is not None:
        return None
    return package


UDP_NETMTU = 1500
KNET_NETMTU = 65536

_RING_ADDR = re.compile(r"ring([0-9]+)_addr")
_SYSLOG_FACILITIES = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
]
_PRIORITIES = ["alert", "crit", "debug", "emerg", "err", "error", "info", "notice", "warning"]


def load(path: str | os.PathLike[str], *, lookup: AddressLookup | None = None) -> CorosyncConfig:
    """Read and check the corosync.conf at ``path`` (host names resolved through ``lookup``)."""
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        raise ConfigError(name, None, f"can't read file: {exc.strerror or exc}") from None
    return parse_text(data.decode("utf-8", "surrogateescape"), name, lookup=lookup)


def parse_text(
    text: str, path: str = "corosync.conf", *, lookup: AddressLookup | None = None
) -> CorosyncConfig:
    """Check corosync.conf ``text`` (read from ``path``); raises :class:`ConfigError` only.

    With ``lookup``, every ring address is resolved as corosync resolves it
    (:attr:`NodeConfig.resolved`); without, host names stay unresolved and need a nodeid.
    """
    flat = flatten(parse(text, path), path)
    totem = _totem(flat)
    nodes = _nodes(flat, totem, lookup)
    _check_links(flat, totem, nodes)
    quorum = build_quorum(flat, nodes)
    member_count = _member_count(flat, nodes)
    try:
        timers = compute_timers(totem, member_count)
    except TimerError as exc:
        raise flat.error(flat.line_of(exc.key, "totem"), str(exc)) from None
    return CorosyncConfig(
        totem=totem,
        nodes=nodes,
        quorum=quorum,
        logging=_logging(flat),
        system=_system(flat),
        member_count=member_count,
        timers=timers,
        path=path,
        warnings=tuple(flat.warnings),
        raw=MappingProxyType(dict(flat.raw)),
        lines=MappingProxyType(dict(flat.lines)),
    )


# --------------------------------------------------------------------------- totem


def _transport(key: str, value: str) -> Transport:
    for name in ("udp", "udpu", "knet"):
        if value == name:
            return name
    raise ValueError(f"invalid transport type {value!r} (should be udpu, udp or knet)")


def _ip_version(key: str, value: str) -> IpVersion:
    for name in ("ipv4", "ipv6", "ipv4-6", "ipv6-4"):
        if value == name:
            return name
    raise ValueError(f"invalid ip_version {value!r}")


def _rrp_mode(key: str, value: str) -> RrpMode:
    if value == "none":
        return "none"
    if value == "passive":
        return "passive"
    if value == "active":
        raise ValueError(
            "rrp_mode 'active' is not supported: only the passive redundant ring is implemented"
        )
    raise ValueError(f"invalid rrp_mode {value!r} (must be none, active or passive)")


def _secauth(key: str, value: str) -> bool:
    return parse_on_off(key, value)


def _link_mode(key: str, value: str) -> LinkMode:
    for name in ("passive", "active", "rr"):
        if value == name:
            return name
    raise ValueError(
        f'The Knet link mode "{value}" specified is invalid.  It must be active, passive or rr.'
    )


def _crypto_model(key: str, value: str) -> CryptoModel:
    return "openssl" if value == "openssl" else "nss"


class _KnetKeys(TypedDict):
    link_mode: LinkMode
    knet_pmtud_interval: int
    knet_mtu: int
    knet_compression_model: str
    knet_compression_threshold: int
    knet_compression_level: int
    crypto_model: CryptoModel


def _knet(flat: Flat) -> _KnetKeys:
    """The knet keys of the totem section (``totemconfig.c``, ``totemknet.c``)."""
    link_mode = flat.get_typed("totem.link_mode", _link_mode) or "passive"
    model = flat.get("totem.knet_compression_model") or "none"
    if model not in KNET_COMPRESSION_MODELS:
        raise flat.error(
            flat.lines["totem.knet_compression_model"],
            f"knet_compression_model {model} is not available in pycorosync (use one of "
            f"{', '.join(KNET_COMPRESSION_MODELS)})",
        )
    if (package := compression_package_missing(model)) is not None:
        raise flat.error(
            flat.lines["totem.knet_compression_model"],
            f"knet_compression_model {model} is not available here: it needs the Python "
            f"package {package}, which is not installed",
        )
    threshold = flat.get_int("totem.knet_compression_threshold", "u32") or 0
    if threshold > KNET_MAX_PACKET_SIZE:
        raise flat.error(
            flat.lines["totem.knet_compression_threshold"],
            f"compress threshold cannot be higher than KNET_MAX_PACKET_SIZE "
            f"({KNET_MAX_PACKET_SIZE}).",
        )
    interval = flat.get_int("totem.knet_pmtud_interval", "u32") or KNET_PMTUD_INTERVAL
    if interval > 86400:
        raise flat.error(
            flat.lines["totem.knet_pmtud_interval"],
            f"knet_pmtud_interval {interval} is out of range (1..86400 seconds)",
        )
    mtu = flat.get_int("totem.knet_mtu", "u32") or 0
    if mtu > 65535:
        raise flat.error(flat.lines["totem.knet_mtu"], f"knet_mtu {mtu} is out of range (0..65535)")
    return {
        "link_mode": link_mode,
        "knet_pmtud_interval": interval,
        "knet_mtu": mtu,
        "knet_compression_model": model,
        "knet_compression_threshold": threshold,
        "knet_compression_level": flat.get_int("totem.knet_compression_level", "i32") or 0,
        "crypto_model": flat.get_typed("totem.crypto_model", _crypto_model) or "nss",
    }


def _crypto(flat: Flat, transport: Transport) -> tuple[CryptoCipher, CryptoHash, bool | None]:
    secauth = flat.get_typed("totem.secauth", _secauth)
    cipher: CryptoCipher = "aes256" if secauth else "none"
    hash_: CryptoHash = "sha256" if secauth else "none"
    raw_cipher = flat.get("totem.crypto_cipher")
    raw_hash = flat.get("totem.crypto_hash")
    for name in ("none", "aes256", "aes192", "aes128"):
        if raw_cipher == name:
            cipher = name
    for hash_name in ("none", "md5", "sha1", "sha256", "sha384", "sha512"):
        if raw_hash == hash_name:
            hash_ = hash_name
    culprit = flat.line_of("totem.crypto_cipher") or flat.line_of("totem.secauth")
    if cipher != "none" and hash_ == "none":
        raise flat.error(
            flat.line_of("totem.crypto_hash") or culprit,
            "crypto_cipher requires crypto_hash with value other than none",
        )
    if (cipher != "none" or hash_ != "none") and transport != "knet":
        where = culprit or flat.line_of("totem.crypto_hash") or flat.sections["totem"]
        flat.warn(
            where,
            f"crypto with transport {transport}: real corosync 3.1.7 nodes refuse this "
            "(crypto_cipher & crypto_hash are only valid for the Knet transport); only "
            "pycorosync nodes can share such a ring",
        )
    return cipher, hash_, secauth


def _totem(flat: Flat) -> TotemConfig:
    section = flat.sections.get("totem")
    if section is None:
        raise flat.error(None, "no totem section (totem { version: 2 ... } is mandatory)")
    version = flat.get_int("totem.version", "u32")
    if version is None:
        raise flat.error(
            section, "totem.version is missing: can only parse version 2 configurations"
        )
    if version != 2:
        raise flat.error(
            flat.lines["totem.version"],
            f"can only parse version 2 configurations (totem.version is {version})",
        )
    transport = flat.get_typed("totem.transport", _transport) or "knet"
    ip_version = flat.get_typed("totem.ip_version", _ip_version)
    if ip_version is None:
        ip_version = "ipv4" if transport == "udp" else "ipv6-4"
    netmtu = flat.get_int("totem.netmtu", "u32")
    if not netmtu:
        netmtu = KNET_NETMTU if transport == "knet" else UDP_NETMTU
    rrp_mode: RrpMode = "none"
    if transport == "knet" and "totem.rrp_mode" in flat.raw:
        flat.warn(
            flat.lines["totem.rrp_mode"],
            "rrp_mode is ignored with transport knet (corosync 3 uses link_mode)",
        )
    else:
        rrp_mode = flat.get_typed("totem.rrp_mode", _rrp_mode) or "none"
    cipher, hash_, secauth = _crypto(flat, transport)
    knet = _knet(flat)
    keyfile = flat.get("totem.keyfile")
    key = flat.get("totem.key")
    if (cipher != "none" or hash_ != "none") and keyfile is None and key is not None:
        length = len(c_bytes(key)) + 1
        if length < PRIVATE_KEY_LEN_MIN:
            raise flat.error(
                flat.lines["totem.key"],
                f"key is too short ({length} bytes with its NUL, at least {PRIVATE_KEY_LEN_MIN})",
            )
        if length > PRIVATE_KEY_LEN_MAX:
            raise flat.error(
                flat.lines["totem.key"],
                f"key is too long ({length} bytes with its NUL, at most {PRIVATE_KEY_LEN_MAX})",
            )

    def u32(name: str) -> int | None:
        return flat.get_int(f"totem.{name}", "u32")

    def yes_no(name: str, default: bool) -> bool:
        value = flat.get_typed(f"totem.{name}", parse_yes_no)
        return default if value is None else value

    return TotemConfig(
        version=version,
        cluster_name=flat.get("totem.cluster_name"),
        transport=transport,
        ip_version=ip_version,
        netmtu=netmtu,
        token=u32("token"),
        token_coefficient=u32("token_coefficient"),
        token_retransmit=u32("token_retransmit"),
        hold=u32("hold"),
        token_retransmits_before_loss_const=u32("token_retransmits_before_loss_const"),
        token_warning=u32("token_warning"),
        join=u32("join"),
        send_join=u32("send_join"),
        consensus=u32("consensus"),
        merge=u32("merge"),
        downcheck=u32("downcheck"),
        fail_recv_const=u32("fail_recv_const"),
        seqno_unchanged_const=u32("seqno_unchanged_const"),
        heartbeat_failures_allowed=u32("heartbeat_failures_allowed"),
        max_network_delay=u32("max_network_delay"),
        window_size=u32("window_size"),
        max_messages=u32("max_messages"),
        miss_count_const=u32("miss_count_const"),
        rrp_mode=rrp_mode,
        rrp_problem_count_timeout=u32("rrp_problem_count_timeout"),
        rrp_problem_count_threshold=u32("rrp_problem_count_threshold"),
        rrp_problem_count_mcast_threshold=u32("rrp_problem_count_mcast_threshold"),
        rrp_token_expired_timeout=u32("rrp_token_expired_timeout"),
        rrp_autorecovery_check_timeout=u32("rrp_autorecovery_check_timeout"),
        block_unlisted_ips=yes_no("block_unlisted_ips", True),
        cancel_token_hold_on_retransmit=yes_no("cancel_token_hold_on_retransmit", False),
        config_version=flat.get_int("totem.config_version", "u64"),
        clear_node_high_bit=yes_no("clear_node_high_bit", False),
        nodeid=u32("nodeid"),
        interfaces=_interfaces(flat, transport),
        crypto_cipher=cipher,
        crypto_hash=hash_,
        secauth=secauth,
        **knet,
        keyfile=keyfile,
        key=key,
        line=section,
    )


def _interfaces(flat: Flat, transport: Transport) -> tuple[InterfaceConfig, ...]:
    result = []
    for link in sorted({iface.linknumber for iface in flat.interfaces}):
        prefix = f"totem.interface.{link}"
        line = flat.sections[prefix]
        if not any(key.startswith(prefix + ".") for key in flat.raw):
            # Only a linknumber: corosync stores no key, so the link is not configured.
            flat.warn(line, f"interface section for link {link} sets nothing; ignored")
            continue
        if link >= INTERFACE_MAX:
            raise flat.error(
                line,
                f"interface ring number {link} is bigger than allowed maximum {INTERFACE_MAX - 1}",
            )
        ttl = flat.get_int(f"{prefix}.ttl", "u8")
        if ttl is not None and ttl != 1 and transport != "udp":
            raise flat.error(
                flat.lines[f"{prefix}.ttl"],
                f"can only set ttl on multicast transport types (interface {link})",
            )
        priority = flat.get_int(f"{prefix}.knet_link_priority", "u8")
        if priority is not None and priority != 1 and transport != "knet":
            raise flat.error(
                flat.lines[f"{prefix}.knet_link_priority"],
                f"can only set link priority on knet transport type (interface {link})",
            )
        broadcast = flat.get_typed(f"{prefix}.broadcast", parse_yes_no) or False
        knet_transport = flat.get(f"{prefix}.knet_transport")
        if transport == "knet" and knet_transport is not None:
            key_line = flat.lines[f"{prefix}.knet_transport"]
            if knet_transport not in ("udp", "sctp"):
                raise flat.error(key_line, "Unrecognised knet_transport. expected 'udp' or 'sctp'")
            if knet_transport == "sctp":
                raise flat.error(
                    key_line,
                    f"knet_transport sctp is not supported by pycorosync (interface {link}): "
                    "use udp, corosync's default",
                )
        result.append(
            InterfaceConfig(
                linknumber=link,
                bindnetaddr=flat.get(f"{prefix}.bindnetaddr"),
                mcastaddr=flat.get(f"{prefix}.mcastaddr"),
                mcastport=flat.get_int(f"{prefix}.mcastport", "u16"),
                ttl=1 if ttl is None else ttl,
                broadcast=broadcast,
                knet_link_priority=priority,
                knet_ping_interval=flat.get_int(f"{prefix}.knet_ping_interval", "u32"),
                knet_ping_timeout=flat.get_int(f"{prefix}.knet_ping_timeout", "u32"),
                knet_ping_precision=flat.get_int(f"{prefix}.knet_ping_precision", "u32"),
                knet_pong_count=flat.get_int(f"{prefix}.knet_pong_count", "u32"),
                knet_transport=knet_transport,
                line=line,
            )
        )
    return tuple(result)


# --------------------------------------------------------------------------- nodes


def _family_ok(ip_version: IpVersion, address: str) -> bool:
    literal = ip_literal(address)
    if literal is None:
        return True
    if ip_version == "ipv4":
        return literal.version == 4
    if ip_version == "ipv6":
        return literal.version == 6
    return True


def _resolve(flat: Flat, key: str, host: str, ip_version: IpVersion, lookup: AddressLookup) -> str:
    """corosync's ``totemip_parse`` of one ring address; ``file:line`` error naming the host."""
    try:
        return resolve_address(host, ip_version, lookup)
    except UnresolvedHost as why:
        raise flat.error(flat.lines[key], f"failed to parse node address {host!r}: {why}") from None


def _node(
    flat: Flat, totem: TotemConfig, position: int, lookup: AddressLookup | None
) -> NodeConfig:
    prefix = f"nodelist.node.{position}"
    line = flat.sections[prefix]
    rings: dict[int, str] = {}
    for key, value in flat.raw.items():
        if not key.startswith(prefix + "."):
            continue
        match = _RING_ADDR.fullmatch(key[len(prefix) + 1 :])
        if match is None:
            continue
        ring = int(match.group(1))
        if ring >= INTERFACE_MAX:
            raise flat.error(
                flat.lines[key],
                f"interface ring number {ring} is bigger than allowed maximum {INTERFACE_MAX - 1}",
            )
        if totem.transport != "knet" and ring >= 2:
            raise flat.error(
                flat.lines[key],
                f"ring{ring}_addr: udp/udpu carry at most two rings (ring0_addr, ring1_addr)",
            )
        if totem.transport != "knet" and ring == 1 and totem.rrp_mode != "passive":
            raise flat.error(
                flat.lines[key], "ring1_addr needs rrp_mode: passive in the totem section"
            )
        if not _family_ok(totem.ip_version, value):
            raise flat.error(
                flat.lines[key],
                f"failed to parse node address {value!r} (ip_version is {totem.ip_version})",
            )
        rings[ring] = value
    ring0 = rings.get(0)
    if not ring0:
        raise flat.error(line, "node has no ring0_addr")
    if totem.transport != "knet" and totem.rrp_mode == "passive" and not rings.get(1):
        raise flat.error(line, "rrp_mode is passive but this node has no ring1_addr")

    nodeid = flat.get_int(f"{prefix}.nodeid", "u32")
    autogenerated = False
    if not nodeid:
        if totem.transport == "knet":
            raise flat.error(
                line, f"knet requires an explicit nodeid to be specified for address {ring0!r}"
            )
        literal = ip_literal(ring0)
        if isinstance(literal, ipaddress.IPv6Address):
            raise flat.error(
                line, f"an IPv6 network requires that a node ID be specified for address {ring0!r}"
            )
        if literal is None and lookup is None:
            raise flat.error(
                line,
                f"nodeid is required for ring0_addr {ring0!r}: only an IPv4 address can "
                "generate one (the file was read without name resolution)",
            )
        source = ring0
        if literal is None:
            assert lookup is not None
            try:
                source = resolve_ipv4(ring0, lookup)
            except UnresolvedHost as why:
                raise flat.error(
                    flat.lines[f"{prefix}.ring0_addr"],
                    f"failed to parse node address {ring0!r} to generate its nodeid "
                    f"(an IPv4 address is needed): {why}",
                ) from None
        nodeid = autogenerate_nodeid(source, clear_node_high_bit=totem.clear_node_high_bit)
        autogenerated = True
        if nodeid == 0:
            raise flat.error(line, f"the node id generated from {ring0!r} is 0 (reserved)")
    if totem.transport == "knet" and nodeid >= KNET_MAX_HOST:
        raise flat.error(
            line, f"knet requires nodeid to be less than {KNET_MAX_HOST} for address {ring0!r}"
        )
    votes = flat.get_int(f"{prefix}.quorum_votes", "u32")
    written = (ring0,) if rings.get(1) is None else (ring0, rings[1])
    resolved: tuple[str, ...] = ()
    more = tuple(sorted((ring, addr) for ring, addr in rings.items() if ring >= 2))
    if lookup is not None:
        resolved = tuple(
            _resolve(flat, f"{prefix}.ring{ring}_addr", host, totem.ip_version, lookup)
            for ring, host in enumerate(written)
        )
        more = tuple(
            (ring, _resolve(flat, f"{prefix}.ring{ring}_addr", host, totem.ip_version, lookup))
            for ring, host in more
        )
    return NodeConfig(
        nodeid=nodeid,
        ring0_addr=ring0,
        ring1_addr=rings.get(1),
        name=flat.get(f"{prefix}.name"),
        quorum_votes=1 if votes is None else votes,
        nodeid_autogenerated=autogenerated,
        more_rings=more,
        position=position,
        line=line,
        resolved=resolved,
    )


def _same_address(a: str, b: str) -> bool:
    la, lb = ip_literal(a), ip_literal(b)
    if la is not None and lb is not None:
        return la == lb
    return a == b


def _shown(node: NodeConfig, ring: int) -> str:
    """A ring address for a message: as written, with what it resolved to if that differs."""
    written, address = node.written[ring], node.addresses[ring]
    return written if written == address else f"{written} ({address})"


def _nodes(flat: Flat, totem: TotemConfig, lookup: AddressLookup | None) -> tuple[NodeConfig, ...]:
    nodes = tuple(_node(flat, totem, position, lookup) for position in range(flat.node_count))
    if not nodes:
        raise flat.error(
            flat.sections.get("nodelist"),
            "no nodelist entries: corosync 3 needs a nodelist { node { ring0_addr ... } }",
        )
    for index, node in enumerate(nodes):
        for other in nodes[:index]:
            if node.nodeid == other.nodeid:
                origin = (
                    f" (autogenerated from {node.ring0_addr})" if node.nodeid_autogenerated else ""
                )
                raise flat.error(
                    node.line,
                    f"nodeid {node.nodeid}{origin} appears twice in corosync.conf "
                    f"(first at line {other.line})",
                )
            for ring in range(min(len(node.addresses), len(other.addresses))):
                if _same_address(node.addresses[ring], other.addresses[ring]):
                    raise flat.error(
                        node.line,
                        f"ring{ring}_addr {_shown(node, ring)} appears twice in corosync.conf "
                        f"(first at line {other.line})",
                    )
    if totem.transport == "knet":
        _check_knet_links(flat, nodes)
    for ring in range(INTERFACE_MAX):
        literals = []
        for node in nodes:
            address = node.address(ring)
            literal = ip_literal(address) if address is not None else None
            if address is not None and literal is not None:
                literals.append((address, literal))
        for address, literal in literals[1:]:
            if literal.version != literals[0][1].version:
                raise flat.error(
                    flat.sections.get("nodelist"),
                    f"nodes for link {ring} have different IP families "
                    f"(compared {address} with {literals[0][0]})",
                )
    return nodes


def _check_knet_links(flat: Flat, nodes: tuple[NodeConfig, ...]) -> None:
    """Every node has the same links, and names when there is more than one
    (``totem_volatile_config_validate``)."""
    links = [sorted(node.link_addresses) for node in nodes]
    if any(len(node_links) > 1 for node_links in links):
        for node in nodes:
            if node.name is None:
                raise flat.error(
                    node.line,
                    "for a multi-link configuration, all nodes must have a 'name' attribute",
                )
    for node, node_links in zip(nodes, links, strict=True):
        if node_links != links[0]:
            raise flat.error(
                node.line,
                f"Not all nodes have the same number of links (node {node.nodeid} has links "
                f"{', '.join(map(str, node_links))}; node {nodes[0].nodeid} has "
                f"{', '.join(map(str, links[0]))})",
            )


def _member_count(flat: Flat, nodes: tuple[NodeConfig, ...]) -> int:
    """corosync 3.1.7's ``interfaces[0].member_count`` (see ``CorosyncConfig.member_count``)."""
    doubled = [
        node
        for node in nodes
        if node.nodeid_autogenerated
        and [k for k in flat.raw if k.startswith(f"nodelist.node.{node.position}.")]
        == [f"nodelist.node.{node.position}.ring0_addr"]
    ]
    count = len(nodes) + len(doubled)
    if doubled and count > 2:
        flat.warn(
            doubled[0].line,
            f"corosync 3.1.7 counts {len(doubled)} node(s) with only a ring0_addr twice when it "
            f"generates their nodeid, so its token timeout grows as for {count} nodes; give "
            "each node a nodeid or a name to avoid that",
        )
    return count


def _check_links(flat: Flat, totem: TotemConfig, nodes: tuple[NodeConfig, ...]) -> None:
    """Interface sections against the transport and the nodelist."""
    for iface in totem.interfaces:
        prefix = f"totem.interface.{iface.linknumber}"
        if totem.transport != "knet":
            if iface.linknumber >= 2:
                raise flat.error(
                    iface.line,
                    f"interface for link {iface.linknumber}: udp/udpu carry at most two rings "
                    "(links 0 and 1)",
                )
            if iface.linknumber == 1 and totem.rrp_mode != "passive":
                raise flat.error(
                    iface.line, "interface for link 1 needs rrp_mode: passive in the totem section"
                )
        if iface.bindnetaddr is not None:
            flat.warn(
                flat.lines[f"{prefix}.bindnetaddr"],
                "interface section bindnetaddr is used together with nodelist; the nodelist "
                "address is used",
            )
        if any(key.startswith(f"{prefix}.member.") for key in flat.raw):
            flat.warn(iface.line, "member section is used together with nodelist; members ignored")
        if iface.broadcast and iface.mcastaddr is not None:
            flat.warn(
                flat.lines[f"{prefix}.mcastaddr"],
                "mcastaddr is ignored because broadcast is set",
            )
    if totem.transport != "udp":
        return
    broadcast = any(iface.broadcast for iface in totem.interfaces)
    links = (0, 1) if totem.rrp_mode == "passive" else (0,)
    for link in links:
        link_iface = totem.interface(link)
        line = link_iface.line if link_iface is not None else flat.sections["totem"]
        if broadcast:
            continue
        if link_iface is not None and link_iface.mcastaddr is not None:
            literal = ip_literal(link_iface.mcastaddr)
            key_line = flat.lines[f"totem.interface.{link}.mcastaddr"]
            if literal is None or not literal.is_multicast:
                raise flat.error(
                    key_line, f"mcastaddr is not a correct multicast address for interface {link}"
                )
            first = nodes[0].addresses
            node_addr = first[link] if link < len(first) else None
            bind = ip_literal(link_iface.bindnetaddr or node_addr or "")
            if bind is not None and bind.version != literal.version:
                raise flat.error(
                    key_line,
                    "multicast address family does not match bind address family for "
                    f"interface {link}",
                )
        elif totem.cluster_name is None:
            raise flat.error(
                line,
                f"no multicast address specified for interface {link} "
                "(set mcastaddr, or cluster_name to derive one)",
            )


# --------------------------------------------------------------------------- logging, system


def _debug(key: str, value: str) -> DebugLevel:
    for name in ("off", "on", "trace"):
        if value == name:
            return name
    raise ValueError(f"unknown value for {key}: {value!r} (expected on, off or trace)")


def _timestamp(key: str, value: str) -> Literal["on", "hires", "off"]:
    for name in ("on", "hires", "off"):
        if value == name:
            return name
    raise ValueError(f"unknown value for {key}: {value!r} (expected on, hires or off)")


def _facility(key: str, value: str) -> str:
    return parse_choice(key, value, _SYSLOG_FACILITIES)


def _priority(key: str, value: str) -> str:
    return parse_choice(key, value, _PRIORITIES)


def _destinations(flat: Flat, prefix: str) -> dict[str, bool | None]:
    found: dict[str, bool | None] = {}
    for name in ("to_stderr", "to_logfile", "to_syslog"):
        found[name] = flat.get_typed(f"{prefix}.{name}", parse_yes_on_no_off)
    legacy = flat.get_typed(f"{prefix}.to_file", parse_yes_on_no_off)
    if legacy is not None:
        flat.warn(
            flat.lines[f"{prefix}.to_file"],
            "the to_file config parameter has been obsoleted; see to_logfile",
        )
        if found["to_logfile"] is None:
            found["to_logfile"] = legacy
    if f"{prefix}.syslog_level" in flat.raw:
        flat.get_typed(f"{prefix}.syslog_level", _priority)
        flat.warn(
            flat.lines[f"{prefix}.syslog_level"],
            "the syslog_level config parameter has been obsoleted; see syslog_priority",
        )
    for name in ("logfile_priority", "syslog_priority"):
        flat.get_typed(f"{prefix}.{name}", _priority)
    flat.get_typed(f"{prefix}.syslog_facility", _facility)
    return found


def _logging(flat: Flat) -> LoggingConfig:
    targets = _destinations(flat, "logging")
    subsystems = []
    for subsys in flat.logger_subsys:
        prefix = f"logging.logger_subsys.{subsys}"
        own = _destinations(flat, prefix)
        subsystems.append(
            LoggerSubsysConfig(
                subsys=subsys,
                debug=flat.get_typed(f"{prefix}.debug", _debug),
                to_stderr=own["to_stderr"],
                to_logfile=own["to_logfile"],
                to_syslog=own["to_syslog"],
                raw=MappingProxyType(
                    {
                        k[len(prefix) + 1 :]: v
                        for k, v in flat.raw.items()
                        if k.startswith(prefix + ".")
                    }
                ),
                line=flat.sections[prefix],
            )
        )

    def flag(name: str, default: bool) -> bool:
        value = flat.get_typed(f"logging.{name}", parse_on_off)
        return default if value is None else value

    to_stderr, to_logfile, to_syslog = (
        targets["to_stderr"],
        targets["to_logfile"],
        targets["to_syslog"],
    )
    return LoggingConfig(
        to_stderr=True if to_stderr is None else to_stderr,
        to_logfile=False if to_logfile is None else to_logfile,
        logfile=flat.get("logging.logfile"),
        to_syslog=True if to_syslog is None else to_syslog,
        debug=flat.get_typed("logging.debug", _debug) or "off",
        timestamp=flat.get_typed("logging.timestamp", _timestamp) or "hires",
        fileline=flag("fileline", False),
        function_name=flag("function_name", False),
        blackbox=flag("blackbox", True),
        syslog_facility=flat.get("logging.syslog_facility") or "daemon",
        syslog_priority=flat.get("logging.syslog_priority") or "info",
        logfile_priority=flat.get("logging.logfile_priority") or "info",
        logger_subsys=tuple(subsystems),
    )


def _system(flat: Flat) -> SystemConfig:
    qb_ipc_type = flat.get("system.qb_ipc_type") or "native"
    move = flat.get("system.move_to_root_cgroup") or "auto"
    return SystemConfig(
        state_dir=flat.get("system.state_dir") or "/var/lib/corosync",
        sched_rr=flat.get("system.sched_rr") != "no",
        priority=flat.get("system.priority"),
        qb_ipc_type=qb_ipc_type,  # type: ignore[arg-type]
        move_to_root_cgroup=move,  # type: ignore[arg-type]
        allow_knet_handle_fallback=flat.get("system.allow_knet_handle_fallback") == "yes",
        metrics=_metrics_address(flat),
    )


def _metrics_address(flat: Flat) -> tuple[str, int] | None:
    text = flat.get("system.metrics")
    if text is None:
        return None
    try:
        return parse_listen(text)
    except ValueError as exc:
        raise flat.error(
            flat.line_of("system.metrics", "system"), f"system.metrics: {exc}"
        ) from None
