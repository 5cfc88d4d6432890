"""``python -m totem.config``: a corosync -t for our parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.config.conftext import conf
from totem.config.__main__ import main


def test_good_file_with_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.conf"
    path.write_text(conf("foo: 1"))
    assert main(["-c", str(path), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == f"warning: {path}:5: unknown key 'totem.foo'\n"
    data = json.loads(out)
    assert data["timers"]["token"] == 3000
    assert data["nodes"][1]["ring0_addr"] == "10.0.0.2"
    assert data["raw"]["totem.foo"] == "1"


def test_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.conf"
    path.write_text("totem {\n")
    assert main(["-c", str(path)]) == 1
    assert capsys.readouterr().err == f"{path}:1: missing closing brace\n"
