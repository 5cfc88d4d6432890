"""corosync.conf: grammar, typed configuration and effective timers (ref totem-wire.md 12, 6.5)."""
