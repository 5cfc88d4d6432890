"""The daemon's ``pycorosync.agents`` hook and the qdevice agent factory."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from totem.config import parse_text
from totem.node.daemon import load_agents
from totem.node.services import load_services
from totem.service import ServiceContext
from votequorum.qdevice.agent import QdeviceAgent, agent_factory

from .fullstack import corosync_conf

GROUP = "pycorosync.agents.qdevtest"


def test_load_agents_skips_none_failures_and_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "qdv_test_agents.py").write_text(
        textwrap.dedent(
            """
            class Agent:
                def __init__(self, daemon, tag):
                    self.daemon, self.tag = daemon, tag
                async def start(self): pass
                async def stop(self): pass
            def good(daemon): return Agent(daemon, "good")
            def other(daemon): return Agent(daemon, "other")
            def absent(daemon): return None
            def broken(daemon): raise RuntimeError("no way")
            """
        )
    )
    info = tmp_path / "qdvtest-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: qdvtest\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{GROUP}]\n"
        "a = qdv_test_agents:good\n"
        "b = qdv_test_agents:absent\n"
        "c = qdv_test_agents:broken\n"
        "d = qdv_test_agents:other\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    daemon = object()
    with caplog.at_level(logging.ERROR):
        agents = load_agents(daemon, group=GROUP)  # type: ignore[arg-type]
    assert [a.tag for a in agents] == ["good", "other"]  # type: ignore[attr-defined]
    assert all(a.daemon is daemon for a in agents)  # type: ignore[attr-defined]
    assert "agent c: RuntimeError('no way')" in caplog.text


def fake_daemon(conf: str) -> SimpleNamespace:
    config = parse_text(conf)
    local = config.nodes[0]
    services = load_services(ServiceContext(config, local))
    return SimpleNamespace(
        config=config, local_node=local, stack=SimpleNamespace(services=services), loop=None
    )


def test_agent_only_for_a_net_device(caplog: pytest.LogCaptureFixture) -> None:
    daemon = fake_daemon(corosync_conf(2))
    daemon.loop = SimpleNamespace()
    agent = agent_factory(daemon)
    assert isinstance(agent, QdeviceAgent)
    assert agent.settings.cluster_name == "fullstack" and agent.settings.node_id == 1
    without = corosync_conf(2).split("    device {")[0] + "}\n"
    assert agent_factory(fake_daemon(without)) is None
    with caplog.at_level(logging.ERROR):
        assert agent_factory(fake_daemon(corosync_conf(2, votes=2))) is None
    assert "quorum device not started" in caplog.text
