"""The daemon's entry point reader gives exactly what ``importlib.metadata`` gives."""

from __future__ import annotations

import importlib.metadata
import zipfile
from pathlib import Path

import pytest

from totem.node import entrypoints
from totem.node.entrypoints import EntryPoint, entry_points

GROUP = "pycorosync.test.entrypoints"


def _dist(root: Path, stem: str, text: str) -> None:
    info = root / f"{stem}.dist-info"
    info.mkdir(parents=True)
    name = stem.partition("-")[0]
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(text)


def _reference(group: str) -> list[tuple[str, str, str]]:
    return [(e.name, e.value, e.group) for e in importlib.metadata.entry_points(group=group)]


def _ours(group: str) -> list[tuple[str, str, str]]:
    return [(e.name, e.value, e.group) for e in entry_points(group)]


def test_same_as_importlib_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(
        first,
        "Ep_Test.Plugin-1.0",
        f"# comment\n[other]\nx = nowhere:x\n\n[{GROUP}]\n a = ept_mod:factory \n"
        "b=ept_mod:Outer.inner [extra]\n",
    )
    # the same distribution (normalised name) later on sys.path is hidden
    _dist(second, "ep_test_plugin-2.0", f"[{GROUP}]\nshadowed = nowhere:x\n")
    _dist(second, "eptother-1.0", f"[{GROUP}]\nc = ept_mod\n")
    (second / "lonely.egg-info").write_text("Metadata-Version: 2.1\nName: lonely\n")
    monkeypatch.syspath_prepend(str(second))
    monkeypatch.syspath_prepend(str(first))
    assert entrypoints._plain_path()
    assert _ours(GROUP) == _reference(GROUP)
    assert {name for name, _, _ in _ours(GROUP)} == {"a", "b", "c"}
    assert _ours("pycorosync.services") == _reference("pycorosync.services")


def test_load_resolves_module_and_attribute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ept_mod.py").write_text(
        "def factory(): return 'f'\nclass Outer:\n    inner = 'i'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert EntryPoint("a", "ept_mod:factory", GROUP).load()() == "f"
    assert EntryPoint("b", "ept_mod:Outer.inner [extra]", GROUP).load() == "i"
    assert EntryPoint("c", "ept_mod", GROUP).load().__name__ == "ept_mod"
    with pytest.raises(ValueError, match="malformed"):
        EntryPoint("d", "not a target!", GROUP).load()


def test_zip_on_sys_path_is_left_to_importlib_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped\n")
        zf.writestr("zipped-1.0.dist-info/entry_points.txt", f"[{GROUP}]\nz = zmod:f\n")
    monkeypatch.syspath_prepend(str(archive))
    assert not entrypoints._plain_path()
    assert _ours(GROUP) == _reference(GROUP) == [("z", "zmod:f", GROUP)]
