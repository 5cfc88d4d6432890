"""The sans-IO Totem Single Ring Protocol core (ref totem-wire.md sections 5-7)."""
