"""The node daemon: a thin asyncio driver around the protocol cores."""
