"""votequorum's run-time configuration read (``votequorum_readconfig(RUNTIME)``), pure.

A configuration reload (cfg RELOAD_CONFIG, ``corosync-cfgtool -R``) makes votequorum
re-read corosync.conf (``votequorum_refresh_config``, ``exec/votequorum.c`` 3.1.7).
:func:`read_runtime_config` is that read as a function of the new settings and the
running state; :meth:`votequorum.service.VotequorumService.refresh_config` applies the
result and sends NODEINFO and RECONFIGURE so that every node recalculates.

What is re-read: this node's votes and expected votes (the nodelist's ``quorum_votes``,
``quorum.expected_votes``, ``quorum.votes`` without a nodelist), ``two_node`` (and the
``wait_for_all`` it implies when wait_for_all is not set), the quorum device (its votes,
``timeout``, ``sync_timeout``; device operations are allowed again when a model is
configured), and auto_tie_breaker's odd-cluster check against the new nodelist. The
errors that stop corosync at start-up only disable what they concern at run time, logged
at CRIT (our ERROR level). Not re-read: wait_for_all, last_man_standing and its window,
auto_tie_breaker and its node list, allow_downscale, expected_votes_tracking --
:func:`read_only_changes` names those whose value the new file changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from votequorum.calc import AtbMode, AutoTieBreaker, parse_auto_tie_breaker_node
from votequorum.settings import VotequorumSettings, default_qdevice_votes

__all__ = ["RuntimeConfig", "configured_atb", "read_only_changes", "read_runtime_config"]

CRIT = "CRIT"
DEBUG = "DEBUG"


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """What the run-time read decided. ``None`` fields keep their running value."""

    two_node: bool
    wait_for_all: bool
    auto_tie_breaker: AutoTieBreaker
    votes: int | None
    """This node's votes; None when the read gave up ("will continue with current runtime
    data")."""
    expected_votes: int | None
    """This node's expected votes (also the new ev_barrier); None when unchanged."""
    qdevice_votes: int | None
    qdevice_can_operate: bool | None
    qdevice_timeout_ms: int | None
    qdevice_sync_timeout_ms: int | None
    clear_wait_for_all_status: bool = False
    """wait_for_all was implied by two_node and no longer is: drop the WFA status."""
    log: tuple[tuple[str, str], ...] = ()
    """(level, message): ``CRIT`` or ``DEBUG`` lines, in corosync's order."""


def configured_atb(settings: VotequorumSettings) -> AutoTieBreaker:
    """auto_tie_breaker as configured (corosync's ``initial_auto_tie_breaker``), before the
    odd-sized cluster check that every read repeats with the current nodelist."""
    if not settings.auto_tie_breaker:
        return AutoTieBreaker()
    return parse_auto_tie_breaker_node(settings.auto_tie_breaker_node) or AutoTieBreaker()


def read_only_changes(startup: VotequorumSettings, new: VotequorumSettings) -> tuple[str, ...]:
    """The ``quorum.*`` keys a reload cannot change whose value ``new`` changes."""
    pairs = (
        ("wait_for_all", startup.wait_for_all, new.wait_for_all),
        ("last_man_standing", startup.last_man_standing, new.last_man_standing),
        (
            "last_man_standing_window",
            startup.last_man_standing_window_ms,
            new.last_man_standing_window_ms,
        ),
        ("auto_tie_breaker", startup.auto_tie_breaker, new.auto_tie_breaker),
        ("auto_tie_breaker_node", startup.auto_tie_breaker_node, new.auto_tie_breaker_node),
        ("allow_downscale", startup.allow_downscale, new.allow_downscale),
        ("expected_votes_tracking", startup.expected_votes_tracking, new.expected_votes_tracking),
    )
    return tuple(f"quorum.{key}" for key, old, value in pairs if old != value)


