"""Tests that read the shared reference captures skip, with the reason, when they are absent."""

from __future__ import annotations

import pytest

from tests.wire.captures import REF_PCAP

_USES_CAPTURES = {"test_captures", "test_exec_sync", "test_pcap_reader", "test_sanity"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if REF_PCAP.is_dir():
        return
    skip = pytest.mark.skip(reason=f"the reference captures are not present ({REF_PCAP})")
    for item in items:
        if item.path.stem in _USES_CAPTURES and item.path.parent.name == "wire":
            item.add_marker(skip)
