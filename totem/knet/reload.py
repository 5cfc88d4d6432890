"""What a configuration reload changes in a running knet layer (ref knet/README.md 2-4;
``totemknet.c:totemknet_refresh_config``, ``totemknet_reconfigure``,
``totemknet_crypto_reconfigure_phase``; ``cfg.c``).

Applied at once, as corosync 3.1.7 does after ``corosync-cfgtool -R``:

* ``block_unlisted_ips`` (the access lists), ``knet_pmtud_interval``, ``knet_mtu``;
* the compression keys;
* nodes added to and removed from the nodelist, and links added to or removed from every
  node (a ``ringX_addr`` more or less): ``totemknet_member_add``/``member_remove`` per node
  and link, in ``compute_and_set_totempg_interfaces``' order (every removal, then every
  addition); a host whose last link goes is removed; our own host keeps its loopback
  link whatever happens to link 0; hosts added get the start-up ``link_mode``;
* every link's ``knet_ping_interval``/``_timeout``/``_precision``, ``knet_pong_count`` and
  ``knet_link_priority`` -- also when only ``token`` changed, since the ping timers derive
  from it.

Crypto (``crypto_cipher``, ``crypto_hash``, ``crypto_model``, the key) changes in three
steps so that no node ever sends what another cannot open: the new configuration is loaded
into the slot not in use (receivers now open both); each node then multicasts cfg
RECONFIG_CRYPTO phase 1 and, when its own is delivered, seals with the new slot; then
phase 2, on whose delivery the old slot is cleared (and clear packets refused again when
crypto stays on). :meth:`KnetReload.phase` is that last part; the cfg service carries the
messages (:class:`totem.services.cfg.CfgCryptoReconfig`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from totem.config.knetlinks import knet_links
from totem.config.model import CorosyncConfig, NodeConfig
from totem.knet.crypto import CryptoConfig
from totem.knet.handle import KnetHandle
from totem.knet.layer import KnetLayer
from totem.knet.setup import KernelMtu, compress_config, crypto_config, link_config
from totem.srp.events import LogLevel, LogRecord

__all__ = ["CRYPTO_PHASE_ACTIVATE", "CRYPTO_PHASE_CLEANUP", "KnetReload", "apply_reload"]

CRYPTO_PHASE_ACTIVATE = 1
CRYPTO_PHASE_CLEANUP = 2


@dataclass(slots=True)
class KnetReload:
    """The crypto change a reload started (None fields: nothing pending)."""

    layer: KnetLayer
    index: int = 1
    """corosync's ``crypto_index``: the slot the next configuration goes to is 3 - index."""
    enabled: bool = False
    """Whether crypto is on in the configuration being switched to."""

    def phase(self, phase: int) -> list[LogRecord]:
        """Our own RECONFIG_CRYPTO ``phase`` was delivered: switch (1) or clean up (2)."""
        handle = self.layer.handle
        logs = [LogRecord(LogLevel.DEBUG, "KNET", f"Crypto reconfiguration phase {phase}")]
        if phase == CRYPTO_PHASE_ACTIVATE:
            use = self.index if self.enabled else 0
            handle.use_crypto(use)
        elif phase == CRYPTO_PHASE_CLEANUP:
            handle.set_crypto(3 - self.index, None)
            if self.enabled:
                handle.set_rx_clear(False)
            logs.append(
                LogRecord(
                    LogLevel.DEBUG, "KNET", f"Clearing old knet crypto config {3 - self.index}"
                )
            )
        return logs


