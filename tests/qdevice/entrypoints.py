"""Entry points of this source tree for the programs a test starts.

The daemon finds its services and agents through entry points, which Python reads from the
installed distribution's metadata -- that of whatever tree the virtualenv was installed from.
:func:`source_tree_env` writes a ``pycorosync`` dist-info built from this tree's
``pyproject.toml`` into a temporary directory and returns the environment that puts it (and
this tree) first on ``PYTHONPATH``, so a started daemon runs this tree with its entry points.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def write_dist_info(directory: Path) -> Path:
    """Write ``pycorosync-<version>.dist-info`` into ``directory``; return ``directory``."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    info = directory / f"pycorosync-{project['version']}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: pycorosync\nVersion: {project['version']}\n"
    )
    lines: list[str] = []
    groups = {"console_scripts": project.get("scripts", {}), **project.get("entry-points", {})}
    for group, items in groups.items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in items.items()]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))
    return directory


def source_tree_env(directory: Path) -> dict[str, str]:
    """``os.environ`` with this tree and its entry points first on ``PYTHONPATH``."""
    write_dist_info(directory)
    path = [str(directory), str(REPO)]
    if os.environ.get("PYTHONPATH"):
        path.append(os.environ["PYTHONPATH"])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path))
