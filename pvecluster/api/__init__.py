"""The HTTPS join API of a node and its client (ref cluster-manager.md 2, 5.3)."""
