"""The ``totem { }`` section and its ``interface { }`` subsections (ref totem-wire.md 12,
6.5; corosync ``totemconfig.c``).

:func:`build_totem` reads the transport, crypto, knet options and timers as corosync
types and checks them at start-up (``totem_config_read``, ``totem_config_validate``),
with libknet's limits; errors are ``file:line: message``.
"""

from __future__ import annotations

import importlib.util
from typing import TypedDict

from totem.config.authkey import PRIVATE_KEY_LEN_MAX, PRIVATE_KEY_LEN_MIN
from totem.config.flatten import Flat
from totem.config.model import (
    CryptoCipher,
    CryptoHash,
    CryptoModel,
    InterfaceConfig,
    IpVersion,
    LinkMode,
    RrpMode,
    TotemConfig,
    Transport,
)
from totem.config.parser import c_bytes
from totem.config.values import (
    parse_on_off,
    parse_yes_no,
)

__all__ = ["build_totem", "compression_package_missing"]

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


def build_totem(flat: Flat) -> TotemConfig:
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
