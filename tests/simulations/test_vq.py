"""``pycorosync-sim vq`` against recorded corosync-vqsim sessions (and the real one when installed).

``vq/*.vq`` are command scripts; ``*.vqsim.txt`` what Debian's corosync-vqsim
3.1.7 printed for them (recorded once, input piped one command a second, its
configs from ``tests/fixtures/samples/vqsim``); ``*.expected.txt`` what our
simulator prints (its exact output, seed 1).

vqsim fakes Totem, so ring ids differ, and it prints right after a command
before every node has recomputed quorum (its documented quirk), so the
comparison is on what ``show`` prints with ring ids left out, plus the
``Quit`` lines: the quorum state of every node in every partition must match.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from simulations.cli import main
from simulations.vq import USAGE, run_vq
from tests.fixtures import VQSIM_SAMPLES
from totem.config import load

HERE = Path(__file__).resolve().parent / "vq"
SAMPLES = VQSIM_SAMPLES
SCRIPTS = {"5n-split-join-down": "5n.conf", "2n-two-node": "2n.conf"}


def blocks(transcript: str) -> list[tuple[str, list[str]]]:
    """(command, output lines) per prompt; ring ids removed."""
    out: list[tuple[str, list[str]]] = [("<start>", [])]
    for line in transcript.splitlines():
        if line.startswith("#vqsim> "):
            out.append((line[len("#vqsim> ") :], []))
        else:
            out[-1][1].append(re.sub(r" ring=\[[0-9a-f]+\.[0-9a-f]+\]", "", line))
    return out


def comparable(transcript: str) -> list[tuple[str, list[str]]]:
    """The ``show`` outputs and every ``Quit`` line, per command."""
    picked = []
    for command, lines in blocks(transcript):
        if command in ("show", "<start>"):
            picked.append((command, lines))
        else:
            picked.append((command, [line for line in lines if "Quit" in line]))
    return picked


def ours(name: str, conf: str, *, json_output: bool = False) -> str:
    out = io.StringIO()
    script = (HERE / f"{name}.vq").read_text().splitlines(keepends=True)
    status = run_vq(load(SAMPLES / conf), script, out=out, json_output=json_output)
    assert status == 0
    return out.getvalue()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("name", "conf"), sorted(SCRIPTS.items()))
def test_quorum_states_match_recorded_vqsim(name: str, conf: str) -> None:
    recorded = (HERE / f"{name}.vqsim.txt").read_text()
    assert comparable(ours(name, conf)) == comparable(recorded)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("name", "conf"), [*sorted(SCRIPTS.items()), ("5n-autofence", "5n.conf")])
def test_exact_output_is_stable(name: str, conf: str) -> None:
    assert ours(name, conf) == (HERE / f"{name}.expected.txt").read_text()


def test_autofence_stops_the_inquorate_side() -> None:
    text = (HERE / "5n-autofence.expected.txt").read_text()
    assert "1:4: Quit (autofenced)\n1:5: Quit (autofenced)\n" in text
    last_show = blocks(text)[-2]
    assert last_show[0] == "show"
    assert last_show[1] == [
        "0:1: q=1 nodes=[1 2 3]",
        "0:2: q=1 nodes=[1 2 3]",
        "0:3: q=1 nodes=[1 2 3]",
        "#autofence: on",
    ]


@pytest.mark.timeout(60)
def test_json_lines() -> None:
    lines = [
        json.loads(line) for line in ours("2n-two-node", "2n.conf", json_output=True).splitlines()
    ]
    assert [entry["command"] for entry in lines] == [
        "start",
        "show",
        "split 1:2",
        "show",
        "join 0 1",
        "show",
        "down 2",
        "show",
    ]
    split = lines[2]["nodes"]
    assert [(n["node_id"], n["partition"], n["quorate"]) for n in split] == [
        (1, 0, True),
        (2, 1, True),
    ]
    assert set(split[0]) == {
        "node_id",
        "partition",
        "quorate",
        "expected_votes",
        "total_votes",
        "quorum",
        "ring_id",
        "members",
    }
    assert (split[0]["expected_votes"], split[0]["total_votes"], split[0]["quorum"]) == (2, 1, 1)
    assert lines[-1]["nodes"] == [
        {
            "node_id": 1,
            "partition": 0,
            "quorate": True,
            "expected_votes": 2,
            "total_votes": 1,
            "quorum": 1,
            "ring_id": lines[-1]["nodes"][0]["ring_id"],
            "members": [1],
        }
    ]


@pytest.mark.timeout(60)
def test_qdevice_vote_after_its_first_poll() -> None:
    script = ["down 4\n", "down 3\n", "show\n", "qdevice on 1,2\n", "show\n", "run 11s\n", "show\n"]
    out = io.StringIO()
    run_vq(load(SAMPLES / "4q.conf"), script, out=out)
    shows = [lines for command, lines in blocks(out.getvalue()) if command == "show"]
    assert shows[0][:2] == ["0:1: q=0 nodes=[1 2]", "0:2: q=0 nodes=[1 2]"]
    assert shows[1][:2] == ["0:1: q=0 nodes=[1 2]", "0:2: q=0 nodes=[1 2]"]
    assert shows[2][:2] == ["0:1: q=1 nodes=[1 2]", "0:2: q=1 nodes=[1 2]"]


def test_errors_and_usage() -> None:
    out, err = io.StringIO(), io.StringIO()
    script = [
        "up 2\n",
        "down 9\n",
        "bogus\n",
        "split 1:7\n",
        "autofence maybe\n",
        "# c\n",
        "exit\n",
    ]
    status = run_vq(load(SAMPLES / "2n.conf"), script, out=out, err=err)
    assert status == 0
    assert err.getvalue().splitlines() == [
        "ERR: nodeid 2 already exists in partition 0",
        "ERR: nodeid 9 is not up",
        "ERR: autofence value must be 'on' or 'off'",
    ]
    text = out.getvalue()
    assert "#vqsim> bogus\n" + USAGE in text
    assert "ERR: node 7 does not exist\n" in text
    assert text.endswith("#vqsim> # c\nexit\n")


def test_assert_on_timeout_exits_2() -> None:
    out, err = io.StringIO(), io.StringIO()
    script = ["assert on\n", "timeout 1\n", "split 1:2\n", "show\n"]
    status = run_vq(load(SAMPLES / "2n.conf"), script, out=out, err=err)
    assert status == 2
    assert "ERR: Partition(s) not stable within timeout" in err.getvalue()


def test_cli_vq_reads_a_script(tmp_path: Path) -> None:
    out = io.StringIO()
    status = main(["vq", "-c", str(SAMPLES / "2n.conf"), str(HERE / "2n-two-node.vq")], out=out)
    assert status == 0
    assert out.getvalue() == (HERE / "2n-two-node.expected.txt").read_text()


VQSIM = shutil.which("corosync-vqsim")


def run_real_vqsim(conf: Path, script: Path, workdir: Path) -> str:
    """Feed ``script`` to corosync-vqsim one command a second (its -c path must be short)."""
    shutil.copy(conf, workdir / "c.conf")
    process = subprocess.Popen(
        [VQSIM or "corosync-vqsim", "-c", "c.conf"],
        cwd=workdir,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdin is not None
        time.sleep(1.5)
        for command in script.read_text().splitlines():
            process.stdin.write(command + "\n")
            process.stdin.flush()
            time.sleep(1.0)
        process.stdin.close()
        process.wait(timeout=20)
        assert process.stdout is not None
        return process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.skipif(VQSIM is None, reason="corosync-vqsim is not installed")
@pytest.mark.timeout(90)
@pytest.mark.parametrize(("name", "conf"), sorted(SCRIPTS.items()))
def test_recordings_still_match_the_real_vqsim(tmp_path: Path, name: str, conf: str) -> None:
    real = run_real_vqsim(SAMPLES / conf, HERE / f"{name}.vq", tmp_path)
    recorded = (HERE / f"{name}.vqsim.txt").read_text()
    assert comparable(real) == comparable(recorded)
