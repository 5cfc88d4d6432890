"""Effective Totem timers (ref totem-wire.md section 6.5; ``exec/totemconfig.c`` 3.1.7 and 2.4.x).

corosync computes the timers from the configured keys and the number of nodelist entries
(``totem_volatile_config_read``) and then checks them (``totem_volatile_config_validate``):

* Every key absent **or 0** takes its default, except ``token_warning``, ``send_join`` and
  ``heartbeat_failures_allowed`` where 0 is a real value.
* ``token`` (default 3000) grows by ``(n - 2) * token_coefficient`` when the nodelist has
  n > 2 entries -- also when ``token`` is set explicitly.  ``token_coefficient`` defaults to
  650 and may be 0.  The sum is unsigned 32-bit.
* ``token_retransmit`` = ``(int)(token / (token_retransmits_before_loss_const + 0.2))``.
* ``hold`` = ``(int)(token_retransmit * 0.8 - 1000/HZ)`` with HZ = 100.
* ``consensus`` = ``(int)(float)(1.2 * token)`` -- the product is rounded to a C ``float``
  first -- computed from the grown token, whatever ``join`` is; a consensus below ``join``
  is then refused, whether it was derived or explicit.
* The RRP keys come from corosync 2.4 (RRP was removed in 3.0): problem_count_timeout 2000,
  problem_count_threshold 10, problem_count_mcast_threshold 10 x threshold,
  token_expired_timeout = token_retransmit, autorecovery_check_timeout 1000.

Verified (ref 6.5): n <= 2 -> token 3000, token_retransmit 714, hold 561, consensus 3600;
n = 3 -> 3650 / 869 / 685 / 4380; n = 5 -> token 4950, consensus 5940.
"""

from __future__ import annotations

import math
import struct

from totem.config.model import TotemConfig, TotemTimers

__all__ = [
    "DEFAULT_TOKEN",
    "DEFAULT_TOKEN_COEFFICIENT",
    "MINIMUM_TIMEOUT",
    "MINIMUM_TIMEOUT_HOLD",
    "RRP_PROBLEM_COUNT_THRESHOLD_MIN",
    "TimerError",
    "TotemTimers",
    "compute_timers",
]

HZ = 100
DEFAULT_TOKEN = 3000
DEFAULT_TOKEN_COEFFICIENT = 650
DEFAULT_TOKEN_RETRANSMITS_BEFORE_LOSS_CONST = 4
DEFAULT_TOKEN_WARNING = 75
DEFAULT_JOIN = 50
DEFAULT_MERGE = 200
DEFAULT_DOWNCHECK = 1000
DEFAULT_FAIL_RECV_CONST = 2500
DEFAULT_SEQNO_UNCHANGED_CONST = 30
DEFAULT_MAX_NETWORK_DELAY = 50
DEFAULT_WINDOW_SIZE = 50
DEFAULT_MAX_MESSAGES = 17
DEFAULT_MISS_COUNT_CONST = 5
DEFAULT_RRP_PROBLEM_COUNT_TIMEOUT = 2000
DEFAULT_RRP_PROBLEM_COUNT_THRESHOLD = 10
DEFAULT_RRP_AUTORECOVERY_CHECK_TIMEOUT = 1000

