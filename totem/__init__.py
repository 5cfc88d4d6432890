"""Totem: the single-ring ordering and membership protocol of corosync 3.1.7.

Layout (one concept per module, see ``../shared/DESIGN.md``):

* ``totem.wire``      -- byte codecs of every Totem datagram (ref totem-wire.md sections 3, 4, 8-10)
* ``totem.totempg``   -- packing of messages into totempg packets, fragmentation, reassembly (ref 8)
* ``totem.srp``       -- the sans-IO Single Ring Protocol core: membership and ordering (ref 5-7)
* ``totem.config``    -- corosync.conf grammar, typed configuration, effective timers (ref 12, 6.5)
* ``totem.transport`` -- asyncio (uvloop) UDP/UDPU drivers around the core (ref 2)
* ``totem.node``      -- the node daemon, its control socket and the process-group API
* ``totem.tools``     -- command-line tools (``pycorosync-cfgtool``)
"""

__version__ = "0.1.0"
