"""Byte codecs of corosync 3.1.7 Totem datagrams (ref totem-wire.md sections 3-4, 8-10)."""
