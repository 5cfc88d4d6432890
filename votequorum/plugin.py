"""votequorum as a node service engine: built from corosync.conf, served on the control socket.

The ``pycorosync.services`` entry point ``votequorum`` names :func:`service_factory`.
The node's quorum service (id 3) learns the quorate state through
``QuorumService.set_quorum``, bound when the stack has all its services.
Control operations (used by ``pycorosync-quorumtool``):

* ``quorum.status`` -- the JSON status (``--json``)
* ``quorum.render`` -- ``{"what": "status" | "nodes", "nodeid_format", "sort",
  "name_column"}``: the text of ``corosync-quorumtool -s`` / ``-l``, rendered here where the
  names are known (``"name_column": "address"``: ring0 addresses, as ``-i``)
* ``quorum.set_expected`` -- ``{"value": N}`` (``-e N``)
* ``quorum.set_votes`` -- ``{"node_id": ID, "value": V}`` (``-v V -n ID``)
* ``quorum.cancel_wfa`` -- cancel wait-for-all (``pvecm``/``corosync-quorumtool -w``-like)

On a configuration reload the daemon calls :meth:`ConfiguredVotequorum.config_reloaded`
with the new configuration (``totem.node.reload``): votequorum re-reads its keys as
``votequorum_refresh_config`` does and the names shown by the tools follow the nodelist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from totem.ipc.engine import LibConnection, LibHandler
from totem.service import Service
from votequorum.events import VotequorumError
from votequorum.lib import VotequorumLib
from votequorum.service import VotequorumService
from votequorum.settings import NodelistEntry, QdeviceSettings, VotequorumSettings

if TYPE_CHECKING:
    from totem.config import CorosyncConfig
    from totem.service import ServiceContext

__all__ = ["ConfiguredVotequorum", "service_factory", "settings_from_config"]

PROVIDER = "corosync_votequorum"


def settings_from_config(config: CorosyncConfig) -> VotequorumSettings:
    """The ``quorum {}`` section and nodelist as votequorum reads them."""
    quorum = config.quorum
    device = None
    if quorum.device is not None and quorum.device.model:
        device = QdeviceSettings(
            model=quorum.device.model,
            votes=quorum.device.votes,
            timeout_ms=quorum.device.timeout,
            sync_timeout_ms=quorum.device.sync_timeout,
        )
    atb_node = quorum.auto_tie_breaker_node
    return VotequorumSettings(
        nodelist=tuple(
            NodelistEntry(node.nodeid, node.quorum_votes, node.name) for node in config.nodes
        ),
        expected_votes=quorum.expected_votes,
        votes=quorum.votes,
        two_node=quorum.two_node,
        wait_for_all=quorum.wait_for_all,
        last_man_standing=quorum.last_man_standing,
        last_man_standing_window_ms=quorum.last_man_standing_window,
        auto_tie_breaker=quorum.auto_tie_breaker,
        auto_tie_breaker_node=(
            None
            if "quorum.auto_tie_breaker_node" not in config.raw
            else atb_node
            if isinstance(atb_node, str)
            else " ".join(map(str, atb_node))
        ),
        allow_downscale=quorum.allow_downscale,
        expected_votes_tracking=quorum.expected_votes_tracking,
        device=device,
    )


def _addresses(config: CorosyncConfig) -> dict[int, str]:
    """What ``corosync-quorumtool -i`` prints in the Name column: the ring0 address."""
    return {node.nodeid: node.addresses[0] for node in config.nodes}


def _names(config: CorosyncConfig) -> dict[int, str]:
    """What corosync-quorumtool prints in the Name column: the node name, else ring0 address."""
    return {node.nodeid: node.name or node.ring0_addr for node in config.nodes}


class ConfiguredVotequorum(VotequorumService):
    """votequorum with the node names of its config, control-socket operations and the
    library side (libvotequorum over IPC, :mod:`votequorum.lib`)."""

    ipc_name = "votequorum"

    def __init__(
        self,
        settings: VotequorumSettings,
        names: Mapping[int, str],
        addresses: Mapping[int, str] | None = None,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(settings)
        self.names = dict(names)
        self.addresses = dict(addresses or {})
        self.wall_clock = wall_clock
        """The ``Date:`` of ``corosync-quorumtool -s`` (the daemon's ``time.time``); None:
        the Epoch (the service reads no clock of its own)."""
        self.lib = VotequorumLib(self)

    def lib_handlers(self) -> Sequence[LibHandler]:
        return self.lib.handlers()

    def lib_init(self, conn: LibConnection) -> None:
        self.lib.lib_init(conn)

    def lib_exit(self, conn: LibConnection) -> None:
        self.lib.lib_exit(conn)

    def bind(self, services: Sequence[Service]) -> None:
        """Report quorum to the node's quorum service (id 3), as corosync's provider does."""
        for service in services:
            setter = getattr(service, "set_quorum", None)
            if service.service_id == 3 and setter is not None:
                self._callback = setter

    def config_reloaded(self, config: CorosyncConfig) -> None:
        """A configuration reload (cfg RELOAD_CONFIG): new names, votequorum's refresh."""
        self.names = _names(config)
        self.addresses = _addresses(config)
        self.refresh_config(settings_from_config(config))

    def control_ops(self) -> Mapping[str, Callable[[dict[str, Any]], Any]]:
        return {
            "quorum.status": self._status,
            "quorum.render": self._render,
            "quorum.set_expected": self._set_expected,
            "quorum.set_votes": self._set_votes,
            "quorum.cancel_wfa": lambda _r: self._refusing(self.cancel_wait_for_all),
        }

    def _status(self, _request: dict[str, Any]) -> dict[str, Any]:
        from votequorum.render import status_json

        return status_json(self.snapshot(), self.names)

    def _render(self, request: dict[str, Any]) -> str:
        # the text renderers are loaded by the first tool that asks, not at every start
        from datetime import datetime

        from votequorum.render import render_nodes, render_status

        what = request.get("what", "status")
        nodeid_format = request.get("nodeid_format", "decimal")
        sort = request.get("sort", "addr")
        if nodeid_format not in ("decimal", "hex") or sort not in ("addr", "name", "nodeid"):
            raise ValueError("nodeid_format must be decimal|hex and sort addr|name|nodeid")
        # "name_column": "address" is corosync-quorumtool -i (addresses instead of names)
        names = self.addresses if request.get("name_column") == "address" else self.names
        snapshot = self.snapshot()
        if what == "nodes":
            return render_nodes(snapshot, names, nodeid_format=nodeid_format, sort=sort)
        now = self.wall_clock() if self.wall_clock is not None else 0.0
        return render_status(
            snapshot,
            names,
            date=datetime.fromtimestamp(now),
            nodeid_format=nodeid_format,
            sort=sort,
        )

    @staticmethod
    def _refusing(call: Callable[[], None]) -> str:
        try:
            call()
        except VotequorumError as err:
            raise ValueError(str(err)) from None
        return "ok"

    def _set_expected(self, request: dict[str, Any]) -> str:
        value = request["value"]
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("expected votes must be an integer")
        return self._refusing(lambda: self.set_expected_votes(value))

    def _set_votes(self, request: dict[str, Any]) -> str:
        value, node_id = request["value"], request.get("node_id", self.host_node_id())
        if not isinstance(value, int) or not isinstance(node_id, int):
            raise ValueError("votes and node id must be integers")
        return self._refusing(lambda: self.set_votes(node_id, value))

    def host_node_id(self) -> int:
        assert self.host is not None
        return self.host.node_id


def service_factory(context: ServiceContext) -> ConfiguredVotequorum | None:
    """Entry point: votequorum when ``quorum.provider`` is ``corosync_votequorum``."""
    config = context.config
    if config.quorum.provider != PROVIDER:
        return None
    return ConfiguredVotequorum(
        settings_from_config(config),
        _names(config),
        _addresses(config),
        wall_clock=context.wall_clock,
    )
