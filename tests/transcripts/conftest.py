"""``pytest tests/transcripts --rewrite`` stores the actual transcripts as the expected ones."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--rewrite",
        action="store_true",
        default=False,
        help="transcripts: write the actual output into testdata/ instead of comparing",
    )
