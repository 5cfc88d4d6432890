"""The cmap service (id 0): corosync's configuration map, its sync duty and its library.

* ``store``   -- the map itself (``icmap``): typed values, read-only keys, tracking;
* ``stats``   -- the read-only statistics map (``cmapctl -m stats``), filled by providers;
* ``keys``    -- what the map holds: corosync.conf's keys and the node's runtime keys;
* ``lib``     -- the library side (libcmap requests, notifications);
* ``service`` -- the engine: sync of ``totem.config_version`` (ref 10.4), the map, the library.
"""

from totem.services.cmap.service import (
    CMAP_MCAST_REASON_NEW_CONFIG_VERSION,
    CMAP_MCAST_REASON_SYNC,
    CONFIG_VERSION_KEY,
    CmapService,
    ConfigVersionMismatch,
    decode_config_version_mcast,
    encode_config_version_mcast,
)

__all__ = [
    "CMAP_MCAST_REASON_NEW_CONFIG_VERSION",
    "CMAP_MCAST_REASON_SYNC",
    "CONFIG_VERSION_KEY",
    "CmapService",
    "ConfigVersionMismatch",
    "decode_config_version_mcast",
    "encode_config_version_mcast",
]
