"""asyncio datagram drivers (uvloop when importable) for udp and udpu (ref totem-wire.md 2)."""
