"""``pycorosync-cfsd``: the asyncio drivers of the replicated filesystem on a node."""
