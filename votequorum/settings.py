"""votequorum configuration: the ``quorum {}`` keys and their resolution at start-up.

:class:`VotequorumSettings` holds the corosync.conf values votequorum reads
(ref 12: ``quorum.*``, ``nodelist.node.N.{nodeid, quorum_votes}``), as plain
values so that a later adapter can fill it from the typed corosync.conf model.
:func:`resolve_settings` applies ``votequorum_readconfig`` (start-up path): the
defaults, the incompatibilities that refuse to start, the ones that only
disable a feature (logged at CRIT as corosync does), the automatic quorum
device votes, and this node's votes and expected votes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from votequorum.calc import AtbMode, AutoTieBreaker, parse_auto_tie_breaker_node

__all__ = [
    "DEFAULT_LMS_WINDOW_MS",
    "DEFAULT_QDEVICE_SYNC_TIMEOUT_MS",
    "DEFAULT_QDEVICE_TIMEOUT_MS",
    "NodelistEntry",
    "QdeviceSettings",
    "ResolvedSettings",
    "VotequorumConfigError",
    "VotequorumSettings",
    "default_qdevice_votes",
    "resolve_settings",
]

DEFAULT_LMS_WINDOW_MS = 10000
DEFAULT_QDEVICE_TIMEOUT_MS = 10000
DEFAULT_QDEVICE_SYNC_TIMEOUT_MS = 30000


class VotequorumConfigError(ValueError):
    """The configuration stops votequorum from starting (corosync's message)."""


@dataclass(frozen=True, slots=True)
class NodelistEntry:
    """``nodelist.node.N``: the keys votequorum reads."""

    nodeid: int
    quorum_votes: int = 1
    name: str | None = None


@dataclass(frozen=True, slots=True)
class QdeviceSettings:
    """``quorum.device``: configured when ``model`` is a non-empty string."""

    model: str
    votes: int | None = None
    timeout_ms: int = DEFAULT_QDEVICE_TIMEOUT_MS
    sync_timeout_ms: int = DEFAULT_QDEVICE_SYNC_TIMEOUT_MS


@dataclass(frozen=True, slots=True)
class VotequorumSettings:
    """The ``quorum {}`` section and the nodelist, as corosync.conf spells them."""

    nodelist: tuple[NodelistEntry, ...] = ()
    expected_votes: int | None = None
    votes: int | None = None
    """``quorum.votes``: this node's votes when it is not in a nodelist."""
    two_node: bool = False
    wait_for_all: bool | None = None
    """None when not set: it then follows two_node."""
    last_man_standing: bool = False
    last_man_standing_window_ms: int = DEFAULT_LMS_WINDOW_MS
    auto_tie_breaker: bool = False
    auto_tie_breaker_node: str | None = None
    allow_downscale: bool = False
    expected_votes_tracking: bool = False
    ev_tracking_barrier: int = 0
    """The persisted ``<state_dir>/ev_tracking`` value (expected_votes_tracking)."""
    device: QdeviceSettings | None = None

    @classmethod
    def from_nodes(
        cls, votes: Mapping[int, int] | list[int], **options: object
    ) -> VotequorumSettings:
        """Convenience: a nodelist from node ids (1 vote each) or ``{nodeid: votes}``."""
        items = votes.items() if isinstance(votes, Mapping) else ((n, 1) for n in votes)
        nodelist = tuple(NodelistEntry(n, v) for n, v in items)
        return cls(nodelist=nodelist, **options)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ResolvedSettings:
    """What votequorum runs with after ``votequorum_readconfig`` (start-up)."""

    votes: int
    expected_votes: int
    qdevice_votes: int
    have_qdevice: bool
    qdevice_can_operate: bool
    qdevice_timeout_ms: int
    qdevice_sync_timeout_ms: int
    two_node: bool
    wait_for_all: bool
    last_man_standing: bool
    last_man_standing_window_ms: int
    auto_tie_breaker: AutoTieBreaker
    allow_downscale: bool
    ev_tracking: bool
    ev_tracking_barrier: int
    warnings: tuple[tuple[str, str], ...] = field(default=())
    """(level name, message) lines corosync logs while reading the configuration."""


def default_qdevice_votes(
    have_qdevice: bool,
    qdevice_votes: int,
    expected_votes: int,
    have_nodelist: bool,
    node_count: int,
    node_expected_votes: int,
) -> tuple[int, int]:
    """A device without ``votes`` in a nodelist of one-vote nodes gets nodes - 1 votes, added
    to the expected votes (``votequorum_readconfig``); returns (device votes, expected)."""
    if (
        have_qdevice
        and qdevice_votes == -1
        and not expected_votes
        and have_nodelist
        and node_count == node_expected_votes
    ):
        return node_expected_votes - 1, node_expected_votes * 2 - 1
    return qdevice_votes, node_expected_votes


def resolve_settings(settings: VotequorumSettings, node_id: int) -> ResolvedSettings:
    """Apply ``votequorum_readconfig`` at start-up; raise :class:`VotequorumConfigError`."""
    warnings: list[tuple[str, str]] = []

    def crit(message: str) -> None:
        warnings.append(("CRIT", message))

    expected_votes = settings.expected_votes or 0
    local = [e for e in settings.nodelist if e.nodeid == node_id]
    have_nodelist = bool(local)
    node_count = len(settings.nodelist)
    node_expected_votes = sum(e.quorum_votes for e in settings.nodelist)
    node_votes = local[0].quorum_votes if local else 0
    device = settings.device
    have_qdevice = device is not None and bool(device.model)
    qdevice_votes = -1
    qdevice_timeout = DEFAULT_QDEVICE_TIMEOUT_MS
    qdevice_sync_timeout = DEFAULT_QDEVICE_SYNC_TIMEOUT_MS
    if have_qdevice:
        assert device is not None
        qdevice_votes = -1 if device.votes is None else device.votes
        qdevice_timeout = device.timeout_ms
        qdevice_sync_timeout = device.sync_timeout_ms
    two_node = settings.two_node

    if not have_nodelist and not expected_votes:
        raise VotequorumConfigError(
            "configuration error: nodelist or quorum.expected_votes must be configured!"
        )
    if two_node and have_qdevice:
        raise VotequorumConfigError(
            "configuration error: two_node and quorum device cannot be configured at the same time!"
        )

    allow_downscale = settings.allow_downscale
    wait_for_all_autoset = settings.wait_for_all is None
    wait_for_all = bool(settings.wait_for_all)
    last_man_standing = settings.last_man_standing
    ev_tracking = settings.expected_votes_tracking or allow_downscale
    atb = AutoTieBreaker()
    if settings.auto_tie_breaker:
        parsed = parse_auto_tie_breaker_node(settings.auto_tie_breaker_node)
        if parsed is None:
            warnings.append(
                (
                    "WARNING",
                    "auto_tie_breaker_nodes is not valid. It must be 'lowest', 'highest' or a "
                    "space-separated list of node IDs. auto_tie_breaker is disabled",
                )
            )
        else:
            atb = parsed
    elif settings.auto_tie_breaker_node is not None:
        warnings.append(
            ("WARNING", "auto_tie_breaker_node: is meaningless if auto_tie_breaker is set to 0")
        )
    ev_tracking_barrier = settings.ev_tracking_barrier if ev_tracking else 0

    if wait_for_all_autoset:
        wait_for_all = two_node
    if two_node and atb.enabled:
        crit("two_node and auto_tie_breaker are both specified but are not compatible.")
        crit("two_node has been disabled, please fix your corosync.conf")
        two_node = False
    if atb.enabled and node_expected_votes % 2 and not wait_for_all:
        if last_man_standing:
            raise VotequorumConfigError(
                "configuration error: auto_tie_breaker & last_man_standing not available in "
                "odd sized cluster"
            )
        crit("auto_tie_breaker is set and the cluster has an odd number of nodes.")
        crit("wait_for_all needs to be set for this configuration but it is missing")
        crit("Therefore auto_tie_breaker has been disabled. Please fix your corosync.conf")
        atb = AutoTieBreaker(AtbMode.NONE)
    if have_qdevice and last_man_standing:
        raise VotequorumConfigError(
            "configuration error: quorum.device is not compatible with last_man_standing"
        )
    if have_qdevice and atb.enabled:
        raise VotequorumConfigError(
            "configuration error: quorum.device is not compatible with auto_tie_breaker"
        )
    if have_qdevice and allow_downscale:
        raise VotequorumConfigError(
            "configuration error: quorum.device is not compatible with allow_downscale"
        )
    if expected_votes and have_qdevice and qdevice_votes == -1:
        raise VotequorumConfigError(
            "configuration error: quorum.device.votes must be specified when "
            "quorum.expected_votes is set"
        )
    if have_qdevice and qdevice_votes == -1 and have_nodelist and node_count != node_expected_votes:
        raise VotequorumConfigError(
            "configuration error: quorum.device.votes must be specified when not all nodes votes 1"
        )
    if qdevice_votes > 0 and expected_votes and expected_votes - qdevice_votes < 2:
        raise VotequorumConfigError(
            "configuration error: quorum.device.votes is too high or expected_votes is too low"
        )
    qdevice_votes, node_expected_votes = default_qdevice_votes(
        have_qdevice, qdevice_votes, expected_votes, have_nodelist, node_count, node_expected_votes
    )

    if ev_tracking:
        expected_votes = ev_tracking_barrier
    if have_nodelist:
        votes = node_votes
        us_expected = node_expected_votes
    else:
        votes = 1 if settings.votes is None else settings.votes
        us_expected = 0
    if expected_votes:
        us_expected = expected_votes
    if not have_qdevice or qdevice_votes == -1:
        qdevice_votes = 0

    return ResolvedSettings(
        votes=votes,
        expected_votes=us_expected,
        qdevice_votes=qdevice_votes,
        have_qdevice=have_qdevice,
        qdevice_can_operate=True,
        qdevice_timeout_ms=qdevice_timeout,
        qdevice_sync_timeout_ms=qdevice_sync_timeout,
        two_node=two_node,
        wait_for_all=wait_for_all,
        last_man_standing=last_man_standing,
        last_man_standing_window_ms=settings.last_man_standing_window_ms,
        auto_tie_breaker=atb,
        allow_downscale=allow_downscale,
        ev_tracking=ev_tracking,
        ev_tracking_barrier=ev_tracking_barrier,
        warnings=tuple(warnings),
    )