def _apply_members(
    handle: KnetHandle,
    current: CorosyncConfig,
    new: CorosyncConfig,
    local_node: NodeConfig,
    kernel_mtu: KernelMtu | None,
    log: Callable[[str], None],
) -> None:
    """Hosts and links for the new nodelist: every (node, link) that goes, then every one
    that comes (``compute_and_set_totempg_interfaces``)."""
    me = local_node.nodeid
    old_links, new_links = set(current.links), set(new.links)
    old_ids = {node.nodeid for node in current.nodes}
    new_ids = {node.nodeid for node in new.nodes}
    for node in current.nodes:
        for link_id in sorted(old_links):
            if node.address(link_id) is None:
                continue
            if node.nodeid in new_ids and link_id in new_links:
                continue
            log(f"knet: member_remove: {node.nodeid}, link={link_id}")
            if node.nodeid != me:
                handle.remove_link(node.nodeid, link_id)
        if node.nodeid != me and node.nodeid in handle.hosts and not handle.link_ids(node.nodeid):
            handle.remove_host(node.nodeid)
    links = {link.linknumber: link for link in knet_links(new)}
    for node in new.nodes:
        for link_id in sorted(new_links):
            address = node.address(link_id)
            if address is None:
                continue
            if node.nodeid in old_ids and link_id in old_links:
                continue
            log(f"knet: member_add: {node.nodeid} ({address}), link={link_id}")
            if node.nodeid == me:
                continue  # the loopback link is there from the start
            local = local_node.address(link_id)
            if local is None:
                continue
            if node.nodeid not in handle.hosts:
                handle.add_host(node.nodeid, new.totem.link_mode)
            mtu = kernel_mtu(local, address) if kernel_mtu is not None else 0
            handle.set_link(node.nodeid, link_config(links[link_id], local, address, mtu))


def _current_crypto(layer: KnetLayer) -> CryptoConfig | None:
    sealer = layer.handle.crypto.sealer
    return sealer.config if sealer is not None else None


def apply_reload(
    reload: KnetReload,
    current: CorosyncConfig,
    new: CorosyncConfig,
    local_node: NodeConfig,
    key: bytes | None,
    kernel_mtu: KernelMtu | None = None,
) -> tuple[bool, list[LogRecord]]:
    """Apply ``new`` to the running layer; returns (crypto changed, log lines).

    A True first value means the caller must start the crypto phases (cfg
    RECONFIG_CRYPTO phase 1)."""
    handle = reload.layer.handle
    logs: list[LogRecord] = []

    def log(text: str) -> None:
        logs.append(LogRecord(LogLevel.DEBUG, "KNET", text))

    totem = new.totem
    handle.access_lists = totem.block_unlisted_ips
    log(f"knet_enable access list: {int(totem.block_unlisted_ips)}")
    if totem.knet_pmtud_interval != handle.pmtud.interval:
        handle.set_pmtud_interval(totem.knet_pmtud_interval)
        log(f"knet_pmtud_interval now {totem.knet_pmtud_interval}")
    if totem.knet_mtu != handle.pmtud.manual_mtu:
        handle.set_manual_mtu(totem.knet_mtu)
        log(f"knet_mtu now {totem.knet_mtu}")
    handle.set_compress(compress_config(new))
    _apply_members(handle, current, new, local_node, kernel_mtu, log)
    links = knet_links(new)
    for host_id in handle.host_ids():
        if host_id == local_node.nodeid:
            continue
        for link in links:
            handle.set_ping_timers(
                host_id, link.linknumber, link.ping_interval, link.ping_timeout, link.ping_precision
            )
            handle.set_pong_count(host_id, link.linknumber, link.pong_count)
            handle.set_priority(host_id, link.linknumber, link.priority)
    wanted = crypto_config(new, key)
    running = _current_crypto(reload.layer)
    if wanted == running:
        return False, logs
    reload.index = 3 - reload.index
    reload.enabled = wanted is not None
    if wanted is None:
        handle.set_rx_clear(True)
    handle.set_crypto(reload.index, wanted)
    logs.append(
        LogRecord(
            LogLevel.INFO,
            "KNET",
            f"kronosnet crypto reconfigured on index {reload.index}: "
            f"{totem.crypto_model}/{totem.crypto_cipher}/{totem.crypto_hash}",
        )
    )
    return True, logs
