"""``pvecm qdevice setup|remove`` (ref cluster-manager.md 3.4, 3.5)."""

from __future__ import annotations

import argparse

from pvecluster.client.cfs import CfsClient
from pvecluster.paths import NodeRoot

__all__ = ["remove_qdevice", "setup_qdevice"]


def setup_qdevice(client: CfsClient, root: NodeRoot, args: argparse.Namespace) -> int:
    raise NotImplementedError


def remove_qdevice(client: CfsClient, root: NodeRoot, args: argparse.Namespace) -> int:
    raise NotImplementedError
