"""``python -m bench`` with no arguments runs every benchmark, even after one stops."""

from __future__ import annotations

import pytest

import bench.__main__ as runner


def test_every_benchmark_runs_even_after_one_stops_on_its_usage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[str] = []

    def needs_arguments(argv: list[str]) -> int:
        ran.append("first")
        raise SystemExit(2)

    def fine(argv: list[str]) -> int:
        ran.append("second")
        return 0

    mains = {"first": needs_arguments, "second": fine}
    monkeypatch.setattr(runner, "benchmarks", lambda: ["first", "second"])
    monkeypatch.setattr(runner, "_load", lambda name: (mains[name], name))
    assert runner.main([]) == 2
    assert ran == ["first", "second"]
    assert "== first stopped with status 2" in capsys.readouterr().out