def read_runtime_config(
    settings: VotequorumSettings,
    *,
    node_id: int,
    startup: VotequorumSettings,
    wait_for_all: bool,
    last_man_standing: bool,
    allow_downscale: bool,
    ev_tracking: bool,
    ev_tracking_barrier: int,
    qdevice_registered: bool,
) -> RuntimeConfig:
    """``votequorum_readconfig(VOTEQUORUM_READCONFIG_RUNTIME)`` of ``settings`` (the new
    file) for node ``node_id``, which started with ``startup`` and runs with the given
    options (``wait_for_all`` is the running value: it only follows two_node when the file
    did not set it at start-up)."""
    log: list[tuple[str, str]] = []

    def crit(message: str) -> None:
        log.append((CRIT, message))

    two_node = settings.two_node
    atb = configured_atb(startup)
    expected_votes = settings.expected_votes or 0
    local = [e for e in settings.nodelist if e.nodeid == node_id]
    have_nodelist = bool(local)
    node_count = len(settings.nodelist)
    node_expected_votes = sum(e.quorum_votes for e in settings.nodelist)
    device = settings.device
    have_qdevice = device is not None and bool(device.model)
    qdevice_votes = 0
    can_operate: bool | None = None
    timeout_ms: int | None = None
    sync_timeout_ms: int | None = None
    if device is not None and have_qdevice:
        qdevice_votes = -1 if device.votes is None else device.votes
        timeout_ms, sync_timeout_ms = device.timeout_ms, device.sync_timeout_ms
        can_operate = True

    def result(**changes: object) -> RuntimeConfig:
        fields: dict[str, object] = {
            "two_node": two_node,
            "wait_for_all": wait_for_all,
            "auto_tie_breaker": atb,
            "votes": None,
            "expected_votes": None,
            "qdevice_votes": None,
            "qdevice_can_operate": can_operate,
            "qdevice_timeout_ms": timeout_ms,
            "qdevice_sync_timeout_ms": sync_timeout_ms,
            "log": tuple(log),
        }
        fields.update(changes)
        return RuntimeConfig(**fields)  # type: ignore[arg-type]

    def disable_qdevice(message: str) -> None:
        nonlocal can_operate
        crit(f"configuration error: {message}")
        crit("disabling quorum device operations")
        can_operate = False

    if not have_nodelist and not expected_votes:
        crit("configuration error: nodelist or quorum.expected_votes must be configured!")
        crit("will continue with current runtime data")
        return result()
    if two_node and have_qdevice:
        crit(
            "configuration error: two_node and quorum device cannot be configured at the same time!"
        )
        if qdevice_registered:
            crit("quorum device is registered, disabling two_node")
            two_node = False
        else:
            crit("quorum device is not registered, allowing two_node")
            can_operate = False
    wait_for_all_autoset = startup.wait_for_all is None
    if wait_for_all_autoset:
        wait_for_all = two_node
    if two_node and atb.enabled:
        crit("two_node and auto_tie_breaker are both specified but are not compatible.")
        crit("two_node has been disabled, please fix your corosync.conf")
        two_node = False
    if atb.enabled and node_expected_votes % 2 and not wait_for_all:
        if last_man_standing:
            crit("auto_tie_breaker is set, the cluster has an odd number of nodes")
            crit("and last_man_standing is also set. With this situation a better")
            crit("solution would be to disable LMS, leave ATB enabled, and also")
            crit("enable wait_for_all (mandatory for ATB in odd-numbered clusters).")
            crit(
                "Due to this ambiguity, corosync will fail to start. Please fix your corosync.conf"
            )
            return result()
        crit("auto_tie_breaker is set and the cluster has an odd number of nodes.")
        crit("wait_for_all needs to be set for this configuration but it is missing")
        crit("Therefore auto_tie_breaker has been disabled. Please fix your corosync.conf")
        atb = AutoTieBreaker(AtbMode.NONE)
    if have_qdevice and last_man_standing:
        disable_qdevice("quorum.device is not compatible with last_man_standing")
    if have_qdevice and atb.enabled:
        disable_qdevice("quorum.device is not compatible with auto_tie_breaker")
    if have_qdevice and allow_downscale:
        disable_qdevice("quorum.device is not compatible with allow_downscale")
    if expected_votes and have_qdevice and qdevice_votes == -1:
        disable_qdevice("quorum.device.votes must be specified when quorum.expected_votes is set")
    if have_qdevice and qdevice_votes == -1 and have_nodelist and node_count != node_expected_votes:
        disable_qdevice("quorum.device.votes must be specified when not all nodes votes 1")
    if qdevice_votes > 0 and expected_votes and expected_votes - qdevice_votes < 2:
        disable_qdevice("quorum.device.votes is too high or expected_votes is too low")
    qdevice_votes, node_expected_votes = default_qdevice_votes(
        have_qdevice, qdevice_votes, expected_votes, have_nodelist, node_count, node_expected_votes
    )
    log.append(
        (
            DEBUG,
            f"ev_tracking={int(ev_tracking)}, ev_tracking_barrier = {ev_tracking_barrier}: "
            f"expected_votes = {expected_votes}",
        )
    )
    if ev_tracking:
        expected_votes = ev_tracking_barrier
    us_expected: int | None = None
    if have_nodelist:
        votes = local[0].quorum_votes
        us_expected = node_expected_votes
    else:
        votes = 1 if settings.votes is None else settings.votes
    if expected_votes:
        us_expected = expected_votes
    return result(
        votes=votes,
        expected_votes=us_expected,
        qdevice_votes=None if qdevice_votes == -1 else qdevice_votes,
        clear_wait_for_all_status=not wait_for_all and wait_for_all_autoset,
    )
