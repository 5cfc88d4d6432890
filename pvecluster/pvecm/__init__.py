"""``pycorosync-pvecm``: pvecm's subcommands on top of the replicated filesystem."""
