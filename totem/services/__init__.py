"""Service engines that plug into a node above Totem (ref totem-wire.md sections 9-10)."""
