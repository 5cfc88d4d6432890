"""pycorosync-keygen in a temporary directory: sizes, mode 0400, refusal to overwrite."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from totem.tools.keygen import main


def test_default_size_and_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "authkey"
    assert main(["-k", str(key)]) == 0
    data = key.read_bytes()
    assert len(data) == 256
    assert len(set(data)) > 100  # random, not a constant
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    assert capsys.readouterr().out == (
        "Corosync Cluster Engine Authentication key generator.\n"
        "Gathering 2048 bits for key from /dev/urandom.\n"
        f"Writing corosync key to {key}.\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["authkey"]  # no temporary left


@pytest.mark.parametrize("size", ["128", "4096", "1000"])
def test_sizes(tmp_path: Path, size: str) -> None:
    key = tmp_path / "k"
    assert main(["-k", str(key), "-s", size, "-l"]) == 0
    assert len(key.read_bytes()) == int(size)


@pytest.mark.parametrize("size", ["127", "4097", "x", "-5"])
def test_bad_sizes(tmp_path: Path, size: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-k", str(tmp_path / "k"), "-s", size]) == 1
    assert "Unsupported key size (supported <128,4096>)" in capsys.readouterr().err
    assert not (tmp_path / "k").exists()


def test_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "authkey"
    assert main(["-k", str(key)]) == 0
    first = key.read_bytes()
    assert main(["-k", str(key)]) == 2
    assert "File exists (use -f" in capsys.readouterr().err
    assert key.read_bytes() == first
    assert main(["-k", str(key), "-f", "-s", "512"]) == 0
    assert len(key.read_bytes()) == 512 and key.read_bytes() != first
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["authkey"]


def test_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-k", str(tmp_path / "nodir" / "authkey")]) == 2
    err = capsys.readouterr().err
    assert "Could not create" in err and "No such file or directory" in err


def test_random_file(tmp_path: Path) -> None:
    source = tmp_path / "random"
    source.write_bytes(bytes(range(256)) * 2)
    key = tmp_path / "k"
    assert main(["-k", str(key), "-r", str(source), "-s", "300"]) == 0
    assert key.read_bytes() == (bytes(range(256)) * 2)[:300]
    assert main(["-k", str(tmp_path / "k2"), "-r", str(source), "-s", "600"]) == 1
    assert main(["-k", str(tmp_path / "k3"), "-r", str(tmp_path / "none")]) == 1
    assert not (tmp_path / "k2").exists()


def test_key_is_readable_by_the_config_loader_rules(tmp_path: Path) -> None:
    key = tmp_path / "authkey"
    assert main(["-k", str(key)]) == 0
    with open(key, "rb") as handle:  # as totem.config.read_authkey reads it
        assert 128 <= len(handle.read(4096)) <= 4096
    assert os.access(key, os.R_OK)


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-h"]) == 0
    assert "--key-file" in capsys.readouterr().out
