"""votequorum: votes, expected votes and quorum (ref totem-wire.md 11)."""
