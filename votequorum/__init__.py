"""votequorum: votes, expected votes and quorum (ref totem-wire.md 11).

* ``wire``     -- NODEINFO, RECONFIGURE, QDEVICE_REG, QDEVICE_RECONFIGURE bodies and flags
* ``calc``     -- the quorum calculation as pure functions
* ``settings`` -- the ``quorum {}`` configuration and its start-up resolution
* ``service``  -- the sans-IO votequorum service engine (service id 5)
* ``status``   -- status snapshots; ``render`` -- corosync-quorumtool's text and JSON
"""