MINIMUM_TIMEOUT = (1000 // HZ) * 3
"""30 ms: the floor of most timeouts."""
MINIMUM_TIMEOUT_HOLD = int(MINIMUM_TIMEOUT * 0.8 - (1000 // HZ))
"""14 ms: the floor of ``hold`` in 3.x."""
RRP_PROBLEM_COUNT_THRESHOLD_MIN = 2

_U32 = 0xFFFF_FFFF


class TimerError(ValueError):
    """A timer combination corosync refuses; ``key`` names the culprit (``totem.consensus``)."""

    key: str

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _c_int(value: float) -> int:
    """C ``(int)`` of a double on x86-64: truncation, INT_MIN when out of range."""
    if math.isfinite(value) and -(2**31) <= math.trunc(value) <= 2**31 - 1:
        return math.trunc(value)
    return -(2**31)


def _as_u32(value: int) -> int:
    return value & _U32


def _to_float32(value: float) -> float:
    result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return result


def _or_default(value: int | None, default: int) -> int:
    """Absent or 0 -> default (``allow_zero_value = 0``)."""
    return value if value else default


def _or_default_zero_ok(value: int | None, default: int) -> int:
    """Absent -> default; 0 is kept (``allow_zero_value = 1``)."""
    return default if value is None else value


def compute_timers(totem: TotemConfig, member_count: int) -> TotemTimers:
    """The effective timers for ``member_count`` nodelist entries; raises :class:`TimerError`.

    Checks are corosync's (3.1.7 for the Totem keys, 2.4 for the RRP keys), in its order.
    """
    const = _or_default(
        totem.token_retransmits_before_loss_const, DEFAULT_TOKEN_RETRANSMITS_BEFORE_LOSS_CONST
    )
    token = _or_default(totem.token, DEFAULT_TOKEN)
    token_warning = _or_default_zero_ok(totem.token_warning, DEFAULT_TOKEN_WARNING)
    if member_count > 2:
        coefficient = _or_default_zero_ok(totem.token_coefficient, DEFAULT_TOKEN_COEFFICIENT)
        token = _as_u32(token + (member_count - 2) * coefficient)
    max_network_delay = _or_default(totem.max_network_delay, DEFAULT_MAX_NETWORK_DELAY)
    window_size = _or_default(totem.window_size, DEFAULT_WINDOW_SIZE)
    max_messages = _or_default(totem.max_messages, DEFAULT_MAX_MESSAGES)
    miss_count_const = _or_default(totem.miss_count_const, DEFAULT_MISS_COUNT_CONST)
    token_retransmit = _or_default(totem.token_retransmit, _as_u32(_c_int(token / (const + 0.2))))
    hold = _or_default(totem.hold, _as_u32(_c_int(token_retransmit * 0.8 - (1000 // HZ))))
    join = _or_default(totem.join, DEFAULT_JOIN)
    consensus = _or_default(totem.consensus, _as_u32(_c_int(_to_float32(1.2 * token))))
    merge = _or_default(totem.merge, DEFAULT_MERGE)
    downcheck = _or_default(totem.downcheck, DEFAULT_DOWNCHECK)
    fail_recv_const = _or_default(totem.fail_recv_const, DEFAULT_FAIL_RECV_CONST)
    seqno_unchanged_const = _or_default(totem.seqno_unchanged_const, DEFAULT_SEQNO_UNCHANGED_CONST)
    send_join = _or_default_zero_ok(totem.send_join, 0)
    heartbeat_failures_allowed = _or_default_zero_ok(totem.heartbeat_failures_allowed, 0)
    rrp_problem_count_timeout = _or_default(
        totem.rrp_problem_count_timeout, DEFAULT_RRP_PROBLEM_COUNT_TIMEOUT
    )
    rrp_problem_count_threshold = _or_default(
        totem.rrp_problem_count_threshold, DEFAULT_RRP_PROBLEM_COUNT_THRESHOLD
    )
    rrp_problem_count_mcast_threshold = _or_default(
        totem.rrp_problem_count_mcast_threshold, _as_u32(rrp_problem_count_threshold * 10)
    )
    rrp_token_expired_timeout = _or_default(totem.rrp_token_expired_timeout, token_retransmit)
    rrp_autorecovery_check_timeout = _or_default(
        totem.rrp_autorecovery_check_timeout, DEFAULT_RRP_AUTORECOVERY_CHECK_TIMEOUT
    )

    def too_small(key: str, what: str, value: int, floor: int) -> TimerError:
        return TimerError(
            key, f"The {what} parameter ({value} ms) may not be less than ({floor} ms)."
        )

    if max_network_delay < MINIMUM_TIMEOUT:
        raise too_small(
            "totem.max_network_delay", "max_network_delay", max_network_delay, MINIMUM_TIMEOUT
        )
    if token < MINIMUM_TIMEOUT:
        raise too_small("totem.token", "token timeout", token, MINIMUM_TIMEOUT)
    if token_warning > 100:
        raise TimerError(
            "totem.token_warning",
            f"The token warning parameter ({token_warning}%) must be between 0 (disabled) and 100.",
        )
    if token_retransmit < MINIMUM_TIMEOUT:
        if totem.token_retransmit is not None:
            raise too_small(
                "totem.token_retransmit",
                "token retransmit timeout",
                token_retransmit,
                MINIMUM_TIMEOUT,
            )
        raise TimerError(
            "totem.token", "Not appropriate token or token_retransmits_before_loss_const value set"
        )
    if hold < MINIMUM_TIMEOUT_HOLD:
        raise too_small("totem.hold", "token hold timeout", hold, MINIMUM_TIMEOUT_HOLD)
    if join < MINIMUM_TIMEOUT:
        raise too_small("totem.join", "join timeout", join, MINIMUM_TIMEOUT)
    if consensus < MINIMUM_TIMEOUT:
        raise too_small("totem.consensus", "consensus timeout", consensus, MINIMUM_TIMEOUT)
    if consensus < join:
        raise TimerError(
            "totem.consensus",
            f"The consensus timeout parameter ({consensus} ms) may not be less than join "
            f"timeout ({join} ms).",
        )
    if merge < MINIMUM_TIMEOUT:
        raise too_small("totem.merge", "merge timeout", merge, MINIMUM_TIMEOUT)
    if downcheck < MINIMUM_TIMEOUT:
        raise too_small("totem.downcheck", "downcheck timeout", downcheck, MINIMUM_TIMEOUT)
    if rrp_problem_count_timeout < MINIMUM_TIMEOUT:
        raise too_small(
            "totem.rrp_problem_count_timeout",
            "RRP problem count timeout",
            rrp_problem_count_timeout,
            MINIMUM_TIMEOUT,
        )
    if rrp_problem_count_threshold < RRP_PROBLEM_COUNT_THRESHOLD_MIN:
        raise TimerError(
            "totem.rrp_problem_count_threshold",
            f"The RRP problem count threshold ({rrp_problem_count_threshold} problem count) "
            f"may not be less than ({RRP_PROBLEM_COUNT_THRESHOLD_MIN} problem count).",
        )
    if rrp_problem_count_mcast_threshold < RRP_PROBLEM_COUNT_THRESHOLD_MIN:
        raise TimerError(
            "totem.rrp_problem_count_mcast_threshold",
            "The RRP multicast problem count threshold "
            f"({rrp_problem_count_mcast_threshold} problem count) may not be less than "
            f"({RRP_PROBLEM_COUNT_THRESHOLD_MIN} problem count).",
        )
    if rrp_token_expired_timeout < MINIMUM_TIMEOUT:
        raise too_small(
            "totem.rrp_token_expired_timeout",
            "RRP token expired timeout",
            rrp_token_expired_timeout,
            MINIMUM_TIMEOUT,
        )

    return TotemTimers(
        token=token,
        token_retransmit=token_retransmit,
        hold=hold,
        token_retransmits_before_loss_const=const,
        join=join,
        send_join=send_join,
        consensus=consensus,
        merge=merge,
        downcheck=downcheck,
        fail_recv_const=fail_recv_const,
        seqno_unchanged_const=seqno_unchanged_const,
        miss_count_const=miss_count_const,
        max_network_delay=max_network_delay,
        window_size=window_size,
        max_messages=max_messages,
        token_warning=token_warning,
        heartbeat_failures_allowed=heartbeat_failures_allowed,
        rrp_problem_count_timeout=rrp_problem_count_timeout,
        rrp_problem_count_threshold=rrp_problem_count_threshold,
        rrp_problem_count_mcast_threshold=rrp_problem_count_mcast_threshold,
        rrp_token_expired_timeout=rrp_token_expired_timeout,
        rrp_autorecovery_check_timeout=rrp_autorecovery_check_timeout,
    )
