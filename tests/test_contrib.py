"""The systemd units and the Grafana dashboard of ``contrib/`` match the programs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pvecluster.cfsd.metrics import cfs_families
from qnetd.server.instance import QnetdServer
from qnetd.server.metrics import qnetd_families
from totem.node.metrics import daemon_families
from totem.node.metrics_http import new_registry

CONTRIB = Path(__file__).resolve().parents[1] / "contrib"
UNITS = sorted(CONTRIB.glob("*.service"))
BIN = Path(sys.executable).parent


def unit(path: Path) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit (keys may repeat), comments left out."""
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_three_units_of_type_notify_with_the_readme_as_documentation() -> None:
    assert [u.name for u in UNITS] == [
        "pycorosync-cfsd.service",
        "pycorosync-qnetd.service",
        "pycorosync.service",
    ]
    for path in UNITS:
        keys = unit(path)
        assert keys["Type"] == ["notify"], path.name
        docs = keys["Documentation"][0].split()
        assert docs[0] == "file:///usr/share/doc/pycorosync/README.md", path.name
        assert not any("example" in d or "invalid" in d for d in docs)
        assert keys["NoNewPrivileges"] == ["yes"]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_the_commands_of_a_unit_take_its_options(path: Path) -> None:
    for key in ("ExecStart", "ExecStop"):
        for command in unit(path).get(key, []):
            program, *args = command.split()
            name = Path(program).name
            assert program == f"/usr/local/bin/{name}"
            helped = subprocess.run(
                [str(BIN / name), "--help"], capture_output=True, text=True, timeout=60
            )
            assert helped.returncode == 0, helped.stderr
            for option in args:
                if option.startswith("-") and not option.startswith("$"):
                    assert re.search(rf"(^|[\s\[,]){re.escape(option)}\b", helped.stdout), (
                        f"{path.name}: {name} has no option {option}"
                    )


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    for path in UNITS:  # with this checkout's programs where the units expect them
        (tmp_path / path.name).write_text(path.read_text().replace("/usr/local/bin/", f"{BIN}/"))
    done = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / u.name) for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Unknown key" not in done.stderr and "Unknown lvalue" not in done.stderr


def _exported_names() -> set[str]:
    """Every metric name the daemons export (with a knet node and a qnetd)."""
    link = {"link": 0, "connected": True, "latency": 1, "stats": {}}
    status: dict[str, Any] = {
        "node_id": 1,
        "nodelist": [{"node_id": 1, "name": "a", "addresses": ["10.0.0.1"]}],
        "links": [{"counters": {}}],
        "node": {
            "ring_id": "1.4",
            "members": [1, 2],
            "services": {
                "corosync vote quorum service v1.0": {
                    "node_id": 1,
                    "ring_id": "1.4",
                    "quorate": True,
                    "expected_votes": 2,
                    "highest_expected": 2,
                    "total_votes": 2,
                    "quorum": 2,
                    "members": [1],
                },
                "corosync cluster closed process group service v1.01": {"groups": {}},
            },
            "knet": {"hosts": [{"host_id": 2, "links": [link]}]},
        },
    }
    families = [*daemon_families(status), *qnetd_families(QnetdServer()), *cfs_families({}, True)]
    names = set()
    for family in families:
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
    names.update(metric.name for metric in new_registry().collect())
    names.update(s.name for metric in new_registry().collect() for s in metric.samples)
    return names


def test_every_metric_of_the_dashboard_is_exported() -> None:
    dashboard = json.loads((CONTRIB / "grafana-pycorosync.json").read_text())
    exported = _exported_names()
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    expressions += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    assert len(expressions) > 20
    used = {
        name
        for expr in expressions
        for name in re.findall(r"\b((?:ha_cluster|pycorosync|process)_[a-z_]+)\b", expr)
    }
    assert used - exported == set()
    assert {"ha_cluster_corosync_quorate", "pycorosync_link_latency_seconds"} <= used
