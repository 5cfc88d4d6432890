"""qnetd: the quorum arbiter and the qdevice-net protocol (ref qnetd-protocol.md)."""
