"""Every golden transcript of ``testdata/`` replays to its checked-in output (see runner)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.transcripts.datadriven import parse, render
from tests.transcripts.runner import ROOT, actual, check, rewrite_requested, transcripts

TRANSCRIPTS = transcripts()


def _rewrite(config: pytest.Config) -> bool:
    try:
        option = bool(config.getoption("--rewrite"))
    except ValueError:  # the option is registered only when this folder's conftest loads
        option = False
    return option or rewrite_requested()


def test_there_are_transcripts_for_every_core() -> None:
    cores = {p.parent.name for p in TRANSCRIPTS}
    assert cores == {"srp", "knet", "votequorum", "qnetd", "cfs"}
    assert len(TRANSCRIPTS) >= 15


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[str(p.relative_to(ROOT)) for p in TRANSCRIPTS])
def test_transcript(path: Path, request: pytest.FixtureRequest) -> None:
    diff = check(path, rewrite=_rewrite(request.config))
    if diff:
        pytest.fail(
            "transcript differs (rerun with `pytest tests/transcripts --rewrite` "
            "and read the diff if the change is meant):\n" + diff,
            pytrace=False,
        )


def test_a_transcript_replays_identically() -> None:
    """Determinism: the same script run twice gives the same bytes (crypto salts included)."""
    chosen = [p for p in TRANSCRIPTS if p.stem in ("crypto", "cold_start")]
    assert chosen
    for path in chosen:
        assert actual(path) == actual(path)


def test_rendering_a_parsed_file_gives_it_back() -> None:
    for path in TRANSCRIPTS:
        text = path.read_text()
        cases, trailer = parse(text, path.name)
        assert render(((c, c.expected) for c in cases), trailer) == text
