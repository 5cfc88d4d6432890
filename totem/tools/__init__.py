"""Command-line tools of the node."""
