"""CPG, corosync's closed process group service (service id 2), sans-IO.

``service.CpgService`` is the engine (exec messages, group state, sync, the
local process API); ``wire`` has the byte-exact exec message codecs;
``events`` the values, errors and callbacks; ``groups`` the process list.
"""

from totem.services.cpg.events import (
    CpdState,
    CpgAddress,
    CpgConfigChange,
    CpgDeliver,
    CpgError,
    CpgEvent,
    CpgGuarantee,
    CpgIterationEntry,
    CpgIterationType,
    CpgLocalProcess,
    CpgReason,
    CpgTotemConfigChange,
    CsError,
)
from totem.services.cpg.service import CPG_MAX_ATOMIC_MSGSIZE, CpgService

__all__ = [
    "CPG_MAX_ATOMIC_MSGSIZE",
    "CpdState",
    "CpgAddress",
    "CpgConfigChange",
    "CpgDeliver",
    "CpgError",
    "CpgEvent",
    "CpgGuarantee",
    "CpgIterationEntry",
    "CpgIterationType",
    "CpgLocalProcess",
    "CpgReason",
    "CpgService",
    "CpgTotemConfigChange",
    "CsError",
]
