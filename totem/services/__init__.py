"""Service engines above Totem: exec dispatch and the minimal sync participants.

* ``dispatch`` -- the 16-byte exec header of group ``"a"`` and routing to services (ref 9)
* ``cmap``     -- the cmap (id 0) sync participant: ``totem.config_version`` (ref 10.4)
* ``quorum``   -- the quorum (id 3, vsf_quorum) participant and the quorum-provider hook
"""

from totem.services.cmap import CmapService, ConfigVersionMismatch
from totem.services.dispatch import EXEC_GROUP, ExecDispatcher, ExecHeader, encode_exec
from totem.services.quorum import QuorumService, QuorumView

__all__ = [
    "EXEC_GROUP",
    "CmapService",
    "ConfigVersionMismatch",
    "ExecDispatcher",
    "ExecHeader",
    "QuorumService",
    "QuorumView",
    "encode_exec",
]
