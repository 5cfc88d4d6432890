"""Reading files: the configuration itself and the crypto key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.conftext import conf, load_text
from totem.config import ConfigError, load, read_authkey


def test_load_reads_the_file_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "corosync.conf"
    path.write_text(conf("token: 5000"))
    config = load(path)
    assert config.path == str(path)
    assert config.totem.token == 5000


def test_load_of_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.conf"
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value) == f"{path}: can't read file: No such file or directory"


def test_load_accepts_any_bytes(tmp_path: Path) -> None:
    path = tmp_path / "latin1.conf"
    path.write_bytes(conf().replace("testclu", "caf\xe9").encode("latin-1"))
    config = load(path)
    assert config.totem.cluster_name == "caf\udce9"  # undecodable byte kept as is
    path.write_bytes(b"totem {\n version: 2\n\xff\xfe: x\n}\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert "invalid key name" in str(info.value)


def test_no_key_without_crypto() -> None:
    assert read_authkey(load_text(conf()).totem) is None


def test_keyfile(tmp_path: Path) -> None:
    key = bytes(range(256))
    path = tmp_path / "authkey"
    path.write_bytes(key)
    totem = load_text(conf(f"secauth: on\nkeyfile: {path}")).totem
    assert read_authkey(totem) == key
    path.write_bytes(key * 20)  # corosync reads at most 4096 bytes
    assert read_authkey(totem) == (key * 20)[:4096]
    path.write_bytes(key[:127])
    with pytest.raises(ConfigError) as info:
        read_authkey(totem)
    assert str(info.value) == f"{path}: could only read 1016 bits of minimum 1024 bits"
    path.unlink()
    with pytest.raises(ConfigError) as info:
        read_authkey(totem)
    assert str(info.value) == f"{path}: could not read key: No such file or directory"


def test_inline_key_includes_the_nul() -> None:
    totem = load_text(conf("crypto_hash: sha1\nkey: " + "s" * 200)).totem
    assert read_authkey(totem) == b"s" * 200 + b"\0"


def test_default_keyfile() -> None:
    totem = load_text(conf("crypto_hash: sha1")).totem
    assert totem.keyfile_path == "/etc/corosync/authkey"
