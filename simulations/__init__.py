"""The protocol cores on a virtual clock and a virtual network."""
