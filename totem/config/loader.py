"""corosync.conf to :class:`CorosyncConfig` (ref totem-wire.md sections 12, 6.5, 2.2).

``parse_text`` runs the grammar (:mod:`~totem.config.parser`), the cmap-style flattening with
corosync's parse-time typing (:mod:`~totem.config.flatten`), then the checks corosync makes
when it starts (``totemconfig.c:totem_config_read``/``totem_config_validate``,
``votequorum_readconfig``, ``logconfig.c``), each reported as ``file:line: message``. Each
section has its module: :mod:`~totem.config.totem_section`, :mod:`~totem.config.nodelist`,
:mod:`~totem.config.quorum`, :mod:`~totem.config.logging_system`.

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

import os
from pathlib import Path
from types import MappingProxyType

from totem.config.errors import ConfigError
from totem.config.flatten import flatten
from totem.config.logging_system import build_logging, build_system
from totem.config.model import (
    CorosyncConfig,
)
from totem.config.nodelist import build_nodes, check_links, count_members
from totem.config.parser import parse
from totem.config.quorum import build_quorum
from totem.config.resolve import AddressLookup
from totem.config.timers import TimerError, compute_timers
from totem.config.totem_section import build_totem

__all__ = ["load", "parse_text"]


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
    totem = build_totem(flat)
    nodes = build_nodes(flat, totem, lookup)
    check_links(flat, totem, nodes)
    quorum = build_quorum(flat, nodes)
    member_count = count_members(flat, nodes)
    try:
        timers = compute_timers(totem, member_count)
    except TimerError as exc:
        raise flat.error(flat.line_of(exc.key, "totem"), str(exc)) from None
    return CorosyncConfig(
        totem=totem,
        nodes=nodes,
        quorum=quorum,
        logging=build_logging(flat),
        system=build_system(flat),
        member_count=member_count,
        timers=timers,
        path=path,
        warnings=tuple(flat.warnings),
        raw=MappingProxyType(dict(flat.raw)),
        lines=MappingProxyType(dict(flat.lines)),
    )
