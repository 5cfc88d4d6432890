"""Effective Totem settings of a simulated cluster, derived as corosync 3.1.7 derives them.

The ``nodes`` statement takes corosync.conf's totem keys; the simulator turns
them into :class:`~totem.srp.settings.SrpSettings` by corosync's rules
(``exec/totemconfig.c``, ref anchors.md A3, real-corosync.md section 5):

* a key absent or 0 takes its default;
* ``token`` (3000) grows by ``(n - 2) * token_coefficient`` (650) for n > 2
  nodes, also when ``token`` is set explicitly;
* ``token_retransmit = int(token / 4.2)``, ``hold = int(token_retransmit * 0.8 - 10)``,
  ``consensus = int(1.2 * token)`` (through a C float), unless set;
* ``consensus`` must not be below ``join``.

So ``nodes 3`` runs with token 3650 / retransmit 869 / hold 685 / consensus
4380 ms, as a real 3-node corosync does. (Integration point: once
``totem.config`` is on main, this module defers to ``totem.config.timers``.)
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from totem.srp.settings import SrpSettings

__all__ = ["TimerConfigError", "effective_settings"]


class TimerConfigError(ValueError):
    """A timer combination corosync refuses."""


def _float32(value: float) -> float:
    result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return result


def effective_settings(node_count: int, options: Mapping[str, int]) -> SrpSettings:
    """The SRP settings corosync would run with for ``node_count`` nodelist entries."""

    def get(key: str, default: int) -> int:
        value = options.get(key, 0)
        return value if value else default

    token = get("token", 3000)
    coefficient = options.get("token_coefficient", 650)
    if node_count > 2:
        token = (token + (node_count - 2) * coefficient) & 0xFFFFFFFF
    token_retransmit = get("token_retransmit", int(token / 4.2))
    hold = get("hold", int(token_retransmit * 0.8 - 10))
    join = get("join", 50)
    consensus = get("consensus", int(_float32(1.2 * token)))
    if consensus < join:
        raise TimerConfigError(
            f"consensus ({consensus} ms) must not be smaller than join ({join} ms)"
        )
    if hold < 1:
        hold = 1
    warning = options.get("token_warning")
    return SrpSettings(
        token=token,
        token_retransmit=max(1, token_retransmit),
        hold=hold,
        join=join,
        consensus=consensus,
        merge=get("merge", 200),
        token_warning=75 if warning is None else warning,
        fail_recv_const=get("fail_recv_const", 2500),
        seqno_unchanged_const=get("seqno_unchanged_const", 30),
        miss_count_const=get("miss_count_const", 5),
        window_size=get("window_size", 50),
        max_messages=get("max_messages", 17),
        net_mtu=get("netmtu", 1500),
    )
